"""The return-rate board: issued, returned, valid and rate per batch, group, unit and
campaign, its chart over time, and who has not answered yet (for the reminders).

"Valid" is SCORING.md's: returned, not blank, not excluded by `rules.exclude_flags`.
Blank ballots and returns come from aggregate queries; the excluding flags come from
`analysis` itself (``flag_ballots``), run only on the ballots whose flags can matter:
the open batches' ballots where the excluding flags are ``duplicate`` and ``burst``
(both look at open batches only), every ballot otherwise.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, case, exists, func, select
from sqlalchemy.orm import joinedload

from analysis import effective_rules, flag_ballots
from survey import charts
from survey.ballots.submission import pending_invitations
from survey.bundles import campaign_arrays
from survey.caches import Cache
from survey.clock import beijing_date
from survey.extensions import db
from survey.models import (
    Answer,
    Ballot,
    Batch,
    Campaign,
    CampaignGroup,
    CampaignUnit,
    Evaluator,
    GroupUnit,
    Invitation,
    ScaleOption,
)
from survey.models.distribution import CHANNEL_LABELS

#: Excluding flags computed from open-batch ballots alone (SCORING.md section 3).
OPEN_BATCH_FLAGS = frozenset({"duplicate", "burst"})


@dataclass(frozen=True)
class BoardRow:
    """Figures of one batch, group or unit, or of the whole campaign.

    Attributes
    ----------
    issued : int or None
        Forms handed out; None where an open batch (public, QR poster) is involved.
    returned : int
        Ballots in, blank and excluded ones included (a unit's: ballots that rated it).
    valid : int
        Returned, not blank, not excluded (a unit's: valid ballots that scored it).
    invitations, unanswered : int or None
        Personal links (or numbered forms) and how many are not used yet; batches only.
    personal_issued, personal_returned : int
        Forms issued and ballots returned through the personal channels (e-mail, SMS,
        paper, online links): the batches with a count of forms.
    open_returned : int
        Ballots returned through the open channels (QR poster, public), beside them.
    quota : int or None
        The group's quota (a unit's: its rating groups', where each has one), the
        target where no forms are issued through a personal channel.
    """

    code: str
    label: str
    issued: int | None
    returned: int
    valid: int
    target: float
    invitations: int | None = None
    unanswered: int | None = None
    personal_issued: int = 0
    personal_returned: int = 0
    open_returned: int = 0
    quota: int | None = None

    @property
    def rate(self) -> float | None:
        """回收率 returned / issued (None for open batches and where nothing was issued)."""
        if not self.issued:
            return None
        return self.returned / self.issued

    @property
    def valid_rate(self) -> float | None:
        if not self.issued:
            return None
        return self.valid / self.issued

    @property
    def personal_return_rate(self) -> float | None:
        """The app's own 回收率 beside open channels: returned / issued over the
        personal channels only (SCORING.md's `return_rate` is null as soon as an
        open batch is involved; this figure is not that one)."""
        if not self.personal_issued:
            return None
        return self.personal_returned / self.personal_issued

    @property
    def quota_rate(self) -> float | None:
        """Returned against the quota, where no forms are issued through a personal channel."""
        if self.personal_issued or not self.quota:
            return None
        return self.returned / self.quota

    @property
    def shown_rate(self) -> float | None:
        """The rate the pages show: over the personal channels, else against the quota."""
        personal = self.personal_return_rate
        return personal if personal is not None else self.quota_rate

    @property
    def below_target(self) -> bool:
        rate = self.shown_rate
        return rate is not None and rate < self.target

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "target"}
        out.update(rate=self.rate, valid_rate=self.valid_rate, below_target=self.below_target,
                   personal_return_rate=self.personal_return_rate, quota_rate=self.quota_rate)
        if self.invitations is None:
            del out["invitations"], out["unanswered"]
        return out


@dataclass(frozen=True)
class ReturnBoard:
    campaign: str
    name: str
    status: str
    anonymous: bool
    target: float
    total: BoardRow
    batches: list[BoardRow] = field(default_factory=list)
    groups: list[BoardRow] = field(default_factory=list)
    units: list[BoardRow] = field(default_factory=list)
    blank: int = 0
    excluded: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "pingyi-returns/1", "campaign": self.campaign, "name": self.name, "status": self.status,
            "anonymous": self.anonymous, "target": self.target, "blank": self.blank, "excluded": self.excluded,
            "total": self.total.to_json(), "batches": [r.to_json() for r in self.batches],
            "groups": [r.to_json() for r in self.groups], "units": [r.to_json() for r in self.units],
        }


# --- ballot tallies: aggregate queries, kept per process and brought up to date ----------
#
# Ballots and their answers are only ever inserted, so the tallies of a campaign are
# kept between requests and only the ballots with a larger id are counted again. The
# total count guards this: where it disagrees (a ballot committed late with a smaller
# id, a deletion), everything is counted again from scratch.


@dataclass
class _Tally:
    max_id: int = 0
    n: int = 0
    #: batch id -> [returned, received (non-blank)]
    per_batch: dict[int, list[int]] = field(default_factory=dict)
    #: campaign-unit id -> [ballots that rated it, ballots that scored it, of those that rated it
    #: the ones from open batches]
    per_unit: dict[int, list[int]] = field(default_factory=dict)
    #: (per batch code, per unit code) excluded, and the state they were computed at
    excluded: tuple[dict[str, int], dict[str, int]] = ({}, {})
    excluded_at: tuple[int, ...] | None = None


TallyKey = tuple[Any, ...]
#: (database, campaign id, its creation) -> (everything else the tally depends on, the tally).
#: `survey.caches.clear_all()` forgets them: the next board counts from scratch.
_TALLIES: Cache[TallyKey, tuple[TallyKey, _Tally]] = Cache("board.tallies", maxsize=256)


def _tally_key(campaign: Campaign) -> TallyKey:
    """What the tallies depend on besides the ballots: the database, the campaign, the
    points of its scale (blank or not), its rules and which batches are open."""
    return (str(db.engine.url), campaign.id, campaign.created_at,
            tuple((o.id, o.points) for o in campaign.scale), json.dumps(campaign.rules or {}, sort_keys=True),
            tuple((b.id, b.issued is None) for b in campaign.batches))


def _count(campaign: Campaign, tally: _Tally, low: int, high: int) -> int:
    """Add the ballots with low < id <= high to the tally; returns how many there were."""
    in_range = (Ballot.campaign_id == campaign.id, Ballot.id > low, Ballot.id <= high)
    scored = (select(Answer.id).join(ScaleOption, Answer.option_id == ScaleOption.id)
              .where(Answer.ballot_id == Ballot.id, ScaleOption.points.is_not(None)))
    added = 0
    for batch_id, returned, received in db.session.execute(
        select(Ballot.batch_id, func.count(Ballot.id), func.sum(case((exists(scored), 1), else_=0)))
        .where(*in_range).group_by(Ballot.batch_id)
    ):
        row = tally.per_batch.setdefault(batch_id, [0, 0])
        row[0] += returned
        row[1] += received or 0
        added += returned
    for cu_id, rated, scored_n, rated_open in db.session.execute(
        select(Answer.campaign_unit_id, func.count(func.distinct(Answer.ballot_id)),
               func.count(func.distinct(case((ScaleOption.points.is_not(None), Answer.ballot_id)))),
               func.count(func.distinct(case((Batch.issued.is_(None), Answer.ballot_id)))))
        .join(Ballot, Answer.ballot_id == Ballot.id)
        .join(Batch, Ballot.batch_id == Batch.id)
        .join(ScaleOption, Answer.option_id == ScaleOption.id)
        .where(*in_range).group_by(Answer.campaign_unit_id)
    ):
        row = tally.per_unit.setdefault(cu_id, [0, 0, 0])
        row[0] += rated
        row[1] += scored_n
        row[2] += rated_open
    return added


def ballot_tally(campaign: Campaign) -> _Tally:
    """The campaign's ballot tallies, brought up to date (see the note above)."""
    key = _tally_key(campaign)
    count, max_id = db.session.execute(
        select(func.count(Ballot.id), func.coalesce(func.max(Ballot.id), 0)).where(Ballot.campaign_id == campaign.id)
    ).one()
    kept = _TALLIES.get(key[:3])
    tally = kept[1] if kept is not None and kept[0] == key else None
    if tally is not None and max_id >= tally.max_id:
        fresh = _Tally(tally.max_id, tally.n, {k: list(v) for k, v in tally.per_batch.items()},
                       {k: list(v) for k, v in tally.per_unit.items()}, tally.excluded, tally.excluded_at)
        fresh.n += _count(campaign, fresh, tally.max_id, max_id)
        fresh.max_id = max_id
        if fresh.n != count:
            tally = None
        else:
            tally = fresh
    if tally is None:
        tally = _Tally()
        tally.n = _count(campaign, tally, 0, max_id)
        tally.max_id = max_id
    _update_excluded(campaign, tally)
    _TALLIES.put(key[:3], (key, tally))
    return tally


# --- the excluding flags, through analysis ------------------------------------------------


def _update_excluded(campaign: Campaign, tally: _Tally) -> None:
    flags = set(effective_rules(campaign.rules or None)["exclude_flags"])
    if not flags:
        tally.excluded, tally.excluded_at = ({}, {}), ()
        return
    if flags <= OPEN_BATCH_FLAGS:
        # duplicate and burst look at open batches' ballots only: nothing else can change them.
        scope = [b.id for b in campaign.batches if b.issued is None]
        state = tuple(tally.per_batch.get(b, [0])[0] for b in scope)
    else:
        scope = None
        state = (tally.max_id, tally.n)
    if tally.excluded_at == state:
        return
    tally.excluded = excluded_ballots(campaign, scope, tally.max_id) if state and any(state) else ({}, {})
    tally.excluded_at = state


def excluded_ballots(campaign: Campaign, batch_ids: list[int] | None = None,
                     max_id: int | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """Excluded ballots (received, carrying a flag of `rules.exclude_flags`, SCORING.md
    section 2) per batch code and per unit code they scored, by analysis's own flags."""
    built = campaign_arrays(campaign, batch_ids=batch_ids, max_id=max_id)
    if built is None:
        return {}, {}
    c, _rows = built
    fl = flag_ballots(c)
    per_batch: dict[str, int] = defaultdict(int)
    per_unit: dict[str, int] = defaultdict(int)
    for r in np.flatnonzero(fl.excluded):
        per_batch[c.batch_codes[c.ballot_batch[r]]] += 1
        for u in np.flatnonzero(~np.isnan(fl.scores[r])):
            per_unit[c.unit_codes[u]] += 1
    return dict(per_batch), dict(per_unit)


# --- the board ---------------------------------------------------------------------------


def batch_row(code: str, label: str, issued: int | None, returned: int, valid: int, target: float,
              invitations: int | None = None, unanswered: int | None = None) -> BoardRow:
    """A batch's row: a personal channel's when it has a count of forms, an open one's otherwise."""
    personal = issued is not None
    return BoardRow(code, label, issued, returned, valid, target, invitations, unanswered,
                    personal_issued=issued or 0, personal_returned=returned if personal else 0,
                    open_returned=0 if personal else returned)


def summed_rows(code: str, label: str, rows: list[BoardRow], target: float, quota: int | None = None) -> BoardRow:
    """A group's (or the campaign's) row from its batches' rows, with its quota."""
    issued = None if any(r.issued is None for r in rows) else sum(r.issued or 0 for r in rows)
    return BoardRow(code, label, issued, sum(r.returned for r in rows), sum(r.valid for r in rows), target,
                    personal_issued=sum(r.personal_issued for r in rows),
                    personal_returned=sum(r.personal_returned for r in rows),
                    open_returned=sum(r.open_returned for r in rows), quota=quota)


def group_rows(campaign: Campaign, results: dict[str, Any]) -> dict[str, BoardRow]:
    """Each group's row (personal-channel rate, open-channel ballots, quota) from a
    results document's batches (pingyi-results/1), for the exports and charts, by group code."""
    group_of = {b.code: b.campaign_group_id for b in campaign.batches}
    target = campaign.return_target
    out = {}
    for g in campaign.groups:
        rows = [batch_row(b["code"], b["code"], b["issued"], b["returned"], b["valid"], target)
                for b in results["batches"] if group_of.get(b["code"]) == g.id]
        out[g.code] = summed_rows(g.code, g.label, rows, target, g.quota)
    return out


def return_board(campaign: Campaign) -> ReturnBoard:
    """All the board's figures: a handful of aggregate queries whatever the campaign's
    size (the ballot tallies counting only the ballots that came in since last time)."""
    target = campaign.return_target
    # The units with their organisation records (their codes) in one statement, not one
    # per unit; held here, so that the session keeps them while the flags are computed.
    campaign_units = db.session.scalars(
        select(CampaignUnit).options(joinedload(CampaignUnit.unit))
        .where(CampaignUnit.campaign_id == campaign.id).order_by(CampaignUnit.position)).all()
    tally = ballot_tally(campaign)
    # personal links per batch, and how many are not used yet (a link whose ballot
    # is taken but whose invitation is not marked yet counts as used)
    pending = pending_invitations(campaign.id)
    links = {
        batch_id: (n, unused or 0)
        for batch_id, n, unused in db.session.execute(
            select(Invitation.batch_id, func.count(Invitation.id),
                   func.sum(case((_unanswered(pending), 1), else_=0)))
            .where(Invitation.campaign_id == campaign.id).group_by(Invitation.batch_id))
    }
    # which groups rate which units (no rows: every unit)
    rates: dict[int, set[int]] = defaultdict(set)
    for group_id, unit_id in db.session.execute(
        select(GroupUnit.campaign_group_id, GroupUnit.campaign_unit_id)
        .join(CampaignGroup, GroupUnit.campaign_group_id == CampaignGroup.id)
        .where(CampaignGroup.campaign_id == campaign.id)
    ):
        rates[group_id].add(unit_id)
    excluded_batch, excluded_unit = tally.excluded

    batches = []
    for b in campaign.batches:
        returned, received = tally.per_batch.get(b.id, (0, 0))
        n_links, unused = links.get(b.id, (None, None))
        # Unnumbered paper (newspaper coupons) reads as a channel of its own.
        channel = _("纸质（不编号）") if b.channel == "paper" and b.issued is None \
            else _(CHANNEL_LABELS.get(b.channel, b.channel))
        label = f"{b.group.label} · {channel}"
        batches.append(batch_row(b.code, label, b.issued, returned, received - excluded_batch.get(b.code, 0),
                                 target, n_links, unused))
    by_code = {b.code: row for b, row in zip(campaign.batches, batches, strict=True)}

    groups = []
    by_group: dict[int, BoardRow] = {}
    for g in campaign.groups:
        row = summed_rows(g.code, g.label, [by_code[b.code] for b in campaign.batches if b.campaign_group_id == g.id],
                          target, g.quota)
        groups.append(row)
        by_group[g.id] = row
    units = []
    for cu in campaign_units:
        raters = [by_group[g.id] for g in campaign.groups if not rates.get(g.id) or cu.id in rates[g.id]]
        issued = None if any(r.issued is None for r in raters) else sum(r.issued or 0 for r in raters)
        rated, scored, rated_open = tally.per_unit.get(cu.id, (0, 0, 0))
        quotas = [r.quota for r in raters]
        units.append(BoardRow(cu.code, cu.name, issued, rated, scored - excluded_unit.get(cu.code, 0), target,
                              personal_issued=sum(r.personal_issued for r in raters),
                              personal_returned=rated - rated_open, open_returned=rated_open,
                              quota=sum(q or 0 for q in quotas) if quotas and all(quotas) else None))
    quotas = [g.quota for g in campaign.groups]
    total = summed_rows(campaign.code, campaign.name, batches, target,
                        sum(q or 0 for q in quotas) if quotas and all(quotas) else None)
    received = sum(r for _n, r in tally.per_batch.values())
    return ReturnBoard(campaign.code, campaign.name, campaign.status, campaign.anonymous, target, total,
                       batches, groups, units, blank=total.returned - received,
                       excluded=sum(excluded_batch.values()))


# --- who has not answered ------------------------------------------------------------------


def _unanswered(pending: set[int]) -> ColumnElement[bool]:
    """Invitations not answered: not marked used, and not among the taken ones
    waiting to be marked (SQLite marks them in batches: survey/ballots/submission.py)."""
    unused = Invitation.used.is_(False)
    return and_(unused, Invitation.id.not_in(pending)) if pending else unused


def unanswered_invitations(batch: Batch) -> list[Invitation]:
    """The batch's invitations not used yet, with their evaluators, for the reminders.

    In an anonymous campaign this says only *that* a link is unused (an invitation
    records that, never when, and no ballot leads back to it); the board then shows
    counts, never names.
    """
    return list(db.session.scalars(
        select(Invitation).options(joinedload(Invitation.evaluator))
        .where(Invitation.batch_id == batch.id, _unanswered(pending_invitations(batch.campaign_id)))
        .order_by(Invitation.id)))


def unanswered_count(batch: Batch) -> int:
    return db.session.scalar(select(func.count(Invitation.id)).where(
        Invitation.batch_id == batch.id, _unanswered(pending_invitations(batch.campaign_id)))) or 0


def unanswered_names(batch: Batch, limit: int = 500) -> list[tuple[str, str | None]]:
    """(name, organisation) of the evaluators with an unused link; non-anonymous campaigns only."""
    if batch.campaign.anonymous:
        raise PermissionError("names of non-respondents are never shown in an anonymous campaign")
    return [(name, organisation) for name, organisation in db.session.execute(
        select(Evaluator.name, Evaluator.organisation)
        .join(Invitation, and_(Invitation.evaluator_id == Evaluator.id))
        .where(Invitation.batch_id == batch.id, _unanswered(pending_invitations(batch.campaign_id)))
        .order_by(Evaluator.name).limit(limit))]


# --- returns over time ---------------------------------------------------------------------


def returns_over_time(campaign: Campaign) -> dict[str, Sequence[tuple[dt.date, int]]]:
    """Cumulative returns per group by Beijing calendar day."""
    counts: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    for submitted_at, group_label in db.session.execute(
        select(Ballot.submitted_at, CampaignGroup.label)
        .join(Batch, Ballot.batch_id == Batch.id).join(CampaignGroup, Batch.campaign_group_id == CampaignGroup.id)
        .where(Ballot.campaign_id == campaign.id)
    ):
        counts[group_label][beijing_date(submitted_at)] += 1
    out: dict[str, Sequence[tuple[dt.date, int]]] = {}
    for label, per_day in counts.items():
        running, series = 0, []
        for day in sorted(per_day):
            running += per_day[day]
            series.append((day, running))
        out[label] = series
    return out


def returns_chart_png(campaign: Campaign) -> bytes:
    """A step line per group of cumulative returns by Beijing day (``charts``:
    the CJK font, never pyplot)."""
    return charts.render(charts.returns_over_time_chart(
        returns_over_time(campaign), _("%(name)s · 回收情况", name=campaign.name), _("累计回收（份）"),
        _("尚无回收")), "png")
