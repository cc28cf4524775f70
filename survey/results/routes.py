"""Results pages: the committee's review and sign-off, the organizer's objective
scores and vetoes, charts and exports, the liaisons' rectification pages,
the public 公示 page and the auditor's log.

Every view follows the request idiom of ``survey.web``: the campaign (and
unit) or 404, the work done by a service of ``survey.results``, one commit
(``action`` for changes, ``render_and_commit`` where reading computed)."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from survey import audit
from survey.clock import today
from survey.errors import UserError
from survey.extensions import db
from survey.models import Appeal, AuditEntry, Campaign, CampaignUnit, Rectification, Veto
from survey.models.distribution import CHANNEL_LABELS
from survey.models.lifecycle import where_frozen
from survey.models.outcome import (
    ANSWER_LABELS,
    APPEAL_LABELS,
    CLASS_LABELS,
    CONSEQUENCE_LABELS,
    DEFAULT_CONSEQUENCES,
    REVIEW_STATES,
)
from survey.register.services import components_of as register_components
from survey.results import (
    ballot_export,
    carrying,
    comments,
    documents,
    exports,
    forms,
    frozen,
    history,
    honours,
    inputs,
    publication,
    queries,
    rectification,
    report,
    signoff,
    tables,
)
from survey.results.inputs import FLAG_LABELS
from survey.results.snapshots import (
    current_snapshot,
    effective_rules,
    final_snapshot,
    final_versions,
    results_for,
)
from survey.rounds.services import component_of as rollup_component
from survey.web import action, campaign_or_404, flash_form_errors, render_and_commit, unconfirmed, unit_or_404

bp = Blueprint("results", __name__)


View = TypeVar("View", bound=Callable[..., Any])
Row = TypeVar("Row", Veto, Appeal, Rectification)


@bp.record_once
def _labels(state: BlueprintSetupState) -> None:
    """Label tables as template globals, so that imported macros see them too."""
    state.app.jinja_env.globals.update(
        class_name=class_name, class_labels=CLASS_LABELS, flag_labels=FLAG_LABELS, answer_labels=ANSWER_LABELS,
        appeal_labels=APPEAL_LABELS, consequence_labels=CONSEQUENCE_LABELS)
    state.app.jinja_env.globals["ballot_formats"] = ballot_export.FORMATS


def class_name(code: str) -> str:
    """A class's label, translated once per request (tables repeat them)."""
    names: dict[str, str] = g.setdefault("_class_names", {})
    if code not in names:
        names[code] = _(CLASS_LABELS[code])
    return names[code]


def _change(rule: str, page: str) -> Callable[[View], View]:
    """A POST that changes something (``survey.web.action``): a refusal goes
    back to where the user came from, else to ``page``. (Who may is the table
    of ``survey.policy``: the committee's acts are the committee's alone; the
    services refuse anyone else too.)"""

    def decorator(view: View) -> View:
        return bp.post(rule)(action(page)(view))

    return decorator


def submitted(form: Any) -> bool:
    """Whether a posted form is valid; if not, its errors are flashed."""
    if form.validate_on_submit():
        return True
    flash_form_errors(form)
    return False


def _unit_form(form_class: type[Any], campaign: Campaign) -> Any:
    """A form with a ``unit`` select of the campaign's units."""
    form = form_class()
    form.unit.choices = tables.unit_choices(campaign)
    return form


def _posted_for_unit(form_class: type[Any], code: str) -> tuple[Campaign, Any, CampaignUnit | None]:
    """The campaign, a posted form with a ``unit`` select of its units, and
    the unit chosen where the form is valid (None, its errors flashed, where not)."""
    campaign = campaign_or_404(code)
    form = _unit_form(form_class, campaign)
    return campaign, form, unit_or_404(campaign, form.unit.data) if submitted(form) else None


def _row_or_404(model: type[Row], row_id: int, campaign: Campaign) -> Row:
    """A veto, appeal or rectification of the campaign by id."""
    row = db.session.get(model, row_id)
    if row is None or row.campaign_unit.campaign_id != campaign.id:
        abort(404)
    return row


def _confirmed() -> bool:
    return bool(forms.ConfirmForm().validate_on_submit())


# --- reading ---------------------------------------------------------------


@bp.get("/results")
def index() -> ResponseReturnValue:
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.year.desc(), Campaign.id.desc())).all()
    return render_template("results/index.html", campaigns=campaigns)


@bp.get("/results/<code>")
def campaign_page(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    if queries.sealed(campaign):
        # Sealed until 截止: no figure is computed or shown (the return board shows the returns).
        return render_and_commit("results/sealed.html", campaign=campaign)
    snap = current_snapshot(campaign)
    settings = queries.settings_for(campaign)
    units = queries.unit_list(campaign)
    overrides = queries.overrides_of(campaign)
    override_form = forms.OverrideForm()
    override_form.unit.choices = tables.unit_choices(campaign, units)
    approvals = signoff.approvals_of(campaign)
    return render_and_commit(
        "results/campaign.html", campaign=campaign, snap=snap,
        ranking_tables=tables.ranking_tables(campaign, snap, units, queries.categories_of(campaign), overrides),
        rules=effective_rules(campaign),
        unit_select=tables.unit_select(snap, override_form.unit), approvals=approvals,
        valid_approvals={a.id for a in approvals if signoff.counts(a, snap.results_sha256)},
        quorum=snap.quorum if snap.kind == "final" and snap.quorum else signoff.quorum(campaign, settings),
        settings=settings, versions=final_versions(campaign) if campaign.state.is_frozen else [],
        override_form=override_form, confirm=forms.ConfirmForm(), publish_form=forms.PublishForm(),
        frozen=campaign.state.is_frozen, overrides=overrides, units=units,
        missing_components=[] if campaign.state.is_frozen else inputs.missing_components(campaign))


@bp.get("/results/<code>/units/<unit_code>")
def unit_page(code: str, unit_code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    cu = unit_or_404(campaign, unit_code)
    queries.require_unsealed(campaign)
    snap = current_snapshot(campaign)
    groups = queries.group_labels(campaign)
    return render_and_commit("results/unit.html", campaign=campaign, cu=cu,
                             unit_result=tables.unit_result_html(campaign, snap, cu, groups), groups=groups,
                             comments=comments.comments_of(campaign, cu),
                             has_history=history.years_rated(cu.code) > 1)


@bp.get("/results/<code>/quality")
def quality(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    queries.require_unsealed(campaign)
    snap = current_snapshot(campaign)
    exclude_flags = list(effective_rules(campaign)["exclude_flags"])
    preview = None
    form = forms.ExcludeFlagsForm(request.args)
    if "preview" in request.args:
        try:
            preview = inputs.preview_exclude_flags(campaign, form.flags.data or [])
        except UserError as exc:
            flash(exc.message, "error")
    else:
        form.flags.data = exclude_flags
    adopt = forms.AdoptFlagsForm(data={"flags": preview["flags"] if preview else exclude_flags})
    return render_and_commit("results/quality.html", campaign=campaign, panel=tables.quality_panel(snap),
                             excluded=tables.excluded_list(snap), form=form, adopt=adopt, preview=preview,
                             frozen=campaign.state.is_frozen)


@bp.get("/results/<code>/charts/<name>.<fmt>")
def chart(code: str, name: str, fmt: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    if fmt not in exports.CHART_TYPES:
        abort(404)
    queries.require_unsealed(campaign)
    snap = current_snapshot(campaign)
    try:
        data = exports.chart_bytes(campaign, snap, None, name, fmt)
    except KeyError:
        abort(404)
    db.session.commit()
    return Response(data, mimetype=exports.CHART_TYPES[fmt])


def _attachment(data: bytes | str, mimetype: str, filename: str) -> Response:
    """A download; commits what making it wrote (a recomputed results cache)."""
    db.session.commit()
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={filename}"})


@bp.get("/results/<code>/export.xlsx")
def export_xlsx(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    queries.require_unsealed(campaign)
    return _attachment(exports.xlsx(campaign), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       f"pingyi-{campaign.code}.xlsx")


@bp.get("/results/<code>/report.pdf")
def export_pdf(code: str) -> ResponseReturnValue:
    """The 评议结果报告 (A4 PDF; a 草稿 before 定稿)."""
    campaign = campaign_or_404(code)
    queries.require_unsealed(campaign)
    return _attachment(report.pdf(campaign), "application/pdf", f"pingyi-{campaign.code}.pdf")


@bp.get("/results/<code>/drafts/<name>.docx")
def draft_document(code: str, name: str) -> ResponseReturnValue:
    """A Word draft for the office to edit and sign: criticism (通报批评),
    inspection (书面检查通知), media (媒体公布名单), rectification (整改通知:
    of ``?unit=CODE``, else of every unit)."""
    campaign = campaign_or_404(code)
    make = documents.MAKERS.get(name)
    if make is None:
        abort(404)
    queries.require_unsealed(campaign)
    unit = request.args.get("unit") or None
    if unit is not None and name != "rectification":
        abort(404)
    try:
        data = (documents.rectification_notice(campaign, unit_or_404(campaign, unit).code) if unit
                else make(campaign))
    except UserError as exc:  # no unit of the class, no ballots: said on the results page
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("results.campaign_page", code=code))
    return _attachment(data, documents.MEDIA_TYPE, documents.filename(campaign, name, unit))


@bp.get("/results/<code>/ballots.<fmt>")
def export_ballots(code: str, fmt: str) -> ResponseReturnValue:
    """The anonymised ballots, one row per ballot (``fmt``: csv, xlsx, sav, dta, parquet)."""
    campaign = campaign_or_404(code)
    if fmt not in ballot_export.FORMATS:
        abort(404)
    queries.require_unsealed(campaign)
    data = ballot_export.temporary_export(campaign, fmt)
    db.session.commit()
    return send_file(data, mimetype=ballot_export.FORMATS[fmt].media_type, as_attachment=True,
                     download_name=ballot_export.filename(campaign, fmt), max_age=0)


def _version_or_404(campaign: Campaign) -> Any:
    """The final snapshot's version named by ``?version=N``, else the latest (404 where there is none)."""
    version = request.args.get("version", type=int)
    if "version" in request.args and version is None:
        abort(404)
    snap = final_snapshot(campaign, version)
    if snap is None:
        abort(404)
    return snap


@bp.get("/results/<code>/results.json")
def export_json(code: str) -> ResponseReturnValue:
    """The results shown (``?version=N``: that version of the final results)."""
    campaign = campaign_or_404(code)
    if "version" in request.args:
        snap = _version_or_404(campaign)
        return _attachment(snap.results_json, "application/json",
                           f"pingyi-results-{campaign.code}-v{snap.version}.json")
    queries.require_unsealed(campaign)
    interim = "-interim" if queries.interim(campaign) else ""  # 中间结果: named so
    return _attachment(current_snapshot(campaign).results_json, "application/json",
                       f"pingyi-results-{campaign.code}{interim}.json")


@bp.get("/results/<code>/bundle.json")
def final_bundle(code: str) -> ResponseReturnValue:
    """The exact bundle the final results were computed from (``?version=N``: that version's)."""
    snap = _version_or_404(campaign_or_404(code))
    return Response(stream_with_context(frozen.pieces(snap)), mimetype="application/json")


@bp.get("/results/<code>/final.json")
def final_record(code: str) -> ResponseReturnValue:
    """A version of the final record (``?version=N``, else the latest): its
    number, date, note, quorum, fingerprints and the class overrides in force."""
    snap = _version_or_404(campaign_or_404(code))
    return jsonify(version=snap.version, created_at=snap.created_at.isoformat(), note=snap.note,
                   quorum=snap.quorum, bundle_sha256=snap.bundle_sha256, results_sha256=snap.results_sha256,
                   overrides=json.loads(snap.overrides_json or "[]"))


# --- the organizer's inputs: objective scores and vetoes -----------------------


@bp.get("/results/<code>/inputs", endpoint="inputs")
def inputs_page(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    score_form, veto_form = forms.ObjectiveScoreForm(), forms.VetoForm()
    score_form.unit.choices = veto_form.unit.choices = tables.unit_choices(campaign)
    return render_template("results/inputs.html", campaign=campaign, score_form=score_form, veto_form=veto_form,
                           scores=inputs.objective_scores_of(campaign), vetoes=inputs.vetoes_of(campaign),
                           missing=inputs.missing_components(campaign),
                           derived=register_components(campaign), rollup=rollup_component(campaign),
                           confirm=forms.ConfirmForm(), frozen=campaign.state.is_frozen)


@_change("/results/<code>/objective-scores", "results.inputs")
def add_objective_score(code: str) -> ResponseReturnValue:
    campaign, form, cu = _posted_for_unit(forms.ObjectiveScoreForm, code)
    if cu is not None:
        inputs.set_objective_score(campaign, cu, form.component.data.strip(), form.score.data,
                                   form.evidence.data.strip(), form.full_marks.data or 100.0, current_user)
        flash(_("已保存工作考核得分。"), "info")
    return redirect(url_for("results.inputs", code=code))


@_change("/results/<code>/vetoes", "results.inputs")
def add_veto(code: str) -> ResponseReturnValue:
    campaign, form, cu = _posted_for_unit(forms.VetoForm, code)
    if cu is not None:
        inputs.add_veto(campaign, cu, form.reason.data.strip(), form.evidence.data.strip())
        flash(_("已登记一票否决。"), "info")
    return redirect(url_for("results.inputs", code=code))


@_change("/results/<code>/vetoes/<int:veto_id>/delete", "results.inputs")
def delete_veto(code: str, veto_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    veto = _row_or_404(Veto, veto_id, campaign)
    if _confirmed():
        inputs.remove_veto(campaign, veto)
    return redirect(url_for("results.inputs", code=code))


# --- the committee's decisions ---------------------------------------------------


@_change("/results/<code>/quality", "results.quality")
def adopt_flags(code: str) -> ResponseReturnValue:
    form = forms.AdoptFlagsForm()
    if submitted(form):
        inputs.adopt_exclude_flags(campaign_or_404(code), form.flags.data or [])
        flash(_("已采用新的剔除规则，结果已重新计算。"), "info")
    return redirect(url_for("results.quality", code=code))


@_change("/results/<code>/approve", "results.campaign_page")
def approve(code: str) -> ResponseReturnValue:
    if _confirmed():
        signoff.approve(campaign_or_404(code), current_user)
        flash(_("您已审定本次评议结果。"), "info")
    return redirect(url_for("results.campaign_page", code=code))


#: What cannot be undone after 定稿 and 公示 (the confirmation's words; the buttons' dialogs say the same).
FINALIZE_WARNING = "定稿后评议结果即冻结：不能再审定、调整等次、修改剔除规则或录入纸质表，定稿版本永久保存。此操作不能撤销。"
PUBLISH_WARNING = "公示后评议结果在公示期内向社会公开，活动状态改为“已公示”。此操作不能撤销。"
INTERNAL_WARNING = "发布后评议结果作内部通报，活动状态改为“已公示”，之后不能再改为向社会公示。此操作不能撤销。"


@_change("/results/<code>/finalize", "results.campaign_page")
def finalize(code: str) -> ResponseReturnValue:
    page = unconfirmed(_("定稿"), _(FINALIZE_WARNING), cancel=url_for("results.campaign_page", code=code))
    if page is not None:
        return page  # nothing done: the confirmation page asks first
    if _confirmed():
        signoff.finalize(campaign_or_404(code), today(), current_user)
        flash(_("评议结果已定稿。"), "info")
    return redirect(url_for("results.campaign_page", code=code))


@_change("/results/<code>/override", "results.campaign_page")
def override(code: str) -> ResponseReturnValue:
    campaign, form, cu = _posted_for_unit(forms.OverrideForm, code)
    if cu is not None:
        signoff.override_class(campaign, cu, form.new_class.data, form.reason.data, current_user)
        flash(_("已调整评定等次。"), "info")
    return redirect(url_for("results.campaign_page", code=code))


@_change("/results/<code>/publish", "results.campaign_page")
def publish(code: str) -> ResponseReturnValue:
    form = forms.PublishForm()
    if submitted(form):
        page = unconfirmed(_("公示") if form.public.data else _("内部通报"),
                           _(PUBLISH_WARNING if form.public.data else INTERNAL_WARNING),
                           cancel=url_for("results.campaign_page", code=code))
        if page is not None:
            return page
        publication.publish(campaign_or_404(code), form.public.data, form.public_from.data, form.public_until.data,
                            current_user)
        flash(_("评议结果已公示。") if form.public.data else _("评议结果已内部通报。"), "info")
    return redirect(url_for("results.campaign_page", code=code))


@bp.route("/results/<code>/settings", methods=["GET", "POST"])
@action("results.settings")
def settings(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    s = queries.settings_for(campaign)
    form = forms.SettingsForm(data={"quorum": s.quorum, "min_group_ballots": s.min_group_ballots,
                                    "rectification_due": s.rectification_due,
                                    "interim_results": s.interim_results,
                                    **queries.consequence_rules(s),
                                    **{name: getattr(s, name) for name in publication.PUBLIC_OPTIONS},
                                    "public_detail": "scores" if s.public_scores else "classes"})
    if not form.validate_on_submit():
        flash_form_errors(form)
        return render_template("results/settings.html", campaign=campaign, form=form,
                               office=current_app.config["PINGYI_OFFICE_NAME"])
    # the owners, deadlines and escalation rules (survey.results.carrying) are kept as they are
    consequences = {**(s.consequences or {}), **{k: getattr(form, k).data for k in DEFAULT_CONSEQUENCES}}
    consequences["leader_handling"] = (form.leader_handling.data or "").strip() or None
    signoff.save_settings(campaign, {"quorum": form.quorum.data, "min_group_ballots": form.min_group_ballots.data,
                                     "rectification_due": form.rectification_due.data,
                                     "interim_results": form.interim_results.data,
                                     "consequences": consequences})
    publication.save_public_options(campaign, {
        "public_scores": form.public_detail.data == "scores", "public_office": form.public_office.data,
        "public_contact": form.public_contact.data, "appeal_until": form.appeal_until.data,
        "appeal_how": form.appeal_how.data}, current_user)
    flash(_("设置已保存。"), "info")
    return redirect(url_for("results.settings", code=code))


@bp.get("/results/<code>/appeals")
def appeals(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    return render_template("results/appeals.html", campaign=campaign, appeals=publication.appeals_of(campaign),
                           form=forms.DecideAppealForm())


@_change("/results/<code>/appeals/<int:appeal_id>", "results.appeals")
def decide_appeal(code: str, appeal_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    appeal = _row_or_404(Appeal, appeal_id, campaign)
    form = forms.DecideAppealForm()
    if submitted(form):
        publication.decide_appeal(campaign, appeal, form.decision.data, form.outcome.data,
                                  form.new_class.data or None, current_user, today())
        flash(_("已记录复核结论。"), "info")
    return redirect(url_for("results.appeals", code=code))


@bp.get("/results/<code>/rectification", endpoint="rectification")
def rectification_page(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    # Deadlines are checked whenever the board is looked at (and by `flask results mark-overdue`).
    rectification.mark_overdue(campaign, today())
    return render_and_commit("results/rectification.html", campaign=campaign,
                             rows=rectification.rectifications_of(campaign), confirm=forms.ConfirmForm(),
                             review_labels=REVIEW_STATES, due_form=forms.DueForm(), follow_form=_unit_form(forms.FollowUpForm, campaign),
                             follow_ups=rectification.follow_ups_of(campaign))


@bp.get("/results/<code>/rectification/<int:rect_id>")
def rectification_review(code: str, rect_id: int) -> ResponseReturnValue:
    """One unit's rectification as the committee reviews it: the plan, the
    report, the unit's answers to its comments, the review so far."""
    campaign = campaign_or_404(code)
    rect = _row_or_404(Rectification, rect_id, campaign)
    rectification.mark_overdue(campaign, today())
    return render_and_commit("results/rectification_review.html", campaign=campaign, rect=rect,
                             answers=rectification.answers_of_unit(campaign, rect.campaign_unit),
                             review_form=forms.ReviewForm(), review_labels=REVIEW_STATES,
                             history=rectification.review_history(campaign, rect), action_label=audit.action_label)


def _back_to_review(code: str, rect_id: int) -> ResponseReturnValue:
    """Back to the page the review was made from: the unit's review page, else the list."""
    if request.form.get("from") == "review":
        return redirect(url_for("results.rectification_review", code=code, rect_id=rect_id))
    return redirect(url_for("results.rectification", code=code))


@_change("/results/<code>/rectification/<int:rect_id>/accept", "results.rectification")
def accept(code: str, rect_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    form = forms.ReviewForm()
    if submitted(form):
        rectification.accept_rectification(campaign, _row_or_404(Rectification, rect_id, campaign), current_user,
                                           form.comment.data or "")
        flash(_("已验收整改报告。"), "info")
    return _back_to_review(code, rect_id)


@_change("/results/<code>/rectification/<int:rect_id>/return", "results.rectification")
def return_rectification(code: str, rect_id: int) -> ResponseReturnValue:
    """退回修改, with the comment the liaison reads."""
    campaign = campaign_or_404(code)
    form = forms.ReviewForm()
    if submitted(form):
        rectification.return_rectification(campaign, _row_or_404(Rectification, rect_id, campaign), current_user,
                                           form.comment.data or "")
        flash(_("已退回修改，单位联络员将看到审核意见。"), "info")
    return _back_to_review(code, rect_id)


@_change("/results/<code>/rectification/<int:rect_id>/due", "results.rectification")
def set_due(code: str, rect_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    form = forms.DueForm()
    if submitted(form):
        rectification.set_due(campaign, _row_or_404(Rectification, rect_id, campaign), form.due_on.data)
        flash(_("已修改整改截止日期。"), "info")
    return redirect(url_for("results.rectification", code=code))


@_change("/results/<code>/follow-ups", "results.rectification")
def follow_up(code: str) -> ResponseReturnValue:
    campaign, form, cu = _posted_for_unit(forms.FollowUpForm, code)
    if cu is not None:
        rectification.schedule_follow_up(campaign, cu, form.scheduled_on.data, form.note.data or "")
        flash(_("已安排回头看。"), "info")
    return redirect(url_for("results.rectification", code=code))


# --- unit liaisons: their own unit only ----------------------------------------------


def _own_unit(code: str) -> tuple[Campaign, CampaignUnit]:
    """The campaign and the signed-in liaison's unit in it (404 where it has none)."""
    campaign = campaign_or_404(code)
    cu = db.session.scalar(select(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id,
                                                      CampaignUnit.unit_id == current_user.unit_id))
    if cu is None:
        abort(404)
    return campaign, cu


@bp.get("/my")
def my_index() -> ResponseReturnValue:
    return render_template("results/my_index.html", campaigns=queries.liaison_campaigns(current_user.unit_id))


@bp.get("/my/<code>")
def my_unit(code: str) -> ResponseReturnValue:
    campaign, cu = _own_unit(code)
    if not campaign.state.is_frozen:
        abort(404)
    result = queries.unit_result(results_for(campaign), cu.code)
    view = comments.liaison_view(campaign, cu, result)
    min_group = queries.settings_for(campaign).min_group_ballots
    labels = queries.labels_of(campaign)
    channels = {code: _(label) for code, label in CHANNEL_LABELS.items()}
    return render_and_commit("results/my_unit.html", campaign=campaign, cu=cu, r=result, view=view,
                             options=labels.options, group_names={g["code"]: g["label"] for g in view.shown_groups},
                             items=queries.item_rows(result, labels.items, min_ballots=min_group,
                                                     shown_groups=[g["code"] for g in view.shown_groups]),
                             by_channel=queries.subset_rows(result.get("by_channel"), channels, min_ballots=min_group),
                             final_class=queries.final_class(result, queries.override_of(cu)),
                             rect=rectification.rectification_of(cu), answer_form=forms.AnswerForm(),
                             text_form=forms.TextForm(), appeals=publication.appeals_of(campaign, cu),
                             appeal_until=publication.appeal_until(campaign), today=today(),
                             consequences=rectification.consequences_of(campaign, cu, cancelled=False),
                             min_group=min_group)


@_change("/my/<code>/comments/<int:comment_id>", "results.my_unit")
def answer(code: str, comment_id: int) -> ResponseReturnValue:
    campaign, cu = _own_unit(code)
    form = forms.AnswerForm()
    if submitted(form):
        comments.answer_comment(campaign, cu, comment_id, form.kind.data, form.text.data, current_user)
        flash(_("已保存答复。"), "info")
    return redirect(url_for("results.my_unit", code=code) + f"#comment-{comment_id}")


@_change("/my/<code>/<any(plan, report):part>", "results.my_unit")
def submit(code: str, part: str) -> ResponseReturnValue:
    campaign, cu = _own_unit(code)
    form = forms.TextForm()
    if submitted(form):
        rectification.submit_rectification(campaign, cu, part, form.text.data)
        flash(_("已提交整改方案。") if part == "plan" else _("已提交整改报告。"), "info")
    return redirect(url_for("results.my_unit", code=code))


@_change("/my/<code>/appeal", "results.my_unit")
def file_appeal(code: str) -> ResponseReturnValue:
    campaign, cu = _own_unit(code)
    form = forms.TextForm()
    if submitted(form):
        publication.file_appeal(campaign, cu, form.text.data, current_user)
        flash(_("申诉已提交，评议领导小组将进行复核。"), "info")
    return redirect(url_for("results.my_unit", code=code))


# --- the public page (公示): no sign-in ---------------------------------------------------


@bp.get("/public/<code>")
def public_page(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    settings = queries.settings_for(campaign)
    state = publication.public_state(campaign, today(), settings)
    if state == "hidden":
        abort(404)
    notice = publication.public_notice(settings)
    results = results_for(campaign) if state == "open" else None
    views = publication.public_views(campaign, results, notice.scores) if results is not None else []
    return render_and_commit("public/campaign.html", campaign=campaign, state=state,
                             settings=settings, notice=notice, views=views,
                             stars=honours.public_stars(campaign, results, settings) if results is not None else {},
                             awarded=honours.awarded(campaign) if results is not None else [])


# --- the audit log ------------------------------------------------------------------------


@bp.get("/audit")
def audit_log() -> ResponseReturnValue:
    """The log, newest first, in Beijing time, filtered by campaign, person and action."""
    page = max(1, request.args.get("page", 1, type=int))
    per = 100
    filters = {name: request.args.get(name, "").strip() for name in ("campaign", "person", "action")}
    q = audit.query(**filters)
    target = request.args.get("target", "").strip()
    if target:
        q = q.where(AuditEntry.target.contains(target))
    entries = db.session.scalars(q.offset((page - 1) * per).limit(per + 1)).all()
    people = db.session.scalars(select(AuditEntry.username).where(AuditEntry.username.is_not(None))
                                .distinct().order_by(AuditEntry.username)).all()
    return render_template("results/audit.html", entries=entries[:per], page=page, more=len(entries) > per,
                           target=target, filters=filters, people=people,
                           campaigns=db.session.scalars(select(Campaign.code).order_by(Campaign.code)).all(),
                           actions=audit.ACTION_LABELS, details=audit.details, action_label=audit.action_label)


@bp.get("/audit.csv")
def audit_csv() -> ResponseReturnValue:
    """The filtered log as CSV (Beijing time; no cell is read as a formula)."""
    filters = {name: request.args.get(name, "").strip() for name in ("campaign", "person", "action")}
    body = audit.csv_text(db.session.scalars(audit.query(**filters)))
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=pingyi-audit-{today().isoformat()}.csv"})


# --- command line: `flask results mark-overdue` (e.g. daily from cron) ---------------------


@bp.cli.command("mark-overdue")
def mark_overdue_command() -> None:
    """Mark red (红字) every rectification and consequence past its deadline, in every finalized
    campaign, and every register case and opinion not answered by its deadline."""
    import click

    from survey.opinions import services as opinions
    from survey.register import services as register

    marked = red = 0
    for campaign in db.session.scalars(select(Campaign).where(where_frozen(Campaign.status))):
        marked += len(rectification.mark_overdue(campaign, today()))
        red += len(carrying.mark_overdue(campaign, today()))
    cases = len(register.mark_overdue(today()))
    opinion_count = len(opinions.mark_overdue(today()))
    db.session.commit()
    click.echo(f"已标红 {cases} 件逾期未答复的督查案件 (marked {cases} overdue register cases red)")
    click.echo(f"已标红 {opinion_count} 条逾期未答复的群众意见 (marked {opinion_count} overdue opinions red)")
    click.echo(f"已标红 {marked} 项逾期整改 (marked {marked} overdue rectifications red)")
    click.echo(f"已标红 {red} 项逾期未落实的处理事项 (marked {red} overdue consequences red)")


# the pages of consequences carried out, escalation rules, 回头看 and 先进, on this blueprint
from survey.results import carrying_routes  # noqa: E402,F401
