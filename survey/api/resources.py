"""The API's first resources, read-only: campaigns, their units, evaluator
groups and batches with their return figures, the results, and a unit's
result. Each view calls the services the pages call (the campaign list, the
return board, the results snapshot and queries, the liaison's view), so the
API and the pages give the same figures by construction.

A liaison's key sees what the liaison's pages show: only campaigns whose
results are finalized or published and that rate the liaison's unit, and in
them only that unit (anything else answers 404, as the pages do):
survey/api/scope.py. The later resources are in outcomes.py (comments,
consequences, rectification, the audit log, per-item results) and
imports.py (the roster, objective scores)."""
from __future__ import annotations

from flask import Response, current_app
from flask_babel import gettext as _

from survey.api.paging import PageQuery, page_of
from survey.api.registry import CAMPAIGN_PARAM, UNIT_PARAM
from survey.api.schemas import (
    BatchEntry,
    BatchPage,
    CampaignDetail,
    CampaignPage,
    CampaignSummary,
    Category,
    GroupEntry,
    GroupPage,
    GroupRef,
    GroupResult,
    Option,
    ResultsDocument,
    Returns,
    ScoredItem,
    UnitEntry,
    UnitPage,
    UnitResult,
)
from survey.api.scope import campaign_in_scope as _campaign
from survey.api.scope import iso as _iso
from survey.api.scope import liaison_unit as _liaison_unit
from survey.api.scope import scoped_result
from survey.api.v1 import api
from survey.campaigns import board, services
from survey.campaigns.board import BoardRow
from survey.models import Campaign, CampaignUnit
from survey.models.outcome import CLASS_LABELS
from survey.results import queries
from survey.results.snapshots import current_snapshot


def _summary(campaign: Campaign) -> dict[str, object]:
    return {"code": campaign.code, "name": campaign.name, "year": campaign.year,
            "status": campaign.state.status.value, "status_label": campaign.state.label,
            "anonymous": campaign.anonymous, "opens_at": _iso(campaign.opens_at), "closes_at": _iso(campaign.closes_at)}


def _returns(row: BoardRow) -> dict[str, object]:
    return {"issued": row.issued, "returned": row.returned, "valid": row.valid, "rate": row.rate,
            "valid_rate": row.valid_rate, "below_target": row.below_target}


# --- campaigns ---------------------------------------------------------------------------


@api.get("/campaigns", response=CampaignPage, query=PageQuery, tag="campaigns", summary="评议活动列表")
def campaigns(query: PageQuery) -> CampaignPage:
    """Every campaign, the latest year first (then by code). A liaison's key:
    the campaigns with finalized results that rate its unit."""
    unit_id = _liaison_unit()
    rows = services.all_campaigns() if unit_id is None else queries.liaison_campaigns(unit_id)
    items, cursor = page_of(rows, query)
    return CampaignPage(items=[CampaignSummary.model_validate(_summary(c)) for c in items], limit=query.limit,
                        next_cursor=cursor)


@api.get("/campaigns/<code>", CAMPAIGN_PARAM, response=CampaignDetail, tag="campaigns", summary="一个评议活动")
def campaign(code: str) -> CampaignDetail:
    """The campaign with its categories, items, scale and evaluator groups, in their order."""
    c = _campaign(code)
    return CampaignDetail.model_validate({
        **_summary(c), "return_target": c.return_target,
        "categories": [Category(code=cc.code, label=cc.label) for cc in c.categories],
        "items": [ScoredItem(code=i.code, label=i.label, weight=i.weight) for i in c.items],
        "scale": [Option(code=o.code, label=o.label, points=o.points) for o in c.scale],
        "groups": [GroupRef(code=g.code, label=g.label, weight=g.weight) for g in c.groups],
    })


@api.get("/campaigns/<code>/units", CAMPAIGN_PARAM, response=UnitPage, query=PageQuery, tag="campaigns",
         summary="被评议单位及其回收情况")
def units(code: str, query: PageQuery) -> UnitPage:
    """The campaign's units in their order, each with its return figures (the
    return board's: ballots that rated it). A liaison's key: its own unit
    alone, without return figures."""
    c = _campaign(code)
    rows: list[CampaignUnit] = queries.units_of(c)
    unit_id = _liaison_unit()
    figures: dict[str, BoardRow] = {}
    if unit_id is not None:
        rows = [cu for cu in rows if cu.unit_id == unit_id]
    else:
        figures = {row.code: row for row in board.return_board(c).units}
    items, cursor = page_of(rows, query)
    return UnitPage(items=[UnitEntry(
        code=cu.code, name=cu.name, name_en=cu.name_en, category=cu.category.code, category_label=cu.category.label,
        returns=Returns.model_validate(_returns(figures[cu.code])) if cu.code in figures else None,
    ) for cu in items], limit=query.limit, next_cursor=cursor)


@api.get("/campaigns/<code>/groups", CAMPAIGN_PARAM, response=GroupPage, query=PageQuery, tag="returns",
         summary="评议主体的回收情况")
def groups(code: str, query: PageQuery) -> GroupPage:
    """Each evaluator group with its weight and return figures, summed over
    its batches (the return board's)."""
    c = _campaign(code)
    rows = list(zip(c.groups, board.return_board(c).groups, strict=True))
    items, cursor = page_of(rows, query)
    return GroupPage(items=[GroupEntry.model_validate({"code": g.code, "label": g.label, "weight": g.weight,
                                                      "returns": _returns(row)}) for g, row in items],
                     limit=query.limit, next_cursor=cursor)


@api.get("/campaigns/<code>/batches", CAMPAIGN_PARAM, response=BatchPage, query=PageQuery, tag="returns",
         summary="发放批次的回收情况")
def batches(code: str, query: PageQuery) -> BatchPage:
    """Each batch with its group, channel and return figures (the return
    board's), and for personal links how many are not used yet."""
    c = _campaign(code)
    rows = list(zip(c.batches, board.return_board(c).batches, strict=True))
    items, cursor = page_of(rows, query)
    return BatchPage(items=[BatchEntry.model_validate({
        "code": b.code, "group": b.group.code, "channel": b.channel, "label": row.label, "returns": _returns(row),
        "invitations": row.invitations, "unanswered": row.unanswered}) for b, row in items],
        limit=query.limit, next_cursor=cursor)


# --- results ---------------------------------------------------------------------------


@api.get("/campaigns/<code>/results", CAMPAIGN_PARAM, response=ResultsDocument, tag="results",
         summary="评议结果（pingyi-results/1）",
         headers={"ETag": "结果文本的 SHA-256（与定稿记录的 results_sha256 相同）",
                  "Pingyi-Snapshot": "`final; version=N`：已定稿的第 N 版；`provisional`：尚未定稿，随数据变化；"
                                     "`interim`：评议尚未截止，中间结果，仅供内部参考"}, errors=(409,))
def results(code: str) -> Response:
    """The stored results document the results pages show, byte for byte:
    the final record's latest version once the results are finalized,
    until then the figures computed from the current data (provisional).
    Before 截止 the results are sealed (409) unless the committee's settings
    allow an interim view; then they are marked `interim` (中间结果，仅供内部参考)."""
    c = _campaign(code)
    queries.require_unsealed(c)
    snap = current_snapshot(c)
    response: Response = current_app.response_class(snap.results_json, mimetype="application/json")
    response.set_etag(snap.results_sha256)
    response.headers["Pingyi-Snapshot"] = (f"final; version={snap.version}" if snap.kind == "final"
                                           else "interim" if queries.interim(c) else "provisional")
    return response


@api.get("/campaigns/<code>/units/<unit_code>/result", CAMPAIGN_PARAM, UNIT_PARAM, response=UnitResult,
         tag="results", summary="一个单位的评议结果", errors=(409,))
def unit_result(code: str, unit_code: str) -> UnitResult:
    """A unit's class (the committee's, overrides included), score and rank,
    and its score by evaluator group. A liaison's key: its own unit, once the
    results are finalized, and as the liaison's page shows it: groups with
    fewer valid ballots than the committee's minimum are not listed."""
    c, cu, snap, result, groups, hidden = scoped_result(code, unit_code)
    shown = [GroupResult(code=g["code"], label=g["label"], n=g["n"], score=g["score"]) for g in groups]
    final_class = queries.final_class(result, queries.override_of(cu))
    return UnitResult.model_validate({
        "campaign": c.code, "unit": cu.code, "name": cu.name, "category": result["category"],
        "final": snap.kind == "final", "interim": queries.interim(c), "final_class": final_class, "final_class_label": _(CLASS_LABELS[final_class]),
        "computed_class": result["class"], "score": result["score"], "rank": result["rank"], "groups": shown,
        "hidden_groups": hidden})
