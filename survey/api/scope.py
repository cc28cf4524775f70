"""What a key may see: a liaison's key sees what the liaison's pages show
(only campaigns whose results are finalized or published and that rate the
liaison's unit, and in them only that unit; anything else answers 404, as
the pages do). Every operation that a liaison's key may call narrows what it
returns through these."""
from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from flask import abort
from flask_login import current_user

from survey.clock import iso_beijing
from survey.models import Campaign, CampaignUnit, ResultSnapshot
from survey.policy import LIAISON
from survey.results import comments, queries
from survey.results.snapshots import current_snapshot, parsed
from survey.web import campaign_or_404


def liaison_unit() -> int | None:
    """The unit of a liaison's key (None for every other role)."""
    if current_user.role == LIAISON:
        unit_id: int | None = current_user.unit_id
        return unit_id
    return None


def campaign_in_scope(code: str) -> Campaign:
    """The campaign, or 404; for a liaison's key only one that the liaison's pages show."""
    campaign = campaign_or_404(code)
    unit_id = liaison_unit()
    if unit_id is not None and (not campaign.state.is_frozen
                                or all(cu.unit_id != unit_id for cu in campaign.units)):
        abort(404)
    return campaign


def unit_in_scope(campaign: Campaign, unit_code: str) -> CampaignUnit:
    """The campaign's unit, or 404; for a liaison's key only its own."""
    cu = queries.campaign_unit(campaign, unit_code)
    unit_id = liaison_unit()
    if cu is None or (unit_id is not None and cu.unit_id != unit_id):
        abort(404)
    return cu


class ScopedResult(NamedTuple):
    campaign: Campaign
    unit: CampaignUnit
    snap: ResultSnapshot
    result: dict[str, Any]
    groups: list[dict[str, Any]]
    hidden: int


def scoped_result(code: str, unit_code: str) -> ScopedResult:
    """A unit's result as the key may read it (404 outside its scope or where
    the results do not rate the unit), with the groups it may see one by one
    (``visible_groups``) and how many it may not."""
    c = campaign_in_scope(code)
    cu = unit_in_scope(c, unit_code)
    queries.require_unsealed(c)  # before 截止: sealed unless an interim view is allowed
    snap = current_snapshot(c)
    try:
        result = queries.unit_result(parsed(snap), cu.code)
    except KeyError:
        abort(404)
    groups, hidden = visible_groups(c, cu, result)
    return ScopedResult(c, cu, snap, result, groups, hidden)


def own_unit(campaign: Campaign) -> CampaignUnit | None:
    """A liaison's key: its unit in the campaign (the campaign is in scope, so
    it is rated there). None for every other role."""
    unit_id = liaison_unit()
    if unit_id is None:
        return None
    return next(cu for cu in campaign.units if cu.unit_id == unit_id)


def iso(instant: dt.datetime | None) -> str | None:
    return None if instant is None else iso_beijing(instant)


def visible_groups(campaign: Campaign, cu: CampaignUnit, result: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The unit's evaluator groups that the key may see one by one (``code``,
    ``label``, ``n``, ``score``), and how many it may not. A liaison's key: as
    the liaison's page shows them (survey/results/comments.py ``liaison_view``:
    groups with fewer valid ballots than the committee's minimum are not
    listed); every other role: all of them."""
    if liaison_unit() is not None:
        seen = comments.liaison_groups(campaign, result)  # the rule alone: no comments read
        return seen.shown, len(seen.small)
    labels = queries.group_labels(campaign)
    return [{"code": group, "label": labels.get(group, group), "n": g["n"], "score": g["score"]}
            for group, g in result["explain"]["groups"].items()], 0
