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
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import validate_csrf
from itsdangerous import BadSignature, Signer
from wtforms.validators import ValidationError

from survey.ballots import i18n, services
from survey.ballots.forms import (
    ANSWER_NAME,
    COMMENT_MAX,
    COMMENT_NAME,
    QuestionnaireBase,
    ReceiptForm,
    answer_field,
    comment_field,
    questionnaire_class,
)
from survey.extensions import db
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
    return _unsign_started(form.started.data)


def _unsign_started(value: str | None) -> float | None:
    try:
        return float(_signer().unsign(value or "").decode())
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
    if request.method == "POST":
        taken = _submit_fast(token)
        if taken is not None:
            return taken
    return _questionnaire(_personal(token))


def _submit_fast(token: str):
    """The common case of a personal link's POST, at a fraction of the cost:
    a complete, valid ballot submitted to an open campaign, read with plain
    rows (services.find_link) and parsed without building the questionnaire
    form. It checks what the form and _questionnaire() check (CSRF, the
    scale, comment lengths, units not on the form, the campaign's rules) and
    takes the ballot through the same exactly-once claim. Anything else (a
    draft, the summary, an error to show, a used or closed link, a retry)
    returns None before writing anything, and the full path handles it."""
    if request.mimetype != "application/x-www-form-urlencoded" or \
            request.form.get("action", "submit") not in ("", "submit"):
        return None  # a review, a draft: the full path, without reading the link twice
    # Its own connection, not the session: reads and writes are Core
    # statements, and the session's commit would cost more than the writes.
    with db.engine.connect() as connection:
        link = services.find_link(connection, token)
        if link is None or link.used or services.refusal_reason(link, link.batch) is not None:
            return None
        posted = _parse_ballot(link)
        if posted is None:
            return None
        answers, comments, receipt, started = posted
        if services.check_ballot(link, link.units_on_form(), answers, comments):
            return None
        if not services.take_ballot(connection, link, answers, comments, receipt=receipt,
                                    duration_s=services.duration_since(started),
                                    source=request.remote_addr):
            return None  # used meanwhile: a retry, or a second ballot refused
    return _thanks_page(link, format_receipt(receipt))


#: The thank-you page by what it shows besides the receipt, rendered once with
#: a placeholder where the receipt goes (bounded: cleared when full).
_THANKS: dict[tuple[object, ...], str] = {}
_RECEIPT_SLOT = "\ue000receipt\ue000"


def _thanks_page(link: services.LinkView, receipt: str) -> str:
    """thanks.html for this receipt. Rendering it costs as much as taking the
    ballot, yet it differs between evaluators only by the receipt (the
    evaluator's pages have no staff navigation), so it is rendered once per
    campaign name, language and mount point. A page with messages to show
    (flashed before) is rendered in full, as are all while templates reload.
    A receipt is letters, digits and hyphens: nothing to escape."""
    if session.get("_flashes") or current_app.jinja_env.auto_reload:
        return render_template("ballots/thanks.html", campaign=link, receipt=receipt)
    key = (link.campaign_id, link.name, str(get_locale()), request.script_root)
    page = _THANKS.get(key)
    if page is None:
        if len(_THANKS) >= 256:
            _THANKS.clear()
        page = _THANKS[key] = render_template("ballots/thanks.html", campaign=link, receipt=_RECEIPT_SLOT)
    return page.replace(_RECEIPT_SLOT, receipt)


def _parse_ballot(link: services.LinkView):
    """The posted ballot as (answers, comments, receipt, started), or None
    where the questionnaire form would not take it as a plain submission."""
    form = request.form
    if current_app.config.get("WTF_CSRF_ENABLED", True) and not (
            g.get("csrf_valid") and current_app.config.get("WTF_CSRF_CHECK_DEFAULT", True)):
        # CSRFProtect has not checked this request: check as FlaskForm would.
        try:
            validate_csrf(form.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")))
        except ValidationError:
            return None
    questionnaire = link.questionnaire
    option_ids, own = questionnaire.option_ids, link.own_unit_id
    answer_fields, comment_fields = questionnaire.answer_fields, questionnaire.comment_fields
    answers: services.AnswerMap = {}
    comments: dict[int, str] = {}
    for name, values in form.lists():
        if len(values) != 1:
            return None
        value = values[0]
        answer = answer_fields.get(name)
        if answer is not None:
            unit_id, item_id, unit = answer
            if unit == own:
                return None  # their own unit: the full path says they may not rate it
            if value:
                option = option_ids.get(value)
                if option is None:
                    return None
                answers.setdefault(unit_id, {})[item_id] = option
            continue
        comment = comment_fields.get(name)
        if comment is not None:
            unit_id, unit = comment
            if unit == own or len(value) > COMMENT_MAX:
                return None
            if value.strip():
                comments[unit_id] = value.strip()
            continue
        if name == "action":
            if value not in ("", "submit"):
                return None
            continue
        # Not a field of this form (the form ignores it), unless it answers a
        # unit that is not on the form, which the full path refuses.
        match = ANSWER_NAME.match(name) or COMMENT_NAME.match(name)
        if match and int(match.group(1)) not in {u.id for u in link.units_on_form()}:
            return None
    receipt = normalise_receipt(form.get("receipt") or "")
    if receipt is None:
        return None
    started = form.get("started")
    return answers, comments, receipt, _unsign_started(started)


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
