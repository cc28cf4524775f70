"""A unit's results across the years (campaigns share Unit records by code)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, func, select

from survey.database import prepared
from survey.extensions import db
from survey.models import Campaign, CampaignUnit, ResultSnapshot, Unit
from survey.models.lifecycle import where_annual, where_results_ready
from survey.results.queries import unit_result
from survey.results.snapshots import results_for


@prepared
def _years_rated() -> Select[int]:
    return (select(func.count(Campaign.id)).join(CampaignUnit, CampaignUnit.campaign_id == Campaign.id).join(Unit)
            .where(Unit.code == bindparam("code"), where_results_ready(Campaign.status),
                   where_annual(Campaign.kind)))


def years_rated(unit_code: str) -> int:
    """In how many campaigns with results (closed or later) a unit was rated:
    what ``history`` would list, counted without reading any results."""
    return db.session.scalar(_years_rated(), {"code": unit_code}) or 0


def units_with_history(campaign: Campaign) -> set[str]:
    """The codes of the campaign's units rated in more than one campaign with
    results (their pages show a history chart), in one query."""
    codes = select(Unit.code).join(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id)
    return set(db.session.scalars(
        select(Unit.code).join(CampaignUnit, CampaignUnit.unit_id == Unit.id)
        .join(Campaign, CampaignUnit.campaign_id == Campaign.id)
        .where(Unit.code.in_(codes), where_results_ready(Campaign.status), where_annual(Campaign.kind))
        .group_by(Unit.code).having(func.count(Campaign.id) > 1)))


@prepared
def _history_snapshots() -> Select[int, int, str, str, int, str]:
    return (select(Campaign.id, Campaign.year, Campaign.name, ResultSnapshot.kind, ResultSnapshot.version,
                   ResultSnapshot.results_sha256)
            .join(CampaignUnit, CampaignUnit.campaign_id == Campaign.id).join(Unit)
            .join(ResultSnapshot, ResultSnapshot.campaign_id == Campaign.id)
            .where(Unit.code == bindparam("code"), where_results_ready(Campaign.status),
                   where_annual(Campaign.kind))
            .order_by(Campaign.year, Campaign.id))


def history_inputs(unit_code: str) -> list[list[Any]]:
    """What a unit's history is drawn from, as stored, without reading any
    results: each campaign with results that rates it (id, year, name) and
    the hash of the results its pages show (the latest final version, else
    the cache). A campaign's new results give a new hash."""
    shown: dict[int, tuple[list[Any], tuple[int, int]]] = {}
    for cid, year, name, kind, version, sha in db.session.execute(_history_snapshots(), {"code": unit_code}):
        rank = (1 if kind == "final" else 0, version or 0)
        if cid not in shown or rank > shown[cid][1]:
            shown[cid] = ([cid, year, name, sha], rank)
    return [entry for entry, _rank in shown.values()]


def history(unit_code: str, known: dict[int, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """A unit's score and class in every campaign that has results, by year.
    ``known``: results already at hand, by campaign id."""
    campaigns = db.session.scalars(
        select(Campaign).join(CampaignUnit, CampaignUnit.campaign_id == Campaign.id)
        .join(Unit).where(Unit.code == unit_code, where_annual(Campaign.kind))
        .order_by(Campaign.year, Campaign.id)).all()
    points = []
    for campaign in campaigns:
        if not campaign.state.results_ready:
            continue
        try:
            result = unit_result((known or {}).get(campaign.id) or results_for(campaign), unit_code)
        except KeyError:
            continue
        points.append({"year": campaign.year, "campaign": campaign.name, "score": result["score"],
                       "class": result["class"]})
    return points
