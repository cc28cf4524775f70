"""What the committee and the organizer put into the results besides the
ballots: the data-quality flags whose ballots are excluded, objective scores
and vetoes. None of it changes once the results are final."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from survey import audit
from survey.extensions import db
from survey.models import Campaign, CampaignUnit, ObjectiveScore, Veto
from survey.results import ResultsError
from survey.results.i18n import gettext as _
from survey.results.queries import rows_of, unit_result, units_of
from survey.results.snapshots import compute, results_for

FLAGS = ("duplicate", "straight_line", "speeder", "burst", "extreme_rater")
FLAG_LABELS = {"duplicate": "重复提交", "straight_line": "一律同选", "speeder": "答题过快",
               "burst": "同一网段集中提交", "extreme_rater": "极端评分"}


def _require_known(flags: list[str]) -> None:
    unknown = [f for f in flags if f not in FLAGS]
    if unknown:
        raise ResultsError(_("未知的数据质量标记：%(f)s", f="、".join(unknown)))


def _require_open(campaign: Campaign) -> None:
    if campaign.state.is_frozen:
        raise ResultsError(_("评议结果已定稿，不能再修改。"))


def preview_exclude_flags(campaign: Campaign, flags: list[str]) -> dict[str, Any]:
    """What the results would be with another ``exclude_flags``: the classes that change."""
    _require_known(flags)
    current = results_for(campaign)
    _bundle, preview = compute(campaign, {"exclude_flags": list(flags)})
    names = {cu.code: cu.name for cu in units_of(campaign)}
    changes = []
    for u in preview["units"]:
        old = unit_result(current, u["code"])
        if old["class"] != u["class"]:
            changes.append({"code": u["code"], "name": names.get(u["code"], u["code"]),
                            "before": old["class"], "after": u["class"],
                            "score_before": old["score"], "score_after": u["score"]})
    return {"flags": list(flags), "changes": changes, "excluded": preview["ballots"]["excluded"],
            "excluded_before": current["ballots"]["excluded"], "valid": preview["ballots"]["valid"]}


def adopt_exclude_flags(campaign: Campaign, flags: list[str]) -> None:
    _require_open(campaign)
    _require_known(flags)
    before = dict(campaign.rules or {})
    campaign.rules = {**before, "exclude_flags": list(flags)}
    audit.record("rules.exclude_flags", f"campaign:{campaign.code}", {"rules": before}, {"rules": campaign.rules})


def _next_position(campaign: Campaign, model: type[ObjectiveScore] | type[Veto]) -> int:
    """The position after the campaign's last objective score or veto."""
    last = db.session.scalar(select(func.coalesce(func.max(model.position), -1))
                             .join(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id))
    return (last if last is not None else -1) + 1


def set_objective_score(campaign: Campaign, cu: CampaignUnit, component: str, score: float, evidence: str) -> None:
    _require_open(campaign)
    row = db.session.scalar(select(ObjectiveScore).where(
        ObjectiveScore.campaign_unit_id == cu.id, ObjectiveScore.component == component))
    before = None if row is None else {"component": component, "score": row.score}
    if row is None:
        row = ObjectiveScore(campaign_unit=cu, position=_next_position(campaign, ObjectiveScore),
                             component=component, score=score)
        db.session.add(row)
    row.score = score
    audit.record("objective_score.set", f"campaign:{campaign.code}/unit:{cu.code}", before,
                 {"component": component, "score": score, "evidence": evidence})


def add_veto(campaign: Campaign, cu: CampaignUnit, reason: str, evidence: str) -> Veto:
    _require_open(campaign)
    veto = Veto(campaign_unit=cu, position=_next_position(campaign, Veto), reason=reason, evidence=evidence)
    db.session.add(veto)
    audit.record("veto.create", f"campaign:{campaign.code}/unit:{cu.code}", None,
                 {"reason": reason, "evidence": evidence})
    return veto


def remove_veto(campaign: Campaign, veto: Veto) -> None:
    _require_open(campaign)
    audit.record("veto.delete", f"campaign:{campaign.code}/unit:{veto.campaign_unit.code}",
                 {"reason": veto.reason, "evidence": veto.evidence}, None)
    db.session.delete(veto)


def vetoes_of(campaign: Campaign) -> list[Veto]:
    return rows_of(campaign, Veto, Veto.position, Veto.id)


def objective_scores_of(campaign: Campaign) -> list[ObjectiveScore]:
    return rows_of(campaign, ObjectiveScore, CampaignUnit.position, ObjectiveScore.component)
