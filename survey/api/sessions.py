"""The API's 现场测评 sessions and window posters (issue #14), read-only:
what the session pages and the projector show (survey/sessions/services.py),
and the campaign's breakdown by session and by poster once it is past 截止."""
from __future__ import annotations

from flask import abort
from sqlalchemy import func, select

from analysis import breakdown
from survey.api.paging import PageQuery, page_of
from survey.api.registry import CAMPAIGN_PARAM, PathParam
from survey.api.schemas import (
    PosterEntry,
    PosterPage,
    SessionEntry,
    SessionGroup,
    SessionPage,
    SessionTally,
    SessionUnitTally,
    SubsetFigures,
)
from survey.api.scope import campaign_in_scope as _campaign
from survey.api.scope import iso as _iso
from survey.api.v1 import api
from survey.bundles import campaign_arrays
from survey.distribution import services as distribution
from survey.distribution.public_limits import address_cap
from survey.extensions import db
from survey.models import Ballot, Batch, Campaign, FieldSession
from survey.sessions import services

SESSION_PARAM = PathParam("session_code", "场次代码", "jm1")


def _figures(figures: dict[str, dict[str, object]] | None) -> dict[str, SubsetFigures] | None:
    return None if figures is None else {code: SubsetFigures.model_validate(f) for code, f in figures.items()}


def _entry(session: FieldSession) -> SessionEntry:
    state = services.state_of(session)
    counts = services.live_counts(session)
    tally = None
    if state == services.CLOSED:
        t = services.tally(session)
        tally = SessionTally(received=t.received, valid=t.valid, units=[
            SessionUnitTally(code=u.code, name=u.name, n=u.n, score=u.score, shares=u.shares) for u in t.units])
    return SessionEntry.model_validate({
        "code": session.code, "name": session.name, "place": session.place, "starts_at": _iso(session.starts_at),
        "state": state, "announce": session.announce, "units": [su.campaign_unit.code for su in session.units],
        "groups": [SessionGroup(batch=c.batch, group=sb.batch.group.code, group_label=c.group, expected=c.expected,
                                returned=c.returned) for sb, c in zip(session.batches, counts, strict=True)],
        "tally": tally, "campaign_breakdown": _figures(services.campaign_breakdown(session))})


@api.get("/campaigns/<code>/sessions", CAMPAIGN_PARAM, response=SessionPage, query=PageQuery, tag="sessions",
         summary="现场测评场次")
def sessions(code: str, query: PageQuery) -> SessionPage:
    """Each session with its units, the groups present (batch, attendance,
    ballots in), its tally once closed, and its breakdown in the campaign's
    results once the campaign is past 截止."""
    c = _campaign(code)
    items, cursor = page_of(services.sessions_of(c), query)
    return SessionPage(items=[_entry(s) for s in items], limit=query.limit, next_cursor=cursor)


@api.get("/campaigns/<code>/sessions/<session_code>", CAMPAIGN_PARAM, SESSION_PARAM, response=SessionEntry,
         tag="sessions", summary="一个现场测评场次及其现场结果")
def session(code: str, session_code: str) -> SessionEntry:
    """One session, as in the list."""
    found = services.session_by_code(_campaign(code), session_code)
    if found is None:
        abort(404)
    return _entry(found)


def _posters(campaign: Campaign) -> list[tuple[Batch, list[str]]]:
    units = {cu.id: cu.code for cu in campaign.units}
    out = []
    for batch in campaign.batches:
        if batch.is_open_batch:
            chosen = distribution.batch_unit_ids(batch)
            if chosen:
                out.append((batch, [units[u] for u in chosen]))
    return out


@api.get("/campaigns/<code>/posters", CAMPAIGN_PARAM, response=PosterPage, query=PageQuery, tag="sessions",
         summary="窗口二维码海报（知情评议）")
def posters(code: str, query: PageQuery) -> PosterPage:
    """Each open batch whose form is restricted to some units (a window's
    poster): its address, per-address cap, ballots in, and once the campaign
    is past 截止 its figures per unit (SCORING.md §5a on the batch)."""
    c = _campaign(code)
    items, cursor = page_of(_posters(c), query)
    arrays = None
    if not (c.state.is_draft or c.state.is_open):
        arrays = campaign_arrays(c)
    out = []
    for batch, unit_codes in items:
        returned = db.session.scalar(select(func.count(Ballot.id)).where(Ballot.batch_id == batch.id)) or 0
        results = None
        if arrays is not None:
            figures = breakdown(arrays[0], [batch.code]).to_json()
            results = _figures({u: figures[u] for u in unit_codes})
        out.append(PosterEntry.model_validate({
            "batch": batch.code, "group": batch.group.code, "channel": batch.channel, "units": unit_codes,
            "public_url": distribution.public_url(f"/q/{batch.public_code}"), "ip_cap": address_cap(batch),
            "returned": returned, "results": results}))
    return PosterPage(items=out, limit=query.limit, next_cursor=cursor)
