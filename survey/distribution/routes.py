"""The organizer's distribution pages: batches, sending, paper forms and
their double entry, QR posters, flags. (The open public form's limits are in
public_limits.py; the form itself is survey/ballots'.)"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import segno
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    after_this_request,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from survey import audit, jobs, mail, sms
from survey.ballots import eligibility
from survey.ballots.attributes import batch_gaps, supply_gaps
from survey.ballots.questionnaire import answer_field, comment_field, margin_field
from survey.clock import format_beijing, from_beijing, to_beijing
from survey.distribution import (
    messages,
    sending,  # also registers the send_batch and remind_batch jobs
    services,
)
from survey.distribution.forms import (
    MESSAGE_FORMS,
    ActionForm,
    BatchForm,
    CapForm,
    IssuedForm,
    MessageForm,
    PeriodForm,
    ScheduleForm,
    SerialForm,
    UnitsForm,
    paper_form_class,
)
from survey.distribution.public_limits import address_cap
from survey.errors import UserError
from survey.extensions import db
from survey.forms import FlaskForm
from survey.models import Batch, Campaign, CampaignUnit, Invitation, Job, PaperEntry
from survey.models.distribution import CHANNEL_LABELS, OPEN_CHANNELS
from survey.web import action, batch_or_404, campaign_or_404, flash_form_errors, unconfirmed

bp = Blueprint("distribution", __name__)


def init_app(app: Flask) -> None:
    """The app-wide part of the distribution pages, registered by create_app:
    every template may name a channel."""
    app.jinja_env.globals["channel_labels"] = CHANNEL_LABELS


def qr_svg(data: str, scale: int = 3) -> Markup:
    """An inline SVG QR code (segno: pure Python, nothing fetched)."""
    return Markup(segno.make(data, error="m").svg_inline(scale=scale, border=2))


@bp.cli.command("remind-due", help="Queue reminders for e-mail and SMS batches whose deadline is near "
                "(for cron), then run the sending jobs.")
@click.option("--days-before", default=3.0, show_default=True, help="Remind when the deadline is this near (days).")
@click.option("--every", "every_days", default=2.0, show_default=True, help="At most one reminder per batch in this many days.")
def remind_due_command(days_before: float, every_days: float) -> None:
    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_Hans_CN")):
        refused: list[tuple[Batch, str]] = []
        batches = services.remind_due(days_before=days_before, every_days=every_days, refused=refused)
        db.session.commit()
        for batch in batches:
            click.echo(f"{batch.campaign.code}/{batch.code}: 已排队催办 (reminders queued)")
        for batch, why in refused:
            click.echo(f"{batch.campaign.code}/{batch.code}: 未催办 (not reminded): {why}", err=True)
        jobs.run_pending()


def public_url_of(batch: Batch) -> str:
    """The address a QR poster shows: /q/<public_code> (served by the ballots blueprint)."""
    return services.public_url(f"/q/{batch.public_code}")


# --- batches -------------------------------------------------------------------


@bp.get("/distribution/")
def index() -> ResponseReturnValue:
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.year.desc(), Campaign.code)).all()
    return render_template("distribution/index.html", campaigns=campaigns)


def _kick_jobs_after_commit() -> None:
    """Start the worker once the request committed the job it is to run."""

    @after_this_request
    def kick(response: Response) -> Response:
        jobs.kick()
        return response


@bp.route("/distribution/<code>/batches", methods=["GET", "POST"])
@action("distribution.batches")
def batches(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    form = BatchForm()
    form.group.choices = [SelectChoice(g.id, g.label) for g in campaign.groups]
    form.unit.choices = [SelectChoice(0, _("（该评议主体评议的全部单位）"))] + [
        SelectChoice(u.id, u.name) for u in campaign.units]
    if not form.validate_on_submit():
        return _render_batches(campaign, form), 422 if form.is_submitted() else 200
    group = next(g for g in campaign.groups if g.id == form.group.data)
    channel = form.channel.data
    evaluators = None
    if channel in services.MESSAGE_CHANNELS or (channel == "paper" and form.named.data == "roster"):
        evaluators = services.ROSTER
    try:
        batch = services.create_batch(campaign, group, channel, evaluators=evaluators,
                                      count=form.count.data if channel == "paper" and evaluators is None else None,
                                      code=form.code.data, unnumbered=channel == "paper" and form.named.data == "coupon")
    except UserError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _render_batches(campaign, form), 422
    if form.unit.data:
        if channel not in OPEN_CHANNELS:
            db.session.rollback()
            flash(_("只有二维码海报和公开渠道的批次可以只评一个窗口单位；其他批次请在批次页选择评议单位"), "error")
            return _render_batches(campaign, form), 422
        services.set_batch_units(batch, [form.unit.data])
    audit.record("batch.create", f"campaign:{code}/batch:{batch.code}", None, {"渠道": CHANNEL_LABELS[channel], "份数": batch.issued})
    flash(_("已创建批次 %(code)s：发放 %(n)s 份", code=batch.code,
            n=batch.issued if batch.issued is not None else _("不限")), "success")
    return redirect(url_for(".batch", code=campaign.code, bcode=batch.code))


def _render_batches(campaign: Campaign, form: BatchForm) -> str:
    rows = [(b, services.batch_figures(b)) for b in campaign.batches]
    # Before a batch is made: the channels that cannot supply a group's raked roster attributes.
    gaps = list(dict.fromkeys(gap for g in campaign.groups for channel, named in (
        ("public", False), ("paper", not campaign.anonymous)) for gap in supply_gaps(campaign, g, channel, named=named)))
    return render_template("distribution/batches.html", campaign=campaign, form=form, rows=rows, gaps=gaps)


@bp.get("/distribution/<code>/batches/<bcode>")
def batch(code: str, bcode: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    batch = batch_or_404(campaign, bcode)
    job = services.last_job(batch)
    if job is not None and job.state in ("queued", "running"):
        jobs.kick()
    issued_form = IssuedForm(issued=batch.issued)
    public_url = public_url_of(batch) if batch.public_code else None
    messaging = batch.channel in services.MESSAGE_CHANNELS
    schedule = services.schedule_of(batch) if messaging else None
    schedule_form = ScheduleForm(data={"days_before": schedule.days_before, "every_days": schedule.every_days}
                                 if schedule else None)
    return render_template("distribution/batch.html", campaign=campaign, batch=batch,
                           figures=services.batch_figures(batch), job=services.job_view(job) if job else None,
                           action=ActionForm(), gaps=batch_gaps(batch), release=batch.attribute_release,
                           issued_form=issued_form, public_url=public_url,
                           cap_form=CapForm(ip_cap=batch.ip_cap), cap=address_cap(batch),
                           period_form=PeriodForm(data={"opens_at": to_beijing(batch.opens_at) if batch.opens_at else None,
                                                        "closes_at": to_beijing(batch.closes_at) if batch.closes_at else None}),
                           units_form=units_form(batch),
                           gateway=_gateway(batch.channel) if messaging else None,
                           problem=services.sending_problem(batch) if messaging else None,
                           schedule=schedule, schedule_form=schedule_form,
                           next_reminder=format_beijing(services.next_scheduled_reminder(batch)) if schedule else "")


def _gateway(channel: str) -> tuple[str, str]:
    """The server or gateway that sends the channel's messages, in words, and its tone."""
    if channel == "email":
        host = mail.configured_host(current_app.config)
        return (str(_("邮件服务器：%(host)s", host=host)), "ok") if host else (str(_("尚未配置邮件服务器")), "bad")
    info = sms.describe(current_app.config)
    if info.kind == sms.HTTP:
        return str(_("短信网关：HTTP 网关 %(host)s", host=info.where)), "ok"
    if info.kind == sms.LOG:
        return str(_("短信网关：开发用日志网关——短信只写入应用日志，不会真正发出")), "warn"
    if info.kind == "custom":
        return str(_("短信网关：%(cls)s", cls=info.where)), "ok"
    return str(_("尚未配置短信网关")), "bad"


@bp.get("/distribution/<code>/batches/<bcode>/status")
def batch_status(code: str, bcode: str) -> ResponseReturnValue:
    """The batch page's live counters: delivery states, returns, the last send job."""
    batch = batch_or_404(campaign_or_404(code), bcode)
    job = services.last_job(batch)
    if job is not None and job.state in ("queued", "running"):
        jobs.kick()
    figures = services.batch_figures(batch)
    states = ("queued", "sending", "sent", "failed", "printed")
    return jsonify({"delivery": {s: figures.delivery.get(s, 0) for s in states}, "returned": figures.returned,
                    "job": services.job_view(job).to_json() if job else None})


def _sample_link() -> str:
    return services.public_url("/b/") + str(_("（每人一个不同的个人链接）"))


def _preview(batch: Batch, kind: str, title: str, consequence: str, button: str,
             who: tuple[int, list[tuple[str, str]]]) -> str | None:
    """The confirmation of a send: who it goes to, one message as it will read."""
    total, people = who
    sample = messages.compose(batch, None, _sample_link(), services.deadline_text(batch), kind)
    return unconfirmed(title, consequence, cancel=url_for(".batch", code=batch.campaign.code, bcode=batch.code),
                       button=button, template="distribution/send_confirm.html", batch=batch, total=total,
                       people=people, sample=sample, gateway=_gateway(batch.channel))


def _require_sendable(batch: Batch) -> None:
    problem = services.sending_problem(batch)
    if problem is not None:
        raise services.DistributionError(problem)


def _confirm_send(batch: Batch) -> str | None:
    _require_sendable(batch)
    queued = services.recipients(batch, ("queued",))
    if not queued[0]:
        raise services.DistributionError(_("本批次没有待发送的消息"))
    return _preview(batch, _first_kind(batch, "queued"), str(_("发送前请确认")),
                    str(_("将向以下 %(n)d 人发送%(channel)s。消息一经发出，不能撤回。", n=queued[0],
                          channel=_(CHANNEL_LABELS[batch.channel]))),
                    str(_("确认发送 %(n)d 条", n=queued[0])), queued)


def _first_kind(batch: Batch, delivery: str) -> str:
    """What the first message in this delivery state is (invitation or reminder): the preview's sample."""
    kind = db.session.scalar(select(Invitation.pending_kind).where(
        Invitation.batch_id == batch.id, Invitation.delivery == delivery).order_by(Invitation.id).limit(1))
    return kind or "invite"


def _confirm_retry(batch: Batch) -> str | None:
    _require_sendable(batch)
    failed = services.recipients(batch, ("failed",))
    if not failed[0]:
        raise services.DistributionError(_("没有可重试的失败消息"))
    return _preview(batch, _first_kind(batch, "failed"), str(_("重试前请确认")),
                    str(_("将再次发送这 %(n)d 条消息，发出后不能撤回。其中“发送中断，无法确认是否已送达”的，"
                          "收件人可能收到第二条（两条中的链接相同，只能提交一次）。", n=failed[0])),
                    str(_("确认重试 %(n)d 条", n=failed[0])), failed)


def _confirm_remind(batch: Batch) -> str | None:
    _require_sendable(batch)
    due = services.reminder_recipients(batch)
    if not due[0]:
        raise services.DistributionError(_("没有需要催办的评议代表（都已提交或尚未发送）"))
    return _preview(batch, "reminder", str(_("催办前请确认")),
                    str(_("将向 %(n)d 名尚未提交的评议代表发送催办。催办消息携带新链接：发出后，他们之前收到的链接即停用；"
                          "消息一经发出，不能撤回。", n=due[0])),
                    str(_("确认催办 %(n)d 人", n=due[0])), due)


def _confirm_printed(batch: Batch) -> str | None:
    return unconfirmed(str(_("确认已印制")), str(_("确认后，系统清除本批次评议表二维码中的个人链接明文，之后不能再打印这些表。此操作不能撤销。")),
                       cancel=url_for(".batch", code=batch.campaign.code, bcode=batch.code))


#: The buttons of a batch's page (endpoint ``distribution.<name>``, POST .../batches/<bcode>/<name>):
#: what asks first (a confirmation page, or None: nothing to confirm), what each does
#: to the batch, and what it then says.
BATCH_BUTTONS: dict[str, tuple[Callable[[Batch], str | None], Callable[[Batch], str]]] = {
    "send": (_confirm_send,
             lambda batch: _("已开始发送：共 %(n)d 条", n=services.start_sending(batch).total or 0)),
    "retry": (_confirm_retry,
              lambda batch: _("已重新发送失败的 %(n)d 条", n=services.retry_failed(batch).total or 0)),
    "remind": (_confirm_remind,
               lambda batch: _("已开始催办：共 %(n)d 人尚未提交", n=services.queue_reminders(batch).total or 0)),
    "printed": (_confirm_printed,
                lambda batch: _("已确认印制 %(n)d 份，系统中的明文链接已清除", n=services.mark_printed(batch))),
    "unschedule": (lambda batch: None, lambda batch: _unschedule(batch)),
}


def _unschedule(batch: Batch) -> str:
    sending.cancel_schedule(batch)
    return str(_("已取消本批次的定时催办"))


def _button_view(name: str, ask: Callable[[Batch], str | None],
                 press: Callable[[Batch], str]) -> Callable[..., ResponseReturnValue]:
    def view(code: str, bcode: str) -> ResponseReturnValue:
        batch = batch_or_404(campaign_or_404(code), bcode)
        if not ActionForm().validate_on_submit():
            abort(400)
        page = ask(batch)
        if page is not None:
            return page  # nothing done: the confirmation page asks first
        audit.record(f"batch.{name}", f"campaign:{code}/batch:{bcode}", None, None)
        flash(press(batch), "success")
        _kick_jobs_after_commit()
        return redirect(url_for(".batch", code=code, bcode=bcode))

    view.__name__ = view.__qualname__ = name
    return action("distribution.batch")(view)


for _name, (_ask, _press) in BATCH_BUTTONS.items():
    bp.add_url_rule(f"/distribution/<code>/batches/<bcode>/{_name}", _name, _button_view(_name, _ask, _press),
                    methods=["POST"])


def _issued(batch: Batch, form: IssuedForm) -> str:
    services.set_issued(batch, form.issued.data)
    return str(_("发放数已更正为 %(n)d 份", n=form.issued.data))


def _cap(batch: Batch, form: CapForm) -> str:
    services.set_ip_cap(batch, form.ip_cap.data)
    return str(_("已保存本批次的网络地址上限。"))


def _schedule(batch: Batch, form: ScheduleForm) -> str:
    services.set_schedule(batch, float(form.days_before.data), float(form.every_days.data))
    at = services.next_scheduled_reminder(batch)
    if at is None:
        return str(_("已保存定时催办；按现在的截止时间，不会再有催办"))
    return str(_("已安排定时催办：下次 %(at)s（北京时间）", at=format_beijing(at, "%Y-%m-%d %H:%M")))


def _period(batch: Batch, form: PeriodForm) -> str:
    services.set_period(batch, from_beijing(form.opens_at.data) if form.opens_at.data else None,
                        from_beijing(form.closes_at.data) if form.closes_at.data else None)
    return str(_("已保存本批次的开始和截止时间。"))


def _units(batch: Batch, form: UnitsForm) -> str:
    services.set_batch_units(batch, form.units.data or [])
    n = len(form.units.data or [])
    return str(_("本批次评议表上的单位：%(n)d 个", n=n)) if n else str(_("本批次评议表显示该评议主体评议的全部单位"))


def units_form(batch: Batch) -> UnitsForm:
    """The batch page's choice of units, its choices the campaign's units."""
    form = UnitsForm(data={"units": services.batch_unit_ids(batch)} if request.method == "GET" else None)
    form.units.choices = [SelectChoice(u.id, u.name) for u in batch.campaign.units]
    return form


#: The small forms of a batch's page (endpoint ``distribution.<name>``, POST .../batches/<bcode>/<name>):
#: the form, what it does to the batch and what it then says.
BATCH_FORMS: dict[str, tuple[type[Any], Callable[[Batch, Any], str]]] = {
    "issued": (IssuedForm, _issued),
    "cap": (CapForm, _cap),
    "schedule": (ScheduleForm, _schedule),
    "period": (PeriodForm, _period),
    "units": (UnitsForm, _units),
}


def _form_view(name: str, form_class: type[Any], apply: Callable[[Batch, Any], str]) -> Callable[..., ResponseReturnValue]:
    def view(code: str, bcode: str) -> ResponseReturnValue:
        batch = batch_or_404(campaign_or_404(code), bcode)
        form = units_form(batch) if form_class is UnitsForm else form_class()
        if form.validate_on_submit():
            audit.record(f"batch.{name}", f"campaign:{code}/batch:{bcode}", None, {name: form.data.get(name)})
            flash(apply(batch, form), "success")
        else:
            flash_form_errors(form)
        if request.form.get("back") == "poster" and batch.public_code:  # the cap, set on the poster's page
            return redirect(url_for(".poster", code=code, bcode=bcode))
        return redirect(url_for(".batch", code=code, bcode=bcode))

    view.__name__ = view.__qualname__ = name
    return action("distribution.batch")(view)


for _name, (_form, _apply) in BATCH_FORMS.items():
    bp.add_url_rule(f"/distribution/<code>/batches/<bcode>/{_name}", _name, _form_view(_name, _form, _apply),
                    methods=["POST"])


@bp.get("/distribution/jobs/<int:job_id>")
def job_progress(job_id: int) -> ResponseReturnValue:
    job = db.session.get(Job, job_id)
    if job is None:
        abort(404)
    if job.state in ("queued", "running"):
        jobs.kick()
    return jsonify({**job.to_json(), **services.job_view(job).to_json()})


# --- the words of the messages ---------------------------------------------------


@bp.route("/distribution/<code>/messages", methods=["GET", "POST"])
@action("distribution.messages_page")
def messages_page(code: str) -> ResponseReturnValue:
    """A campaign's own wording of invitations and reminders, per channel, with a sample of each."""
    campaign = campaign_or_404(code)
    posted: tuple[str, MessageForm, str] | None = None
    if request.method == "POST":
        which = request.form.get("which", "")
        if which not in MESSAGE_FORMS:
            abort(400)
        kind, channel = MESSAGE_FORMS[which]
        form = MessageForm(prefix=which)
        try:
            if not form.validate_on_submit():
                raise UserError("；".join(f"{form[n].label.text}：{e}" for n, es in form.errors.items() for e in es))
            if request.form.get("reset"):
                messages.reset(campaign, kind, channel)
                flash(_("已恢复默认内容"), "success")
            else:
                messages.save(campaign, kind, channel, form.subject.data or "", form.body.data)
                flash(_("已保存消息内容"), "success")
            return redirect(url_for(".messages_page", code=code, _anchor=f"m-{which}"))
        except UserError as exc:
            db.session.rollback()
            posted = (which, form, exc.message)  # shown again as typed, with what is wrong
    sample_batch = next((b for b in campaign.batches if b.channel in services.MESSAGE_CHANNELS), None)
    given = _sample_values(campaign, sample_batch)
    sections = []
    for which, (kind, channel) in MESSAGE_FORMS.items():
        w = messages.wording(campaign, kind, channel)
        error = None
        if posted is not None and posted[0] == which:
            form, error = posted[1], posted[2]
        else:
            form = MessageForm(formdata=None, data={"subject": w.subject, "body": w.body}, prefix=which)
        sample = messages.Message(messages.fill(w.subject, given), messages.fill(w.body, given), None)
        sections.append((which, kind, channel, w, form, sample, error))
    return render_template("distribution/messages.html", campaign=campaign, sections=sections,
                           placeholders=messages.PLACEHOLDERS, action=ActionForm()), 422 if posted else 200


def _sample_values(campaign: Campaign, batch: Batch | None) -> dict[str, str]:
    deadline = services.deadline_text(batch) if batch else format_beijing(campaign.closes_at,
                                                                          services.DEADLINE_FORMAT)
    return {"姓名": str(_("张三")), "评议活动": campaign.name,
            "评议主体": batch.group.label if batch else (campaign.groups[0].label if campaign.groups else ""),
            "链接": _sample_link(), "截止时间": deadline,
            "匿名说明": str(_("本次评议为匿名评议，您的选择不会与您的身份关联。")) if campaign.anonymous else ""}


# --- paper forms -----------------------------------------------------------------


@bp.get("/distribution/<code>/batches/<bcode>/print")
def print_forms(code: str, bcode: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    batch = batch_or_404(campaign, bcode)
    if batch.channel != "paper":
        abort(404)
    page = max(1, request.args.get("page", 1, type=int))
    per_page = 100
    forms, total = services.printable_forms(batch, page, per_page)
    # A named form leaves out its evaluator's own unit, as their link's form does.
    questionnaire = eligibility.questionnaire_of(batch)
    # Each form over as many A4 sheets as its units need, every sheet labelled
    # (campaign, serial, 第k页/共n页) so that loose sheets can be matched.
    sheets = [(inv, qr_svg(services.link_for(inv.pending_token or "")),
               services.form_sheets(
                   eligibility.campaign_units(campaign, questionnaire.on_form(eligibility.own_unit_of(inv))),
                   len(campaign.items), len(questionnaire.margins)))
              for inv in forms]
    return render_template("distribution/print.html", campaign=campaign, batch=batch, sheets=sheets, page=page,
                           pages=max(1, -(-total // per_page)), total=total, deadline=services.deadline_text(batch),
                           margins=questionnaire.margins)


@bp.get("/distribution/<code>/batches/<bcode>/poster")
def poster(code: str, bcode: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    batch = batch_or_404(campaign, bcode)
    if not batch.public_code:
        abort(404)
    url = public_url_of(batch)
    return render_template("distribution/poster.html", campaign=campaign, batch=batch, url=url,
                           qr=qr_svg(url, scale=10), units=eligibility.units_for_batch(batch)
                           if services.batch_unit_ids(batch) else [],
                           cap_form=CapForm(ip_cap=batch.ip_cap), cap=address_cap(batch))


@bp.route("/distribution/<code>/paper", methods=["GET", "POST"])
@action("distribution.paper_entry")
def paper_entry(code: str) -> ResponseReturnValue:
    """The serial first (typed, or the form's QR link from a scanner), checked
    before the answer grid is shown: unknown, already keyed by this clerk,
    already complete (keyed, or submitted online through its QR)."""
    campaign = campaign_or_404(code)
    scanned = (request.values.get("serial") or "").strip()
    lookup = SerialForm(request.values, meta={"csrf": False})

    def refuse(message: str, status: int) -> ResponseReturnValue:
        flash(message, "error")
        return render_template("distribution/paper_lookup.html", campaign=campaign, lookup=lookup,
                               conflicts=len(services.conflicts(campaign)),
                               coupons=services.coupon_batches(campaign)), status

    coupon_batch = request.form.get("coupon") if request.method == "POST" else None
    if coupon_batch:
        # A newspaper coupon (no printed serial): its serial is generated now, to be written on it.
        coupon = services.new_coupon(batch_or_404(campaign, coupon_batch))
        audit.ballot_work("paper.coupon", campaign, coupon.batch)  # who, batch, day: never the form
        flash(_("新编号 %(serial)s：请把编号写在这份评议表上，第二位录入员凭此编号录入", serial=coupon.serial), "success")
        return redirect(url_for(".paper_entry", code=code, serial=coupon.serial), 303)
    if not scanned:
        return render_template("distribution/paper_lookup.html", campaign=campaign, lookup=lookup,
                               conflicts=len(services.conflicts(campaign)),
                               coupons=services.coupon_batches(campaign))
    try:
        invitation = services.scanned_invitation(campaign, scanned)
    except UserError as exc:
        return refuse(exc.message, 404)
    if request.method == "POST" and request.form.get("lookup"):
        # The lookup is posted: a scanned QR link holds the form's token, which must
        # not travel in an address (a proxy's log, the browser's history); the
        # grid's address holds only the printed serial.
        return redirect(url_for(".paper_entry", code=code, serial=invitation.serial), 303)
    refusal = services.entry_refusal(invitation, current_user)
    if refusal:
        return refuse(refusal, 409)
    serial = invitation.serial or ""
    units = eligibility.units_for(invitation)  # never the evaluator's own unit
    margins = eligibility.questionnaire_of(invitation.batch).margins
    second = len(services.entries_of(invitation)) == 1
    form = paper_form_class(campaign, units, margins, comments=second)()
    if request.method == "POST" and form.validate_on_submit():
        answers = {u.id: {i.id: (int(form[answer_field(u.id, i.id)].data)
                                 if form[answer_field(u.id, i.id)].data else None)
                          for i in campaign.items} for u in units}
        chosen = {q.id: (int(form[margin_field(q.id)].data) if form[margin_field(q.id)].data else None)
                  for q in margins}
        comments = {u.id: form[comment_field(u.id)].data or "" for u in units} if second else {}
        try:
            outcome = services.key_in(campaign, serial, current_user, answers, chosen, comments)
            audit.ballot_work("paper.key", campaign, invitation.batch)  # who, batch, day: never the ballot
        except UserError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return _render_entry(campaign, invitation, units, form, margins, second), 409
        if outcome.state == "first":
            flash(_("编号 %(serial)s 第一遍已录入，请另一位录入员录入第二遍", serial=outcome.serial), "success")
        elif outcome.state == "accepted":
            flash(_("编号 %(serial)s 两遍录入一致，已计入回收", serial=outcome.serial), "success")
        else:
            flash(_("编号 %(serial)s 两遍录入有 %(n)d 处不一致，须由评议办核对",
                    serial=outcome.serial, n=len(outcome.differences) + len(outcome.margin_differences)), "error")
        return redirect(url_for(".paper_entry", code=code))
    if request.method == "GET":
        form.serial.data = serial
    return _render_entry(campaign, invitation, units, form, margins, second)


def _render_entry(campaign: Campaign, invitation: Invitation, units: list[CampaignUnit], form: FlaskForm,
                  margins: Any, second: bool) -> str:
    return render_template("distribution/paper_entry.html", campaign=campaign, invitation=invitation,
                           units=units, items=list(campaign.items), form=form, cell_field=answer_field,
                           margins=margins, margin_field=margin_field, comment_field=comment_field,
                           second=second, scale=list(campaign.scale))


@bp.route("/distribution/<code>/paper/conflicts", methods=["GET", "POST"])
@action("distribution.paper_conflicts")
def paper_conflicts(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    if request.method == "POST":
        if not ActionForm().validate_on_submit():
            abort(400)
        serial = request.form.get("serial", "")
        chosen: dict[tuple[int, int], int | None] = {}
        chosen_margins: dict[int, int | None] = {}
        try:
            for key, value in request.form.items():
                if key.startswith("rm_"):
                    chosen_margins[int(key[3:])] = int(value) if value else None
                elif key.startswith("r_"):
                    _r, unit_id, item_id = key.split("_")
                    chosen[(int(unit_id), int(item_id))] = int(value) if value else None
        except ValueError:
            abort(400)
        services.resolve(campaign, serial, chosen, chosen_margins)
        audit.ballot_work("paper.resolve", campaign, services.paper_invitation(campaign, serial).batch)
        flash(_("编号 %(serial)s 已核对，计入回收", serial=serial), "success")
        return redirect(url_for(".paper_conflicts", code=code))
    options = {o.id: o.label for o in campaign.scale}
    units = {u.id: u.name for u in campaign.units}
    items = {i.id: i.label for i in campaign.items}
    rows: list[tuple[Invitation, list[tuple[int, int, int | None, int | None]], list[PaperEntry]]] = []
    margin_rows: dict[int, list[tuple[Any, int | None, int | None]]] = {}
    comments: dict[int, list[tuple[str, str]]] = {}
    for invitation, entries in services.conflicts(campaign):
        first, second = (services.decode_answers(e.answers) for e in entries)
        diff = services.differences(first, second)
        rows.append((invitation, [(u, i, first.get(u, {}).get(i), second.get(u, {}).get(i)) for u, i in diff],
                     entries))
        m1, m2 = (services.decode_margins(e.attributes) for e in entries)
        questions = {q.id: q for q in eligibility.questionnaire_of(invitation.batch).margins}
        margin_rows[invitation.id] = [(questions[q], m1.get(q), m2.get(q))
                                      for q in services.margin_differences(m1, m2) if q in questions]
        comments[invitation.id] = [(units.get(u, ""), text)
                                   for u, text in services.decode_comments(entries[1].comments).items()]
    return render_template("distribution/paper_conflicts.html", campaign=campaign, rows=rows,
                           options=options, units=units, items=items, action=ActionForm(), margin_rows=margin_rows,
                           comments=comments)


@bp.get("/distribution/<code>/flags")
def flags(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    return render_template("distribution/flags.html", campaign=campaign,
                           summary=services.open_channel_flags(campaign))
