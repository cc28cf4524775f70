"""The supervision register (督查登记): cases and their workflow, the
campaign a verdict counts for, each campaign's derived components with their
deduction rules, and the monthly 公示.

    登记 registered ─accept─▶ 受理 accepted ─assign─▶ 交办 assigned ─reply─▶ 答复 replied ─verify─▶ 核实 verified ─close─▶ 办结
        └─reject─▶ 不予受理 rejected

A component's value for a unit is max(0, base − Σ deductions) / base × 100
(its raw value, max(0, base − Σ), is kept beside it); the verified cases of
the campaign deduct by the campaign's rules (a 明查暗访 finding its own
points). The values reach the results through the bundle's
``objective_scores`` (survey/bundles.py), never as stored scores, so nobody
enters them. Complainants are personal data: only ``complainant_of`` reads
them, for the case handler's pages and API; the audit log names cases by
their number only."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Select, delete, func, select

from survey import audit, webhooks
from survey.clock import utcnow
from survey.errors import Conflict, UserError
from survey.extensions import db
from survey.models import (
    Campaign,
    CampaignUnit,
    CaseAttachment,
    Complainant,
    DeductionRule,
    Rectification,
    RegisterComponent,
    RegisterPublication,
    ResultSnapshot,
    SupervisionCase,
    Unit,
    User,
)
from survey.models.lifecycle import where_annual
from survey.models.register import CASE_KINDS, CASE_STATUSES, VERDICTS
from survey.results.i18n import gettext as _

#: The largest attachment kept (bytes), and the kinds accepted.
ATTACHMENT_MAX = 5 * 1024 * 1024
ATTACHMENT_TYPES = {"image/jpeg", "image/png", "application/pdf"}
#: How each accepted type's bytes begin: the declared type is believed only when the file agrees.
_MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n", "application/pdf": b"%PDF-"}
MONTH = re.compile(r"^(20\d\d|2100)-(0[1-9]|1[0-2])$")


def _target(case: SupervisionCase) -> str:
    """The audit target of a case: its number, nothing of its content."""
    return f"case:{case.code}"


def _drop_results_cache(campaign_id: int | None) -> None:
    """A verdict or a rule changed a derived component: the campaign's cached results go."""
    if campaign_id is not None:
        db.session.execute(delete(ResultSnapshot).where(ResultSnapshot.campaign_id == campaign_id,
                                                        ResultSnapshot.kind == "cache"))


# --- cases ------------------------------------------------------------------------


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes


def check_attachment(item: Attachment) -> None:
    if item.content_type not in ATTACHMENT_TYPES:
        raise UserError(_("附件“%(f)s”的类型不可用：只收 JPEG、PNG 图片和 PDF。", f=item.filename))
    if len(item.data) > ATTACHMENT_MAX:
        raise UserError(_("附件“%(f)s”超过 5 MB。", f=item.filename))
    if not item.data:
        raise UserError(_("附件“%(f)s”是空文件。", f=item.filename))
    if not item.data.startswith(_MAGIC[item.content_type]):
        raise UserError(_("附件“%(f)s”的内容不是它声明的类型（%(t)s）：请上传真正的 JPEG、PNG 图片或 PDF。",
                          f=item.filename, t=item.content_type))


def register_case(user: User | None, *, kind: str, source: str, occurred_on: dt.date, unit: Unit, summary: str,
                  place: str | None = None, points: float | None = None, complainant: dict[str, str] | None = None,
                  attachments: Iterable[Attachment] = ()) -> SupervisionCase:
    """登记: a new case, its complainant (kept apart) and its evidence."""
    if kind not in CASE_KINDS:
        raise UserError(_("未知的案件类别：%(k)s", k=kind))
    if not summary.strip():
        raise UserError(_("请填写案件摘要。"))
    if points is not None and kind != "inspection":
        raise UserError(_("只有明查暗访的发现可以自定扣分。"))
    case = SupervisionCase(code="-", kind=kind, source=source.strip(), occurred_on=occurred_on, unit=unit,
                           summary=summary.strip(), place=(place or "").strip() or None, points=points,
                           step="registered", created_by_id=user.id if user is not None else None)
    db.session.add(case)
    for item in attachments:
        check_attachment(item)
        case.attachments.append(CaseAttachment(filename=item.filename[:200], content_type=item.content_type,
                                               data=item.data))
    db.session.flush()
    case.code = f"DC{occurred_on.year}-{case.id:05d}"
    person = {k: (v or "").strip() for k, v in (complainant or {}).items()}
    if any(person.values()):
        db.session.add(Complainant(case_id=case.id, name=person.get("name") or None,
                                   phone=person.get("phone") or None, contact=person.get("contact") or None))
    audit.record("register.create", _target(case), None, {"case": case.code, "status": case.step})
    return case


def add_attachment(case: SupervisionCase, item: Attachment) -> None:
    check_attachment(item)
    case.attachments.append(CaseAttachment(filename=item.filename[:200], content_type=item.content_type,
                                           data=item.data))
    audit.record("register.attach", _target(case), None, {"case": case.code})


def rectifications_for(case: SupervisionCase) -> list[Rectification]:
    """The rectifications (整改) of the case's unit, in any campaign, the latest first."""
    return list(db.session.scalars(select(Rectification).join(CampaignUnit)
                                   .where(CampaignUnit.unit_id == case.unit_id).order_by(Rectification.id.desc())))


def link_rectification(case: SupervisionCase, rectification_id: int | None) -> None:
    """Link a 明查暗访 finding to the rectification it leads to (or unlink it)."""
    if case.kind != "inspection":
        raise UserError(_("只有明查暗访的发现可以关联整改。"))
    if rectification_id is not None and rectification_id not in {r.id for r in rectifications_for(case)}:
        raise UserError(_("这不是被反映单位的整改。"))
    before = {"rectification": case.rectification_id}
    case.rectification_id = rectification_id
    audit.record("register.link", _target(case), before, {"rectification": rectification_id})


def complainant_of(case: SupervisionCase) -> Complainant | None:
    """Who raised the case: for the case handler's pages and API only."""
    return db.session.scalar(select(Complainant).where(Complainant.case_id == case.id))


def _step(case: SupervisionCase, allowed: tuple[str, ...], to: str) -> None:
    if case.step not in allowed:
        raise Conflict(_("案件 %(c)s 当前为“%(s)s”，不能办理这一步。", c=case.code, s=_(CASE_STATUSES[case.step])))
    before = case.step
    case.step = to
    audit.record(f"register.{to}", _target(case), {"status": before}, {"status": to})


def accept(case: SupervisionCase) -> None:
    """受理."""
    _step(case, ("registered",), "accepted")


def reject(case: SupervisionCase, reason: str) -> None:
    """不予受理, with the reason."""
    if not reason.strip():
        raise UserError(_("不予受理须写明理由。"))
    _step(case, ("registered",), "rejected")
    case.reject_reason = reason.strip()


def assign(case: SupervisionCase, due_on: dt.date, today: dt.date) -> None:
    """交办 to the unit's liaison, who answers by ``due_on``."""
    if due_on < today:
        raise UserError(_("答复期限不能早于今天。"))
    _step(case, ("accepted",), "assigned")
    case.due_on = due_on
    case.assigned_at = utcnow()


def reply(case: SupervisionCase, text: str) -> None:
    """The unit's reply; a red mark is cleared (消红)."""
    if not text.strip():
        raise UserError(_("请填写答复内容。"))
    _step(case, ("assigned",), "replied")
    case.reply = text.strip()
    case.replied_at = utcnow()


def campaign_for(day: dt.date, today: dt.date) -> Campaign | None:
    """The campaign a verdict on a case dated ``day`` counts for: the campaign
    whose assessment period contains the day if its inputs are still open
    (before 截止 and its cut-off), else the next one whose inputs are open."""
    candidates = db.session.scalars(
        select(Campaign).where(Campaign.period_start.is_not(None), Campaign.period_end.is_not(None),
                               Campaign.period_end >= day, where_annual(Campaign.kind))
        .order_by(Campaign.period_start, Campaign.id))
    for campaign in candidates:
        if campaign.state.takes_register_inputs(today):
            return campaign
    return None


def verify(case: SupervisionCase, verdict: str, today: dt.date) -> Campaign | None:
    """核实: the verdict, and the campaign it counts for (none: no campaign takes it)."""
    if verdict not in VERDICTS:
        raise UserError(_("未知的核实结论：%(v)s", v=verdict))
    _step(case, ("replied", "accepted"), "verified")
    case.verdict = verdict
    case.verified_at = utcnow()
    campaign = campaign_for(case.occurred_on, today)
    case.campaign = campaign
    if campaign is not None:
        db.session.flush()
        _drop_results_cache(campaign.id)
    audit.record("register.verdict", _target(case), None,
                 {"verdict": verdict, "campaign": campaign.code if campaign is not None else None})
    return campaign


def close(case: SupervisionCase) -> None:
    """办结."""
    _step(case, ("verified", "rejected"), "closed")
    case.closed_at = utcnow()


def mark_overdue(today: dt.date) -> list[SupervisionCase]:
    """红字: assigned cases past their reply deadline are marked red (cleared by the reply)."""
    marked = list(db.session.scalars(select(SupervisionCase).where(
        SupervisionCase.step == "assigned", SupervisionCase.due_on < today,
        SupervisionCase.marked_red_at.is_(None))))
    for case in marked:
        case.marked_red_at = utcnow()
        audit.record("register.mark_red", _target(case), None, {"due_on": case.due_on, "today": today})
        webhooks.emit_case_overdue(case)
    return marked


def cases(*, unit_id: int | None = None, month: str | None = None, status: str | None = None,
          limit: int = 500) -> list[SupervisionCase]:
    """The register, the newest first (one unit's, a month's, a status's)."""
    return list(db.session.scalars(cases_query(unit_id=unit_id, month=month, status=status).limit(limit)))


def cases_query(*, unit_id: int | None = None, month: str | None = None,
                status: str | None = None) -> Select[SupervisionCase]:
    """The register's statement, in its stable order (the newest first, then by id)."""
    q = select(SupervisionCase)
    if unit_id is not None:
        q = q.where(SupervisionCase.unit_id == unit_id)
    if month:
        start, end = month_bounds(month)
        q = q.where(SupervisionCase.occurred_on >= start, SupervisionCase.occurred_on < end)
    if status:
        q = q.where(SupervisionCase.step == status)
    return q.order_by(SupervisionCase.occurred_on.desc(), SupervisionCase.id.desc())


def case_or_404(case_id: int) -> SupervisionCase:
    from survey.errors import NotFound

    case = db.session.get(SupervisionCase, case_id)
    if case is None:
        raise NotFound(_("没有这个案件。"))
    return case


# --- derived components and their rules ---------------------------------------------


def components_of(campaign: Campaign) -> list[RegisterComponent]:
    return list(db.session.scalars(select(RegisterComponent).where(RegisterComponent.campaign_id == campaign.id)
                                   .order_by(RegisterComponent.id)))


def derived_components(campaign: Campaign) -> set[str]:
    """The components the app derives for this campaign: nobody enters or imports them
    (the register's, and the 平时 component of the published rounds: survey/rounds/services.py)."""
    from survey.rounds.services import rollup_code

    codes = set(db.session.scalars(select(RegisterComponent.code).where(RegisterComponent.campaign_id == campaign.id)))
    rollup = rollup_code(campaign)
    return codes | {rollup} if rollup is not None else codes


def _require_open(campaign: Campaign) -> None:
    if campaign.state.is_frozen:
        raise Conflict(_("评议结果已定稿，不能再修改。"))


def set_component(campaign: Campaign, code: str, label: str, base: float) -> RegisterComponent:
    """Declare (or change) a derived component: its code, label and deduction base."""
    _require_open(campaign)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", code):
        raise UserError(_("考核项目代码只能由字母、数字、- 和 _ 组成（最多 64 个字符）。"))
    if not base > 0:
        raise UserError(_("扣分基数须大于 0。"))
    from survey.models import ObjectiveScore

    entered = db.session.scalar(select(func.count(ObjectiveScore.id)).join(CampaignUnit).where(
        CampaignUnit.campaign_id == campaign.id, ObjectiveScore.component == code))
    if entered:
        raise Conflict(_("考核项目 %(c)s 已有录入的得分，不能改为由督查登记生成。", c=code))
    from survey.rounds.services import rollup_code

    if rollup_code(campaign) == code:
        raise Conflict(_("考核项目 %(c)s 由平时考核轮次生成，不能改为由督查登记生成。", c=code))
    row = db.session.scalar(select(RegisterComponent).where(RegisterComponent.campaign_id == campaign.id,
                                                            RegisterComponent.code == code))
    before = None if row is None else {"label": row.label, "base": row.base}
    if row is None:
        row = RegisterComponent(campaign_id=campaign.id, code=code, label=label.strip() or code, base=base)
        db.session.add(row)
    row.label, row.base = label.strip() or code, base
    db.session.flush()
    _drop_results_cache(campaign.id)
    audit.record("register.component", f"campaign:{campaign.code}/component:{code}", before,
                 {"label": row.label, "base": base})
    return row


def set_rule(component: RegisterComponent, kind: str, verdict: str, points: float) -> DeductionRule:
    campaign = db.session.get(Campaign, component.campaign_id)
    assert campaign is not None
    _require_open(campaign)
    if kind not in CASE_KINDS or verdict not in VERDICTS:
        raise UserError(_("未知的案件类别或核实结论。"))
    if points < 0:
        raise UserError(_("扣分不能为负数。"))
    rule = next((r for r in component.rules if r.kind == kind and r.verdict == verdict), None)
    before = None if rule is None else {"points": rule.points}
    if rule is None:
        rule = DeductionRule(kind=kind, verdict=verdict, points=points)
        component.rules.append(rule)
    rule.points = points
    db.session.flush()
    _drop_results_cache(campaign.id)
    audit.record("register.rule", f"campaign:{campaign.code}/component:{component.code}", before,
                 {"kind": kind, "verdict": verdict, "points": points})
    return rule


def remove_rule(rule: DeductionRule) -> None:
    component = rule.component
    campaign = db.session.get(Campaign, component.campaign_id)
    assert campaign is not None
    _require_open(campaign)
    audit.record("register.rule_delete", f"campaign:{campaign.code}/component:{component.code}",
                 {"kind": rule.kind, "verdict": rule.verdict, "points": rule.points}, None)
    component.rules.remove(rule)
    db.session.flush()
    _drop_results_cache(campaign.id)


def case_deductions(case: SupervisionCase, components: list[RegisterComponent]) -> dict[str, float]:
    """What a verified case deducts, by component: the rule's points for its kind
    and verdict (a 明查暗访 finding: its own points, where it has them)."""
    out: dict[str, float] = {}
    if case.verdict is None:
        return out
    for component in components:
        for rule in component.rules:
            if rule.kind == case.kind and rule.verdict == case.verdict:
                out[component.code] = case.points if case.points is not None else rule.points
    return out


def counted_cases(campaign: Campaign) -> list[SupervisionCase]:
    """The verified cases that count for the campaign, by date."""
    return list(db.session.scalars(select(SupervisionCase).where(
        SupervisionCase.campaign_id == campaign.id, SupervisionCase.verdict.is_not(None))
        .order_by(SupervisionCase.occurred_on, SupervisionCase.id)))


@dataclass
class DerivedValue:
    """A unit's value of a derived component, with the cases behind it."""

    unit: CampaignUnit
    base: float
    deducted: float
    cases: list[tuple[SupervisionCase, float]] = field(default_factory=list)

    @property
    def raw(self) -> float:
        return max(0.0, self.base - self.deducted)

    @property
    def value(self) -> float:
        return self.raw / self.base * 100.0


def derived_values(campaign: Campaign, units: list[CampaignUnit]) -> dict[str, list[DerivedValue]]:
    """Each derived component's value for each of ``units`` (in their order)."""
    components = components_of(campaign)
    if not components:
        return {}
    by_unit_id = {cu.unit_id: cu for cu in units}
    values = {c.code: {cu.id: DerivedValue(cu, c.base, 0.0) for cu in units} for c in components}
    for case in counted_cases(campaign):
        cu = by_unit_id.get(case.unit_id)
        if cu is None:
            continue
        for code, points in case_deductions(case, components).items():
            value = values[code][cu.id]
            value.deducted += points
            value.cases.append((case, points))
    return {code: list(per_unit.values()) for code, per_unit in values.items()}


# --- the monthly 公示 ---------------------------------------------------------------


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    if not MONTH.match(month):
        raise UserError(_("月份应写作 YYYY-MM，例如 2026-03。"))
    year, mon = int(month[:4]), int(month[5:])
    start = dt.date(year, mon, 1)
    end = dt.date(year + (mon == 12), mon % 12 + 1, 1)
    return start, end


def monthly_counts(month: str) -> list[dict[str, object]]:
    """The month's cases by unit and verdict (accepted cases only; no complainant, no summary)."""
    start, end = month_bounds(month)
    rows = db.session.execute(
        select(Unit.code, Unit.name, SupervisionCase.verdict, func.count(SupervisionCase.id))
        .join(Unit, Unit.id == SupervisionCase.unit_id)
        .where(SupervisionCase.occurred_on >= start, SupervisionCase.occurred_on < end,
               SupervisionCase.step.not_in(("registered", "rejected")))
        .group_by(Unit.code, Unit.name, SupervisionCase.verdict).order_by(Unit.code)).all()
    table: dict[str, dict[str, object]] = {}
    for code, name, verdict, n in rows:
        row = table.setdefault(code, {"unit": code, "name": name, "total": 0, "founded": 0, "partly": 0,
                                      "unfounded": 0, "open": 0})
        row[verdict or "open"] = int(n)
        row["total"] = int(row["total"]) + int(n)  # type: ignore[call-overload]
    return list(table.values())


def publish_month(month: str, user: User | None) -> RegisterPublication:
    counts = monthly_counts(month)
    row = db.session.scalar(select(RegisterPublication).where(RegisterPublication.month == month))
    if row is None:
        row = RegisterPublication(month=month, counts=counts)
        db.session.add(row)
    row.counts = counts
    row.published_at = utcnow()
    row.published_by_id = user.id if user is not None else None
    audit.record("register.publish", f"register:{month}", None, {"month": month, "units": len(counts)})
    return row


def publications() -> list[RegisterPublication]:
    return list(db.session.scalars(select(RegisterPublication).order_by(RegisterPublication.month.desc())))


def publication(month: str) -> RegisterPublication | None:
    return db.session.scalar(select(RegisterPublication).where(RegisterPublication.month == month))


def set_period(campaign: Campaign, start: dt.date, end: dt.date, cutoff: dt.date | None) -> None:
    """The campaign's assessment period (考核期) and the register's cut-off day."""
    _require_open(campaign)
    if start > end:
        raise UserError(_("考核期的开始日期不能晚于结束日期。"))
    if cutoff is not None and cutoff < start:
        raise UserError(_("登记截止日不能早于考核期开始。"))
    before = {"period_start": campaign.period_start, "period_end": campaign.period_end,
              "inputs_cutoff": campaign.inputs_cutoff}
    campaign.period_start, campaign.period_end, campaign.inputs_cutoff = start, end, cutoff
    audit.record("campaign.period", f"campaign:{campaign.code}", before,
                 {"period_start": start, "period_end": end, "inputs_cutoff": cutoff})
