"""The return-rate board: issued, returned, valid and rate per batch, group, unit and
campaign, its chart over time, and who has not answered yet (for the reminders).

"Valid" is SCORING.md's: returned, not blank, not excluded by `rules.exclude_flags`.
Blank ballots and returns come from aggregate queries; the excluding flags come from
`analysis` itself (``compute_flags``), run only on the ballots whose flags can matter:
the open batches' ballots where the excluding flags are ``duplicate`` and ``burst``
(both look at open batches only), every ballot otherwise.
"""
from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from flask_babel import gettext as _
from sqlalchemy import and_, case, exists, func, select

from analysis.bundle import from_document
from analysis.flags import ballot_unit_scores, compute_flags
from survey.bundles import export_bundle, format_instant
from survey.campaigns.models import GroupUnit
from survey.extensions import db
from survey.models import (
    Answer,
    Ballot,
    Batch,
    Campaign,
    CampaignGroup,
    CampaignUnit,
    Evaluator,
    Invitation,
    Item,
    ScaleOption,
    Unit,
)
from survey.models.distribution import CHANNEL_LABELS

#: Excluding flags computed from open-batch ballots alone (SCORING.md section 3).
OPEN_BATCH_FLAGS = frozenset({"duplicate", "burst"})
BEIJING = dt.timezone(dt.timedelta(hours=8))


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
    """

    code: str
    label: str
    issued: int | None
    returned: int
    valid: int
    target: float
    invitations: int | None = None
    unanswered: int | None = None

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
    def below_target(self) -> bool:
        return self.rate is not None and self.rate < self.target

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "target"}
        out.update(rate=self.rate, valid_rate=self.valid_rate, below_target=self.below_target)
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


# --- the excluding flags, through analysis ------------------------------------------


def _skeleton(campaign: Campaign) -> dict[str, Any]:
    """The bundle without ballots or margins: all the flags need besides the ballots."""
    from survey.bundles import _batch, _group, _number

    doc: dict[str, Any] = {
        "format": "pingyi-campaign/1",
        "campaign": {"code": campaign.code, "name": campaign.name, "anonymous": campaign.anonymous},
        "scale": [{"code": o.code, "label": o.label, "points": _number(o.points)} for o in campaign.scale],
        "items": [{"code": i.code, "label": i.label, "weight": _number(i.weight)} for i in campaign.items],
        "categories": [{"code": c.code, "label": c.label} for c in campaign.categories],
        "units": [{"code": u.code, "name": u.name, "category": u.category.code} for u in campaign.units],
        "groups": [_group(g) for g in campaign.groups],
        "batches": [_batch(b) for b in campaign.batches],
    }
    if campaign.rules:
        doc["rules"] = campaign.rules
    doc["ballots"] = []
    return doc


def _open_batch_ballots(campaign: Campaign, batch_ids: list[int]) -> list[dict[str, Any]]:
    """The ballots of the given batches as bundle ballots (two queries)."""
    rows = db.session.execute(
        select(Ballot.id, Ballot.public_id, Batch.code, Ballot.submitted_at, Ballot.utc_offset_min,
               Ballot.duration_s, Ballot.source)
        .join(Batch, Ballot.batch_id == Batch.id)
        .where(Ballot.campaign_id == campaign.id, Ballot.batch_id.in_(batch_ids))
        .order_by(Ballot.id)
    ).all()
    answers: dict[int, dict[str, dict[str, str]]] = {}
    for ballot_id, unit_code, item_code, option_code in db.session.execute(
        select(Answer.ballot_id, Unit.code, Item.code, ScaleOption.code)
        .join(Ballot, Answer.ballot_id == Ballot.id)
        .join(CampaignUnit, Answer.campaign_unit_id == CampaignUnit.id)
        .join(Unit, CampaignUnit.unit_id == Unit.id)
        .join(Item, Answer.item_id == Item.id)
        .join(ScaleOption, Answer.option_id == ScaleOption.id)
        .where(Ballot.campaign_id == campaign.id, Ballot.batch_id.in_(batch_ids))
    ):
        answers.setdefault(ballot_id, {}).setdefault(unit_code, {})[item_code] = option_code
    out = []
    for bid, public_id, batch_code, submitted_at, offset, duration, source in rows:
        ballot: dict[str, Any] = {"id": public_id, "batch": batch_code,
                                  "submitted_at": format_instant(submitted_at, offset),
                                  "answers": answers.get(bid, {})}
        if duration is not None:
            ballot["duration_s"] = duration
        if source is not None:
            ballot["source"] = source
        out.append(ballot)
    return out


def excluded_ballots(campaign: Campaign) -> tuple[dict[str, int], dict[str, int]]:
    """Excluded (received, flagged) ballots per batch code and per unit code they scored."""
    from analysis.bundle import effective_rules

    flags = set(effective_rules(campaign.rules or None)["exclude_flags"])
    if not flags:
        return {}, {}
    if flags <= OPEN_BATCH_FLAGS:
        open_ids = [b.id for b in campaign.batches if b.issued is None]
        if not open_ids:
            return {}, {}
        doc = _skeleton(campaign)
        doc["ballots"] = _open_batch_ballots(campaign, open_ids)
    else:
        doc = export_bundle(campaign)
    if not doc["ballots"]:
        return {}, {}
    c = from_document(doc)
    s = ballot_unit_scores(c.answers, c.option_points, c.item_weights)
    id_order = np.argsort(c.ballot_ids, kind="stable")
    id_rank = np.empty(c.n_ballots, dtype=np.int64)
    id_rank[id_order] = np.arange(c.n_ballots)
    excluded = compute_flags(c, s, id_rank).excluded
    per_batch: dict[str, int] = defaultdict(int)
    per_unit: dict[str, int] = defaultdict(int)
    unit_codes = [u["code"] for u in doc["units"]]
    for r in np.flatnonzero(excluded):
        per_batch[doc["ballots"][r]["batch"]] += 1
        for u in np.flatnonzero(~np.isnan(s[r])):
            per_unit[unit_codes[u]] += 1
    return dict(per_batch), dict(per_unit)


# --- the board ---------------------------------------------------------------------------


def _scored_answer():
    return (select(Answer.id).join(ScaleOption, Answer.option_id == ScaleOption.id)
            .where(Answer.ballot_id == Ballot.id, ScaleOption.points.is_not(None)))


def return_board(campaign: Campaign) -> ReturnBoard:
    """All the board's figures; a handful of aggregate queries whatever the campaign's size."""
    target = campaign.return_target
    # 1. returned and non-blank (received) per batch
    per_batch = {
        batch_id: (returned, received or 0)
        for batch_id, returned, received in db.session.execute(
            select(Ballot.batch_id, func.count(Ballot.id),
                   func.sum(case((exists(_scored_answer()), 1), else_=0)))
            .where(Ballot.campaign_id == campaign.id).group_by(Ballot.batch_id))
    }
    # 2. personal links per batch, and how many are not used yet
    links = {
        batch_id: (n, unused or 0)
        for batch_id, n, unused in db.session.execute(
            select(Invitation.batch_id, func.count(Invitation.id),
                   func.sum(case((Invitation.used.is_(False), 1), else_=0)))
            .where(Invitation.campaign_id == campaign.id).group_by(Invitation.batch_id))
    }
    # 3. per unit: ballots that rated it, and those that scored it
    per_unit = {
        cu_id: (rated, scored)
        for cu_id, rated, scored in db.session.execute(
            select(Answer.campaign_unit_id, func.count(func.distinct(Answer.ballot_id)),
                   func.count(func.distinct(case((ScaleOption.points.is_not(None), Answer.ballot_id)))))
            .join(ScaleOption, Answer.option_id == ScaleOption.id)
            .join(CampaignUnit, Answer.campaign_unit_id == CampaignUnit.id)
            .where(CampaignUnit.campaign_id == campaign.id)
            .group_by(Answer.campaign_unit_id))
    }
    # 4. which groups rate which units (no rows: every unit)
    rates: dict[int, set[int]] = defaultdict(set)
    for group_id, unit_id in db.session.execute(
        select(GroupUnit.campaign_group_id, GroupUnit.campaign_unit_id)
        .join(CampaignGroup, GroupUnit.campaign_group_id == CampaignGroup.id)
        .where(CampaignGroup.campaign_id == campaign.id)
    ):
        rates[group_id].add(unit_id)
    # 5. the excluding flags, through analysis
    excluded_batch, excluded_unit = excluded_ballots(campaign)

    batches = []
    for b in campaign.batches:
        returned, received = per_batch.get(b.id, (0, 0))
        n_links, unused = links.get(b.id, (None, None))
        batches.append(BoardRow(b.code, f"{b.group.label} · {_(CHANNEL_LABELS.get(b.channel, b.channel))}", b.issued, returned,
                                received - excluded_batch.get(b.code, 0), target, n_links, unused))
    by_code = {b.code: row for b, row in zip(campaign.batches, batches, strict=True)}

    def summed(code: str, label: str, rows: list[BoardRow]) -> BoardRow:
        issued = None if any(r.issued is None for r in rows) else sum(r.issued or 0 for r in rows)
        return BoardRow(code, label, issued, sum(r.returned for r in rows), sum(r.valid for r in rows), target)

    groups = []
    group_issued: dict[int, int | None] = {}
    for g in campaign.groups:
        row = summed(g.code, g.label, [by_code[b.code] for b in campaign.batches if b.campaign_group_id == g.id])
        groups.append(row)
        group_issued[g.id] = row.issued
    units = []
    for cu in campaign.units:
        raters = [g.id for g in campaign.groups if not rates.get(g.id) or cu.id in rates[g.id]]
        issued_parts = [group_issued[g] for g in raters]
        issued = None if any(p is None for p in issued_parts) else sum(p or 0 for p in issued_parts)
        rated, scored = per_unit.get(cu.id, (0, 0))
        units.append(BoardRow(cu.code, cu.name, issued, rated, scored - excluded_unit.get(cu.code, 0), target))
    total = summed(campaign.code, campaign.name, batches)
    received = sum(r for _n, r in per_batch.values())
    return ReturnBoard(campaign.code, campaign.name, campaign.status, campaign.anonymous, target, total,
                       batches, groups, units, blank=total.returned - received,
                       excluded=sum(excluded_batch.values()))


# --- who has not answered ------------------------------------------------------------------


def unanswered_invitations(batch: Batch) -> list[Invitation]:
    """The batch's invitations not used yet, with their evaluators, for the reminders.

    In an anonymous campaign this says only *that* a link is unused (an invitation
    records that, never when, and no ballot leads back to it); the board then shows
    counts, never names.
    """
    from sqlalchemy.orm import joinedload

    return list(db.session.scalars(
        select(Invitation).options(joinedload(Invitation.evaluator))
        .where(Invitation.batch_id == batch.id, Invitation.used.is_(False))
        .order_by(Invitation.id)))


def unanswered_names(batch: Batch, limit: int = 500) -> list[tuple[str, str | None]]:
    """(name, organisation) of the evaluators with an unused link; non-anonymous campaigns only."""
    if batch.campaign.anonymous:
        raise PermissionError("names of non-respondents are never shown in an anonymous campaign")
    return [tuple(row) for row in db.session.execute(
        select(Evaluator.name, Evaluator.organisation)
        .join(Invitation, and_(Invitation.evaluator_id == Evaluator.id))
        .where(Invitation.batch_id == batch.id, Invitation.used.is_(False))
        .order_by(Evaluator.name).limit(limit))]


# --- returns over time ---------------------------------------------------------------------


def returns_over_time(campaign: Campaign) -> dict[str, list[tuple[dt.date, int]]]:
    """Cumulative returns per group by Beijing calendar day."""
    counts: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    for submitted_at, group_label in db.session.execute(
        select(Ballot.submitted_at, CampaignGroup.label)
        .join(Batch, Ballot.batch_id == Batch.id).join(CampaignGroup, Batch.campaign_group_id == CampaignGroup.id)
        .where(Ballot.campaign_id == campaign.id)
    ):
        day = submitted_at.replace(tzinfo=dt.UTC).astimezone(BEIJING).date()
        counts[group_label][day] += 1
    out = {}
    for label, per_day in counts.items():
        running, series = 0, []
        for day in sorted(per_day):
            running += per_day[day]
            series.append((day, running))
        out[label] = series
    return out


def returns_chart_png(campaign: Campaign) -> bytes:
    """A line per group of cumulative returns, with the target where it is a count."""
    from matplotlib import font_manager
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure

    cjk = [f.name for f in font_manager.fontManager.ttflist if "Noto Sans CJK" in f.name]
    fig = Figure(figsize=(7, 3.6), dpi=110)
    ax = fig.add_subplot()
    font = {"family": cjk[0]} if cjk else {}
    series = returns_over_time(campaign)
    for label, points in series.items():
        ax.step([p[0] for p in points], [p[1] for p in points], where="post", label=label)
    ax.set_title(_("%(name)s · 回收情况", name=campaign.name), fontdict=font)
    ax.set_ylabel(_("累计回收（份）"), fontdict=font)
    ax.xaxis.set_major_formatter(DateFormatter("%m-%d"))
    if series:
        ax.legend(prop=font_manager.FontProperties(family=cjk[0]) if cjk else None, loc="upper left")
    else:
        ax.text(0.5, 0.5, _("尚无回收"), ha="center", va="center", transform=ax.transAxes, fontdict=font)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
