"""Escalation rules (加重处理): (what happened, count, window in years) →
consequence. A rule counts how often something happened to a unit in the
window — the campaign being finalized and the years before it — and where
that reaches ``count`` (this year's occurrence included: a unit that has
recovered is not punished for its past), the unit gets the rule's
consequence, beside those of its class.

What a rule counts is its *basis*, one of ``BASES``:

- ``class``: the unit's final class (``value``: satisfied …, dissatisfied) in
  the annual campaigns of the window, each year's latest final version
  (overrides, appeals included: a decided appeal changes what later years
  count);
- ``bottom``: the unit was at the bottom (``reasons`` has ``bottom``). The
  old rule “two years at the bottom → 组织处理” is this basis with count 2,
  window 2 (``BOTTOM_RULE``), switched by ``escalate_bottom_two_years``.

A basis is a function registered with ``register_basis``: the supervision
register adds ``cases`` (verified cases of a kind, ``value`` the kind,
``verdicts`` the verdicts that count) the same way, and rules naming a basis
not registered are refused when saved.

The rules are the committee's setup (``OutcomeSettings.consequences
["escalation"]``, a list of ``EscalationRule.as_json``), exported with the
rest of the consequence rules in the bundle's ``extensions.consequences``."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from survey.extensions import db
from survey.models import Campaign, CampaignUnit, ResultSnapshot, Unit
from survey.models.lifecycle import where_annual, where_frozen
from survey.models.outcome import CLASSES, CONSEQUENCE_KINDS
from survey.results.i18n import gettext as _

#: The widest window a rule may have, and the largest count (of cases: several a year).
MAX_YEARS = 10
MAX_COUNT = 1000


@dataclass(frozen=True)
class EscalationRule:
    basis: str
    #: The class (basis ``class``), the case kind (``cases``); None for ``bottom``.
    value: str | None
    count: int
    years: int
    consequence: str
    #: Case-based bases: the verdicts that count (empty: any verified one).
    verdicts: tuple[str, ...] = field(default=())
    #: The consequence's text; None: a text made from the rule.
    text: str | None = None

    @property
    def key(self) -> str:
        """How the rule is named on the consequences it made (``Consequence.rule``)."""
        value = self.value or ""
        if self.verdicts:
            value += "|" + ",".join(self.verdicts)
        return f"{self.basis}:{value}:{self.count}/{self.years}:{self.consequence}"[:100]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"basis": self.basis, "value": self.value, "count": self.count, "years": self.years,
                               "consequence": self.consequence}
        if self.verdicts:
            out["verdicts"] = list(self.verdicts)
        if self.text:
            out["text"] = self.text
        return out


#: The rule the committee's checkbox “连续两年末位：组织处理” stands for.
BOTTOM_RULE = EscalationRule("bottom", None, 2, 2, "organizational_handling")

#: What a basis counts: (campaign, unit, this campaign's results, final classes, rule) → occurrences.
Counter = Callable[[Campaign, CampaignUnit, dict[str, Any], dict[str, str], EscalationRule], int]


@dataclass(frozen=True)
class Basis:
    label: str
    #: The values a rule of this basis may name (None: the basis takes no value; empty: any text).
    values: tuple[str, ...] | None
    count: Counter
    #: Counts at most once a year (a class, the bottom): a count above the years cannot be met.
    yearly: bool = True
    #: The verdicts a rule of this basis may name (None: not checked here).
    verdicts: tuple[str, ...] | None = None


BASES: dict[str, Basis] = {}


def register_basis(name: str, basis: Basis) -> None:
    """Add a basis (the supervision register's ``cases``)."""
    BASES[name] = basis


# --- the annual history a rule counts over ---------------------------------------------


def _years_before(campaign: Campaign, unit_code: str, years: int) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """The unit's entries in the final results of the ``years - 1`` years
    before the campaign's, one per year (that year's latest finalized
    campaign that rates the unit, its latest version): (unit result, the
    classes overridden in that version by unit code)."""
    if years <= 1:
        return []
    campaigns = db.session.scalars(
        select(Campaign).join(CampaignUnit, CampaignUnit.campaign_id == Campaign.id).join(Unit)
        .where(Unit.code == unit_code, Campaign.id != campaign.id, where_frozen(Campaign.status),
               where_annual(Campaign.kind), Campaign.year < campaign.year, Campaign.year > campaign.year - years)
        .order_by(Campaign.year, Campaign.id.desc())).all()
    out = []
    seen: set[int] = set()
    for c in campaigns:
        if c.year in seen:
            continue
        seen.add(c.year)
        snap = db.session.scalar(select(ResultSnapshot).where(ResultSnapshot.campaign_id == c.id,
                                                              ResultSnapshot.kind == "final")
                                 .order_by(ResultSnapshot.version.desc()).limit(1))
        if snap is None:
            continue
        result = next((u for u in json.loads(snap.results_json)["units"] if u["code"] == unit_code), None)
        if result is None:
            continue
        overrides = {o["unit"]: o["new_class"] for o in json.loads(snap.overrides_json or "[]")}
        out.append((result, overrides))
    return out


def _count_class(campaign: Campaign, cu: CampaignUnit, results: dict[str, Any], classes: dict[str, str],
                 rule: EscalationRule) -> int:
    if classes.get(cu.code) != rule.value:
        return 0
    earlier = _years_before(campaign, cu.code, rule.years)
    return 1 + sum(1 for result, overrides in earlier if overrides.get(cu.code, result["class"]) == rule.value)


def _count_bottom(campaign: Campaign, cu: CampaignUnit, results: dict[str, Any], classes: dict[str, str],
                  rule: EscalationRule) -> int:
    this_year = next((u for u in results["units"] if u["code"] == cu.code), None)
    if this_year is None or "bottom" not in this_year["reasons"]:
        return 0
    earlier = _years_before(campaign, cu.code, rule.years)
    return 1 + sum(1 for result, _overrides in earlier if "bottom" in result["reasons"])


register_basis("class", Basis("评定等次", CLASSES, _count_class))
register_basis("bottom", Basis("评议末位", None, _count_bottom))


# --- the rules of a campaign -------------------------------------------------------------


class RuleProblem(ValueError):
    """A rule that cannot be saved: ``where`` (``escalation[2].count``) and why."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


def parse_rule(raw: Any, where: str) -> EscalationRule:
    """A rule from its JSON form, or RuleProblem naming the field."""
    if not isinstance(raw, dict):
        raise RuleProblem(where, _("应为对象"))
    unknown = set(raw) - {"basis", "value", "count", "years", "consequence", "verdicts", "text"}
    if unknown:
        raise RuleProblem(f"{where}.{sorted(unknown)[0]}", _("未知字段"))
    basis = raw.get("basis")
    if basis not in BASES:
        raise RuleProblem(f"{where}.basis", _("未知的依据“%(b)s”（可用：%(all)s）", b=str(basis),
                                             all="、".join(BASES)))
    values = BASES[basis].values
    value = raw.get("value")
    if values is None:
        if value not in (None, ""):
            raise RuleProblem(f"{where}.value", _("该依据不取值"))
        value = None
    elif not isinstance(value, str) or not value.strip() or (values and value not in values):
        raise RuleProblem(f"{where}.value", _("应为以下之一：%(v)s", v="、".join(values)) if values
                          else _("请填写"))
    for name, most in (("count", MAX_COUNT), ("years", MAX_YEARS)):
        n = raw.get(name)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= most:
            raise RuleProblem(f"{where}.{name}", _("应为 1 到 %(m)d 之间的整数", m=most))
    if BASES[basis].yearly and raw["count"] > raw["years"]:
        raise RuleProblem(f"{where}.count", _("次数不能多于年数（每年只计一次）"))
    if raw.get("consequence") not in CONSEQUENCE_KINDS:
        raise RuleProblem(f"{where}.consequence", _("应为以下之一：%(v)s", v="、".join(CONSEQUENCE_KINDS)))
    verdicts = raw.get("verdicts") or []
    if not isinstance(verdicts, list) or not all(isinstance(v, str) and v for v in verdicts):
        raise RuleProblem(f"{where}.verdicts", _("应为字符串数组"))
    known = BASES[basis].verdicts
    if known is not None and any(v not in known for v in verdicts):
        raise RuleProblem(f"{where}.verdicts", _("应为以下之一：%(v)s", v="、".join(known)))
    text = raw.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > 500):
        raise RuleProblem(f"{where}.text", _("应为不超过 500 字的文字"))
    return EscalationRule(basis, value.strip() if isinstance(value, str) else None, raw["count"], raw["years"],
                          raw["consequence"], tuple(verdicts), (text or "").strip() or None)


def parse_rules(raw: Any, where: str = "escalation") -> list[EscalationRule]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise RuleProblem(where, _("应为数组"))
    rules = [parse_rule(r, f"{where}[{i}]") for i, r in enumerate(raw)]
    keys: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if rule.key in keys:
            raise RuleProblem(f"{where}[{i}]", _("与第 %(n)d 条规则相同", n=keys[rule.key] + 1))
        keys[rule.key] = i
    return rules


def rules_of(config: dict[str, Any]) -> list[EscalationRule]:
    """A campaign's escalation rules (``consequence_rules``): the bottom rule
    where it is switched on, then the committee's rules in their order. Rules
    saved with a basis no longer registered are left out."""
    rules = [BOTTOM_RULE] if config.get("escalate_bottom_two_years") else []
    for raw in config.get("escalation") or []:
        try:
            rules.append(parse_rule(raw, "escalation"))
        except RuleProblem:
            continue
    return rules


def describe(rule: EscalationRule) -> str:
    """A rule in words: 近 3 年内 2 次评为“不满意” → 组织处理."""
    from survey.models.outcome import CLASS_LABELS, CONSEQUENCE_LABELS

    if rule.basis == "class" and rule.value in CLASS_LABELS:
        what = _("评为“%(c)s”", c=_(CLASS_LABELS[rule.value]))
    elif rule.basis == "bottom":
        what = _("评议末位")
    else:
        what = f"{_(BASES[rule.basis].label) if rule.basis in BASES else rule.basis}：{rule.value or ''}"
    return _("近 %(y)d 年内 %(n)d 次%(what)s → %(c)s", y=rule.years, n=rule.count, what=what,
             c=_(CONSEQUENCE_LABELS[rule.consequence]))


def escalations(campaign: Campaign, cu: CampaignUnit, results: dict[str, Any], classes: dict[str, str],
                rules: Iterable[EscalationRule]) -> list[tuple[EscalationRule, int]]:
    """The rules the unit meets this year, with how often it happened in their window."""
    met = []
    for rule in rules:
        basis = BASES.get(rule.basis)
        if basis is None:
            continue
        n = basis.count(campaign, cu, results, classes, rule)
        if n >= rule.count:
            met.append((rule, n))
    return met


def consequence_text(rule: EscalationRule, cu: CampaignUnit, n: int) -> str:
    from survey.models.outcome import CONSEQUENCE_LABELS

    if rule == BOTTOM_RULE:
        return _("%(name)s 连续两年评议末位，建议对主要负责人进行组织处理。", name=cu.name)
    if rule.text:  # the committee's words; {单位} stands for the unit's name
        return rule.text.replace("{单位}", cu.name)
    return _("%(name)s %(rule)s（本年度及此前共 %(n)d 次），建议予以%(c)s。", name=cu.name, rule=describe(rule),
             n=n, c=_(CONSEQUENCE_LABELS[rule.consequence]))


# The supervision register's basis (verified cases of a kind), registered with the built-in ones.
from survey.register import escalation as _register_cases  # noqa: E402, F401
