"""The best units (先进): the positive tier beside the consequences.

The campaign's rule (``OutcomeSettings.honours``, exported in the bundle's
``extensions.honours``) names the candidates once the results are final: in
each category, the units whose final class is 满意 and that are among the
first ``top_k`` of the category's ranking and/or score at least
``min_score`` (where both are set, a candidate meets both). The committee
decides on each candidate (awarded, with a title and an amount in yuan, or
not), and the awards are recorded (``Honour``). Optional star bands (星级:
``stars``, a list of ``{"min_score", "stars"}``) give each scored unit its
stars; with ``public_stars`` the 公示 page shows them, and the awarded units
are listed there once decided."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from survey import audit
from survey.clock import utcnow
from survey.extensions import db
from survey.models import Campaign, CampaignUnit, Honour, OutcomeSettings, User
from survey.models.outcome import HONOUR_DECISIONS
from survey.results import ResultsError
from survey.results.escalation import RuleProblem
from survey.results.i18n import gettext as _
from survey.results.queries import UnitRow, ranking, rows_of, settings_for
from survey.results.signoff import require_committee

#: Scores are compared with the tolerance of SCORING.md's class boundaries.
EPS = 1e-9
MAX_STARS = 5
DEFAULT_TITLE = "先进单位"


@dataclass(frozen=True)
class HonourRule:
    top_k: int | None = None
    min_score: float | None = None
    #: (min_score, stars), the highest band first.
    stars: tuple[tuple[float, int], ...] = ()
    public_stars: bool = False
    title: str = DEFAULT_TITLE

    @property
    def names_candidates(self) -> bool:
        return self.top_k is not None or self.min_score is not None

    def as_json(self) -> dict[str, Any]:
        """The stored and exported form: only what is set."""
        out: dict[str, Any] = {}
        if self.top_k is not None:
            out["top_k"] = self.top_k
        if self.min_score is not None:
            out["min_score"] = self.min_score
        if self.stars:
            out["stars"] = [{"min_score": m, "stars": n} for m, n in self.stars]
        if self.public_stars:
            out["public_stars"] = True
        if self.title != DEFAULT_TITLE:
            out["title"] = self.title
        return out

    def stars_for(self, score: float | None) -> int | None:
        if score is None:
            return None
        return next((n for m, n in self.stars if score >= m - EPS), None)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_rule(raw: Any, where: str = "honours") -> HonourRule:
    """The rule from its JSON form, or RuleProblem naming the field."""
    if raw is None:
        return HonourRule()
    if not isinstance(raw, dict):
        raise RuleProblem(where, _("应为对象"))
    unknown = set(raw) - {"top_k", "min_score", "stars", "public_stars", "title"}
    if unknown:
        raise RuleProblem(f"{where}.{sorted(unknown)[0]}", _("未知字段"))
    top_k = raw.get("top_k")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= 1000):
        raise RuleProblem(f"{where}.top_k", _("应为 1 到 1000 之间的整数"))
    min_score = raw.get("min_score")
    if min_score is not None and (not _number(min_score) or not 0 <= min_score <= 100):
        raise RuleProblem(f"{where}.min_score", _("应为 0 到 100 之间的数"))
    bands = raw.get("stars") or []
    if not isinstance(bands, list):
        raise RuleProblem(f"{where}.stars", _("应为数组"))
    stars: list[tuple[float, int]] = []
    for i, band in enumerate(bands):
        at = f"{where}.stars[{i}]"
        if not isinstance(band, dict) or set(band) != {"min_score", "stars"}:
            raise RuleProblem(at, _("应为 {\"min_score\": 分数, \"stars\": 星数}"))
        if not _number(band["min_score"]) or not 0 <= band["min_score"] <= 100:
            raise RuleProblem(f"{at}.min_score", _("应为 0 到 100 之间的数"))
        n = band["stars"]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_STARS:
            raise RuleProblem(f"{at}.stars", _("应为 1 到 %(m)d 之间的整数", m=MAX_STARS))
        stars.append((band["min_score"], n))
    ordered = sorted(stars, key=lambda band: -band[0])
    if ordered != stars:
        raise RuleProblem(f"{where}.stars", _("应按分数从高到低排列"))
    for (m1, n1), (m2, n2) in zip(stars, stars[1:], strict=False):
        if m1 == m2 or n1 <= n2:
            raise RuleProblem(f"{where}.stars", _("分数越高星数应越多，且分数不能重复"))
    public_stars = raw.get("public_stars", False)
    if not isinstance(public_stars, bool):
        raise RuleProblem(f"{where}.public_stars", _("应为 true 或 false"))
    title = raw.get("title", DEFAULT_TITLE)
    if not isinstance(title, str) or not title.strip() or len(title.strip()) > 100:
        raise RuleProblem(f"{where}.title", _("应为不超过 100 字的文字"))
    return HonourRule(top_k, float(min_score) if min_score is not None else None, tuple(stars), public_stars,
                      title.strip())


def rule_of(campaign: Campaign, settings: OutcomeSettings | None = None) -> HonourRule:
    """The campaign's rule (``settings``: its settings, where the caller has them already)."""
    try:
        return parse_rule((settings or settings_for(campaign)).honours)
    except RuleProblem:
        return HonourRule()


def save_rule(campaign: Campaign, raw: dict[str, Any], user: User) -> HonourRule:
    """Set the campaign's positive tier and star bands, with an audit entry."""
    require_committee(user, _("只有评议领导小组成员才能设置先进评选规则。"))
    try:
        rule = parse_rule(raw)
    except RuleProblem as exc:
        raise ResultsError(f"{exc.where}：{exc.reason}") from None
    s = settings_for(campaign)
    before = s.honours
    s.honours = rule.as_json() or None
    audit.record("honour.rule", f"campaign:{campaign.code}", before, s.honours)
    return rule


# --- candidates and decisions ---------------------------------------------------------


@dataclass
class Candidate:
    row: UnitRow
    category_label: str
    stars: int | None
    honour: Honour | None


def candidates(campaign: Campaign, results: dict[str, Any], rule: HonourRule | None = None) -> list[Candidate]:
    """The candidates the rule names, per category in ranking order, with the
    committee's decision where there is one (a unit decided on stays listed
    when the rule changes later). None before the results are final."""
    if not campaign.state.allows_carrying_out:
        return []
    rule = rule or rule_of(campaign)
    decided = {h.campaign_unit.code: h for h in honours_of(campaign)}
    out = []
    for view in ranking(campaign, results):
        for row in view.units:
            score, rank = row.result["score"], row.result["rank"]
            if row.code in decided and score is not None and rank is not None:
                # decided while a candidate: kept in the list, whatever the rule says since
                out.append(Candidate(row, view.label, rule.stars_for(score), decided[row.code]))
                continue
            if not rule.names_candidates or row.final_class != "satisfied" or score is None or rank is None:
                continue
            if rule.top_k is not None and rank > rule.top_k:
                continue
            if rule.min_score is not None and score < rule.min_score - EPS:
                continue
            out.append(Candidate(row, view.label, rule.stars_for(score), None))
    return out


def honours_of(campaign: Campaign) -> list[Honour]:
    return rows_of(campaign, Honour, CampaignUnit.position)


def awarded(campaign: Campaign) -> list[Honour]:
    return [h for h in honours_of(campaign) if h.decision == "awarded"]


def decide(campaign: Campaign, cu: CampaignUnit, results: dict[str, Any], decision: str, user: User, *,
           title: str = "", amount: float | None = None, note: str = "") -> Honour:
    """The committee's decision on a candidate: awarded (a title, an amount
    in yuan) or declined. A decision may be changed; each is audited."""
    require_committee(user, _("只有评议领导小组成员才能评定先进。"))
    campaign.state.require(campaign.state.allows_carrying_out, _("结果定稿后才能评定先进。"))
    if decision not in HONOUR_DECISIONS:
        raise ResultsError(_("未知的决定 %(d)s", d=decision))
    if cu.code not in {c.row.code for c in candidates(campaign, results)}:
        raise ResultsError(_("%(u)s 不在先进候选名单中。", u=cu.name))
    if amount is not None and amount < 0:
        raise ResultsError(_("奖励金额不能为负数。"))
    row = db.session.scalar(select(Honour).where(Honour.campaign_unit_id == cu.id))
    before = None if row is None else {"decision": row.decision, "title": row.title, "amount": row.amount}
    if row is None:
        row = Honour(campaign_unit=cu)
        db.session.add(row)
    row.decision = decision
    row.title = ((title.strip() or rule_of(campaign).title)[:100]) if decision == "awarded" else None
    row.amount = amount if decision == "awarded" else None
    row.note = note.strip() or None
    row.decided_by_id = user.id
    row.decided_at = utcnow()
    audit.record("honour.decide", f"campaign:{campaign.code}/unit:{cu.code}", before,
                 {"decision": decision, "title": row.title, "amount": row.amount, "note": row.note})
    return row


def public_stars(campaign: Campaign, results: dict[str, Any], settings: OutcomeSettings) -> dict[str, int]:
    """The stars the 公示 page shows, by unit code (empty unless ``public_stars``)."""
    rule = rule_of(campaign, settings)
    if not rule.public_stars or not rule.stars:
        return {}
    out = {}
    for u in results["units"]:
        n = rule.stars_for(u["score"])
        if n:
            out[u["code"]] = n
    return out
