"""现场测评 sessions (issue #14): setup, opening and closing, the live count
and the session's tally (现场结果).

A session is a room at a time: the units it covers and the groups present,
each with its own issued paper batch (numbered slips whose QR is a personal
link, or numbered paper forms keyed twice), restricted to the session's units
(``batch_unit``). Its state is its batches' times: planned before their
opening time, open, closed once they close. The tally is SCORING.md run by
``analysis`` on the sub-bundle of the session's batches, their ballots and
the session's units with the campaign's rules (``sub_bundle``); nothing of it
changes the campaign's own results, where the session's ballots count like
any other.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from analysis import breakdown, evaluate_document
from survey.bundles import SESSION_CODE_MAX, SESSION_EXPECTED_MAX, campaign_arrays, export_bundle
from survey.caches import Cache
from survey.clock import utcnow
from survey.distribution import services as distribution
from survey.errors import UserError
from survey.extensions import db
from survey.models import (
    Ballot,
    Batch,
    Campaign,
    CampaignGroup,
    FieldSession,
    Invitation,
    SessionBatch,
    SessionUnit,
)

#: The longest session code and the largest attendance of one group (kept with the bundle's limits).
CODE_MAX, EXPECTED_MAX = SESSION_CODE_MAX, SESSION_EXPECTED_MAX


class SessionError(UserError):
    """A session cannot be set up, opened or closed as asked."""


def sessions_of(campaign: Campaign) -> list[FieldSession]:
    return list(db.session.scalars(select(FieldSession).where(FieldSession.campaign_id == campaign.id)
                                   .order_by(FieldSession.position, FieldSession.id)))


def session_by_code(campaign: Campaign, code: str) -> FieldSession | None:
    session: FieldSession | None = db.session.scalar(
        select(FieldSession).where(FieldSession.campaign_id == campaign.id, FieldSession.code == code))
    return session


def create_session(campaign: Campaign, *, code: str, name: str, place: str | None, starts_at: dt.datetime,
                   unit_ids: Sequence[int], groups: Sequence[tuple[CampaignGroup, int]],
                   announce: bool = False) -> FieldSession:
    """Set a session up: one issued paper batch per group present (``expected``
    numbered slips, each a personal link), its form restricted to the
    session's units, opening at ``starts_at`` (naive UTC). The caller commits."""
    code, name = code.strip(), name.strip()
    if not code or len(code) > CODE_MAX:
        raise SessionError(_("场次代码应为 1 至 %(n)d 个字符", n=CODE_MAX))
    if session_by_code(campaign, code) is not None:
        raise SessionError(_("场次代码“%(code)s”已被使用", code=code))
    if not name:
        raise SessionError(_("请填写场次名称"))
    if not unit_ids:
        raise SessionError(_("请至少选择一个参评单位"))
    if not groups:
        raise SessionError(_("请至少选择一个到场的评议主体"))
    seen = [g.id for g, _n in groups]
    if len(set(seen)) != len(seen):
        raise SessionError(_("每个评议主体在一个场次只能有一个批次"))
    for group, expected in groups:
        if not 1 <= expected <= EXPECTED_MAX:
            raise SessionError(_("“%(group)s”的应到人数应为 1 至 %(n)d", group=group.label, n=EXPECTED_MAX))
    position = (db.session.scalar(select(func.max(FieldSession.position))
                                  .where(FieldSession.campaign_id == campaign.id)) or 0) + 1
    session = FieldSession(campaign_id=campaign.id, position=position, code=code, name=name,
                           place=(place or "").strip() or None, starts_at=starts_at, announce=announce)
    campaign_units = {cu.id for cu in campaign.units}
    unknown = [u for u in unit_ids if u not in campaign_units]
    if unknown:
        raise SessionError(_("单位不属于本次评议活动（编号 %(ids)s）", ids=", ".join(map(str, unknown))))
    session.units = [SessionUnit(campaign_unit_id=u, position=k) for k, u in enumerate(dict.fromkeys(unit_ids))]
    db.session.add(session)
    db.session.flush()
    for k, (group, expected) in enumerate(groups):
        batch = distribution.create_batch(campaign, group, "paper", count=expected, code=f"{code}-{k + 1}")
        distribution.set_batch_units(batch, [u.campaign_unit_id for u in session.units])
        batch.opens_at = starts_at
        session.batches.append(SessionBatch(batch=batch, position=k, expected=expected))
    db.session.flush()
    return session


# --- state -------------------------------------------------------------------

PLANNED, OPEN, CLOSED = "planned", "open", "closed"
STATE_LABELS = {PLANNED: "未开始", OPEN: "进行中", CLOSED: "已结束"}


def state_of(session: FieldSession, now: dt.datetime | None = None) -> str:
    """planned, open or closed, from the session's batches' times."""
    now = now or utcnow()
    batches = [sb.batch for sb in session.batches]
    if batches and all(b.closes_at is not None and b.closes_at <= now for b in batches):
        return CLOSED
    if any(b.opens_at is not None and now < b.opens_at for b in batches):
        return PLANNED
    return OPEN


def open_session(session: FieldSession, now: dt.datetime | None = None) -> None:
    """Open now: every batch of the session takes ballots from now on, until closed."""
    now = now or utcnow()
    if not session.campaign.state.is_open:
        raise SessionError(_("评议活动尚未开始或已截止，场次不能开始"))
    for sb in session.batches:
        sb.batch.opens_at, sb.batch.closes_at = now, None


def close_session(session: FieldSession, now: dt.datetime | None = None) -> None:
    """Close now: the session's batches take no more ballots."""
    now = now or utcnow()
    for sb in session.batches:
        batch = sb.batch
        if batch.opens_at is not None and batch.opens_at > now:
            batch.opens_at = now
        batch.closes_at = now


# --- the live count ----------------------------------------------------------


@dataclass(frozen=True)
class GroupCount:
    batch: str
    group: str
    expected: int
    returned: int


def live_counts(session: FieldSession) -> list[GroupCount]:
    """Ballots returned per group present against its expected attendance (one query)."""
    ids = [sb.batch_id for sb in session.batches]
    counts = dict(db.session.execute(select(Ballot.batch_id, func.count(Ballot.id))
                                     .where(Ballot.batch_id.in_(ids)).group_by(Ballot.batch_id)).all())
    return [GroupCount(sb.batch.code, sb.batch.group.label, sb.expected, counts.get(sb.batch_id, 0))
            for sb in session.batches]


def slips(session: FieldSession) -> list[tuple[Batch, list[Invitation]]]:
    """The numbered slips still printable (their personal link in clear), per batch, by serial."""
    out = []
    for sb in session.batches:
        forms = list(db.session.scalars(select(Invitation).where(
            Invitation.batch_id == sb.batch_id, Invitation.pending_token.is_not(None))
            .order_by(Invitation.serial, Invitation.id)))
        out.append((sb.batch, forms))
    return out


# --- the tally (现场结果) -----------------------------------------------------


def sub_bundle(session: FieldSession, doc: dict[str, Any] | None = None) -> dict[str, Any]:
    """The pingyi-campaign/1 document of the session: the campaign's scale,
    items and rules, the session's units (and their categories), the groups
    present (their margins), the session's batches and their ballots; no
    objective scores, vetoes or extensions. ``doc``: the campaign's bundle,
    where the caller has it."""
    campaign = session.campaign
    doc = doc if doc is not None else export_bundle(campaign)
    batch_codes = {sb.batch.code for sb in session.batches}
    unit_codes = {su.campaign_unit.code for su in session.units}
    units = [u for u in doc["units"] if u["code"] in unit_codes]
    categories = {u["category"] for u in units}
    batches = [b for b in doc["batches"] if b["code"] in batch_codes]
    groups = {b["group"] for b in batches}
    ballots = []
    for ballot in doc["ballots"]:
        if ballot["batch"] in batch_codes:
            ballots.append({**ballot, "answers": {u: a for u, a in ballot["answers"].items() if u in unit_codes}})
    sub: dict[str, Any] = {
        "format": doc["format"],
        "campaign": {**doc["campaign"], "name": f"{doc['campaign']['name']} · {session.name}"},
        "scale": doc["scale"], "items": doc["items"],
        "categories": [c for c in doc["categories"] if c["code"] in categories],
        "units": units,
        "groups": [g for g in doc["groups"] if g["code"] in groups],
    }
    margins = {g: m for g, m in (doc.get("margins") or {}).items() if g in groups}
    if margins:
        sub["margins"] = margins
    sub["batches"] = batches
    sub["ballots"] = ballots
    if doc.get("rules"):
        sub["rules"] = doc["rules"]
    return sub


@dataclass(frozen=True)
class UnitTally:
    code: str
    name: str
    #: Valid ballots that scored the unit.
    n: int
    #: The ballot score S(u) (no objective components), None where no cell has one.
    score: float | None
    #: Option code -> share on the overall item (None where undefined).
    shares: dict[str, float | None]


@dataclass(frozen=True)
class Tally:
    units: list[UnitTally]
    received: int
    valid: int
    #: The scale's scored options (code, label), the columns of the shares.
    options: list[tuple[str, str]]

    def to_json(self) -> dict[str, Any]:
        return {"received": self.received, "valid": self.valid,
                "options": [{"code": c, "label": label} for c, label in self.options],
                "units": [{"code": u.code, "name": u.name, "n": u.n, "score": u.score, "shares": u.shares}
                          for u in self.units]}


#: Tallies by what they are computed from (the session, its ballot count, its batches' times).
_TALLIES: Cache[tuple[Any, ...], Tally] = Cache("sessions.tallies", 64)


def _tally_key(session: FieldSession) -> tuple[Any, ...]:
    counts = tuple((c.batch, c.returned) for c in live_counts(session))
    times = tuple((sb.batch.opens_at, sb.batch.closes_at) for sb in session.batches)
    units = tuple(su.campaign_unit_id for su in session.units)
    return (session.id, session.campaign.rules and json.dumps(session.campaign.rules, sort_keys=True),
            counts, times, units)


def tally(session: FieldSession) -> Tally:
    """The session's 现场结果: ``analysis.evaluate_document`` on its sub-bundle
    (per unit: valid ballots, the ballot score and the option shares)."""
    key = _tally_key(session)
    cached = _TALLIES.get(key)
    if cached is not None:
        return cached
    sub = sub_bundle(session)
    results = evaluate_document(sub, details=False).to_json()
    names = {u["code"]: u["name"] for u in sub["units"]}
    units = [UnitTally(u["code"], names[u["code"]], u["n_valid"], u["score_ballot"], dict(u["shares"] or {}))
             for u in results["units"]]
    options = [(o["code"], o["label"]) for o in sub["scale"] if o["points"] is not None]
    return _TALLIES.put(key, Tally(units, results["ballots"]["received"], results["ballots"]["valid"], options))


def bundle_fingerprint(doc: dict[str, Any]) -> str:
    """SHA-256 of the document's canonical JSON (the projector shows its start, so it can be checked)."""
    text = json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def unit_sessions(campaign: Campaign, unit_code: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """The sessions that cover a unit: (code, name, its batches' codes), in the campaign's order;
    what a results page keys the unit's by-session figures on."""
    return [(s.code, s.name, tuple(sb.batch.code for sb in s.batches)) for s in sessions_of(campaign)
            if any(su.campaign_unit.code == unit_code for su in s.units)]


def unit_session_figures(campaign: Campaign, unit_code: str,
                         sessions: list[tuple[str, str, tuple[str, ...]]]) -> dict[str, Any]:
    """The unit's figures in each of ``sessions`` (``unit_sessions``), {"n", "score", "shares"} by
    session code: SCORING.md §5a's subset computation (``analysis.breakdown``) on each session's
    batches, the campaign's arrays read once. Empty before 截止 or without ballots."""
    if not sessions or campaign.state.is_draft or campaign.state.is_open:
        return {}
    arrays = campaign_arrays(campaign)
    if arrays is None:
        return {}
    return {code: breakdown(arrays[0], list(batches)).to_json().get(unit_code) for code, _name, batches in sessions}


def campaign_breakdown(session: FieldSession) -> dict[str, Any] | None:
    """The session in the campaign's results (SCORING.md §5a, ``analysis.breakdown``):
    per unit of the session {"n", "score", "shares"} on its batches' valid ballots
    with the campaign's flags and weights; only once the campaign is past
    截止 (None before, and where the campaign has no ballot)."""
    campaign = session.campaign
    if campaign.state.is_draft or campaign.state.is_open:
        return None
    arrays = campaign_arrays(campaign)
    if arrays is None:
        return None
    figures = breakdown(arrays[0], [sb.batch.code for sb in session.batches]).to_json()
    return {su.campaign_unit.code: figures[su.campaign_unit.code] for su in session.units}
