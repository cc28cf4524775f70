"""Pages of what follows the final results, beside ``routes.py`` on the same
blueprint: consequences carried out (owner, deadline, proof, red), the
escalation rules, 回头看 findings and the best units (先进). The request
idiom is ``survey.web``'s; who may is ``survey.policy``'s table."""
from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import BooleanField, DateField, FloatField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from survey.clock import today
from survey.extensions import db
from survey.models import Consequence
from survey.models.outcome import (
    CLASS_LABELS,
    CLASSES,
    CONSEQUENCE_KINDS,
    CONSEQUENCE_LABELS,
    CONSEQUENCE_STATE_LABELS,
    FOLLOW_UP_LABELS,
    FOLLOW_UP_OUTCOMES,
    HONOUR_DECISIONS,
    HONOUR_LABELS,
)
from survey.results import ResultsError, carrying, escalation, forms, honours, lookback, rectification, tables
from survey.results.carrying import AMOUNT_KINDS, PERSON_KINDS
from survey.results.routes import _change, bp, submitted
from survey.results.snapshots import results_for
from survey.web import campaign_or_404, render_and_commit, unit_or_404

# --- forms ------------------------------------------------------------------------------


class AssignForm(forms.Form):
    owner = StringField("责任部门或责任人", validators=[Optional(), Length(max=100, message="最多 100 个字")])
    due_on = DateField("办理期限", validators=[Optional()])


class CarryOutForm(forms.Form):
    proof = TextAreaField("证明材料（文件名称、文号、收到的材料）", validators=[Optional(), Length(max=2000)])
    amount = FloatField("扣减金额（元）", validators=[Optional(), NumberRange(min=0, message="金额不能为负数")])
    percent = FloatField("扣减比例（%）", validators=[Optional(), NumberRange(0, 100, message="比例应在 0 到 100 之间")])
    persons = TextAreaField("处理的主要负责人和直接责任人员（每行一人，写明处理方式）",
                            validators=[Optional(), Length(max=2000)])


class EscalationForm(forms.Form):
    basis = SelectField("依据", choices=[SelectChoice("class", _l("评定等次")), SelectChoice("bottom", _l("评议末位"))])
    value = SelectField("等次（依据为评定等次时）", choices=[SelectChoice("", "—")]
                        + [SelectChoice(c, _l(CLASS_LABELS[c])) for c in CLASSES], validators=[Optional()])
    count = IntegerField("次数", default=2, validators=[InputRequired(message="请填写次数"),
                                                       NumberRange(1, escalation.MAX_YEARS)])
    years = IntegerField("年数（含本年度）", default=3, validators=[InputRequired(message="请填写年数"),
                                                              NumberRange(1, escalation.MAX_YEARS)])
    consequence = SelectField("处理", choices=[SelectChoice(k, _l(CONSEQUENCE_LABELS[k])) for k in CONSEQUENCE_KINDS])
    text = TextAreaField("处理意见（可选；{单位} 代表单位名称）", validators=[Optional(), Length(max=500)])


class FindingsForm(forms.Form):
    findings = TextAreaField("发现的情况", validators=[DataRequired(message="请填写回头看发现的情况")])
    outcome = SelectField("结论", choices=[SelectChoice(o, _l(FOLLOW_UP_LABELS[o])) for o in FOLLOW_UP_OUTCOMES])
    new_due = DateField("重新整改截止日期（结论为重新整改时）", validators=[Optional()])


class HonourRuleForm(forms.Form):
    top_k = IntegerField("每个类别前几名（留空不限）", validators=[Optional(), NumberRange(1, 1000)])
    min_score = FloatField("综合得分不低于（留空不限）", validators=[Optional(), NumberRange(0, 100)])
    title = StringField("称号", default=honours.DEFAULT_TITLE, validators=[Optional(), Length(max=100)])
    stars = StringField("星级（如 95:5, 90:4, 85:3 表示 95 分以上五星……；留空不设）",
                        validators=[Optional(), Length(max=200)])
    public_stars = BooleanField("在公示页显示星级")


class HonourForm(forms.Form):
    decision = SelectField("决定", choices=[SelectChoice(d, _l(HONOUR_LABELS[d])) for d in HONOUR_DECISIONS])
    title = StringField("称号", validators=[Optional(), Length(max=100)])
    amount = FloatField("奖励金额（元）", validators=[Optional(), NumberRange(min=0, message="金额不能为负数")])
    note = TextAreaField("说明", validators=[Optional(), Length(max=2000)])


def _consequence_or_404(code: str, consequence_id: int) -> tuple[Any, Consequence]:
    campaign = campaign_or_404(code)
    row = db.session.get(Consequence, consequence_id)
    if row is None or row.campaign_unit.campaign_id != campaign.id:
        abort(404)
    return campaign, row


# --- consequences carried out -------------------------------------------------------------


@bp.get("/results/<code>/consequences")
def consequences(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    day = today()
    if campaign.state.allows_carrying_out:
        carrying.mark_overdue(campaign, day)
    rows = rectification.consequences_of(campaign)
    return render_and_commit("results/consequences.html", campaign=campaign, rows=rows, today=day,
                             summary=carrying.summary(rows, day), state_labels=CONSEQUENCE_STATE_LABELS,
                             assign_form=AssignForm(), carry_form=CarryOutForm(), amount_kinds=AMOUNT_KINDS,
                             person_kinds=PERSON_KINDS)


@_change("/results/<code>/consequences/<int:consequence_id>/assign", "results.consequences")
def assign_consequence(code: str, consequence_id: int) -> ResponseReturnValue:
    campaign, row = _consequence_or_404(code, consequence_id)
    form = AssignForm()
    if submitted(form):
        carrying.assign(campaign, row, form.owner.data or "", form.due_on.data, current_user)
        flash(_("已保存责任部门和期限。"), "info")
    return redirect(url_for("results.consequences", code=code) + f"#consequence-{row.id}")


@_change("/results/<code>/consequences/<int:consequence_id>/done", "results.consequences")
def carry_out_consequence(code: str, consequence_id: int) -> ResponseReturnValue:
    campaign, row = _consequence_or_404(code, consequence_id)
    form = CarryOutForm()
    if submitted(form):
        carrying.carry_out(campaign, row, current_user, proof=form.proof.data or "", amount=form.amount.data,
                           percent=form.percent.data, persons=form.persons.data or "")
        flash(_("已登记落实情况。"), "info")
    return redirect(url_for("results.consequences", code=code) + f"#consequence-{row.id}")


# --- escalation rules, owners and deadlines ----------------------------------------------


def _owner_fields() -> list[tuple[str, str, str]]:
    return [(k, f"owner_{k}", f"days_{k}") for k in CONSEQUENCE_KINDS]


@bp.get("/results/<code>/consequence-rules")
def consequence_rules(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    view = carrying.rules_view(campaign)
    rules = escalation.rules_of({"escalate_bottom_two_years": view["escalate_bottom_two_years"],
                                 "escalation": view["escalation"]})
    return render_and_commit("results/consequence_rules.html", campaign=campaign, view=view,
                             rules=[(r, escalation.describe(r), r == escalation.BOTTOM_RULE) for r in rules],
                             form=EscalationForm(), kinds=CONSEQUENCE_KINDS)


def _save(code: str, values: dict[str, Any]) -> None:
    carrying.save_rules(campaign_or_404(code), values, current_user)


@_change("/results/<code>/consequence-rules/escalation", "results.consequence_rules")
def add_escalation(code: str) -> ResponseReturnValue:
    form = EscalationForm()
    if submitted(form):
        view = carrying.rules_view(campaign_or_404(code))
        rule = {"basis": form.basis.data,
                "value": (form.value.data or None) if form.basis.data != "bottom" else None, "count": form.count.data,
                "years": form.years.data, "consequence": form.consequence.data}
        if (form.text.data or "").strip():
            rule["text"] = form.text.data.strip()
        _save(code, {**view, "escalation": [*view["escalation"], rule]})
        flash(_("已添加加重处理规则。"), "info")
    return redirect(url_for("results.consequence_rules", code=code))


@_change("/results/<code>/consequence-rules/escalation/<int:index>/delete", "results.consequence_rules")
def remove_escalation(code: str, index: int) -> ResponseReturnValue:
    if submitted(forms.ConfirmForm()):
        view = carrying.rules_view(campaign_or_404(code))
        if not 0 <= index < len(view["escalation"]):
            abort(404)
        _save(code, {**view, "escalation": [r for i, r in enumerate(view["escalation"]) if i != index]})
        flash(_("已删除加重处理规则。"), "info")
    return redirect(url_for("results.consequence_rules", code=code))


@_change("/results/<code>/consequence-rules/owners", "results.consequence_rules")
def save_owners(code: str) -> ResponseReturnValue:
    if submitted(forms.ConfirmForm()):
        view = carrying.rules_view(campaign_or_404(code))
        owners: dict[str, Any] = {}
        days: dict[str, Any] = {}
        for kind, owner_field, days_field in _owner_fields():
            owners[kind] = request.form.get(owner_field, "").strip() or None
            text = request.form.get(days_field, "").strip()
            if text:
                if not text.isdigit():
                    raise ResultsError(_("%(k)s 的办理天数应为整数。", k=_(CONSEQUENCE_LABELS[kind])))
                days[kind] = int(text)
        _save(code, {**view, "owners": owners, "due_days": days})
        flash(_("已保存各处理事项的责任部门和期限。"), "info")
    return redirect(url_for("results.consequence_rules", code=code))


# --- 回头看 ---------------------------------------------------------------------------------


@bp.get("/results/<code>/lookback")
def lookback_page(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    rects = {r.campaign_unit_id: r for r in rectification.rectifications_of(campaign)}
    follow_form = forms.FollowUpForm()
    follow_form.unit.choices = tables.unit_choices(campaign)
    return render_and_commit("results/lookback.html", campaign=campaign, reviews=lookback.reviews_of(campaign),
                             rects=rects, today=today(), form=FindingsForm(), follow_form=follow_form,
                             outcome_labels=FOLLOW_UP_LABELS)


@_change("/results/<code>/follow-ups/<int:follow_up_id>/findings", "results.lookback_page")
def follow_up_findings(code: str, follow_up_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    review = lookback.review_or_none(campaign, follow_up_id)
    if review is None:
        abort(404)
    form = FindingsForm()
    if submitted(form):
        lookback.record_findings(campaign, review, form.findings.data, form.outcome.data, current_user, today(),
                                 form.new_due.data)
        flash(_("已记录回头看结果。"), "info")
    return redirect(url_for("results.lookback_page", code=code))


# --- the best units (先进) ------------------------------------------------------------------


def _stars_text(rule: honours.HonourRule) -> str:
    return ", ".join(f"{m:g}:{n}" for m, n in rule.stars)


def _parse_stars(text: str) -> list[dict[str, Any]]:
    bands = []
    for part in filter(None, (p.strip() for p in text.replace("，", ",").split(","))):
        score, sep, stars = part.partition(":")
        try:
            bands.append({"min_score": float(score), "stars": int(stars)})
        except ValueError:
            raise ResultsError(_("星级“%(p)s”应写成 分数:星数，如 90:4。", p=part)) from None
        if not sep:
            raise ResultsError(_("星级“%(p)s”应写成 分数:星数，如 90:4。", p=part))
    return bands


@bp.get("/results/<code>/honours")
def honours_page(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    rule = honours.rule_of(campaign)
    frozen = campaign.state.allows_carrying_out
    cands = honours.candidates(campaign, results_for(campaign), rule) if frozen else []
    form = HonourRuleForm(data={"top_k": rule.top_k, "min_score": rule.min_score, "title": rule.title,
                                "stars": _stars_text(rule), "public_stars": rule.public_stars})
    return render_and_commit("results/honours.html", campaign=campaign, rule=rule, candidates=cands,
                             frozen=frozen, rule_form=form, decide_form=HonourForm(), decision_labels=HONOUR_LABELS)


@_change("/results/<code>/honours/rule", "results.honours_page")
def honour_rule(code: str) -> ResponseReturnValue:
    form = HonourRuleForm()
    if submitted(form):
        raw: dict[str, Any] = {"top_k": form.top_k.data, "min_score": form.min_score.data,
                               "stars": _parse_stars(form.stars.data or ""), "public_stars": bool(form.public_stars.data),
                               "title": (form.title.data or "").strip() or honours.DEFAULT_TITLE}
        honours.save_rule(campaign_or_404(code), raw, current_user)
        flash(_("已保存先进评选规则。"), "info")
    return redirect(url_for("results.honours_page", code=code))


@_change("/results/<code>/honours/<unit_code>", "results.honours_page")
def decide_honour(code: str, unit_code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    cu = unit_or_404(campaign, unit_code)
    form = HonourForm()
    if submitted(form):
        honours.decide(campaign, cu, results_for(campaign), form.decision.data, current_user,
                       title=form.title.data or "", amount=form.amount.data, note=form.note.data or "")
        flash(_("已记录先进评定。"), "info")
    return redirect(url_for("results.honours_page", code=code))
