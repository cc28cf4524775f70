"""The evaluator's pages: /b/<token> (personal link) and /p/<campaign>/<batch>
(open channel: QR posters, public) show the form, keep the draft, show the
summary and take the ballot; /receipt checks a receipt code."""
from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass, field

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from itsdangerous import BadSignature, Signer

from survey.ballots import i18n, services
from survey.ballots.forms import (
    QuestionnaireBase,
    ReceiptForm,
    answer_field,
    comment_field,
    questionnaire_class,
)
from survey.models import Batch, Campaign, CampaignUnit, Invitation
from survey.tokens import format_receipt, new_receipt, normalise_receipt

bp = Blueprint("ballots", __name__)


@bp.record_once
def _setup(state) -> None:  # noqa: ANN001 (Flask's BlueprintSetupState)
    i18n.init_app(state.app)


@dataclass
class FormContext:
    """Who is filling which form: a personal link or an open-channel form."""

    campaign: Campaign
    batch: Batch
    #: The units on the form.
    units: list[CampaignUnit]
    invitation: Invitation | None = None
    #: The open-channel draft's key (in the browser's session), if any.
    draft_key: str | None = None
    url: str = ""
    draft_url: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def open_channel(self) -> bool:
        return self.invitation is None

    def draft(self):
        return services.find_draft(invitation=self.invitation, key=self.draft_key)


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt="ballot-started")


def _sign_started(started: dt.datetime | None) -> str:
    seconds = started.replace(tzinfo=dt.UTC).timestamp() if started else time.time()
    return _signer().sign(str(int(seconds))).decode()


def _started(form: QuestionnaireBase) -> float | None:
    try:
        return float(_signer().unsign(form.started.data or "").decode())
    except (BadSignature, ValueError):
        return None


# --- personal links ---


def _personal(token: str) -> FormContext:
    invitation = services.find_invitation(token)
    if invitation is None:
        # Say nothing about whether such a link ever existed.
        abort(404)
    return FormContext(campaign=invitation.batch.campaign, batch=invitation.batch,
                  units=services.units_for(invitation), invitation=invitation,
                  url=url_for("ballots.ballot", token=token),
                  draft_url=url_for("ballots.draft", token=token))


@bp.route("/b/<token>", methods=["GET", "POST"])
def ballot(token: str):
    return _questionnaire(_personal(token))


@bp.post("/b/<token>/draft")
def draft(token: str):
    return _save_draft_json(_personal(token))


# --- open channel ---


DRAFT_KEYS = "draft_keys"


def _open(campaign_code: str, batch_code: str, *, create_key: bool) -> FormContext:
    batch = services.find_open_batch(campaign_code, batch_code)
    if batch is None:
        abort(404)
    return _open_batch(batch, create_key=create_key)


def _open_batch(batch: Batch, *, create_key: bool) -> FormContext:
    campaign_code, batch_code = batch.campaign.code, batch.code
    keys = session.get(DRAFT_KEYS, {})
    key = keys.get(str(batch.id))
    if key is None and create_key:
        key = secrets.token_urlsafe(18)
        session[DRAFT_KEYS] = {**keys, str(batch.id): key}
    return FormContext(campaign=batch.campaign, batch=batch, units=services.units_for_batch(batch),
                  draft_key=key,
                  url=url_for("ballots.open_form", campaign_code=campaign_code, batch_code=batch_code),
                  draft_url=url_for("ballots.open_draft", campaign_code=campaign_code,
                                    batch_code=batch_code))


@bp.route("/p/<campaign_code>/<batch_code>", methods=["GET", "POST"])
def open_form(campaign_code: str, batch_code: str):
    return _questionnaire(_open(campaign_code, batch_code, create_key=request.method == "POST"))


@bp.get("/q/<public_code>")
def qr(public_code: str):
    """A QR poster's short address: the open batch's form."""
    batch = services.find_public_batch(public_code)
    if batch is None:
        abort(404)
    return redirect(url_for("ballots.open_form", campaign_code=batch.campaign.code, batch_code=batch.code))


@bp.post("/p/<campaign_code>/<batch_code>/draft")
def open_draft(campaign_code: str, batch_code: str):
    return _save_draft_json(_open(campaign_code, batch_code, create_key=True))


# --- the questionnaire, for both ---


def _refused_page(b: FormContext):
    reason = services.refusal_reason(b.campaign, b.batch)
    if reason is None:
        return None
    status = 403 if reason == "not_open" else 410
    return render_template("ballots/closed.html", campaign=b.campaign, reason=reason), status


def _questionnaire(b: FormContext):
    refused = _refused_page(b)
    if refused is not None:
        return refused
    form_class = questionnaire_class(b.campaign, b.units, open_channel=b.open_channel)

    if request.method == "GET":
        if b.invitation is not None and b.invitation.used:
            return render_template("ballots/already.html", campaign=b.campaign), 200
        draft = b.draft()
        answers, comments = services.draft_answers(draft)
        data: dict[str, object] = {
            answer_field(u, i): str(o) for u, by_item in answers.items() for i, o in by_item.items()}
        data.update({comment_field(u): t for u, t in comments.items()})
        data["receipt"] = new_receipt()
        data["started"] = _sign_started(draft.started_at if draft else None)
        form = form_class(data=data)
        return _render_form(form, b, resumed=draft is not None)

    form = form_class()
    if not form.validate():
        return _render_form(form, b), 422
    action = form.action.data or "submit"
    answers, comments = form.answers(), form.comments()
    units, foreign = b.units, form.foreign_unit_ids()
    if b.open_channel and form.own_unit.data:
        own = int(form.own_unit.data)
        units = [u for u in b.units if u.id != own]
        if own in answers or own in comments:
            foreign.add(own)
            answers.pop(own, None)
            comments.pop(own, None)

    if action == "save":
        if not _keep_draft(b, form, answers, comments):
            return render_template("ballots/already.html", campaign=b.campaign), 409
        flash(_("已保存。您可以随时通过同一链接回来继续填写。"))
        return redirect(b.url + "#progress", code=303)
    if action == "edit":
        return _render_form(form, b)

    problems = services.check_ballot(b.campaign, units, answers, comments, foreign_unit_ids=foreign)
    if action == "review":
        if not _keep_draft(b, form, answers, comments):
            return render_template("ballots/already.html", campaign=b.campaign), 409
        if problems:
            return _render_form(form, b, problems=problems), 422
        return _render_review(form, b, units, answers, comments)

    # action == "submit"
    receipt = normalise_receipt(form.receipt.data or "")
    if receipt is None:
        abort(400)
    if problems:
        return _render_form(form, b, problems=problems), 422
    duration = services.duration_since(_started(form))
    try:
        if b.invitation is not None:
            result = services.submit(b.invitation, answers, comments, receipt=receipt,
                                     duration_s=duration, source=request.remote_addr)
        else:
            result = services.submit_open(b.batch, answers, comments, receipt=receipt,
                                          draft_key=b.draft_key, duration_s=duration,
                                          source=request.remote_addr)
    except services.AlreadySubmitted:
        return render_template("ballots/already.html", campaign=b.campaign), 409
    return render_template("ballots/thanks.html", campaign=b.campaign,
                           receipt=format_receipt(result.receipt))


def _keep_draft(b: FormContext, form: QuestionnaireBase, answers: services.AnswerMap,
                comments: dict[int, str]) -> bool:
    started = _started(form)
    started_at = (dt.datetime.fromtimestamp(started, dt.UTC).replace(tzinfo=None)
                  if started is not None else None)
    return services.save_draft(b.batch, answers, comments, invitation=b.invitation,
                               key=b.draft_key, started_at=started_at)


def _save_draft_json(b: FormContext):
    """The script's autosave: the same form fields, answered with JSON."""
    refused = _refused_page(b)
    if refused is not None:
        return jsonify(saved=False, reason="closed"), refused[1]
    form = questionnaire_class(b.campaign, b.units, open_channel=b.open_channel)()
    if not form.validate():
        return jsonify(saved=False, errors=form.errors), 422
    answers, comments = form.answers(), form.comments()
    if not _keep_draft(b, form, answers, comments):
        return jsonify(saved=False, reason="submitted"), 409
    return jsonify(saved=True, answered=services.count_answered(b.units, b.campaign.items, answers),
                   total=len(b.units))


def _sections(units: list[CampaignUnit]) -> list[tuple[str, list[CampaignUnit]]]:
    by_category: dict[int, tuple[str, list[CampaignUnit]]] = {}
    for unit in units:
        by_category.setdefault(unit.campaign_category_id, (unit.category.label, []))[1].append(unit)
    return list(by_category.values())


def _render_form(form: QuestionnaireBase, b: FormContext, *, problems=(), resumed: bool = False):
    units = b.units
    answers = form.answers()
    unit_problems: dict[int, list[str]] = {}
    for p in problems:
        if p.unit_id is not None:
            unit_problems.setdefault(p.unit_id, []).append(p.message)
    for name, errors in form.errors.items():
        # Field errors (a comment too long, a value not on the scale) belong to their unit.
        unit_id = int(name.split("_")[1]) if name[:2] in ("a_", "c_") else None
        for error in errors:
            if unit_id is not None:
                unit_problems.setdefault(unit_id, []).append(error)
    field_problems = [services.Problem(e, int(n.split("_")[1]) if n[:2] in ("a_", "c_") else None)
                      for n, errs in form.errors.items() for e in errs]
    worst = services.dissatisfied_option(b.campaign)
    return render_template(
        "ballots/form.html", form=form, b=b, campaign=b.campaign, sections=_sections(units),
        items=list(b.campaign.items), answer_field=answer_field, comment_field=comment_field,
        problems=list(problems) + field_problems, unit_problems=unit_problems, resumed=resumed,
        answered=services.count_answered(units, b.campaign.items, answers), total=len(units),
        dissatisfied_id=worst.id if worst else None,
        dissatisfied_cap=services.dissatisfied_cap(b.campaign, len(units)),
        overall_item_id=services.overall_item(b.campaign).id,
    )


def _render_review(form: QuestionnaireBase, b: FormContext, units: list[CampaignUnit],
                   answers: services.AnswerMap, comments: dict[int, str]):
    labels = {o.id: o.label for o in b.campaign.scale}
    counts: dict[str, int] = {}
    for by_item in answers.values():
        for option_id in by_item.values():
            counts[labels[option_id]] = counts.get(labels[option_id], 0) + 1
    return render_template(
        "ballots/review.html", form=form, b=b, campaign=b.campaign, sections=_sections(units),
        items=list(b.campaign.items), answers=answers, comments=comments, labels=labels,
        counts=[(o.label, counts.get(o.label, 0)) for o in b.campaign.scale],
        answer_field=answer_field, comment_field=comment_field,
    )


# --- receipts ---


@bp.route("/receipt", methods=["GET", "POST"])
def receipt():
    # POST, not a query string: a receipt code in a URL would reach access
    # logs, where its hash leads to the ballot and the line to the address.
    form = ReceiptForm()
    found = None
    checked = False
    if form.validate_on_submit():
        found = services.check_receipt(form.code.data)
        checked = True
    status = 422 if form.errors else 200
    return render_template("ballots/receipt.html", form=form, found=found, checked=checked,
                           code=format_receipt(form.code.data) if checked else None), status
