"""The pages of opinions from outside the ballots: the handler's and the
organizer's list, entry and handling; a unit liaison's opinions to answer
(/my/opinions, beside /my/register); the public lookup by code (/opinion).
Who may use which is the table of survey/policy.py; the raiser is shown to
``services.RAISER_ROLES`` only."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import InputRequired

from survey.clock import today
from survey.errors import NotFound, UserError
from survey.extensions import db
from survey.models import Opinion, Unit
from survey.models.opinion import OPINION_SOURCES, OPINION_STATUSES
from survey.opinions import services
from survey.web import action, form_date, form_text, render_and_commit

bp = Blueprint("opinions", __name__)

FIELD_LABELS = {"source": "来源", "source_detail": "来源说明", "raised_on": "日期", "unit": "被反映单位",
                "summary": "意见摘要", "due_on": "答复期限", "answer": "答复"}


def _field(name: str, *, required: bool = True) -> str:
    return form_text(name, _(FIELD_LABELS.get(name, name)), required=required)


def _date(name: str) -> dt.date:
    return form_date(name, _(FIELD_LABELS.get(name, name)))


def _labels() -> dict[str, Any]:
    return {"sources": OPINION_SOURCES, "statuses": OPINION_STATUSES}


def _opinion_or_404(opinion_id: int) -> Opinion:
    try:
        return services.opinion_or_404(opinion_id)
    except NotFound:
        abort(404)


# --- the handler's and the organizer's pages -----------------------------------------------


@bp.get("/opinions", endpoint="index")
def index() -> ResponseReturnValue:
    args = {k: request.args.get(k, "").strip() for k in ("status", "source", "unit", "red")}
    status = args["status"] if args["status"] in OPINION_STATUSES else ""
    source = args["source"] if args["source"] in OPINION_SOURCES else ""
    units = list(db.session.scalars(select(Unit).order_by(Unit.code)))
    unit = next((u for u in units if u.code == args["unit"]), None)
    services.mark_overdue(today())
    rows = services.opinions(status=status or None, source=source or None, red=args["red"] == "1",
                             unit_id=unit.id if unit is not None else None)
    return render_and_commit("opinions/index.html", opinions=rows, units=units, today=today(),
                             filters={**args, "source": source, "unit": unit.code if unit is not None else ""},
                             chosen_step=status,
                             red_count=services.red_count(), **_labels())


@bp.post("/opinions", endpoint="create")
@action("opinions.index")
def create() -> ResponseReturnValue:
    unit = db.session.scalar(select(Unit).where(Unit.code == _field("unit")))
    if unit is None:
        raise UserError(_("没有这个单位。"))
    opinion, code = services.new_opinion(
        current_user, source=_field("source"), source_detail=_field("source_detail", required=False),
        raised_on=_date("raised_on"), unit=unit, summary=_field("summary"), today=today(),
        raiser={k: _field(f"raiser_{k}", required=False) for k in ("name", "phone", "contact")})
    # The code is shown on this answer only (never in a redirect's URL or the session cookie).
    return _code_page(opinion, code, new=True)


@bp.get("/opinions/<int:opinion_id>", endpoint="opinion_page")
def opinion_page(opinion_id: int) -> ResponseReturnValue:
    opinion = _opinion_or_404(opinion_id)
    raiser = services.raiser_of(opinion) if services.sees_raiser(current_user) else None
    return render_template("opinions/opinion.html", opinion=opinion, raiser=raiser, today=today(), **_labels())


@bp.post("/opinions/<int:opinion_id>/step/<any(assign, close):opinion_step>", endpoint="step")
@action("opinions.opinion_page")
def step(opinion_id: int, opinion_step: str) -> ResponseReturnValue:
    opinion = _opinion_or_404(opinion_id)
    if opinion_step == "assign":
        services.assign(opinion, _date("due_on"), today())
    else:
        services.close(opinion)
    flash(_("已办理：%(s)s。", s=_(OPINION_STATUSES[opinion.step])), "info")
    return redirect(url_for("opinions.opinion_page", opinion_id=opinion.id))


@bp.post("/opinions/<int:opinion_id>/code", endpoint="reissue")
@action("opinions.opinion_page")
def reissue(opinion_id: int) -> ResponseReturnValue:
    opinion = _opinion_or_404(opinion_id)
    code = services.reissue_code(opinion)
    return _code_page(opinion, code, new=False)


def _code_page(opinion: Opinion, code: str, *, new: bool) -> ResponseReturnValue:
    """The page that shows a lookup code, its only showing: kept in no cache (a shared office
    computer's back button or disk cache would show it again)."""
    return render_template("opinions/code.html", opinion=opinion, code=code, new=new), \
        {"Cache-Control": "no-store"}


# --- a unit's liaison: the opinions handed to the own unit ------------------------------------


@bp.get("/my/opinions", endpoint="my_opinions")
def my_opinions() -> ResponseReturnValue:
    services.mark_overdue(today())
    rows = [o for o in services.opinions(unit_id=current_user.unit_id) if o.assigned_at is not None]
    return render_and_commit("opinions/my.html", opinions=rows, today=today(), **_labels())


@bp.post("/my/opinions/<int:opinion_id>/answer", endpoint="answer")
@action("opinions.my_opinions")
def answer(opinion_id: int) -> ResponseReturnValue:
    opinion = _opinion_or_404(opinion_id)
    if opinion.unit_id != current_user.unit_id or opinion.assigned_at is None:
        abort(404)  # another unit's: as if it did not exist
    services.answer(opinion, current_user, _field("answer"))
    flash(_("已提交答复。"), "info")
    return redirect(url_for("opinions.my_opinions"))


# --- the public lookup by code -----------------------------------------------------------------


class LookupForm(FlaskForm):  # type: ignore[misc]  # flask_wtf has no type information
    code = StringField(_l("查询码"), validators=[InputRequired(message=_l("请输入查询码"))])


@bp.route("/opinion", methods=["GET", "POST"], endpoint="lookup")
def lookup() -> ResponseReturnValue:
    # POST, not a query string: a code in a URL would reach access logs and referrers.
    form = LookupForm()
    found: Opinion | None = None
    checked = False
    address = request.remote_addr or ""
    if form.validate_on_submit():
        if services.lookup_throttled(address):
            return render_template("opinions/lookup.html", form=form, throttled=True, checked=False,
                                   found=None, **_labels()), 429
        found = services.lookup(form.code.data or "", address)
        checked = True
        db.session.commit()
    status = 422 if form.errors else 200
    return render_template("opinions/lookup.html", form=form, found=found, checked=checked, throttled=False,
                           **_labels()), status
