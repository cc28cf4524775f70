"""The evaluator's pages: /b/<token> (personal link) and /p/<campaign>/<batch>
(open channel: QR posters, public) show the form, keep the draft, show the
summary and take the ballot; /receipt checks a receipt code."""
from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import validate_csrf
from itsdangerous import BadSignature, Signer
from wtforms.validators import ValidationError

from survey.ballots import drafts, eligibility, pages, submission
from survey.ballots.forms import QuestionnaireBase, ReceiptForm, questionnaire_class
from survey.ballots.questionnaire import (
    AnswerMap,
    Problem,
    Questionnaire,
    Rules,
    UnitRow,
    answer_field,
    check_ballot,
    comment_field,
    count_answered,
    margin_field,
    parse_ballot,
)
from survey.caches import Cache
from survey.clock import format_beijing
from survey.distribution import public_limits
from survey.extensions import db
from survey.models import Batch, Campaign, Invitation
from survey.tokens import format_receipt, hash_token, new_receipt, receipt_mac, receipt_mac_valid

bp = Blueprint("ballots", __name__)


@dataclass
class FormContext:
    """Who is filling which form: a personal link or an open-channel form."""

    campaign: Campaign
    batch: Batch
    questionnaire: Questionnaire
    #: The evaluator's own unit (a personal link's), whose fields are not on the form.
    own_unit_id: int | None
    invitation: Invitation | None = None
    #: The open-channel draft's key (in the browser's session), if any.
    draft_key: str | None = None
    #: The personal link's token (its claim's and its sealed draft's key).
    token: str | None = None
    url: str = ""
    draft_url: str = ""

    @property
    def open_channel(self) -> bool:
        return self.invitation is None

    @property
    def rules(self) -> Rules:
        return Rules.of(self.campaign)

    @property
    def form_units(self) -> list[UnitRow]:
        """The units on the form."""
        return self.questionnaire.on_form(self.own_unit_id)

    def shown(self) -> pages.FormShown:
        """What the form page shows (each unit's category read on this request)."""
        campaign = self.campaign
        return pages.FormShown(
            campaign.name, campaign.anonymous, self.rules, self.questionnaire, self.own_unit_id,
            tuple(self.form_units), eligibility.unit_categories(db.session.connection(), campaign.id),
            self.open_channel, self.draft_url)

    def draft(self) -> drafts.Draft | None:
        return drafts.find_draft(self.campaign.id, token=self.token, key=self.draft_key)

    def form_class(self) -> type[QuestionnaireBase]:
        return questionnaire_class(self.questionnaire, self.own_unit_id, open_channel=self.open_channel)

    def link(self) -> bytes:
        """What this form's receipt is bound to: the personal link (its token's
        hash), or the open batch and this browser's draft key."""
        if self.invitation is not None:
            return _personal_link(self.invitation.token_hash)
        return f"p:{self.batch.id}:{self.draft_key or ''}".encode("ascii")


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt="ballot-started")


#: A draft begun longer ago than this starts the form afresh (a start must be
#: within submission.duration_since's week to give a duration).
_START_KEPT = dt.timedelta(days=6)


def _sign_started(started: dt.datetime | None) -> str:
    now = time.time()
    seconds = started.replace(tzinfo=dt.UTC).timestamp() if started else now
    if not now - _START_KEPT.total_seconds() <= seconds <= now:
        seconds = now
    return _signer().sign(str(int(seconds))).decode()


def _unsign_started(value: str | None) -> float | None:
    try:
        return float(_signer().unsign(value or "").decode())
    except (BadSignature, ValueError):
        return None


def _signed_duration(value: str | None) -> float | None:
    """The seconds since the form's signed start; None where the start is
    missing, forged, in the future or too old: a web ballot without one is
    refused (SCORING.md's speeder flag needs every web ballot's duration)."""
    return submission.duration_since(_unsign_started(value))


# --- receipts bound to their link (tokens.receipt_mac) ---


def _personal_link(token_hash: bytes) -> bytes:
    return b"b:" + token_hash


def _receipt_bound(link: bytes, receipt: str | None, mac: str | None) -> bool:
    """The receipt is one this server issued for this link."""
    return receipt_mac_valid(current_app.config["SECRET_KEY"], link, receipt, mac)


def _issue_receipt(link: bytes) -> tuple[str, str]:
    """A new receipt for a form, and its signature for its link (FormContext.link)."""
    code = new_receipt()
    return code, receipt_mac(current_app.config["SECRET_KEY"], link, code)


# --- personal links ---


def _personal(token: str) -> FormContext:
    invitation = eligibility.find_invitation(token)
    if invitation is None:
        replaced = eligibility.find_replaced(token)
        if replaced is not None:
            # Only the old link's holder gets here (by its hash): tell them which message replaced it.
            abort(make_response(render_template(
                "ballots/replaced.html", campaign=replaced.batch.campaign, channel=replaced.batch.channel, kind=replaced.kind,
                day=format_beijing(replaced.replaced_at, "%Y-%m-%d")), 410))
        # Say nothing about whether such a link ever existed.
        abort(404)
    return FormContext(campaign=invitation.batch.campaign, batch=invitation.batch,
                       questionnaire=eligibility.questionnaire_of(invitation.batch),
                       own_unit_id=eligibility.own_unit_of(invitation), invitation=invitation, token=token,
                       url=url_for("ballots.ballot", token=token),
                       draft_url=url_for("ballots.draft", token=token))


@bp.route("/b/<token>", methods=["GET", "POST"])
def ballot(token: str) -> ResponseReturnValue:
    fast = _submit_fast(token) if request.method == "POST" else _form_fast(token)
    if fast is not None:
        return fast
    return _questionnaire(_personal(token))


def _form_fast(token: str) -> str | None:
    """The common case of a personal link's GET, the evaluator's first page:
    a link that may vote, read with plain rows (``_link_form``) and shown by
    pages.form_page like the full path's. Anything else (no such link, a
    replaced, taken or closed one) returns None, and the full path answers."""
    found = _link_form(token)
    if found is None:
        return None
    shown, draft = found
    return pages.form_page(shown, _fresh(_personal_link(hash_token(token)), draft))


def _link_form(token: str) -> tuple[pages.FormShown, drafts.Draft | None] | None:
    """What a personal link's form shows, and its draft, read as the full
    path reads them (FormContext.shown, .draft) but as Core rows on one
    connection: the link with its batch, campaign and evaluator, the
    questionnaire, the claim (SQLite), the draft, the units' categories.
    None where the link is not one that may vote now."""
    with db.engine.connect() as connection:
        link = eligibility.find_link(connection, token)
        if link is None or link.refusal() is not None or submission.taken(link, token, connection):
            return None
        draft = drafts.find_draft(link.campaign_id, token=token, connection=connection)
        categories = eligibility.unit_categories(connection, link.campaign_id)
    return pages.FormShown(link.name, link.anonymous, link.rules, link.questionnaire, link.own_unit_id,
                           tuple(link.units_on_form()), categories, open_channel=False,
                           draft_url=url_for("ballots.draft", token=token)), draft


def _submit_fast(token: str) -> str | None:
    """The common case of a personal link's POST, at a fraction of the cost:
    a complete, valid ballot submitted to an open campaign, read with plain
    rows (eligibility.find_link) without building the questionnaire form,
    through the same parser and rules as the form (questionnaire.py) and the
    same exactly-once claim and writer (submission.py). Anything else (a
    draft, the summary, an error to show, a used or closed link, a retry)
    returns None before writing anything, and the full path handles it."""
    if request.mimetype != "application/x-www-form-urlencoded" or \
            request.form.get("action", "submit") not in ("", "submit"):
        return None  # a review, a draft: the full path, without reading the link twice
    # Its own connection, not the session: reads and writes are Core
    # statements, and the session's commit would cost more than the writes.
    with db.engine.connect() as connection:
        link = eligibility.find_link(connection, token)
        if link is None or link.used or link.refusal() is not None or not _csrf_checked():
            return None
        posted = parse_ballot(link.questionnaire, request.form, link.own_unit_id)
        if posted.errors or posted.foreign_unit_ids or posted.malformed or posted.receipt is None:
            return None
        duration = _signed_duration(posted.started)
        if duration is None or not _receipt_bound(_personal_link(hash_token(token)), posted.receipt,
                                                  request.form.get("receipt_mac")):
            return None  # the full path refuses it with the form to send again
        if check_ballot(link.questionnaire, link.rules, link.units_on_form(), posted.answers, posted.comments,
                        margin_answers=posted.margin_answers):
            return None
        try:
            if not submission.take_link(connection, link, posted.answers, posted.comments, receipt=posted.receipt,
                                        duration_s=duration, source=request.remote_addr,
                                        answered=link.questionnaire.attributes_of(posted.margin_answers)):
                return None  # used meanwhile: a retry, or a second ballot refused
        except submission.ReceiptInUse:
            return None
    return _thanks_page(link, format_receipt(posted.receipt))


def _csrf_checked() -> bool:
    """The request's CSRF token is valid, as the questionnaire form (a FlaskForm) would check it."""
    config = current_app.config
    if not config.get("WTF_CSRF_ENABLED", True) or (g.get("csrf_valid") and config.get("WTF_CSRF_CHECK_DEFAULT", True)):
        return True  # not checked, or CSRFProtect has checked this request
    try:
        validate_csrf(request.form.get(config.get("WTF_CSRF_FIELD_NAME", "csrf_token")))
    except ValidationError:
        return False
    return True


#: The thank-you page by what it shows besides the receipt, rendered once with
#: a placeholder where the receipt goes.
_THANKS: Cache[tuple[object, ...], str] = Cache("ballots.thanks_pages", 256)
_RECEIPT_SLOT = "\ue000receipt\ue000"


def _thanks_page(link: eligibility.LinkView, receipt: str) -> str:
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
        page = _THANKS.put(key, render_template("ballots/thanks.html", campaign=link, receipt=_RECEIPT_SLOT))
    return page.replace(_RECEIPT_SLOT, receipt)


@bp.post("/b/<token>/draft")
def draft(token: str) -> ResponseReturnValue:
    return _save_draft_json(_personal(token))


# --- open channel ---


DRAFT_KEYS = "draft_keys"


def _open(campaign_code: str, batch_code: str, *, create_key: bool) -> FormContext:
    batch = eligibility.find_open_batch(campaign_code, batch_code)
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
    return FormContext(campaign=batch.campaign, batch=batch, questionnaire=eligibility.questionnaire_of(batch),
                       own_unit_id=None, draft_key=key,
                       url=url_for("ballots.open_form", campaign_code=campaign_code, batch_code=batch_code),
                       draft_url=url_for("ballots.open_draft", campaign_code=campaign_code,
                                         batch_code=batch_code))


@bp.route("/p/<campaign_code>/<batch_code>", methods=["GET", "POST"])
@public_limits.limited
def open_form(campaign_code: str, batch_code: str) -> ResponseReturnValue:
    # The key exists from the first view: the form's receipt is bound to it.
    return _questionnaire(_open(campaign_code, batch_code, create_key=True))


@bp.get("/q/<public_code>")
def qr(public_code: str) -> ResponseReturnValue:
    """A QR poster's short address: the open batch's form."""
    batch = eligibility.find_public_batch(public_code)
    if batch is None:
        abort(404)
    return redirect(url_for("ballots.open_form", campaign_code=batch.campaign.code, batch_code=batch.code))


@bp.post("/p/<campaign_code>/<batch_code>/draft")
def open_draft(campaign_code: str, batch_code: str) -> ResponseReturnValue:
    return _save_draft_json(_open(campaign_code, batch_code, create_key=True))


# --- the questionnaire, for both ---


def _refused_page(b: FormContext) -> tuple[str, int] | None:
    reason = eligibility.batch_refusal(b.batch)
    if reason is None:
        return None
    status = 403 if reason == "not_open" else 410
    return render_template("ballots/closed.html", campaign=b.campaign, reason=reason), status


def _questionnaire(b: FormContext) -> ResponseReturnValue:
    refused = _refused_page(b)
    if refused is not None:
        return refused
    if request.method == "GET":
        if b.invitation is not None and submission.taken(b.invitation, b.token):
            return render_template("ballots/already.html", campaign=b.campaign), 200
        return pages.form_page(b.shown(), _fresh(b.link(), b.draft()))

    form = b.form_class()()
    if not form.validate():
        parsed = form.parsed
        # A request the form does not post is refused whole; say what the
        # answers read from it still lack, as for any incomplete form.
        problems = check_ballot(b.questionnaire, b.rules, b.form_units, parsed.answers, parsed.comments,
                                margin_answers=parsed.margin_answers) if parsed.malformed else []
        return pages.render_form(form, b.shown(), parsed.answers, problems=problems), 422
    action = form.action.data or "submit"
    posted = form.parsed
    answers, comments, margins = posted.answers, posted.comments, posted.margin_answers
    units, foreign = b.form_units, set(posted.foreign_unit_ids)
    if b.open_channel and form.own_unit.data:
        own = int(form.own_unit.data)
        units = [u for u in units if u.id != own]
        if own in answers or own in comments:
            foreign.add(own)
            answers.pop(own, None)
            comments.pop(own, None)

    if action == "save":
        if not _keep_draft(b, form, answers, comments, margins):
            return render_template("ballots/already.html", campaign=b.campaign), 409
        flash(_("已保存。您可以随时通过同一链接回来继续填写。"))
        return redirect(b.url + "#progress", code=303)
    if action == "edit":
        return pages.render_form(form, b.shown(), answers)

    problems = check_ballot(b.questionnaire, b.rules, units, answers, comments, margin_answers=margins,
                            foreign_unit_ids=foreign)
    if action == "review":
        if not _keep_draft(b, form, answers, comments, margins):
            return render_template("ballots/already.html", campaign=b.campaign), 409
        if problems:
            return pages.render_form(form, b.shown(), answers, problems=problems), 422
        return _render_review(form, b, units, answers, comments, margins)

    # action == "submit"
    receipt = posted.receipt
    duration = _signed_duration(posted.started)
    if receipt is None or duration is None or not _receipt_bound(b.link(), receipt, form.receipt_mac.data):
        if b.invitation is not None and submission.taken(b.invitation, b.token):
            return render_template("ballots/already.html", campaign=b.campaign), 409
        return _form_again(form, b, answers, problems), 400
    if problems:
        return pages.render_form(form, b.shown(), answers, problems=problems), 422
    answered = b.questionnaire.attributes_of(margins)
    try:
        if b.invitation is not None:
            result = submission.submit(b.invitation, answers, comments, receipt=receipt,
                                       duration_s=duration, source=request.remote_addr, token=b.token,
                                       answered=answered)
        else:
            result = submission.submit_open(b.batch, answers, comments, receipt=receipt,
                                            draft_key=b.draft_key, duration_s=duration,
                                            source=request.remote_addr, answered=answered)
    except submission.AlreadySubmitted:
        return render_template("ballots/already.html", campaign=b.campaign), 409
    except submission.ReceiptInUse:
        return _form_again(form, b, answers, problems), 400
    return render_template("ballots/thanks.html", campaign=b.campaign,
                           receipt=format_receipt(result.receipt))


def _fresh(link: bytes, draft: drafts.Draft | None) -> pages.Fresh:
    """A form shown afresh: a new receipt bound to its link, the signed start, the draft."""
    receipt, mac = _issue_receipt(link)
    return pages.Fresh.of(receipt, mac, _sign_started(draft.started_at if draft else None), draft)


def _form_again(form: QuestionnaireBase, b: FormContext, answers: AnswerMap,
                problems: Sequence[Problem]) -> str:
    """The form, with the answers as posted, a new receipt for this link and
    a new start, for a submission without a receipt this server issued for
    this link or without a valid signed start (an old page, a lost session,
    a page not from this server): nothing was taken."""
    form.receipt.data, form.receipt_mac.data = _issue_receipt(b.link())
    draft = b.draft()
    form.started.data = _sign_started(draft.started_at if draft else None)
    notice = Problem(_("这份评议表已失效（缺少本站签发的回执码或开始时间），评议票未被接收。"
                       "您填写的答案已保留在下面，请核对后重新提交。"))
    return pages.render_form(form, b.shown(), answers, problems=[notice, *problems])


def _keep_draft(b: FormContext, form: QuestionnaireBase, answers: AnswerMap,
                comments: dict[int, str], margins: dict[int, int]) -> bool:
    started = _unsign_started(form.started.data)
    started_at = (dt.datetime.fromtimestamp(started, dt.UTC).replace(tzinfo=None)
                  if started is not None else None)
    return drafts.save_draft(b.batch, answers, comments, invitation=b.invitation,
                             key=b.draft_key, token=b.token, started_at=started_at, margins=margins)


def _save_draft_json(b: FormContext) -> ResponseReturnValue:
    """The script's autosave: the same form fields, answered with JSON."""
    refused = _refused_page(b)
    if refused is not None:
        return jsonify(saved=False, reason="closed"), refused[1]
    form = b.form_class()()
    if not form.validate():
        # Form-wide errors (key None) under "form": JSON keys are text.
        return jsonify(saved=False, errors={name or "form": e for name, e in form.errors.items()}), 422
    answers, comments = form.parsed.answers, form.parsed.comments
    if not _keep_draft(b, form, answers, comments, form.parsed.margin_answers):
        return jsonify(saved=False, reason="submitted"), 409
    units = b.form_units
    return jsonify(saved=True, answered=count_answered(units, b.questionnaire.items, answers),
                   total=len(units))


def _render_review(form: QuestionnaireBase, b: FormContext, units: list[UnitRow],
                   answers: AnswerMap, comments: dict[int, str], margins: dict[int, int]) -> str:
    q = b.questionnaire
    options = {o.id: o for o in q.scale}
    counts: dict[int, int] = {}
    for by_item in answers.values():
        for option_id in by_item.values():
            counts[option_id] = counts.get(option_id, 0) + 1
    return render_template(
        "ballots/review.html", form=form, b=b, campaign=b.campaign,
        sections=eligibility.form_sections(units, eligibility.unit_categories(db.session.connection(), b.campaign.id)),
        items=list(q.items), answers=answers, comments=comments, options=options,
        counts=[(o, counts.get(o.id, 0)) for o in q.scale],
        answer_field=answer_field, comment_field=comment_field,
        margins=[(question, next(o for o in question.options if o.id == margins[question.id]))
                 for question in q.margins if question.id in margins],
        margin_field=margin_field,
    )


# --- receipts ---


@bp.route("/receipt", methods=["GET", "POST"])
def receipt() -> ResponseReturnValue:
    # POST, not a query string: a receipt code in a URL would reach access
    # logs, where its hash leads to the ballot and the line to the address.
    form = ReceiptForm()
    found = None
    checked = False
    if form.validate_on_submit():
        found = submission.check_receipt(form.code.data)
        checked = True
    status = 422 if form.errors else 200
    return render_template("ballots/receipt.html", form=form, found=found, checked=checked,
                           code=format_receipt(form.code.data) if checked else None), status
