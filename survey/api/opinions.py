"""Opinions from outside the ballots through the API (docs/opinions.md): the
list and one opinion, as the pages show them. A liaison's key sees its own
unit's opinions once handed to it (交办), as /my/opinions does; the raiser
only reaches the keys of ``services.RAISER_ROLES``."""
from __future__ import annotations

from typing import Literal

from flask import abort
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import Field
from sqlalchemy import select

from survey.api.paging import PageQuery, page_of_select
from survey.api.registry import PathParam
from survey.api.schemas import OpinionOut, OpinionPage, RaiserOut
from survey.api.scope import iso, liaison_unit
from survey.api.v1 import api
from survey.clock import today
from survey.extensions import db
from survey.models import Opinion, Unit
from survey.models.opinion import OPINION_SOURCES, OPINION_STATUSES
from survey.opinions import services

OPINION_PARAM = PathParam("opinion_code", "意见编号", "YJ2026-00001")


class OpinionQuery(PageQuery):
    status: Literal["registered", "assigned", "answered", "closed"] | None = Field(None, description="只列此状态")
    source: Literal["forum", "visit", "reception", "hotline"] | None = Field(None, description="只列此来源")
    unit: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="只列此单位（代码）")
    red: bool = Field(False, description="只列红字（逾期未答复）")


def _out(opinion: Opinion) -> OpinionOut:
    person = services.raiser_of(opinion) if services.sees_raiser(current_user) else None
    return OpinionOut(
        id=opinion.id, code=opinion.code, source=opinion.source,  # type: ignore[arg-type]
        source_label=_(OPINION_SOURCES[opinion.source]), source_detail=opinion.source_detail,
        date=opinion.raised_on, unit=opinion.unit.code, summary=opinion.summary,
        status=opinion.step, status_label=_(OPINION_STATUSES[opinion.step]),  # type: ignore[arg-type]
        due_on=opinion.due_on, answer=opinion.answer, answered_at=iso(opinion.answered_at),
        red=opinion.is_red, cleared=opinion.was_cleared,
        campaign=opinion.campaign.code if opinion.campaign is not None else None,
        raiser=None if person is None else RaiserOut(name=person.name, phone=person.phone, contact=person.contact))


@api.get("/opinions", response=OpinionPage, query=OpinionQuery, tag="opinions", summary="群众意见")
def opinions(query: OpinionQuery) -> OpinionPage:
    """Opinions from 座谈会, 走访, 接访 and hotlines, the newest first. A liaison's
    key: its own unit's opinions handed to it only. The raiser is answered to
    the keys of the opinion handler; every other role gets null."""
    services.mark_overdue(today())
    own = liaison_unit()
    unit_id = own
    if query.unit is not None:
        # An unknown unit, or another unit for a liaison's key: an empty list (nothing said about it).
        wanted = db.session.scalar(select(Unit.id).where(Unit.code == query.unit))
        unit_id = wanted if wanted is not None and own in (None, wanted) else -1
    statement = services.opinions_query(unit_id=unit_id, status=query.status, source=query.source, red=query.red)
    if own is not None:
        statement = statement.where(Opinion.assigned_at.is_not(None))
    items, cursor = page_of_select(statement, query)
    db.session.commit()  # the red marks just set
    return OpinionPage(items=[_out(o) for o in items], limit=query.limit, next_cursor=cursor)


@api.get("/opinions/<opinion_code>", OPINION_PARAM, response=OpinionOut, tag="opinions", summary="一条群众意见")
def opinion(opinion_code: str) -> OpinionOut:
    """One opinion by its number (a liaison's key: its own unit's, once handed to it)."""
    found = db.session.scalar(select(Opinion).where(Opinion.code == opinion_code).order_by(Opinion.id).limit(1))
    unit_id = liaison_unit()
    if found is None or (unit_id is not None and (found.unit_id != unit_id or found.assigned_at is None)):
        abort(404)
    return _out(found)
