"""Consequences carried out (结果运用落实): each consequence generated at
finalization has an owner and a deadline, and goes from 待办 (pending) to
已执行 (executed) or, for a document the office receives (书面检查), 已收到
(received), with what proves it: the document, the notice's number, the
bonus withheld (amount and/or percentage), the persons of a 组织处理. A
pending consequence past its deadline is red (红字: ``Consequence.overdue``,
first recorded by ``mark_overdue``); once done, a red mark reads 已消红.

The rules that say who carries out each kind and by when (``owners``,
``due_days``) and the escalation rules (``survey.results.escalation``) are
kept with the committee's consequence rules (``OutcomeSettings.consequences``)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from survey import audit
from survey.clock import utcnow
from survey.errors import Forbidden
from survey.extensions import db
from survey.models import Campaign, CampaignUnit, Consequence, OutcomeSettings, Unit, User
from survey.models.lifecycle import where_annual, where_frozen
from survey.models.outcome import CONSEQUENCE_KINDS, CONSEQUENCE_LABELS, DEFAULT_CONSEQUENCES, DONE_STATE
from survey.policy import COMMITTEE, ORGANIZER
from survey.results import ResultsError, escalation
from survey.results.i18n import gettext as _
from survey.results.queries import consequence_rules, settings_for
from survey.results.rectification import consequences_of

#: The longest deadline a kind's default may set, in days.
MAX_DUE_DAYS = 366
#: What the committee may set beside the class rules (``OutcomeSettings.consequences``).
RULE_KEYS = ("escalation", "owners", "due_days")
#: Kinds whose carrying out names the persons concerned (the head, the directly responsible staff).
PERSON_KINDS = frozenset({"leader_handling", "organizational_handling"})
#: Kinds proved by an amount or a percentage (the bonus withheld).
AMOUNT_KINDS = frozenset({"bonus_linkage"})


def _target(c: Consequence) -> str:
    cu = c.campaign_unit
    return f"campaign:{cu.campaign.code}/unit:{cu.code}/consequence:{c.id}"


def _require_staff(user: User) -> None:
    if user.role not in (COMMITTEE, ORGANIZER):
        raise Forbidden(_("只有评议领导小组和评议办能登记结果运用的落实情况。"))


def defaults_for(config: dict[str, Any], kind: str, today: dt.date) -> tuple[str | None, dt.date | None]:
    """The owner and the deadline the rules give a new consequence of ``kind``."""
    owner = (config.get("owners") or {}).get(kind) or None
    days = (config.get("due_days") or {}).get(kind)
    return owner, (today + dt.timedelta(days=int(days)) if days else None)


# --- the rules ------------------------------------------------------------------------


def check_rules(values: dict[str, Any], where: str = "consequences") -> dict[str, Any]:
    """The committee's owners, deadlines and escalation rules, checked
    (RuleProblem naming the field) and in their stored form."""
    out: dict[str, Any] = {}
    rules = escalation.parse_rules(values.get("escalation"), f"{where}.escalation")
    if rules:
        out["escalation"] = [r.as_json() for r in rules]
    owners = values.get("owners") or {}
    if not isinstance(owners, dict):
        raise escalation.RuleProblem(f"{where}.owners", _("应为对象"))
    for kind, owner in owners.items():
        if kind not in CONSEQUENCE_KINDS:
            raise escalation.RuleProblem(f"{where}.owners.{kind}", _("未知的处理事项"))
        if owner is not None and (not isinstance(owner, str) or len(owner.strip()) > 100):
            raise escalation.RuleProblem(f"{where}.owners.{kind}", _("应为不超过 100 字的文字"))
    clean_owners = {k: v.strip() for k, v in owners.items() if isinstance(v, str) and v.strip()}
    if clean_owners:
        out["owners"] = clean_owners
    days = values.get("due_days") or {}
    if not isinstance(days, dict):
        raise escalation.RuleProblem(f"{where}.due_days", _("应为对象"))
    for kind, n in days.items():
        if kind not in CONSEQUENCE_KINDS:
            raise escalation.RuleProblem(f"{where}.due_days.{kind}", _("未知的处理事项"))
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_DUE_DAYS):
            raise escalation.RuleProblem(f"{where}.due_days.{kind}",
                                         _("应为 1 到 %(m)d 之间的整数（天）", m=MAX_DUE_DAYS))
    clean_days = {k: v for k, v in days.items() if v is not None}
    if clean_days:
        out["due_days"] = clean_days
    return out


def save_rules(campaign: Campaign, values: dict[str, Any], user: User) -> dict[str, Any]:
    """Replace the campaign's owners, deadlines and escalation rules (the
    class rules of the settings page stay), with an audit entry. They apply
    to the consequences generated from then on (finalization, a decided appeal)."""
    from survey.results.signoff import require_committee

    require_committee(user, _("只有评议领导小组成员才能设置处理规则。"))
    try:
        clean = check_rules(values)
    except escalation.RuleProblem as exc:
        raise ResultsError(f"{exc.where}：{exc.reason}") from None
    s = settings_for(campaign)
    current = dict(s.consequences or {})
    before = {k: current.get(k) for k in RULE_KEYS}
    for key in RULE_KEYS:
        current.pop(key, None)
    current.update(clean)
    s.consequences = current
    audit.record("consequence.rules", f"campaign:{campaign.code}", before, {k: clean.get(k) for k in RULE_KEYS})
    return clean


def rules_view(campaign: Campaign) -> dict[str, Any]:
    """The owners, deadlines and escalation rules as the API and the page show them."""
    config = consequence_rules(settings_for(campaign))
    return {"escalate_bottom_two_years": bool(config.get("escalate_bottom_two_years")),
            "escalation": list(config.get("escalation") or []), "owners": dict(config.get("owners") or {}),
            "due_days": dict(config.get("due_days") or {})}


def exported_rules(campaign: Campaign) -> dict[str, Any]:
    """``extensions.consequences`` of the campaign's bundle: its consequence
    rules where they differ from the defaults (empty: nothing to export)."""
    s = db.session.scalar(select(OutcomeSettings).where(OutcomeSettings.campaign_id == campaign.id))
    stored = dict(s.consequences or {}) if s is not None else {}
    return {k: v for k, v in stored.items()
            if (k in RULE_KEYS and v) or (k not in RULE_KEYS and DEFAULT_CONSEQUENCES.get(k, object()) != v)}


# --- carrying out -------------------------------------------------------------------------


def _live_pending(campaign: Campaign, c: Consequence) -> None:
    campaign.state.require(campaign.state.allows_carrying_out, _("结果定稿后才有需要落实的处理事项。"))
    if c.cancelled_at is not None:
        raise ResultsError(_("该处理事项已因申诉复核取消。"))
    if c.state != "pending":
        raise ResultsError(_("该处理事项已办结。"))


def assign(campaign: Campaign, c: Consequence, owner: str, due_on: dt.date | None, user: User) -> None:
    """Set who carries a pending consequence out and by when."""
    _require_staff(user)
    _live_pending(campaign, c)
    owner_clean = owner.strip()[:100] or None
    before = {"owner": c.owner, "due_on": c.due_on}
    if before == {"owner": owner_clean, "due_on": due_on}:
        return
    c.owner, c.due_on = owner_clean, due_on
    audit.record("consequence.assign", _target(c), before, {"owner": owner_clean, "due_on": due_on})


def carry_out(campaign: Campaign, c: Consequence, user: User, *, proof: str = "", amount: float | None = None,
              percent: float | None = None, persons: str = "") -> None:
    """Record that a consequence was carried out, with what proves it: the
    document (every kind but the bonus, where the amount or the percentage
    withheld proves it), and the persons of a 领导干部处理 or 组织处理."""
    _require_staff(user)
    _live_pending(campaign, c)
    proof, persons = proof.strip(), persons.strip()
    label = _(CONSEQUENCE_LABELS[c.kind])
    if c.kind in AMOUNT_KINDS:
        if amount is None and percent is None:
            raise ResultsError(_("%(k)s：请填写扣减的金额或比例。", k=label))
    elif not proof:
        raise ResultsError(_("%(k)s：请填写证明材料（文件名称、文号或收到的材料）。", k=label))
    if amount is not None and amount < 0:
        raise ResultsError(_("金额不能为负数。"))
    if percent is not None and not 0 <= percent <= 100:
        raise ResultsError(_("比例应在 0 到 100 之间。"))
    if c.kind in PERSON_KINDS and not persons:
        raise ResultsError(_("%(k)s：请写明处理的主要负责人和直接责任人员及处理方式。", k=label))
    c.state = DONE_STATE[c.kind]
    c.proof = proof or None
    c.amount = amount if c.kind in AMOUNT_KINDS else None
    c.percent = percent if c.kind in AMOUNT_KINDS else None
    c.persons = persons or None if c.kind in PERSON_KINDS else None
    c.done_at = utcnow()
    c.done_by_id = user.id
    audit.record("consequence.carry_out", _target(c), {"state": "pending", "red": c.marked_red_at is not None},
                 {"state": c.state, "proof": c.proof, "amount": c.amount, "percent": c.percent,
                  "persons": c.persons})


def mark_overdue(campaign: Campaign, today: dt.date) -> list[Consequence]:
    """红字: live pending consequences past their deadline are marked red (once)."""
    marked = []
    for c in consequences_of(campaign, cancelled=False):
        if c.overdue(today) and c.marked_red_at is None:
            c.marked_red_at = utcnow()
            marked.append(c)
            audit.record("consequence.mark_red", _target(c), None, {"due_on": c.due_on, "today": today})
    return marked


def summary(rows: list[Consequence], today: dt.date) -> dict[str, int]:
    """Counts for the page's heading: live, done, pending, overdue."""
    live = [c for c in rows if c.cancelled_at is None]
    return {"live": len(live), "done": sum(1 for c in live if c.is_done),
            "pending": sum(1 for c in live if not c.is_done), "overdue": sum(1 for c in live if c.overdue(today))}


# --- a decided appeal and the years after it ------------------------------------------------


def follow_appeal_in_later_years(campaign: Campaign, unit_code: str, today: dt.date, note: str) -> list[Consequence]:
    """A decided appeal changed a unit's class in ``campaign``: in the later
    finalized campaigns whose escalation windows reach back to it, the unit's
    escalation consequences follow the new version. Those whose rule is no
    longer met are cancelled with ``note`` (kept); rules met now are carried
    out anew. Returns the consequences made."""
    from survey.results import queries
    from survey.results.snapshots import results_for

    later = db.session.scalars(
        select(Campaign).join(CampaignUnit, CampaignUnit.campaign_id == Campaign.id).join(Unit)
        .where(Unit.code == unit_code, where_frozen(Campaign.status), where_annual(Campaign.kind),
               Campaign.year > campaign.year,
               Campaign.year < campaign.year + escalation.MAX_YEARS)
        .order_by(Campaign.year, Campaign.id)).all()
    made: list[Consequence] = []
    now = utcnow()
    for c in later:
        cu = queries.campaign_unit(c, unit_code)
        if cu is None:
            continue
        config = consequence_rules(settings_for(c))
        results = results_for(c)
        classes = queries.final_classes(c, results)
        met = {r.key: (r, n) for r, n in escalation.escalations(c, cu, results, classes, escalation.rules_of(config))}
        live = consequences_of(c, cu, cancelled=False)
        cancelled = [x for x in live if x.rule is not None and x.rule not in met]
        for x in cancelled:
            x.cancelled_at = now
            x.note = note
        db.session.flush()
        kinds = {x.kind for x in live if x not in cancelled}
        rules_live = {x.rule for x in live if x not in cancelled}
        new: list[Consequence] = []
        for key, (rule, n) in met.items():
            if key in rules_live or rule.consequence in kinds:
                continue
            owner, due = defaults_for(config, rule.consequence, today)
            row = Consequence(campaign_unit=cu, kind=rule.consequence, text=escalation.consequence_text(rule, cu, n),
                              due_on=due, owner=owner, state="pending", rule=key)
            db.session.add(row)
            kinds.add(rule.consequence)
            new.append(row)
        if cancelled or new:
            audit.record("consequence.follow_appeal", f"campaign:{c.code}/unit:{cu.code}",
                         {"cancelled": [x.kind for x in cancelled]},
                         {"made": [x.kind for x in new], "appeal_in": campaign.code, "note": note})
        made += new
    return made
