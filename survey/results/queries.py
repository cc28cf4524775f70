"""Reading a campaign's results: a unit's result and final class, the
rankings, the labels of units, categories, groups and options, the
committee's settings and the rows each campaign unit has."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import BindParameter, CompoundSelect, Select, bindparam, inspect, literal, select, union_all
from sqlalchemy.orm import joinedload

from survey.database import prepared
from survey.errors import Conflict
from survey.extensions import db
from survey.models import (
    Campaign,
    CampaignCategory,
    CampaignGroup,
    CampaignUnit,
    Category,
    ClassOverride,
    EvaluatorGroup,
    Item,
    OutcomeSettings,
    ScaleOption,
    Unit,
)
from survey.models.lifecycle import where_annual, where_frozen
from survey.models.outcome import DEFAULT_CONSEQUENCES
from survey.results.i18n import gettext as _

Row = TypeVar("Row")


def unit_result(results: dict[str, Any], unit_code: str) -> dict[str, Any]:
    """A unit's entry in a results document (KeyError where the results do not rate it)."""
    result: dict[str, Any]
    for result in results["units"]:
        if result["code"] == unit_code:
            return result
    raise KeyError(unit_code)


def final_class(result: dict[str, Any], override: ClassOverride | None) -> str:
    """A unit's class as the committee decided it: its override's, else the computed one."""
    return override.new_class if override is not None else result["class"]


def final_classes(campaign: Campaign, results: dict[str, Any]) -> dict[str, str]:
    """Every unit's final class (``final_class``), by unit code."""
    overrides = {o.campaign_unit.code: o for o in overrides_of(campaign)}
    return {u["code"]: final_class(u, overrides.get(u["code"])) for u in results["units"]}


@prepared
def _settings_of() -> Select[OutcomeSettings]:
    return select(OutcomeSettings).where(OutcomeSettings.campaign_id == bindparam("campaign_id"))


def settings_for(campaign: Campaign) -> OutcomeSettings:
    """The committee's settings for the campaign, made with the defaults where there are none yet."""
    settings = db.session.scalar(_settings_of(), {"campaign_id": campaign.id})
    if settings is None:
        settings = OutcomeSettings(campaign_id=campaign.id, min_group_ballots=5, public=True, consequences={})
        db.session.add(settings)
        db.session.flush()
    return settings


#: The mark of every figure shown before 截止 (pages, XLSX, PDF; the API says ``interim``).
INTERIM_NOTE = "中间结果，仅供内部参考"


def interim(campaign: Campaign) -> bool:
    """Figures of a campaign that still takes ballots (before 截止) are interim: they change."""
    return not campaign.state.results_ready


def sealed(campaign: Campaign) -> bool:
    """Campaign-wide results stay sealed until 截止, unless the committee's
    settings allow an interim view (``OutcomeSettings.interim_results``)."""
    return interim(campaign) and not settings_for(campaign).interim_results


def require_unsealed(campaign: Campaign) -> None:
    """Refuse (409) the results of a sealed campaign, saying how they open."""
    if sealed(campaign):
        raise Conflict(_("评议尚未截止，评议结果封存至截止后查看。如需在评议进行中查看中间结果，"
                         "请评议领导小组在“结果设置”中开启“允许查看中间结果”。"))


def consequence_rules(settings: OutcomeSettings) -> dict[str, Any]:
    """The committee's consequence rules (``settings.consequences``) over the defaults."""
    return {**DEFAULT_CONSEQUENCES, **(settings.consequences or {})}


def liaison_campaigns(unit_id: int) -> list[Campaign]:
    """The campaigns a unit's liaison sees (its page, its API key): the
    finalized or published ones that rate the unit, the latest year first."""
    return list(db.session.scalars(select(Campaign).join(CampaignUnit).where(
        CampaignUnit.unit_id == unit_id, where_frozen(Campaign.status), where_annual(Campaign.kind)).order_by(Campaign.year.desc(), Campaign.code)))


def rows_of(campaign: Campaign, model: type[Row], *order_by: Any) -> list[Row]:
    """The rows of a per-unit table (``model.campaign_unit_id``) for the campaign's units, in order."""
    return list(db.session.scalars(select(model).join(CampaignUnit)
                                   .where(CampaignUnit.campaign_id == campaign.id).order_by(*order_by)))


# --- the rankings -----------------------------------------------------------


@dataclass
class UnitRow:
    code: str
    name: str
    category: str
    result: dict[str, Any]
    override: ClassOverride | None = None

    @property
    def computed_class(self) -> str:
        return str(self.result["class"])

    @property
    def final_class(self) -> str:
        return final_class(self.result, self.override)

    @property
    def score_text(self) -> str:
        return "—" if self.result["score"] is None else f"{self.result['score']:.2f}"

    @property
    def ci_text(self) -> str:
        ci = self.result["ci95"]
        return "—" if not ci else f"{ci[0]:.1f}–{ci[1]:.1f}"

    @property
    def stability_text(self) -> str:
        st = self.result["stability"]
        return "—" if st is None else f"{st * 100:.1f}%"


@dataclass
class CategoryView:
    code: str
    label: str
    units: list[UnitRow] = field(default_factory=list)


class CategoryLine(NamedTuple):
    """A campaign's category as the ranking needs it."""

    code: str
    label: str


class UnitLine(NamedTuple):
    """A campaign unit as the ranking and the unit choices need it."""

    id: int
    code: str
    name: str
    category_code: str


def ranking(campaign: Campaign, results: dict[str, Any], units: Sequence[UnitLine] | None = None,
            overrides: Sequence[ClassOverride] | None = None,
            categories: Sequence[CategoryLine] | None = None) -> list[CategoryView]:
    """Units per category, ranked (insufficient units last), with any override.
    ``units``, ``overrides`` and ``categories``: the campaign's, where the caller has them already."""
    by_code = {u["code"]: u for u in results["units"]}
    units = unit_list(campaign) if units is None else units
    by_unit = {o.campaign_unit.code: o for o in (overrides_of(campaign) if overrides is None else overrides)}
    views = [CategoryView(c.code, c.label) for c in (categories_of(campaign) if categories is None else categories)]
    index = {v.code: v for v in views}
    for cu in units:
        r = by_code.get(cu.code)
        if r is not None:
            index[cu.category_code].units.append(UnitRow(cu.code, cu.name, cu.category_code, r, by_unit.get(cu.code)))
    for v in views:
        v.units.sort(key=lambda row: (row.result["rank"] is None, row.result["rank"] or 0, row.code))
    return views


@prepared
def _categories_of() -> Select[str, str]:
    return (select(Category.code, CampaignCategory.label).join(CampaignCategory.category)
            .where(CampaignCategory.campaign_id == bindparam("campaign_id")).order_by(CampaignCategory.position))


def categories_of(campaign: Campaign) -> list[CategoryLine]:
    """The campaign's categories in order, as plain rows (one query, no ORM objects)."""
    return [CategoryLine(*row) for row in db.session.execute(_categories_of(), {"campaign_id": campaign.id})]


@prepared
def _unit_list() -> Select[int, str, str, str]:
    return (select(CampaignUnit.id, Unit.code, CampaignUnit.name, Category.code)
            .join(Unit, CampaignUnit.unit_id == Unit.id)
            .join(CampaignCategory, CampaignUnit.campaign_category_id == CampaignCategory.id)
            .join(Category, CampaignCategory.category_id == Category.id)
            .where(CampaignUnit.campaign_id == bindparam("campaign_id")).order_by(CampaignUnit.position))


def unit_list(campaign: Campaign) -> list[UnitLine]:
    """The campaign's units in order, as plain rows (one query, no ORM objects:
    the ranking page lists all of them on every request)."""
    return [UnitLine(*row) for row in db.session.execute(_unit_list(), {"campaign_id": campaign.id})]


# --- overrides, units, labels ---------------------------------------------------


@prepared
def _override_of() -> Select[ClassOverride]:
    return select(ClassOverride).where(ClassOverride.campaign_unit_id == bindparam("cu_id"))


def override_of(cu: CampaignUnit) -> ClassOverride | None:
    override: ClassOverride | None = db.session.scalar(_override_of(), {"cu_id": cu.id})
    return override


@prepared
def _overrides_of() -> Select[ClassOverride]:
    return (select(ClassOverride).join(CampaignUnit).where(CampaignUnit.campaign_id == bindparam("campaign_id"))
            .order_by(CampaignUnit.position))


def overrides_of(campaign: Campaign) -> list[ClassOverride]:
    return list(db.session.scalars(_overrides_of(), {"campaign_id": campaign.id}))


def _with_unit_and_category() -> tuple[Any, ...]:
    """Load options: a campaign unit's unit and category records, in the same query."""
    return (joinedload(CampaignUnit.unit),
            joinedload(CampaignUnit.category).joinedload(CampaignCategory.category))


def units_of(campaign: Campaign) -> list[CampaignUnit]:
    """The campaign's units in order, with their unit and category records
    loaded in the same query (pages list all of them)."""
    return list(db.session.scalars(
        select(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id)
        .options(*_with_unit_and_category()).order_by(CampaignUnit.position)).unique())


def campaign_unit(campaign: Campaign, code: str) -> CampaignUnit | None:
    """A campaign's unit by the unit's code, with its unit and category records."""
    return db.session.scalar(select(CampaignUnit).join(Unit).where(
        CampaignUnit.campaign_id == campaign.id, Unit.code == code).options(*_with_unit_and_category()))


@prepared
def _group_labels() -> Select[str, str]:
    return (select(EvaluatorGroup.code, CampaignGroup.label).join(CampaignGroup.group)
            .where(CampaignGroup.campaign_id == bindparam("campaign_id")).order_by(CampaignGroup.position))


def group_labels(campaign: Campaign) -> dict[str, str]:
    return {code: label for code, label in db.session.execute(_group_labels(), {"campaign_id": campaign.id})}


@prepared
def _option_labels() -> Select[str, str]:
    return (select(ScaleOption.code, ScaleOption.label)
            .where(ScaleOption.campaign_id == bindparam("campaign_id"), ScaleOption.points.is_not(None))
            .order_by(ScaleOption.position))


def option_labels(campaign: Campaign) -> list[tuple[str, str]]:
    """The scored options (code, label) in scale order."""
    if "scale" not in inspect(campaign).unloaded:  # loaded already: no statement
        return [(o.code, o.label) for o in campaign.scale if o.points is not None]
    return [(code, label) for code, label in db.session.execute(_option_labels(), {"campaign_id": campaign.id})]


def data_quality(results: dict[str, Any]) -> dict[str, Any]:
    """The ballot counts, the flags raised and the ballots excluded."""
    ex = results["explain"]
    return {"ballots": results["ballots"], "flags": ex["flags"], "exclude_flags": ex["exclude_flags"],
            "excluded": ex["excluded"]}


# --- per-indicator figures (SCORING.md section 5a) ----------------------------


@prepared
def _labels_of() -> CompoundSelect[str, str, str, int]:
    # One statement for both lists: a unit's page needs both in its table's key.
    campaign_id: BindParameter[int] = bindparam("campaign_id")
    return union_all(
        select(literal("option"), ScaleOption.code, ScaleOption.label, ScaleOption.position)
        .where(ScaleOption.campaign_id == campaign_id, ScaleOption.points.is_not(None)),
        select(literal("item"), Item.code, Item.label, Item.position).where(Item.campaign_id == campaign_id),
    ).order_by("position")


class Labels(NamedTuple):
    """The scored options and the items (指标), each (code, label) in order."""

    options: list[tuple[str, str]]
    items: list[tuple[str, str]]


def labels_of(campaign: Campaign) -> Labels:
    labels = Labels([], [])
    for kind, code, label, _position in db.session.execute(_labels_of(), {"campaign_id": campaign.id}):
        (labels.options if kind == "option" else labels.items).append((code, label))
    return labels


@dataclass
class ItemRow:
    """One indicator of a unit: its score, interval, ballots, option shares and
    group scores (None where hidden or not defined)."""

    code: str
    label: str
    n: int
    score: float | None
    ci95: list[float] | None
    shares: dict[str, float] | None
    group_scores: dict[str, float | None] = field(default_factory=dict)
    hidden: bool = False

    @property
    def ci_text(self) -> str:
        """The interval as the report and the 整改通知 print it."""
        return "—" if not self.ci95 else f"{self.ci95[0]:.1f}–{self.ci95[1]:.1f}"


def item_rows(result: dict[str, Any], items: Sequence[tuple[str, str]], *,
              min_ballots: int | None = None, shown_groups: Sequence[str] | None = None) -> list[ItemRow]:
    """A unit's indicators, the weakest first (those without a score last, in
    questionnaire order). For a liaison (``min_ballots``): an indicator rated
    by fewer ballots is hidden, and only the groups shown one by one on the
    liaison's page (``shown_groups``) keep their scores, as that page hides them."""
    figures = result.get("items") or {}
    rows = []
    for code, label in items:
        f = figures.get(code)
        if f is None:
            continue
        row = ItemRow(code, label, f["n"], f["score"], f["ci95"], f["shares"], dict(f.get("group_scores") or {}))
        if min_ballots is not None:
            row.group_scores = {g: s for g, s in row.group_scores.items() if shown_groups and g in shown_groups}
            if row.n < min_ballots:
                row.score, row.ci95, row.shares, row.group_scores, row.hidden = None, None, None, {}, True
        rows.append(row)
    order = {code: k for k, (code, _label) in enumerate(items)}
    return sorted(rows, key=lambda r: (r.score is None, r.score if r.score is not None else 0.0, order[r.code]))


@dataclass
class SubsetRow:
    """A unit's figures on a subset of its ballots (a batch, a channel)."""

    key: str
    label: str
    n: int
    score: float | None
    shares: dict[str, float] | None
    hidden: bool = False


def subset_rows(subsets: dict[str, Any] | None, labels: dict[str, str], *,
                min_ballots: int | None = None) -> list[SubsetRow]:
    """A unit's breakdown (its ``by_batch``, ``by_channel`` or one attribute of
    ``by_attribute``), the subsets with ballots only, in the results' order;
    below ``min_ballots`` hidden (a liaison's view)."""
    rows = []
    for code, f in (subsets or {}).items():
        if not f["n"]:
            continue
        row = SubsetRow(code, labels.get(code, code), f["n"], f["score"], f["shares"])
        if min_ballots is not None and row.n < min_ballots:
            row.score, row.shares, row.hidden = None, None, True
        rows.append(row)
    return rows
