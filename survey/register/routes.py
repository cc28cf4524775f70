"""The register's pages: the case handler's register and cases, a unit
liaison's cases to answer, the organizer's derived components and rules per
campaign and the monthly 公示 (and its public page), and the assessing
departments' scores (专项考核). Who may use which is the table of
survey/policy.py; the complainant is shown to the case handler only."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from survey.clock import today
from survey.errors import NotFound, UserError
from survey.extensions import db
from survey.models import Campaign, CaseAttachment, DeductionRule, RegisterComponent, Unit
from survey.models.lifecycle import where_frozen
from survey.models.register import CASE_KINDS, CASE_STATUSES, VERDICTS
from survey.register import services
from survey.results import inputs
from survey.results.queries import units_of
from survey.web import action, campaign_or_404, form_date, form_text, render_and_commit

bp = Blueprint("register", __name__)
View = TypeVar("View", bound=Callable[..., Any])


def _post(rule: str, page: str) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        return bp.post(rule)(action(page)(view))

    return decorator


def _field(name: str, *, required: bool = True) -> str:
    return form_text(name, FIELD_LABELS.get(name, name), required=required)


def _date(name: str) -> dt.date:
    return form_date(name, FIELD_LABELS.get(name, name))


def _float(name: str, *, required: bool = True) -> float | None:
    text = _field(name, required=required)
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise UserError(_("“%(f)s”应为数字。", f=FIELD_LABELS.get(name, name))) from None


FIELD_LABELS = {"kind": "类别", "source": "来源", "occurred_on": "日期", "unit": "被反映单位", "summary": "摘要",
                "points": "扣分", "reason": "理由", "due_on": "答复期限", "verdict": "核实结论", "reply": "答复",
                "month": "月份", "code": "考核项目代码", "label": "名称", "base": "扣分基数",
                "raw": "得分", "full_marks": "满分", "evidence": "依据", "period_start": "考核期开始",
                "period_end": "考核期结束", "inputs_cutoff": "登记截止日", "assessed_on": "考核日期"}


def _uploads() -> list[services.Attachment]:
    return [services.Attachment(f.filename or "附件", f.mimetype or "", f.read())
            for f in request.files.getlist("attachments") if f and f.filename]


def _labels() -> dict[str, Any]:
    return {"kinds": CASE_KINDS, "verdicts": VERDICTS, "statuses": CASE_STATUSES}


# --- the register (case handler; read by the organizer, the committee, the auditor) ---


@bp.get("/register", endpoint="index")
def index() -> ResponseReturnValue:
    month = request.args.get("month", "").strip() or None
    status = request.args.get("status", "").strip() or None
    if month:
        try:
            services.month_bounds(month)
        except UserError as exc:
            flash(exc.message, "error")
            month = None
    services.mark_overdue(today())
    units = list(db.session.scalars(select(Unit).order_by(Unit.code)))
    return render_and_commit("register/index.html", cases=services.cases(month=month, status=status),
                             units=units, month=month or "", status=status or "", today=today(), **_labels())


@_post("/register", "register.index")
def create() -> ResponseReturnValue:
    unit = db.session.scalar(select(Unit).where(Unit.code == _field("unit")))
    if unit is None:
        raise UserError(_("没有这个单位。"))
    case = services.register_case(
        current_user, kind=_field("kind"), source=_field("source"), occurred_on=_date("occurred_on"), unit=unit,
        summary=_field("summary"), place=_field("place", required=False),
        points=_float("points", required=False),
        complainant={k: _field(f"complainant_{k}", required=False) for k in ("name", "phone", "contact")},
        attachments=_uploads())
    flash(_("已登记案件 %(c)s。", c=case.code), "info")
    return redirect(url_for("register.case_page", case_id=case.id))


@bp.get("/register/<int:case_id>", endpoint="case_page")
def case_page(case_id: int) -> ResponseReturnValue:
    case = _case_or_404(case_id)
    complainant = services.complainant_of(case) if current_user.role == "handler" else None
    rectifications = services.rectifications_for(case) if case.kind == "inspection" else []
    return render_template("register/case.html", case=case, complainant=complainant, today=today(),
                           rectifications=rectifications, **_labels())


@bp.get("/register/<int:case_id>/attachments/<int:attachment_id>", endpoint="attachment")
def attachment(case_id: int, attachment_id: int) -> ResponseReturnValue:
    row = db.session.get(CaseAttachment, attachment_id)
    if row is None or row.case_id != case_id:
        abort(404)
    return Response(row.data, mimetype=row.content_type, headers={
        "Content-Disposition": "attachment", "X-Content-Type-Options": "nosniff"})


def _case_or_404(case_id: int) -> Any:
    try:
        return services.case_or_404(case_id)
    except NotFound:
        abort(404)


@_post("/register/<int:case_id>/step/<any(accept, reject, assign, verify, close, attach, link):step>",
       "register.case_page")
def step(case_id: int, step: str) -> ResponseReturnValue:
    case = services.case_or_404(case_id)
    if step == "accept":
        services.accept(case)
    elif step == "reject":
        services.reject(case, _field("reason"))
    elif step == "assign":
        services.assign(case, _date("due_on"), today())
    elif step == "verify":
        campaign = services.verify(case, _field("verdict"), today())
        if campaign is None:
            flash(_("没有考核期包含该日期且仍在登记期内的评议活动：本案不计入任何评议。"), "error")
        else:
            flash(_("核实结论计入 %(c)s。", c=campaign.name), "info")
    elif step == "close":
        services.close(case)
    elif step == "link":
        chosen = _field("rectification", required=False)
        if chosen and not chosen.isdigit():
            raise UserError(_("请选择整改。"))
        services.link_rectification(case, int(chosen) if chosen else None)
        flash(_("已保存关联的整改。"), "info")
        return redirect(url_for("register.case_page", case_id=case.id))
    else:
        uploads = _uploads()
        if not uploads:
            raise UserError(_("请选择要上传的附件。"))
        for item in uploads:
            services.add_attachment(case, item)
    flash(_("已办理：%(s)s。", s=_(CASE_STATUSES[case.step])), "info")
    return redirect(url_for("register.case_page", case_id=case.id))


# --- a unit's liaison: the cases handed to the own unit -------------------------------


@bp.get("/my/register", endpoint="my_cases")
def my_cases() -> ResponseReturnValue:
    services.mark_overdue(today())
    rows = [c for c in services.cases(unit_id=current_user.unit_id)
            if c.step in ("assigned", "replied", "verified", "closed") and c.assigned_at is not None]
    return render_and_commit("register/my.html", cases=rows, today=today(), **_labels())


@_post("/my/register/<int:case_id>/reply", "register.my_cases")
def reply(case_id: int) -> ResponseReturnValue:
    case = services.case_or_404(case_id)
    if case.unit_id != current_user.unit_id:
        raise NotFound(_("没有这个案件。"))
    services.reply(case, _field("reply"))
    flash(_("已提交答复。"), "info")
    return redirect(url_for("register.my_cases"))


# --- a campaign's derived components, their rules and the assessment period ------------


@bp.get("/results/<code>/register", endpoint="components")
def components(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    units = units_of(campaign)
    return render_template("register/components.html", campaign=campaign, components=services.components_of(campaign),
                           values=services.derived_values(campaign, units),
                           frozen=campaign.state.is_frozen, **_labels())


@_post("/results/<code>/register/period", "register.components")
def set_period(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    start, end = _date("period_start"), _date("period_end")
    cutoff = _date("inputs_cutoff") if _field("inputs_cutoff", required=False) else None
    services.set_period(campaign, start, end, cutoff)
    flash(_("已保存考核期。"), "info")
    return redirect(url_for("register.components", code=code))


@_post("/results/<code>/register/components", "register.components")
def set_component(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    services.set_component(campaign, _field("code"), _field("label", required=False), _float("base") or 0.0)
    flash(_("已保存考核项目。"), "info")
    return redirect(url_for("register.components", code=code))


@_post("/results/<code>/register/components/<int:component_id>/rules", "register.components")
def set_rule(code: str, component_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    component = db.session.get(RegisterComponent, component_id)
    if component is None or component.campaign_id != campaign.id:
        raise NotFound(_("没有这个考核项目。"))
    services.set_rule(component, _field("kind"), _field("verdict"), _float("points") or 0.0)
    flash(_("已保存扣分规则。"), "info")
    return redirect(url_for("register.components", code=code))


@_post("/results/<code>/register/rules/<int:rule_id>/delete", "register.components")
def delete_rule(code: str, rule_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    rule = db.session.get(DeductionRule, rule_id)
    if rule is None or rule.component.campaign_id != campaign.id:
        raise NotFound(_("没有这条扣分规则。"))
    services.remove_rule(rule)
    flash(_("已删除扣分规则。"), "info")
    return redirect(url_for("register.components", code=code))


# --- the monthly 公示 -------------------------------------------------------------------


@bp.get("/register/gongshi", endpoint="publications")
def publications() -> ResponseReturnValue:
    month = request.args.get("month", "").strip() or today().strftime("%Y-%m")
    try:
        preview = services.monthly_counts(month)
    except UserError as exc:
        flash(exc.message, "error")
        month, preview = today().strftime("%Y-%m"), services.monthly_counts(today().strftime("%Y-%m"))
    return render_template("register/publications.html", month=month, preview=preview,
                           published=services.publications())


@_post("/register/gongshi", "register.publications")
def publish() -> ResponseReturnValue:
    month = _field("month")
    services.publish_month(month, current_user)
    flash(_("已公示 %(m)s 的督查案件统计。", m=month), "info")
    return redirect(url_for("register.publications", month=month))


@bp.get("/gongshi/register/<month>", endpoint="public_month")
def public_month(month: str) -> ResponseReturnValue:
    row = services.publication(month)
    if row is None:
        abort(404)
    return render_template("register/public_month.html", row=row)


# --- the assessing departments' scores (专项考核) ------------------------------------------


def _component_of_request() -> str:
    if current_user.role == "assessor":
        return str(current_user.component)
    return (request.values.get("component") or "").strip()


@bp.get("/assess", endpoint="assess_index")
def assess_index() -> ResponseReturnValue:
    campaigns = list(db.session.scalars(select(Campaign).where(~where_frozen(Campaign.status))
                                        .order_by(Campaign.year.desc(), Campaign.id.desc())))
    return render_template("register/assess_index.html", campaigns=campaigns)


@bp.get("/assess/<code>", endpoint="assess_page")
def assess_page(code: str, problems: list[Any] | None = None, status: int = 200) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    component = _component_of_request()
    scores = {s.campaign_unit_id: s for s in inputs.objective_scores_of(campaign) if s.component == component}
    derived = component in services.derived_components(campaign)
    return render_template("register/assess.html", campaign=campaign, component=component, units=units_of(campaign),
                           scores=scores, derived=derived, problems=problems or [],
                           columns=inputs.SCORE_COLUMNS), status


@_post("/assess/<code>/scores", "register.assess_page")
def assess_score(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    component = _component_of_request() or _field("component")
    cu = next((u for u in units_of(campaign) if u.code == _field("unit")), None)
    if cu is None:
        raise UserError(_("本次评议没有这个单位。"))
    day = _date("assessed_on") if _field("assessed_on", required=False) else None
    inputs.set_objective_score(campaign, cu, component, _float("raw") or 0.0, _field("evidence"),
                               _float("full_marks") or 0.0, current_user, day)
    flash(_("已保存 %(u)s 的得分。", u=cu.name), "info")
    return redirect(url_for("register.assess_page", code=code, component=component))


@bp.post("/assess/<code>/import", endpoint="assess_import")
def assess_import(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("请选择 CSV 或 XLSX 文件。"), "error")
        return redirect(url_for("register.assess_page", code=code, component=_component_of_request()))
    try:
        n = inputs.import_scores(campaign, upload.filename, upload.read(), current_user)
    except inputs.ScoresRefused as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return assess_page(code, problems=exc.problems, status=400)
    except UserError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("register.assess_page", code=code, component=_component_of_request()))
    db.session.commit()
    flash(_("已导入 %(n)d 条得分。", n=n), "info")
    return redirect(url_for("register.assess_page", code=code, component=_component_of_request()))
