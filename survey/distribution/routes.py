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

from survey import jobs
from survey.ballots import eligibility
from survey.ballots.attributes import batch_gaps, supply_gaps
from survey.ballots.questionnaire import answer_field, margin_field
from survey.distribution import (
    sending,  # noqa: F401  (registers the send_batch job)
    services,
)
from survey.distribution.forms import (
    ActionForm,
    BatchForm,
    CapForm,
    IssuedForm,
    SerialForm,
    paper_form_class,
)
from survey.distribution.public_limits import address_cap
from survey.errors import UserError
from survey.extensions import db
from survey.forms import FlaskForm
from survey.models import Batch, Campaign, CampaignUnit, Invitation, Job, PaperEntry
from survey.models.distribution import CHANNEL_LABELS
from survey.web import action, batch_or_404, campaign_or_404, flash_form_errors

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
        batches = services.remind_due(days_before=days_before, every_days=every_days)
        db.session.commit()
        for batch in batches:
            click.echo(f"{batch.campaign.code}/{batch.code}: 已排队催办 (reminders queued)")
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
                                      code=form.code.data)
    except UserError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _render_batches(campaign, form), 422
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
    return render_template("distribution/batch.html", campaign=campaign, batch=batch,
                           figures=services.batch_figures(batch), job=job, action=ActionForm(),
                           gaps=batch_gaps(batch), release=batch.attribute_release,
                           issued_form=issued_form, public_url=public_url,
                           cap_form=CapForm(ip_cap=batch.ip_cap), cap=address_cap(batch))


#: The buttons of a batch's page (endpoint ``distribution.<name>``, POST .../batches/<bcode>/<name>):
#: what each does to the batch, and what it then says.
BATCH_BUTTONS: dict[str, Callable[[Batch], str]] = {
    "send": lambda batch: _("已开始发送：共 %(n)d 条", n=services.start_sending(batch).total or 0),
    "retry": lambda batch: _("已重新发送失败的 %(n)d 条", n=services.retry_failed(batch).total or 0),
    "remind": lambda batch: _("已开始催办：共 %(n)d 人尚未提交", n=services.queue_reminders(batch).total or 0),
    "printed": lambda batch: _("已确认印制 %(n)d 份，系统中的明文链接已清除", n=services.mark_printed(batch)),
}


def _button_view(name: str, press: Callable[[Batch], str]) -> Callable[..., ResponseReturnValue]:
    def view(code: str, bcode: str) -> ResponseReturnValue:
        batch = batch_or_404(campaign_or_404(code), bcode)
        if not ActionForm().validate_on_submit():
            abort(400)
        flash(press(batch), "success")
        _kick_jobs_after_commit()
        return redirect(url_for(".batch", code=code, bcode=bcode))

    view.__name__ = view.__qualname__ = name
    return action("distribution.batch")(view)


for _name, _press in BATCH_BUTTONS.items():
    bp.add_url_rule(f"/distribution/<code>/batches/<bcode>/{_name}", _name, _button_view(_name, _press),
                    methods=["POST"])


def _issued(batch: Batch, form: IssuedForm) -> str:
    services.set_issued(batch, form.issued.data)
    return str(_("发放数已更正为 %(n)d 份", n=form.issued.data))


def _cap(batch: Batch, form: CapForm) -> str:
    services.set_ip_cap(batch, form.ip_cap.data)
    return str(_("已保存本批次的网络地址上限。"))


#: The small forms of a batch's page (endpoint ``distribution.<name>``, POST .../batches/<bcode>/<name>):
#: the form, what it does to the batch and what it then says.
BATCH_FORMS: dict[str, tuple[type[Any], Callable[[Batch, Any], str]]] = {
    "issued": (IssuedForm, _issued),
    "cap": (CapForm, _cap),
}


def _form_view(name: str, form_class: type[Any], apply: Callable[[Batch, Any], str]) -> Callable[..., ResponseReturnValue]:
    def view(code: str, bcode: str) -> ResponseReturnValue:
        batch = batch_or_404(campaign_or_404(code), bcode)
        form = form_class()
        if form.validate_on_submit():
            flash(apply(batch, form), "success")
        else:
            flash_form_errors(form)
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
    return jsonify(job.to_json())


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
    sheets = [(inv, qr_svg(services.link_for(inv.pending_token or "")),
               eligibility.campaign_units(campaign, questionnaire.on_form(eligibility.own_unit_of(inv))))
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
                           qr=qr_svg(url, scale=10))


@bp.route("/distribution/<code>/paper", methods=["GET", "POST"])
@action("distribution.paper_entry")
def paper_entry(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    serial = (request.values.get("serial") or "").strip()
    lookup = SerialForm(request.args, meta={"csrf": False})
    if not serial:
        return render_template("distribution/paper_lookup.html", campaign=campaign, lookup=lookup,
                               conflicts=len(services.conflicts(campaign)))
    try:
        invitation = services.paper_invitation(campaign, serial)
    except UserError as exc:
        flash(exc.message, "error")
        return render_template("distribution/paper_lookup.html", campaign=campaign, lookup=lookup,
                               conflicts=len(services.conflicts(campaign))), 404
    units = eligibility.units_for(invitation)  # never the evaluator's own unit
    margins = eligibility.questionnaire_of(invitation.batch).margins
    form = paper_form_class(campaign, units, margins)()
    if request.method == "POST" and form.validate_on_submit():
        answers = {u.id: {i.id: (int(form[answer_field(u.id, i.id)].data)
                                 if form[answer_field(u.id, i.id)].data else None)
                          for i in campaign.items} for u in units}
        chosen = {q.id: (int(form[margin_field(q.id)].data) if form[margin_field(q.id)].data else None)
                  for q in margins}
        try:
            outcome = services.key_in(campaign, serial, current_user, answers, chosen)
        except UserError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return _render_entry(campaign, invitation, units, form, margins), 409
        if outcome.state == "first":
            flash(_("编号 %(serial)s 第一遍已录入，请另一位录入员录入第二遍", serial=outcome.serial), "success")
        elif outcome.state == "accepted":
            flash(_("编号 %(serial)s 两遍录入一致，已计入回收", serial=outcome.serial), "success")
        else:
            flash(_("编号 %(serial)s 两遍录入有 %(n)d 处不一致，须由评议办核对",
                    serial=outcome.serial, n=len(outcome.differences) + len(outcome.margin_differences)), "error")
        return redirect(url_for(".paper_entry", code=code))
    if request.method == "GET":
        form.serial.data = invitation.serial
    return _render_entry(campaign, invitation, units, form, margins)


def _render_entry(campaign: Campaign, invitation: Invitation, units: list[CampaignUnit], form: FlaskForm,
                  margins: Any = ()) -> str:
    return render_template("distribution/paper_entry.html", campaign=campaign, invitation=invitation,
                           units=units, items=list(campaign.items), form=form, cell_field=answer_field,
                           margins=margins, margin_field=margin_field, entries=len(services.entries_of(invitation)))


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
        flash(_("编号 %(serial)s 已核对，计入回收", serial=serial), "success")
        return redirect(url_for(".paper_conflicts", code=code))
    options = {o.id: o.label for o in campaign.scale}
    units = {u.id: u.name for u in campaign.units}
    items = {i.id: i.label for i in campaign.items}
    rows: list[tuple[Invitation, list[tuple[int, int, int | None, int | None]], list[PaperEntry]]] = []
    margin_rows: dict[int, list[tuple[Any, int | None, int | None]]] = {}
    for invitation, entries in services.conflicts(campaign):
        first, second = (services.decode_answers(e.answers) for e in entries)
        diff = services.differences(first, second)
        rows.append((invitation, [(u, i, first.get(u, {}).get(i), second.get(u, {}).get(i)) for u, i in diff],
                     entries))
        m1, m2 = (services.decode_margins(e.attributes) for e in entries)
        questions = {q.id: q for q in eligibility.questionnaire_of(invitation.batch).margins}
        margin_rows[invitation.id] = [(questions[q], m1.get(q), m2.get(q))
                                      for q in services.margin_differences(m1, m2) if q in questions]
    return render_template("distribution/paper_conflicts.html", campaign=campaign, rows=rows,
                           options=options, units=units, items=items, action=ActionForm(), margin_rows=margin_rows)


@bp.get("/distribution/<code>/flags")
def flags(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    return render_template("distribution/flags.html", campaign=campaign,
                           summary=services.open_channel_flags(campaign))
