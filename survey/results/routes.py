"""Results pages: the committee's review and sign-off, the organizer's objective
scores and vetoes, charts and exports, the liaisons' rectification pages,
the public 公示 page and the auditor's log."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from survey.accounts.auth import role_required
from survey.extensions import db
from survey.models import Appeal, AuditEntry, Campaign, CampaignUnit, Rectification, Veto
from survey.models.lifecycle import where_frozen
from survey.models.outcome import (
    ANSWER_LABELS,
    APPEAL_LABELS,
    CLASS_LABELS,
    CONSEQUENCE_LABELS,
    DEFAULT_CONSEQUENCES,
    FrozenCampaignError,
)
from survey.results import exports, forms, services, tables
from survey.results.services import FLAG_LABELS, ResultsError

bp = Blueprint("results", __name__)

READERS = ("committee", "organizer", "auditor")


def today() -> dt.date:
    """The office's calendar day (Beijing time)."""
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()


@bp.record_once
def _labels(state: Any) -> None:
    """Label tables as template globals, so that imported macros see them too."""
    state.app.jinja_env.globals.update(
        class_name=class_name, class_labels=CLASS_LABELS, flag_labels=FLAG_LABELS, answer_labels=ANSWER_LABELS,
        appeal_labels=APPEAL_LABELS, consequence_labels=CONSEQUENCE_LABELS)


def class_name(code: str) -> str:
    """A class's label, translated once per request (tables repeat them)."""
    names = g.setdefault("_class_names", {})
    if code not in names:
        names[code] = _(CLASS_LABELS[code])
    return names[code]


def _campaign(code: str) -> Campaign:
    campaign = services.get_campaign(code)
    if campaign is None:
        abort(404)
    return campaign


def _unit(campaign: Campaign, code: str) -> CampaignUnit:
    cu = services.campaign_unit(campaign, code)
    if cu is None:
        abort(404)
    return cu


def action(view: Callable[..., Any]) -> Callable[..., Any]:
    """A POST that changes something: refused actions are rolled back and
    shown as a message; otherwise the request commits once."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            response = view(*args, **kwargs)
        except (ResultsError, FrozenCampaignError) as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(request.referrer or url_for("results.index"))
        db.session.commit()
        return response

    return wrapped


def render_and_keep(template: str, **context: Any) -> str:
    """Render, then commit what reading wrote (a recomputed results cache):
    committing first would expire every loaded row and reload them all."""
    html = render_template(template, **context)
    db.session.commit()
    return html


def _form_errors(form: Any) -> None:
    for name, errors in form.errors.items():
        label = getattr(form, name).label.text if hasattr(form, name) else name
        for error in errors:
            flash(f"{label}：{error}", "error")


# --- reading ---------------------------------------------------------------


@bp.get("/results")
@role_required(*READERS)
def index():
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.year.desc(), Campaign.id.desc())).all()
    return render_template("results/index.html", campaigns=campaigns)


@bp.get("/results/<code>")
@role_required(*READERS)
def campaign_page(code: str):
    campaign = _campaign(code)
    snap = services.current_snapshot(campaign)
    settings = services.settings_for(campaign)
    units = services.unit_list(campaign)
    categories = services.categories_of(campaign)
    overrides = services.overrides_of(campaign)
    override_form = forms.OverrideForm()
    override_form.unit.choices = tables.unit_choices(campaign, units)
    approvals = services.approvals_of(campaign)
    return render_and_keep(
        "results/campaign.html", campaign=campaign, snap=snap,
        ranking_tables=tables.ranking_tables(campaign, snap, units, categories, overrides),
        rules=services.effective_rules(campaign),
        unit_select=tables.unit_select(snap, override_form.unit), approvals=approvals,
        valid_approvals={a.id for a in approvals if a.results_sha256 == snap.results_sha256},
        quorum=services.quorum(campaign, settings), settings=settings,
        override_form=override_form, confirm=forms.ConfirmForm(), publish_form=forms.PublishForm(),
        frozen=campaign.state.is_frozen, overrides=overrides)


@bp.get("/results/<code>/units/<unit_code>")
@role_required(*READERS)
def unit_page(code: str, unit_code: str):
    campaign = _campaign(code)
    cu = _unit(campaign, unit_code)
    snap = services.current_snapshot(campaign)
    comments = services.comments_of(campaign, cu)
    groups = services.group_labels(campaign)
    unit_result = tables.unit_result(campaign, snap, cu, groups)
    return render_and_keep("results/unit.html", campaign=campaign, cu=cu, unit_result=unit_result,
                           groups=groups, comments=comments, has_history=services.years_rated(cu.code) > 1)


@bp.get("/results/<code>/quality")
@role_required(*READERS)
def quality(code: str):
    campaign = _campaign(code)
    snap = services.current_snapshot(campaign)
    exclude_flags = list(services.effective_rules(campaign)["exclude_flags"])
    panel, excluded = tables.quality_panel(campaign, snap), tables.excluded_list(campaign, snap)
    preview = None
    form = forms.ExcludeFlagsForm(request.args)
    if "preview" in request.args:
        try:
            preview = services.preview_exclude_flags(campaign, form.flags.data or [])
        except ResultsError as exc:
            flash(str(exc), "error")
    else:
        form.flags.data = exclude_flags
    adopt = forms.AdoptFlagsForm(data={"flags": preview["flags"] if preview else exclude_flags})
    return render_and_keep("results/quality.html", campaign=campaign, panel=panel, excluded=excluded, form=form,
                           adopt=adopt, preview=preview, frozen=campaign.state.is_frozen)


@bp.get("/results/<code>/charts/<name>.<fmt>")
@role_required(*READERS)
def chart(code: str, name: str, fmt: str):
    campaign = _campaign(code)
    if fmt not in exports.CHART_TYPES:
        abort(404)
    snap = services.current_snapshot(campaign)
    try:
        data = exports.chart_bytes(campaign, snap, services.parsed(snap), name, fmt)
    except KeyError:
        abort(404)
    db.session.commit()
    return Response(data, mimetype=exports.CHART_TYPES[fmt])


def _attachment(data: bytes | str, mimetype: str, filename: str) -> Response:
    """A download; commits what making it wrote (a recomputed results cache)."""
    db.session.commit()
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={filename}"})


@bp.get("/results/<code>/export.xlsx")
@role_required(*READERS)
def export_xlsx(code: str):
    campaign = _campaign(code)
    return _attachment(exports.xlsx(campaign), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       f"pingyi-{campaign.code}.xlsx")


@bp.get("/results/<code>/report.pdf")
@role_required(*READERS)
def export_pdf(code: str):
    campaign = _campaign(code)
    return _attachment(exports.pdf(campaign), "application/pdf", f"pingyi-{campaign.code}.pdf")


@bp.get("/results/<code>/results.json")
@role_required(*READERS)
def export_json(code: str):
    campaign = _campaign(code)
    return _attachment(services.current_snapshot(campaign).results_json, "application/json",
                       f"pingyi-results-{campaign.code}.json")


@bp.get("/results/<code>/bundle.json")
@role_required(*READERS)
def final_bundle(code: str):
    """The exact bundle the final results were computed from."""
    snap = services.final_snapshot(_campaign(code))
    if snap is None:
        abort(404)
    return Response(snap.bundle_json, mimetype="application/json")


# --- the organizer's inputs: objective scores and vetoes -----------------------


@bp.get("/results/<code>/inputs")
@role_required(*READERS)
def inputs(code: str):
    campaign = _campaign(code)
    score_form, veto_form = forms.ObjectiveScoreForm(), forms.VetoForm()
    score_form.unit.choices = veto_form.unit.choices = tables.unit_choices(campaign)
    return render_template("results/inputs.html", campaign=campaign, score_form=score_form, veto_form=veto_form,
                           scores=services.objective_scores_of(campaign), vetoes=services.vetoes_of(campaign),
                           confirm=forms.ConfirmForm(), frozen=campaign.state.is_frozen)


@bp.post("/results/<code>/objective-scores")
@role_required("organizer")
@action
def add_objective_score(code: str):
    campaign = _campaign(code)
    form = forms.ObjectiveScoreForm()
    form.unit.choices = tables.unit_choices(campaign)
    if form.validate_on_submit():
        services.set_objective_score(campaign, _unit(campaign, form.unit.data), form.component.data.strip(),
                                     form.score.data, form.evidence.data.strip())
        flash(_("已保存工作考核得分。"), "info")
    else:
        _form_errors(form)
    return redirect(url_for("results.inputs", code=code))


@bp.post("/results/<code>/vetoes")
@role_required("organizer")
@action
def add_veto(code: str):
    campaign = _campaign(code)
    form = forms.VetoForm()
    form.unit.choices = tables.unit_choices(campaign)
    if form.validate_on_submit():
        services.add_veto(campaign, _unit(campaign, form.unit.data), form.reason.data.strip(),
                          form.evidence.data.strip())
        flash(_("已登记一票否决。"), "info")
    else:
        _form_errors(form)
    return redirect(url_for("results.inputs", code=code))


@bp.post("/results/<code>/vetoes/<int:veto_id>/delete")
@role_required("organizer")
@action
def delete_veto(code: str, veto_id: int):
    campaign = _campaign(code)
    veto = db.session.get(Veto, veto_id)
    if veto is None or veto.campaign_unit.campaign_id != campaign.id:
        abort(404)
    if forms.ConfirmForm().validate_on_submit():
        services.remove_veto(campaign, veto)
    return redirect(url_for("results.inputs", code=code))


# --- the committee's decisions ---------------------------------------------------


@bp.post("/results/<code>/quality")
@role_required("committee")
@action
def adopt_flags(code: str):
    campaign = _campaign(code)
    form = forms.AdoptFlagsForm()
    if form.validate_on_submit():
        services.adopt_exclude_flags(campaign, form.flags.data or [])
        flash(_("已采用新的剔除规则，结果已重新计算。"), "info")
    else:
        _form_errors(form)
    return redirect(url_for("results.quality", code=code))


@bp.post("/results/<code>/approve")
@role_required("committee")
@action
def approve(code: str):
    campaign = _campaign(code)
    if forms.ConfirmForm().validate_on_submit():
        services.approve(campaign, current_user)
        flash(_("您已审定本次评议结果。"), "info")
    return redirect(url_for("results.campaign_page", code=code))


@bp.post("/results/<code>/finalize")
@role_required("committee")
@action
def finalize(code: str):
    campaign = _campaign(code)
    if forms.ConfirmForm().validate_on_submit():
        services.finalize(campaign, today())
        flash(_("评议结果已定稿。"), "info")
    return redirect(url_for("results.campaign_page", code=code))


@bp.post("/results/<code>/override")
@role_required("committee")
@action
def override(code: str):
    campaign = _campaign(code)
    form = forms.OverrideForm()
    form.unit.choices = tables.unit_choices(campaign)
    if form.validate_on_submit():
        services.override_class(campaign, _unit(campaign, form.unit.data), form.new_class.data,
                                form.reason.data, current_user)
        flash(_("已调整评定等次。"), "info")
    else:
        _form_errors(form)
    return redirect(url_for("results.campaign_page", code=code))


@bp.post("/results/<code>/publish")
@role_required("committee")
@action
def publish(code: str):
    campaign = _campaign(code)
    form = forms.PublishForm()
    if form.validate_on_submit():
        services.publish(campaign, form.public.data, form.public_from.data, form.public_until.data)
        flash(_("评议结果已公示。") if form.public.data else _("评议结果已内部通报。"), "info")
    else:
        _form_errors(form)
    return redirect(url_for("results.campaign_page", code=code))


@bp.route("/results/<code>/settings", methods=["GET", "POST"])
@role_required("committee")
def settings(code: str):
    campaign = _campaign(code)
    s = services.settings_for(campaign)
    config = {**DEFAULT_CONSEQUENCES, **(s.consequences or {})}
    form = forms.SettingsForm(data={"quorum": s.quorum, "min_group_ballots": s.min_group_ballots,
                                    "rectification_due": s.rectification_due, **config})
    if form.validate_on_submit():
        before = {"quorum": s.quorum, "min_group_ballots": s.min_group_ballots,
                  "rectification_due": s.rectification_due, "consequences": s.consequences}
        s.quorum = form.quorum.data
        s.min_group_ballots = form.min_group_ballots.data
        s.rectification_due = form.rectification_due.data
        s.consequences = {k: getattr(form, k).data for k in DEFAULT_CONSEQUENCES}
        s.consequences["leader_handling"] = (form.leader_handling.data or "").strip() or None
        from survey import audit

        audit.record("outcome.settings", f"campaign:{campaign.code}", before,
                     {"quorum": s.quorum, "min_group_ballots": s.min_group_ballots,
                      "rectification_due": s.rectification_due, "consequences": s.consequences})
        db.session.commit()
        flash(_("设置已保存。"), "info")
        return redirect(url_for("results.settings", code=code))
    db.session.commit()
    return render_template("results/settings.html", campaign=campaign, form=form)


@bp.get("/results/<code>/consequences")
@role_required(*READERS)
def consequences(code: str):
    campaign = _campaign(code)
    return render_template("results/consequences.html", campaign=campaign,
                           rows=services.consequences_of(campaign))


@bp.get("/results/<code>/appeals")
@role_required(*READERS)
def appeals(code: str):
    campaign = _campaign(code)
    return render_template("results/appeals.html", campaign=campaign, appeals=services.appeals_of(campaign),
                           form=forms.DecideAppealForm())


@bp.post("/results/<code>/appeals/<int:appeal_id>")
@role_required("committee")
@action
def decide_appeal(code: str, appeal_id: int):
    campaign = _campaign(code)
    appeal = db.session.get(Appeal, appeal_id)
    if appeal is None or appeal.campaign_unit.campaign_id != campaign.id:
        abort(404)
    form = forms.DecideAppealForm()
    if form.validate_on_submit():
        services.decide_appeal(campaign, appeal, form.decision.data, form.outcome.data, form.new_class.data or None,
                               current_user)
        flash(_("已记录复核结论。"), "info")
    else:
        _form_errors(form)
    return redirect(url_for("results.appeals", code=code))


@bp.get("/results/<code>/rectification")
@role_required(*READERS)
def rectification(code: str):
    campaign = _campaign(code)
    # Deadlines are checked whenever the board is looked at (and by `flask results mark-overdue`).
    services.mark_overdue(campaign, today())
    db.session.commit()
    follow = forms.FollowUpForm()
    follow.unit.choices = tables.unit_choices(campaign)
    return render_template("results/rectification.html", campaign=campaign,
                           rows=services.rectifications_of(campaign), confirm=forms.ConfirmForm(),
                           due_form=forms.DueForm(), follow_form=follow, follow_ups=services.follow_ups_of(campaign))


def _rect(campaign: Campaign, rect_id: int) -> Rectification:
    rect = db.session.get(Rectification, rect_id)
    if rect is None or rect.campaign_unit.campaign_id != campaign.id:
        abort(404)
    return rect


@bp.post("/results/<code>/rectification/<int:rect_id>/accept")
@role_required("committee")
@action
def accept(code: str, rect_id: int):
    campaign = _campaign(code)
    if forms.ConfirmForm().validate_on_submit():
        services.accept_rectification(campaign, _rect(campaign, rect_id), current_user)
        flash(_("已验收整改报告。"), "info")
    return redirect(url_for("results.rectification", code=code))


@bp.post("/results/<code>/rectification/<int:rect_id>/due")
@role_required("committee")
@action
def set_due(code: str, rect_id: int):
    campaign = _campaign(code)
    form = forms.DueForm()
    if form.validate_on_submit():
        services.set_due(campaign, _rect(campaign, rect_id), form.due_on.data)
        flash(_("已修改整改截止日期。"), "info")
    else:
        _form_errors(form)
    return redirect(url_for("results.rectification", code=code))


@bp.post("/results/<code>/follow-ups")
@role_required("committee")
@action
def follow_up(code: str):
    campaign = _campaign(code)
    form = forms.FollowUpForm()
    form.unit.choices = tables.unit_choices(campaign)
    if form.validate_on_submit():
        services.schedule_follow_up(campaign, _unit(campaign, form.unit.data), form.scheduled_on.data,
                                    form.note.data or "")
        flash(_("已安排回头看。"), "info")
    else:
        _form_errors(form)
    return redirect(url_for("results.rectification", code=code))


# --- unit liaisons: their own unit only ----------------------------------------------


def _own_unit(campaign: Campaign) -> CampaignUnit:
    cu = db.session.scalar(select(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id,
                                                      CampaignUnit.unit_id == current_user.unit_id))
    if cu is None:
        abort(404)
    return cu


@bp.get("/my")
@role_required("liaison")
def my_index():
    rows = db.session.scalars(select(Campaign).join(CampaignUnit).where(
        CampaignUnit.unit_id == current_user.unit_id, where_frozen(Campaign.status)).order_by(Campaign.year.desc())).all()
    return render_template("results/my_index.html", campaigns=rows)


@bp.get("/my/<code>")
@role_required("liaison")
def my_unit(code: str):
    campaign = _campaign(code)
    if not campaign.state.is_frozen:
        abort(404)
    cu = _own_unit(campaign)
    result = next(u for u in services.results_for(campaign)["units"] if u["code"] == cu.code)
    view = services.liaison_view(campaign, cu, result)
    classes = services.final_classes(campaign, {"units": [result]})
    rect = services.rectification_of(cu)
    return render_and_keep("results/my_unit.html", campaign=campaign, cu=cu, r=result, view=view,
                           final_class=classes[cu.code], rect=rect, answer_form=forms.AnswerForm(),
                           text_form=forms.TextForm(), appeals=services.appeals_of(campaign, cu),
                           consequences=[c for c in services.consequences_of(campaign) if c.campaign_unit_id == cu.id],
                           min_group=services.settings_for(campaign).min_group_ballots)


@bp.post("/my/<code>/comments/<int:comment_id>")
@role_required("liaison")
@action
def answer(code: str, comment_id: int):
    campaign = _campaign(code)
    cu = _own_unit(campaign)
    form = forms.AnswerForm()
    if form.validate_on_submit():
        services.answer_comment(campaign, cu, comment_id, form.kind.data, form.text.data, current_user)
        flash(_("已保存答复。"), "info")
    else:
        _form_errors(form)
    return redirect(url_for("results.my_unit", code=code) + f"#comment-{comment_id}")


@bp.post("/my/<code>/<any(plan, report):part>")
@role_required("liaison")
@action
def submit(code: str, part: str):
    campaign = _campaign(code)
    cu = _own_unit(campaign)
    form = forms.TextForm()
    if form.validate_on_submit():
        services.submit_rectification(campaign, cu, part, form.text.data)
        flash(_("已提交整改方案。") if part == "plan" else _("已提交整改报告。"), "info")
    else:
        _form_errors(form)
    return redirect(url_for("results.my_unit", code=code))


@bp.post("/my/<code>/appeal")
@role_required("liaison")
@action
def file_appeal(code: str):
    campaign = _campaign(code)
    cu = _own_unit(campaign)
    form = forms.TextForm()
    if form.validate_on_submit():
        services.file_appeal(campaign, cu, form.text.data, current_user)
        flash(_("申诉已提交，评议领导小组将进行复核。"), "info")
    else:
        _form_errors(form)
    return redirect(url_for("results.my_unit", code=code))


# --- the public page (公示): no sign-in ---------------------------------------------------


@bp.get("/public/<code>")
def public_page(code: str):
    campaign = _campaign(code)
    state = services.public_state(campaign, today())
    if state == "hidden":
        abort(404)
    results = services.results_for(campaign) if state == "open" else None
    return render_template("public/campaign.html", campaign=campaign, state=state,
                           settings=services.settings_for(campaign),
                           views=services.ranking(campaign, results) if results else [])


# --- the audit log ------------------------------------------------------------------------


@bp.get("/audit")
@role_required("auditor")
def audit_log():
    page = max(1, request.args.get("page", 1, type=int))
    per = 100
    q = select(AuditEntry).order_by(AuditEntry.id.desc())
    target = request.args.get("target", "").strip()
    if target:
        q = q.where(AuditEntry.target.contains(target))
    entries = db.session.scalars(q.offset((page - 1) * per).limit(per + 1)).all()
    return render_template("results/audit.html", entries=entries[:per], page=page, more=len(entries) > per,
                           target=target)


# --- command line: `flask results mark-overdue` (e.g. daily from cron) ---------------------


@bp.cli.command("mark-overdue")
def mark_overdue_command() -> None:
    """Mark red (红字) every rectification past its deadline, in every finalized campaign."""
    import click

    marked = 0
    for campaign in db.session.scalars(select(Campaign).where(where_frozen(Campaign.status))):
        marked += len(services.mark_overdue(campaign, today()))
    db.session.commit()
    click.echo(f"已标红 {marked} 项逾期整改 (marked {marked} overdue rectifications red)")
