"""The register's basis of escalation rules (survey/results/escalation.py): a unit's verified cases
of one kind, counted over the rule's window of years — "三年内属实投诉 3 件以上 → 通报批评".

A case counts in the year of the campaign its verdict was counted for (the assessment period
decides, docs/register.md); the verdicts that count are the rule's ``verdicts`` (codes
``founded``/``partly``/``unfounded``), by default 属实 and 部分属实 — a 不属实 case is no breach."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Campaign, CampaignUnit, SupervisionCase
from survey.models.lifecycle import where_annual
from survey.models.register import CASE_KINDS, VERDICTS
from survey.results import escalation

#: The verdicts a rule counts when it names none.
BREACHES = ("founded", "partly")


def count_cases(campaign: Campaign, cu: CampaignUnit, _results: dict[str, Any], _classes: dict[str, str],
                rule: escalation.EscalationRule) -> int:
    """The unit's cases of the rule's kind with a counting verdict, in the campaign's year and the
    ``years - 1`` before it."""
    verdicts = rule.verdicts or BREACHES
    return db.session.scalar(
        select(func.count(SupervisionCase.id)).join(Campaign, SupervisionCase.campaign_id == Campaign.id)
        .where(SupervisionCase.unit_id == cu.unit_id, SupervisionCase.kind == rule.value,
               SupervisionCase.verdict.in_(verdicts),
               where_annual(Campaign.kind), Campaign.year <= campaign.year,
               Campaign.year > campaign.year - rule.years)) or 0


escalation.register_basis("cases", escalation.Basis("属实案件", tuple(CASE_KINDS), count_cases, yearly=False,
                                                    verdicts=tuple(VERDICTS)))
