"""The evaluator's pages: /b/<token> shows the form and takes the ballot."""
from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, Signer
from wtforms import HiddenField, RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from survey.ballots import services
from survey.models import Campaign, CampaignUnit, Invitation
from survey.tokens import format_receipt, new_receipt, normalise_receipt

bp = Blueprint("ballots", __name__)


def answer_field(unit_id: int, item_id: int) -> str:
    return f"a_{unit_id}_{item_id}"


def comment_field(unit_id: int) -> str:
    return f"c_{unit_id}"


def ballot_form_class(campaign: Campaign, units: list[CampaignUnit]) -> type[FlaskForm]:
    """A form class for this campaign's questionnaire: one radio group per unit and item."""

    class BallotForm(FlaskForm):
        receipt = HiddenField()
        started = HiddenField()

    choices = [SelectChoice(str(o.id), o.label) for o in campaign.scale]
    for unit in units:
        for item in campaign.items:
            setattr(BallotForm, answer_field(unit.id, item.id), RadioField(
                f"{unit.name} · {item.label}", choices=choices,
                validators=[InputRequired(message=_("请为“%(unit)s”的“%(item)s”选择一项",
                                                    unit=unit.name, item=item.label))],
            ))
        setattr(BallotForm, comment_field(unit.id), TextAreaField(
            _("对%(unit)s的意见建议（可选）", unit=unit.name), validators=[Length(max=2000)]))
    return BallotForm


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt="ballot-started")


def _invitation_or_404(token: str) -> Invitation:
    invitation = services.find_invitation(token)
    if invitation is None:
        # Say nothing about whether such a link ever existed.
        abort(404)
    return invitation


@bp.route("/b/<token>", methods=["GET", "POST"])
def ballot(token: str):
    invitation = _invitation_or_404(token)
    campaign = invitation.batch.campaign
    if not campaign.is_accepting_ballots:
        return render_template("ballots/closed.html", campaign=campaign), 410
    units = services.units_for(invitation)
    form = ballot_form_class(campaign, units)()

    if request.method == "GET":
        if invitation.used:
            return render_template("ballots/already.html", campaign=campaign), 200
        form.receipt.data = new_receipt()
        form.started.data = _signer().sign(str(int(time.time()))).decode()
        return _render_form(form, campaign, units)

    receipt = normalise_receipt(form.receipt.data or "")
    if receipt is None:
        abort(400)
    if not form.validate():
        return _render_form(form, campaign, units), 422
    answers: services.AnswerMap = {}
    comments: dict[int, str] = {}
    for unit in units:
        answers[unit.id] = {
            item.id: int(form[answer_field(unit.id, item.id)].data) for item in campaign.items
        }
        comments[unit.id] = form[comment_field(unit.id)].data or ""
    try:
        started = float(_signer().unsign(form.started.data or "").decode())
    except (BadSignature, ValueError):
        started = None
    try:
        result = services.submit(
            invitation, answers, comments, receipt=receipt,
            duration_s=services.duration_since(started), source=request.remote_addr,
        )
    except services.AlreadySubmitted:
        return render_template("ballots/already.html", campaign=campaign), 409
    return render_template("ballots/thanks.html", campaign=campaign,
                           receipt=format_receipt(result.receipt))


def _render_form(form: FlaskForm, campaign: Campaign, units: list[CampaignUnit]):
    by_category: dict[int, tuple[str, list[CampaignUnit]]] = {}
    for unit in units:
        by_category.setdefault(unit.campaign_category_id, (unit.category.label, []))[1].append(unit)
    return render_template(
        "ballots/form.html", form=form, campaign=campaign, sections=list(by_category.values()),
        items=list(campaign.items), answer_field=answer_field, comment_field=comment_field,
    )
