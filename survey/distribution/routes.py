"""The organizer's distribution pages (batches, sending, paper forms and
their double entry, QR posters, flags) and the open public form /q/<code>."""
from __future__ import annotations

import datetime as dt

import click
import segno
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from survey import jobs
from survey.accounts.auth import role_required
from survey.ballots import eligibility
from survey.ballots.questionnaire import answer_field
from survey.clock import utcnow
from survey.distribution import (
    sending,  # noqa: F401  (registers the send_batch job)
    services,
)
from survey.distribution.forms import (
    ActionForm,
    BatchForm,
    IssuedForm,
    SerialForm,
    paper_form_class,
)
from survey.extensions import db
from survey.models import Batch, Campaign, Job
from survey.models.distribution import CHANNEL_LABELS

bp = Blueprint("distribution", __name__)
ORGANIZER = "organizer"


def _campaign_or_404(code: str) -> Campaign:
    campaign = services.campaign_by_code(code)
    if campaign is None:
        abort(404)
    return campaign


def _batch_or_404(campaign: Campaign, bcode: str) -> Batch:
    batch = services.batch_by_code(campaign, bcode)
    if batch is None:
        abort(404)
    return batch


def qr_svg(data: str, scale: int = 3) -> Markup:
    """An inline SVG QR code (segno: pure Python, nothing fetched)."""
    return Markup(segno.make(data, error="m").svg_inline(scale=scale, border=2))


@bp.cli.command("remind-due", help="Queue reminders for e-mail and SMS batches whose deadline is near "
                "(for cron), then run the sending jobs.")
@click.option("--days-before", default=3.0, show_default=True, help="Remind when the deadline is this near (days).")
@click.option("--every", "every_days", default=2.0, show_default=True, help="At most one reminder per batch in this many days.")
def remind_due_command(days_before: float, every_days: float) -> None:
    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_Hans_CN")):
        batches = services.remind_due(days_before=days_before, every_days=every_days)
        db.session.commit()
        for batch in batches:
            click.echo(f"{batch.campaign.code}/{batch.code}: 已排队催办 (reminders queued)")
        jobs.run_pending()


def public_url_of(batch: Batch) -> str:
    """The address a QR poster shows: /q/<public_code> (served by the ballots blueprint)."""
    return services.public_url(f"/q/{batch.public_code}")


@bp.app_context_processor
def _labels() -> dict[str, object]:
    return {"channel_labels": CHANNEL_LABELS}


# --- batches -------------------------------------------------------------------


@bp.get("/distribution/")
@role_required(ORGANIZER)
def index():
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.year.desc(), Campaign.code)).all()
    return render_template("distribution/index.html", campaigns=campaigns)



@bp.route("/distribution/<code>/batches", methods=["GET", "POST"])
@role_required(ORGANIZER)
def batches(code: str):
    campaign = _campaign_or_404(code)
    form = BatchForm()
    form.group.choices = [SelectChoice(g.id, g.label) for g in campaign.groups]
    if form.validate_on_submit():
        group = next(g for g in campaign.groups if g.id == form.group.data)
        channel = form.channel.data
        evaluators = None
        count = form.count.data
        if channel in services.MESSAGE_CHANNELS or (channel == "paper" and form.named.data == "roster"):
            evaluators = services.ROSTER
        try:
            batch = services.create_batch(campaign, group, channel, evaluators=evaluators,
                                          count=count if channel == "paper" and evaluators is None else None,
                                          code=form.code.data)
        except services.DistributionError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return _render_batches(campaign, form), 422
        db.session.commit()
        flash(_("已创建批次 %(code)s：发放 %(n)s 份", code=batch.code,
                n=batch.issued if batch.issued is not None else _("不限")), "success")
        return redirect(url_for(".batch", code=campaign.code, bcode=batch.code))
    status = 422 if form.is_submitted() else 200
    return _render_batches(campaign, form), status


def _render_batches(campaign: Campaign, form: BatchForm):
    rows = [(b, services.batch_figures(b)) for b in campaign.batches]
    return render_template("distribution/batches.html", campaign=campaign, form=form, rows=rows)


@bp.get("/distribution/<code>/batches/<bcode>")
@role_required(ORGANIZER)
def batch(code: str, bcode: str):
    campaign = _campaign_or_404(code)
    batch = _batch_or_404(campaign, bcode)
    job = services.last_job(batch)
    if job is not None and job.state in ("queued", "running"):
        jobs.kick()
    issued_form = IssuedForm(issued=batch.issued)
    public_url = public_url_of(batch) if batch.public_code else None
    return render_template("distribution/batch.html", campaign=campaign, batch=batch,
                           figures=services.batch_figures(batch), job=job, action=ActionForm(),
                           issued_form=issued_form, public_url=public_url)


def _batch_action(code: str, bcode: str, action) -> object:
    campaign = _campaign_or_404(code)
    batch = _batch_or_404(campaign, bcode)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        message = action(batch)
    except services.DistributionError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".batch", code=code, bcode=bcode))
    db.session.commit()
    jobs.kick()
    flash(message, "success")
    return redirect(url_for(".batch", code=code, bcode=bcode))


@bp.post("/distribution/<code>/batches/<bcode>/send")
@role_required(ORGANIZER)
def send(code: str, bcode: str):
    def act(batch: Batch) -> str:
        job = services.start_sending(batch)
        return _("已开始发送：共 %(n)d 条", n=job.total or 0)
    return _batch_action(code, bcode, act)


@bp.post("/distribution/<code>/batches/<bcode>/retry")
@role_required(ORGANIZER)
def retry(code: str, bcode: str):
    def act(batch: Batch) -> str:
        job = services.retry_failed(batch)
        return _("已重新发送失败的 %(n)d 条", n=job.total or 0)
    return _batch_action(code, bcode, act)


@bp.post("/distribution/<code>/batches/<bcode>/remind")
@role_required(ORGANIZER)
def remind(code: str, bcode: str):
    def act(batch: Batch) -> str:
        job = services.queue_reminders(batch)
        return _("已开始催办：共 %(n)d 人尚未提交", n=job.total or 0)
    return _batch_action(code, bcode, act)


@bp.post("/distribution/<code>/batches/<bcode>/printed")
@role_required(ORGANIZER)
def printed(code: str, bcode: str):
    def act(batch: Batch) -> str:
        n = services.mark_printed(batch)
        return _("已确认印制 %(n)d 份，系统中的明文链接已清除", n=n)
    return _batch_action(code, bcode, act)


@bp.post("/distribution/<code>/batches/<bcode>/issued")
@role_required(ORGANIZER)
def issued(code: str, bcode: str):
    campaign = _campaign_or_404(code)
    batch = _batch_or_404(campaign, bcode)
    form = IssuedForm()
    if not form.validate_on_submit():
        flash(_("请填写实际发放份数（不小于 0 的整数）"), "error")
        return redirect(url_for(".batch", code=code, bcode=bcode))
    try:
        services.set_issued(batch, form.issued.data)
    except services.DistributionError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".batch", code=code, bcode=bcode))
    db.session.commit()
    flash(_("发放数已更正为 %(n)d 份", n=form.issued.data), "success")
    return redirect(url_for(".batch", code=code, bcode=bcode))


@bp.get("/distribution/jobs/<int:job_id>")
@role_required(ORGANIZER)
def job_progress(job_id: int):
    job = db.session.get(Job, job_id)
    if job is None:
        abort(404)
    if job.state in ("queued", "running"):
        jobs.kick()
    return jsonify(job.to_json())


# --- paper forms -----------------------------------------------------------------


@bp.get("/distribution/<code>/batches/<bcode>/print")
@role_required(ORGANIZER)
def print_forms(code: str, bcode: str):
    campaign = _campaign_or_404(code)
    batch = _batch_or_404(campaign, bcode)
    if batch.channel != "paper":
        abort(404)
    page = max(1, request.args.get("page", 1, type=int))
    per_page = 100
    forms, total = services.printable_forms(batch, page, per_page)
    # A named form leaves out its evaluator's own unit, as their link's form does.
    questionnaire = eligibility.questionnaire_of(batch)
    sheets = [(inv, qr_svg(services.link_for(inv.pending_token or "")),
               eligibility.campaign_units(campaign, questionnaire.on_form(eligibility.own_unit_of(inv))))
              for inv in forms]
    return render_template("distribution/print.html", campaign=campaign, batch=batch, sheets=sheets, page=page, pages=max(1, -(-total // per_page)), total=total,
                           deadline=services.format_local(services.deadline_of(batch)))


@bp.get("/distribution/<code>/batches/<bcode>/poster")
@role_required(ORGANIZER)
def poster(code: str, bcode: str):
    campaign = _campaign_or_404(code)
    batch = _batch_or_404(campaign, bcode)
    if not batch.public_code:
        abort(404)
    url = public_url_of(batch)
    return render_template("distribution/poster.html", campaign=campaign, batch=batch, url=url,
                           qr=qr_svg(url, scale=10))


@bp.route("/distribution/<code>/paper", methods=["GET", "POST"])
@role_required(ORGANIZER)
def paper_entry(code: str):
    campaign = _campaign_or_404(code)
    serial = (request.values.get("serial") or "").strip()
    lookup = SerialForm(request.args, meta={"csrf": False})
    if not serial:
        return render_template("distribution/paper_lookup.html", campaign=campaign, lookup=lookup,
                               conflicts=len(services.conflicts(campaign)))
    try:
        invitation = services.paper_invitation(campaign, serial)
    except services.DistributionError as exc:
        flash(str(exc), "error")
        return render_template("distribution/paper_lookup.html", campaign=campaign, lookup=lookup,
                               conflicts=len(services.conflicts(campaign))), 404
    units = eligibility.units_for(invitation)  # never the evaluator's own unit
    form = paper_form_class(campaign, units)()
    if request.method == "POST" and form.validate_on_submit():
        answers = {u.id: {i.id: (int(form[answer_field(u.id, i.id)].data)
                                 if form[answer_field(u.id, i.id)].data else None)
                          for i in campaign.items} for u in units}
        try:
            outcome = services.key_in(campaign, serial, current_user, answers)
        except services.DistributionError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return _render_entry(campaign, invitation, units, form), 409
        db.session.commit()
        if outcome.state == "first":
            flash(_("编号 %(serial)s 第一遍已录入，请另一位录入员录入第二遍", serial=outcome.serial), "success")
        elif outcome.state == "accepted":
            flash(_("编号 %(serial)s 两遍录入一致，已计入回收", serial=outcome.serial), "success")
        else:
            flash(_("编号 %(serial)s 两遍录入有 %(n)d 处不一致，须由评议办核对",
                    serial=outcome.serial, n=len(outcome.differences)), "error")
        return redirect(url_for(".paper_entry", code=code))
    if request.method == "GET":
        form.serial.data = invitation.serial
    return _render_entry(campaign, invitation, units, form)


def _render_entry(campaign, invitation, units, form):
    return render_template("distribution/paper_entry.html", campaign=campaign, invitation=invitation,
                           units=units, items=list(campaign.items), form=form, cell_field=answer_field,
                           entries=len(services.entries_of(invitation)))


@bp.route("/distribution/<code>/paper/conflicts", methods=["GET", "POST"])
@role_required(ORGANIZER)
def paper_conflicts(code: str):
    campaign = _campaign_or_404(code)
    if request.method == "POST":
        if not ActionForm().validate_on_submit():
            abort(400)
        serial = request.form.get("serial", "")
        chosen: dict[tuple[int, int], int | None] = {}
        for key, value in request.form.items():
            if key.startswith("r_"):
                _r, unit_id, item_id = key.split("_")
                chosen[(int(unit_id), int(item_id))] = int(value) if value else None
        try:
            services.resolve(campaign, serial, chosen)
        except services.DistributionError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for(".paper_conflicts", code=code))
        db.session.commit()
        flash(_("编号 %(serial)s 已核对，计入回收", serial=serial), "success")
        return redirect(url_for(".paper_conflicts", code=code))
    options = {o.id: o.label for o in campaign.scale}
    units = {u.id: u.name for u in campaign.units}
    items = {i.id: i.label for i in campaign.items}
    rows = []
    for invitation, entries in services.conflicts(campaign):
        first, second = (services.decode_answers(e.answers) for e in entries)
        diff = services.differences(first, second)
        rows.append((invitation, [(u, i, first.get(u, {}).get(i), second.get(u, {}).get(i)) for u, i in diff],
                     entries))
    return render_template("distribution/paper_conflicts.html", campaign=campaign, rows=rows,
                           options=options, units=units, items=items, action=ActionForm())


@bp.get("/distribution/<code>/flags")
@role_required(ORGANIZER)
def flags(code: str):
    campaign = _campaign_or_404(code)
    return render_template("distribution/flags.html", campaign=campaign,
                           summary=services.open_channel_flags(campaign))


# --- the open public channel (扫码评议): limits around the ballots blueprint's open form ---
#
# The open form itself (/q/<public_code> -> /p/<campaign>/<batch>) belongs to
# survey/ballots. The anti-stuffing controls wrap it here, by endpoint: one
# ballot per device in a period (a signed cookie) and an optional cap per
# address, checked before the view runs and remembered after a ballot is taken.

OPEN_FORM_ENDPOINT = "ballots.open_form"


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="public-device")


def _device_cookie(batch: Batch) -> str:
    return f"pingyi_q{batch.id}"


def _period() -> dt.timedelta:
    return dt.timedelta(hours=float(current_app.config.get("PINGYI_PUBLIC_DEVICE_HOURS", 72)))


def _open_batch_of_request() -> Batch | None:
    if request.endpoint != OPEN_FORM_ENDPOINT or not request.view_args:
        return None
    return eligibility.find_open_batch(request.view_args.get("campaign_code", ""),
                                       request.view_args.get("batch_code", ""))


def _is_submission() -> bool:
    return request.method == "POST" and (request.form.get("action") or "submit") == "submit"


def device_has_voted(batch: Batch) -> bool:
    cookie = request.cookies.get(_device_cookie(batch))
    if not cookie:
        return False
    try:
        return _device_serializer().loads(cookie, max_age=int(_period().total_seconds())) == batch.id
    except BadSignature:
        return False


@bp.before_app_request
def _public_limits():
    batch = _open_batch_of_request()
    if batch is None or not batch.campaign.state.is_open:
        return None
    hours = int(_period().total_seconds() // 3600)
    if device_has_voted(batch):
        return render_template("distribution/public_refused.html", campaign=batch.campaign,
                               reason="device", hours=hours), 429
    cap = current_app.config.get("PINGYI_PUBLIC_IP_CAP")
    source = request.remote_addr
    if _is_submission() and cap and source and \
            services.ballots_from_address(batch, source, utcnow() - _period()) >= int(cap):
        return render_template("distribution/public_refused.html", campaign=batch.campaign,
                               reason="address", hours=hours), 429
    return None


@bp.after_app_request
def _remember_device(response):
    if response.status_code != 200 or not _is_submission():
        return response
    batch = _open_batch_of_request()
    if batch is not None:
        response.set_cookie(_device_cookie(batch), _device_serializer().dumps(batch.id),
                            max_age=int(_period().total_seconds()), httponly=True, samesite="Lax",
                            secure=request.is_secure)
    return response
