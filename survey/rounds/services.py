"""平时考核 rounds (docs/rounds.md): periodic light campaigns of kind
``round`` and the annual campaign's 平时 component they give.

A round is set up like any campaign (new campaign, or a copy of an earlier
round), opened and closed by the organizer, evaluated by ``analysis`` with its
own rules (``results.snapshots.results_for``: one scoring path), and
published by the organizer (no committee sign-off). Publishing writes each
unit's composite (``RoundScore``) for the annual campaign whose assessment
period contains the round's day (``Campaign.held_on``) and whose results are
not final yet.

The 平时 component of a unit is the mean of its composites over those
rounds (a null composite left out; none left: the component is missing for
the unit). Like the register's components, it is derived: it reaches the
results only through the bundle's ``objective_scores`` (survey/bundles.py),
nobody enters or imports it (results/inputs.py ``check_enterable``), and its
weight is the rules' ``objective_components`` entry."""
from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from sqlalchemy import delete, func, select

from survey import audit
from survey.errors import Conflict, UserError
from survey.extensions import db
from survey.models import Campaign, CampaignUnit, ObjectiveScore, RoundComponent, RoundScore, User
from survey.models.campaign import KIND_ROUND
from survey.models.lifecycle import where_annual, where_frozen, where_round
from survey.results.i18n import gettext as _
from survey.spreadsheets import append_row

#: The code and label the 平时 component gets unless the organizer names it otherwise.
DEFAULT_CODE, DEFAULT_LABEL = "pingshi", "平时考核"
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _drop_results_cache(campaign_id: int) -> None:
    from survey.register.services import _drop_results_cache as drop

    drop(campaign_id)


# --- rounds -------------------------------------------------------------------------------


def rounds() -> list[Campaign]:
    """Every round, the latest first."""
    return list(db.session.scalars(select(Campaign).where(where_round(Campaign.kind))
                                   .order_by(Campaign.held_on.desc(), Campaign.id.desc())))


def make_round(campaign: Campaign, held_on: dt.date | None) -> None:
    """Mark a new campaign as a round held on ``held_on`` (the new-campaign form's choice)."""
    if held_on is None:
        raise UserError(_("平时考核轮次须填写考核日期。"))
    campaign.kind, campaign.held_on = KIND_ROUND, held_on


def annual_for(round_: Campaign) -> Campaign | None:
    """The annual campaign the round counts for: its assessment period contains
    the round's day, and its results are not final yet (the first such by period)."""
    if round_.held_on is None:
        return None
    return db.session.scalar(
        select(Campaign).where(where_annual(Campaign.kind), Campaign.period_start <= round_.held_on,
                               Campaign.period_end >= round_.held_on, ~where_frozen(Campaign.status),
                               Campaign.archived_at.is_(None))
        .order_by(Campaign.period_start, Campaign.id).limit(1))


def counts_for(round_: Campaign) -> Campaign | None:
    """The annual campaign a round counts for: once published, the one its composites
    were written for; before, the one it would count for now (``annual_for``)."""
    if round_.state.is_published:
        return db.session.scalar(select(Campaign).join(RoundScore, RoundScore.campaign_id == Campaign.id)
                                 .where(RoundScore.round_id == round_.id).limit(1))
    return annual_for(round_)


def composites(round_: Campaign) -> dict[str, float | None]:
    """Each unit's composite in the round's results, by unit code."""
    from survey.results.snapshots import results_for

    # A composite is a weighted mean of 0–100 parts; clipped against floating-point residue (100.00000000000001).
    return {u["code"]: None if u["score"] is None else min(100.0, max(0.0, u["score"]))
            for u in results_for(round_)["units"]}


def publish(round_: Campaign, user: User | None) -> Campaign | None:
    """The organizer publishes a closed round: its ranking becomes final and its
    composites count for the annual campaign (returned; None: no annual campaign's
    period contains the round's day, so it counts for none)."""
    state = round_.state
    state.require_round()
    state.require(state.is_closed, _("只有已截止的平时考核轮次才能发布排名。"))
    figures = composites(round_)
    state.publish_round()
    annual = annual_for(round_)
    if annual is not None:
        assert round_.held_on is not None
        db.session.execute(delete(RoundScore).where(RoundScore.campaign_id == annual.id,
                                                    RoundScore.round_code == round_.code))
        for cu in annual.units:
            code = cu.unit.code
            if code in figures:
                db.session.add(RoundScore(campaign_id=annual.id, campaign_unit_id=cu.id, round_id=round_.id,
                                          round_code=round_.code, round_name=round_.name, held_on=round_.held_on,
                                          composite=figures[code]))
        db.session.flush()
        _drop_results_cache(annual.id)
    audit.record("round.publish", f"campaign:{round_.code}", {"status": "closed"},
                 {"status": "published", "counts_for": annual.code if annual else None})
    return annual


# --- the annual campaign's 平时 component ------------------------------------------------


def component_of(campaign: Campaign) -> RoundComponent | None:
    return db.session.scalar(select(RoundComponent).where(RoundComponent.campaign_id == campaign.id))


def rollup_code(campaign: Campaign) -> str | None:
    """The code of the campaign's 平时 component, if it has one."""
    return db.session.scalar(select(RoundComponent.code).where(RoundComponent.campaign_id == campaign.id))


def set_component(campaign: Campaign, code: str, label: str) -> RoundComponent:
    """Declare (or rename) the annual campaign's 平时 component."""
    campaign.state.require_annual()
    campaign.state.require(not campaign.state.is_frozen, _("评议结果已定稿，不能再修改。"))
    code, label = code.strip(), label.strip() or DEFAULT_LABEL
    if not _CODE.match(code):
        raise UserError(_("考核项目代码只能由字母、数字、- 和 _ 组成（最多 64 个字符）。"))
    from survey.register.services import components_of

    if any(c.code == code for c in components_of(campaign)):
        raise Conflict(_("考核项目 %(c)s 已由督查登记生成。", c=code))
    entered = db.session.scalar(select(func.count(ObjectiveScore.id)).join(CampaignUnit).where(
        CampaignUnit.campaign_id == campaign.id, ObjectiveScore.component == code))
    if entered:
        raise Conflict(_("考核项目 %(c)s 已有录入的得分，不能改为由平时考核生成。", c=code))
    row = component_of(campaign)
    before = None if row is None else {"code": row.code, "label": row.label}
    if row is None:
        row = RoundComponent(campaign_id=campaign.id, code=code, label=label)
        db.session.add(row)
    row.code, row.label = code, label
    db.session.flush()
    _drop_results_cache(campaign.id)
    audit.record("round.component", f"campaign:{campaign.code}", before, {"code": code, "label": label})
    return row


def scores_of(campaign: Campaign) -> list[RoundScore]:
    """The published rounds' composites counted for the annual campaign, by day and round."""
    return list(db.session.scalars(select(RoundScore).where(RoundScore.campaign_id == campaign.id)
                                   .order_by(RoundScore.held_on, RoundScore.round_code, RoundScore.id)))


@dataclass
class RollupValue:
    """A unit's 平时 component: the mean of its composites over the published rounds."""

    unit: CampaignUnit
    composites: list[tuple[RoundScore, float]] = field(default_factory=list)
    base: float = 100.0

    @property
    def raw(self) -> float:
        return sum(c for _s, c in self.composites) / len(self.composites)

    @property
    def value(self) -> float:
        return self.raw


def rollup_values(campaign: Campaign, units: list[CampaignUnit]) -> dict[str, list[RollupValue]]:
    """The 平时 component's value for each of ``units`` that has a composite in at
    least one published round (in the units' order; the others: missing)."""
    code = rollup_code(campaign)
    if code is None:
        return {}
    values = {cu.id: RollupValue(cu) for cu in units}
    for score in scores_of(campaign):
        value = values.get(score.campaign_unit_id)
        if value is not None and score.composite is not None:
            value.composites.append((score, score.composite))
    return {code: [v for v in values.values() if v.composites]}


def rounds_table(campaign: Campaign) -> tuple[list[tuple[str, str, dt.date]], dict[int, dict[str, float | None]]]:
    """The rounds counted for the campaign (code, name, day) and each unit's
    composite in each, by campaign unit id: the roll-up page's table."""
    seen: dict[str, tuple[str, str, dt.date]] = {}
    cells: dict[int, dict[str, float | None]] = {}
    for s in scores_of(campaign):
        seen.setdefault(s.round_code, (s.round_code, s.round_name, s.held_on))
        cells.setdefault(s.campaign_unit_id, {})[s.round_code] = s.composite
    return list(seen.values()), cells


# --- a round's ranking: the page and the XLSX ----------------------------------------------


def ranking_xlsx(round_: Campaign) -> bytes:
    """The round's ranking per category: rank, unit, composite, valid ballots."""
    from survey.results.queries import ranking
    from survey.results.snapshots import results_for

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = str(_("排名"))
    append_row(sheet, [round_.name, round_.held_on.isoformat() if round_.held_on else ""])
    append_row(sheet, [_("类别"), _("名次"), _("单位代码"), _("单位名称"), _("综合得分"), _("有效票数")])
    for view in ranking(round_, results_for(round_)):
        for row in view.units:
            r: dict[str, Any] = row.result
            append_row(sheet, [view.label, r["rank"], row.code, row.name,
                               None if r["score"] is None else round(r["score"], 2), r["n_valid"]])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
