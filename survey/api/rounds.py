"""平时考核 rounds through the API (docs/rounds.md): the rounds, a round's
ranking, and an annual campaign's 平时 component with the rounds behind it.
Each view calls the service its page calls (survey/rounds/services.py)."""
from __future__ import annotations

from flask import abort
from flask_babel import gettext as _

from survey.api.paging import PageQuery, page_of
from survey.api.registry import CAMPAIGN_PARAM, PathParam
from survey.api.schemas import (
    RollupOut,
    RollupRound,
    RollupUnit,
    RoundOut,
    RoundPage,
    RoundPublishIn,
    RoundRanking,
    RoundRankingRow,
)
from survey.api.v1 import api
from survey.errors import Conflict, UserError, in_chinese
from survey.models import Campaign
from survey.results.queries import ranking, units_of
from survey.results.snapshots import results_for
from survey.rounds import services
from survey.web import campaign_or_404

ROUND_PARAM = PathParam("code", "平时考核轮次的代码", "w2027-01")


def _round(r: Campaign) -> RoundOut:
    annual = services.counts_for(r)
    return RoundOut(code=r.code, name=r.name, held_on=r.held_on, status=r.state.status.value,
                    status_label=r.state.label, counts_for=annual.code if annual is not None else None)


@api.get("/rounds", response=RoundPage, query=PageQuery, tag="rounds", summary="平时考核轮次")
def rounds(query: PageQuery) -> RoundPage:
    """Every round, the latest day first, with the annual campaign it counts for."""
    items, cursor = page_of(services.rounds(), query)
    return RoundPage(items=[_round(r) for r in items], limit=query.limit, next_cursor=cursor)


@api.get("/rounds/<code>/ranking", ROUND_PARAM, response=RoundRanking, tag="rounds", summary="一轮平时考核的排名",
         errors=(409,))
def round_ranking(code: str) -> RoundRanking:
    """The round's ranking per category (as its ranking page and XLSX), once it is closed."""
    r = campaign_or_404(code)
    if not r.state.is_round:
        abort(404)
    if not r.state.results_ready:
        raise Conflict("本轮尚未截止，还没有排名。")
    rows = [RoundRankingRow(unit=row.code, name=row.name, category=view.code, rank=row.result["rank"],
                            score=row.result["score"], n_valid=row.result["n_valid"])
            for view in ranking(r, results_for(r)) for row in view.units]
    return RoundRanking(round=_round(r), published=r.state.is_published, units=rows)


@api.post("/rounds/<code>/publish", ROUND_PARAM, body=RoundPublishIn, response=RoundOut, tag="rounds",
          summary="发布一轮平时考核的排名", body_example={"round": "w2027-01"}, errors=(409,))
def publish_round(code: str, body: RoundPublishIn) -> RoundOut:
    """The organizer publishes a closed round, as its ranking page does: its
    ranking becomes final and each unit's composite counts for the annual
    campaign whose assessment period contains the round's day (409: not closed)."""
    r = campaign_or_404(code)
    if not r.state.is_round:
        abort(404)
    if body.round != r.code:
        raise UserError(_("请求体中的轮次代码与路径不符。"))
    with in_chinese():
        services.publish(r, None)
    return _round(r)


@api.get("/campaigns/<code>/pingshi", CAMPAIGN_PARAM, response=RollupOut, tag="rounds",
         summary="年度评议的平时考核项目")
def campaign_rollup(code: str) -> RollupOut:
    """The annual campaign's 平时 component: each unit's mean composite over the
    published rounds counted for it, with each round's composite."""
    campaign = campaign_or_404(code)
    component = services.component_of(campaign)
    units = units_of(campaign)
    values = {v.unit.id: v.value for vs in services.rollup_values(campaign, units).values() for v in vs}
    columns, cells = services.rounds_table(campaign)
    weights = (campaign.rules or {}).get("objective_components") or {}
    return RollupOut(
        component=component.code if component else None, label=component.label if component else None,
        weight=weights.get(component.code) if component else None,
        rounds=[RollupRound(code=c, name=n, held_on=d) for c, n, d in columns],
        units=[RollupUnit(unit=cu.code, score=values.get(cu.id), composites=cells.get(cu.id, {})) for cu in units]
        if component else [])
