"""Setting a campaign up: its units, groups, questionnaire and rules, copying last
year's, and moving it from draft to open to closed, with the edits each status allows."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, Update, bindparam, delete, func, select, update

from analysis import DEFAULT_RULES, BundleError, effective_rules, validate_bundle
from survey import webhooks
from survey.ballots.attributes import refresh_releases
from survey.clock import utcnow
from survey.database import prepared, rowcount
from survey.errors import Conflict
from survey.extensions import db
from survey.models import (
    Ballot,
    Batch,
    Campaign,
    CampaignCategory,
    CampaignGroup,
    CampaignUnit,
    Category,
    EvaluatorGroup,
    GroupUnit,
    Item,
    MarginTarget,
    MarginVariable,
    ScaleOption,
    Unit,
)
from survey.models.lifecycle import ORGANIZER_TARGETS, Status, label, where_open


class SetupRefused(Conflict):
    """A change the campaign's status does not allow, or that contradicts its setup;
    the message says why, in Chinese, for the organizer."""


def ensure_editable(campaign: Campaign, *, alters_ballots: bool = False) -> None:
    """Refuse every edit of a finalized campaign, and edits that would change the
    meaning of ballots already in (removing a unit, item or option, changing points)
    once it has opened."""
    state = campaign.state
    if not state.allows_setup:
        raise SetupRefused(_("评议活动%(status)s，不能再作任何修改。", status=state.label))
    if alters_ballots and not state.allows_ballot_changes:
        raise SetupRefused(_("评议活动已开始（%(status)s），这项修改会改变评议表或已回收评议票的含义，不能进行；"
                             "删除单位、评议指标或选项，增加选项、修改分值，只能在草稿状态下进行。",
                             status=state.label))


def _next_position(rows: list[Any]) -> int:
    return max((r.position for r in rows), default=-1) + 1


def find_campaign(code: str) -> Campaign | None:
    return db.session.scalar(select(Campaign).where(Campaign.code == code))


# --- the campaign itself -------------------------------------------------------


def create_campaign(*, code: str, name: str, year: int, anonymous: bool, return_target: float,
                    opens_at: dt.datetime | None, closes_at: dt.datetime | None) -> Campaign:
    if find_campaign(code) is not None:
        raise SetupRefused(_("评议活动代码 %(code)s 已存在", code=code))
    campaign = Campaign(code=code, name=name, year=year, anonymous=anonymous, status=Status.DRAFT.value,
                        return_target=return_target, opens_at=opens_at, closes_at=closes_at, rules={})
    db.session.add(campaign)
    db.session.flush()
    return campaign


def update_campaign(campaign: Campaign, *, name: str, year: int, anonymous: bool, return_target: float,
                    opens_at: dt.datetime | None, closes_at: dt.datetime | None) -> None:
    ensure_editable(campaign)
    if anonymous != campaign.anonymous:
        # Ballots already in were cast under the promise the campaign made.
        ensure_editable(campaign, alters_ballots=True)
    changed = anonymous != campaign.anonymous
    campaign.name, campaign.year, campaign.anonymous = name, year, anonymous
    campaign.return_target, campaign.opens_at, campaign.closes_at = return_target, opens_at, closes_at
    if changed:
        # What the roster puts on ballots depends on it (the k rule applies to anonymous campaigns).
        refresh_releases(campaign)


def readiness_problems(campaign: Campaign) -> list[str]:
    """What stops a draft from opening: an empty part, or a bundle the scoring would refuse."""
    problems = []
    if not campaign.units:
        problems.append(_("还没有被评议单位"))
    if not campaign.groups:
        problems.append(_("还没有评议主体"))
    if not campaign.items:
        problems.append(_("还没有评议指标"))
    if not any(o.points is not None for o in campaign.scale):
        problems.append(_("评价选项中至少要有一个计分选项"))
    if not problems:
        from survey.bundles import export_bundle

        problems.extend(f"{p.path}: {p.reason}" for p in validate_bundle(export_bundle(campaign)))
    return problems


def change_status(campaign: Campaign, target: str) -> None:
    """The organizer's transitions: open (after the readiness checks), close, reopen."""
    state = campaign.state
    known = target in {s.value for s in Status}
    if not known or Status(target) not in ORGANIZER_TARGETS or not state.can(target):
        raise SetupRefused(_("不能从“%(a)s”改为“%(b)s”。", a=state.label, b=label(target) if known else target))
    if Status(target) is Status.OPEN:
        if state.is_draft:
            problems = readiness_problems(campaign)
            if problems:
                raise SetupRefused(_("还不能开始评议：%(problems)s", problems="；".join(problems)))
        if campaign.closes_at is not None and campaign.closes_at <= utcnow():
            raise SetupRefused(_("截止时间已过，请先把截止时间改到以后再开始评议。"))
    state.move_to(target)
    if state.is_closed:
        _closed(campaign)
    else:
        webhooks.emit_campaign("campaign.opened", campaign)


def _closed(campaign: Campaign) -> None:
    """The committee reviews a campaign's results once it closes: have the
    charts and tables of its stored results drawn now (none were drawn while
    it was open)."""
    from survey.results.signoff import fix_quorum
    from survey.results.snapshots import queue_drawing, shown_snapshot

    fix_quorum(campaign)  # the quorum is fixed at 截止 (docs/committee.md)
    webhooks.emit_campaign("campaign.closed", campaign)
    snap = shown_snapshot(campaign)
    if snap is not None:
        queue_drawing(campaign, snap)


@prepared
def _due_campaigns() -> Select[Campaign]:
    return select(Campaign).where(where_open(Campaign.status), Campaign.closes_at.is_not(None),
                                  Campaign.closes_at <= bindparam("now"))


@prepared
def _claim_closing() -> Update:
    """A write only one request can make while the campaign is open: it waits for
    any other request closing it (the row's lock; SQLite's one writer) and then
    matches nothing."""
    return (update(Campaign).where(Campaign.id == bindparam("campaign_id"), where_open(Campaign.status))
            .values(closes_at=Campaign.closes_at).execution_options(synchronize_session=False))


def close_due_campaigns(now: dt.datetime | None = None) -> list[str]:
    """Close the open campaigns whose deadline has passed (their links already refuse
    ballots; this makes the status say so, and lets the committee finalize).
    One read when nothing is due; the caller commits."""
    now = now or utcnow()
    closed = []
    for campaign in list(db.session.scalars(_due_campaigns(), {"now": now})):
        # Several nodes' (or workers') first staff requests after the deadline may
        # all find it due: one closes it and emits campaign.closed, the others skip.
        if rowcount(db.session.execute(_claim_closing(), {"campaign_id": campaign.id})) != 1:
            continue
        campaign.state.close()
        _closed(campaign)
        closed.append(campaign)
    return [c.code for c in closed]


def ballot_count(campaign: Campaign) -> int:
    return db.session.scalar(select(func.count(Ballot.id)).where(Ballot.campaign_id == campaign.id)) or 0


# --- categories and units (organisation records reused across years) ----------


def _organisation_record(model: type[Any], code: str, text: str, in_campaign: set[int], *,
                         new: str, present: str) -> Any:
    """The organisation's record (category, unit, group) with this code, made where
    there is none yet (it then needs its name or label: else `new`); `present`
    where the campaign has it already (its id in `in_campaign`)."""
    record = db.session.scalar(select(model).where(model.code == code))
    if record is None:
        if not text:
            raise SetupRefused(new)
        record = model(code=code, **{"name" if model is Unit else "label": text})
        db.session.add(record)
    elif record.id in in_campaign:
        raise SetupRefused(present)
    return record


def add_category(campaign: Campaign, *, code: str, label: str, label_en: str = "") -> CampaignCategory:
    ensure_editable(campaign)
    category = _organisation_record(Category, code, label, {cc.category_id for cc in campaign.categories},
                                    new=_("类别 %(code)s 是新类别，请填写名称", code=code),
                                    present=_("类别 %(code)s 已在本次评议中", code=code))
    cc = CampaignCategory(category=category, label=label or category.label, label_en=label_en or None,
                          position=_next_position(campaign.categories))
    campaign.categories.append(cc)
    db.session.flush()
    return cc


def remove_category(campaign: Campaign, cc: CampaignCategory) -> None:
    ensure_editable(campaign, alters_ballots=True)
    if any(u.campaign_category_id == cc.id for u in campaign.units):
        raise SetupRefused(_("类别“%(label)s”下还有单位，请先移除这些单位", label=cc.label))
    campaign.categories.remove(cc)


def add_unit(campaign: Campaign, *, category: CampaignCategory, code: str, name: str,
             name_en: str = "") -> CampaignUnit:
    ensure_editable(campaign)
    unit = _organisation_record(Unit, code, name, {cu.unit_id for cu in campaign.units},
                                new=_("单位 %(code)s 是新单位，请填写名称", code=code),
                                present=_("单位 %(code)s 已在本次评议中", code=code))
    if name and name != unit.name:
        unit.name = name  # the organisation record carries the current name
    cu = CampaignUnit(unit=unit, name=name or unit.name, name_en=name_en or None, category=category,
                      position=_next_position(campaign.units))
    campaign.units.append(cu)
    db.session.flush()
    return cu


def remove_unit(campaign: Campaign, cu: CampaignUnit) -> None:
    ensure_editable(campaign, alters_ballots=True)
    campaign.units.remove(cu)


def known_units() -> list[Unit]:
    return list(db.session.scalars(select(Unit).order_by(Unit.code)))


def known_categories() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.code)))


def known_groups() -> list[EvaluatorGroup]:
    return list(db.session.scalars(select(EvaluatorGroup).order_by(EvaluatorGroup.code)))


# --- evaluator groups ---------------------------------------------------------


def add_group(campaign: Campaign, *, code: str, label: str, weight: float, quota: int | None) -> CampaignGroup:
    ensure_editable(campaign)
    group = _organisation_record(EvaluatorGroup, code, label, {cg.group_id for cg in campaign.groups},
                                 new=_("评议主体 %(code)s 是新的，请填写名称", code=code),
                                 present=_("评议主体 %(code)s 已在本次评议中", code=code))
    cg = CampaignGroup(group=group, label=label or group.label, weight=weight, quota=quota,
                       position=_next_position(campaign.groups))
    campaign.groups.append(cg)
    db.session.flush()
    return cg


def update_group(campaign: Campaign, cg: CampaignGroup, *, label: str, weight: float, quota: int | None) -> None:
    # Weights and quotas change the scores and the plan, never a ballot: allowed while open.
    ensure_editable(campaign)
    cg.label, cg.weight, cg.quota = label or cg.label, weight, quota


def remove_group(campaign: Campaign, cg: CampaignGroup) -> None:
    ensure_editable(campaign, alters_ballots=True)
    if db.session.scalar(select(func.count(Batch.id)).where(Batch.campaign_group_id == cg.id)):
        raise SetupRefused(_("评议主体“%(label)s”已有发放批次，不能删除", label=cg.label))
    campaign.groups.remove(cg)


def normalised_weights(campaign: Campaign) -> dict[int, float]:
    total = sum(g.weight for g in campaign.groups)
    return {g.id: g.weight / total for g in campaign.groups} if total > 0 else {}


def rated_units(cg: CampaignGroup) -> set[int]:
    """The campaign-unit ids the group rates (all units where the table has no rows)."""
    ids = set(db.session.scalars(select(GroupUnit.campaign_unit_id).where(GroupUnit.campaign_group_id == cg.id)))
    return ids or {u.id for u in cg.campaign.units}


def rates_all_units(cg: CampaignGroup) -> bool:
    return not db.session.scalar(select(func.count(GroupUnit.id)).where(GroupUnit.campaign_group_id == cg.id))


def set_rated_units(campaign: Campaign, cg: CampaignGroup, unit_ids: set[int]) -> None:
    ensure_editable(campaign)
    all_ids = {u.id for u in campaign.units}
    unknown = unit_ids - all_ids
    if unknown:
        raise SetupRefused(_("未知单位：%(ids)s", ids=", ".join(map(str, sorted(unknown)))))
    if not unit_ids:
        raise SetupRefused(_("评议主体“%(label)s”至少要评议一个单位", label=cg.label))
    if rated_units(cg) - unit_ids:
        # Ballots already in may rate the units dropped here.
        ensure_editable(campaign, alters_ballots=True)
    db.session.execute(delete(GroupUnit).where(GroupUnit.campaign_group_id == cg.id))
    if unit_ids != all_ids:
        db.session.add_all(GroupUnit(campaign_group_id=cg.id, campaign_unit_id=u) for u in sorted(unit_ids))


# --- questionnaire: items and the answer scale -----------------------------------


def add_item(campaign: Campaign, *, code: str, label: str, weight: float, label_en: str = "") -> Item:
    ensure_editable(campaign)
    if any(i.code == code for i in campaign.items):
        raise SetupRefused(_("评议指标代码 %(code)s 已存在", code=code))
    item = Item(code=code, label=label, label_en=label_en or None, weight=weight,
                position=_next_position(campaign.items))
    campaign.items.append(item)
    db.session.flush()
    return item


def update_item(campaign: Campaign, item: Item, *, label: str, weight: float, label_en: str | None = None) -> None:
    """``label_en``: the English label ("" clears it; None keeps it)."""
    ensure_editable(campaign)
    item.label, item.weight = label, weight
    if label_en is not None:
        item.label_en = label_en or None


def remove_item(campaign: Campaign, item: Item) -> None:
    ensure_editable(campaign, alters_ballots=True)
    if campaign.rules.get("overall_item") == item.code:
        raise SetupRefused(_("计分规则把“%(label)s”作为总体评价指标，请先修改计分规则", label=item.label))
    campaign.items.remove(item)


def add_option(campaign: Campaign, *, code: str, label: str, points: float | None,
               label_en: str = "") -> ScaleOption:
    ensure_editable(campaign, alters_ballots=True)
    if any(o.code == code for o in campaign.scale):
        raise SetupRefused(_("选项代码 %(code)s 已存在", code=code))
    option = ScaleOption(code=code, label=label, label_en=label_en or None, points=points,
                         position=_next_position(campaign.scale))
    campaign.scale.append(option)
    db.session.flush()
    return option


def update_option(campaign: Campaign, option: ScaleOption, *, label: str, points: float | None,
                  label_en: str | None = None) -> None:
    """``label_en``: the English label ("" clears it; None keeps it)."""
    ensure_editable(campaign)
    if points != option.points:
        ensure_editable(campaign, alters_ballots=True)
    option.label, option.points = label, points
    if label_en is not None:
        option.label_en = label_en or None


def remove_option(campaign: Campaign, option: ScaleOption) -> None:
    ensure_editable(campaign, alters_ballots=True)
    campaign.scale.remove(option)


# --- scoring rules (SCORING.md section 8) -------------------------------------------


def rules_problems(campaign: Campaign, rules: dict[str, Any]) -> list[tuple[str, str]]:
    """(rule key, reason) for every problem the scoring itself would refuse."""
    try:
        effective_rules(None, rules, {item.code: k for k, item in enumerate(campaign.items)})
    except BundleError as exc:
        return [(p.path.removeprefix("rules.").split(".")[0].split("[")[0], p.reason) for p in exc.problems]
    return []


def set_rules(campaign: Campaign, rules: dict[str, Any]) -> None:
    """Store the rules that differ from SCORING.md's defaults, in the defaults' order."""
    ensure_editable(campaign)
    problems = rules_problems(campaign, rules)
    if problems:
        raise SetupRefused("；".join(reason for _key, reason in problems))
    stored = {}
    for key, default in DEFAULT_RULES.items():
        if key in rules and rules[key] != default:
            stored[key] = rules[key]
    campaign.rules = stored


def current_rules(campaign: Campaign) -> dict[str, Any]:
    return effective_rules(campaign.rules or None)


# --- copying last year's ---------------------------------------------------------------


def previous_campaign(year: int) -> Campaign | None:
    """The latest campaign of an earlier year (the one to copy from by default)."""
    return db.session.scalar(
        select(Campaign).where(Campaign.year < year).order_by(Campaign.year.desc(), Campaign.id.desc()).limit(1))


def copy_campaign(source: Campaign, *, code: str, name: str, year: int,
                  opens_at: dt.datetime | None = None, closes_at: dt.datetime | None = None) -> Campaign:
    """A new draft with the source's categories, units, groups (weights, quotas, margins
    with their questions, sources and fallbacks), items, scale, rated units, rules and
    the k of its k rule; never its batches, invitations or ballots."""
    campaign = create_campaign(code=code, name=name, year=year, anonymous=source.anonymous,
                               return_target=source.return_target, opens_at=opens_at, closes_at=closes_at)
    campaign.rules = dict(source.rules or {})
    campaign.attribute_k = source.attribute_k
    campaign.scale = [ScaleOption(position=o.position, code=o.code, label=o.label, label_en=o.label_en,
                                  points=o.points) for o in source.scale]
    campaign.items = [Item(position=i.position, code=i.code, label=i.label, label_en=i.label_en, weight=i.weight)
                      for i in source.items]
    cats = {cc.id: CampaignCategory(category_id=cc.category_id, position=cc.position, label=cc.label,
                                    label_en=cc.label_en) for cc in source.categories}
    campaign.categories = list(cats.values())
    units = {cu.id: CampaignUnit(unit_id=cu.unit_id, name=cu.unit.name, name_en=cu.name_en, position=cu.position,
                                 category=cats[cu.campaign_category_id]) for cu in source.units}
    campaign.units = list(units.values())
    groups = {}
    for cg in source.groups:
        groups[cg.id] = CampaignGroup(
            group_id=cg.group_id, position=cg.position, label=cg.label, weight=cg.weight, quota=cg.quota,
            margins=[MarginTarget(variable_position=m.variable_position, variable=m.variable,
                                  position=m.position, category=m.category, proportion=m.proportion)
                     for m in cg.margins],
            margin_variables=[MarginVariable(position=v.position, variable=v.variable, label=v.label,
                                             label_en=v.label_en, source=v.source, fallback=v.fallback,
                                             supply=v.supply) for v in cg.margin_variables])
    campaign.groups = list(groups.values())
    db.session.flush()
    for row in db.session.scalars(select(GroupUnit).join(CampaignGroup).where(CampaignGroup.campaign_id == source.id)):
        db.session.add(GroupUnit(campaign_group_id=groups[row.campaign_group_id].id,
                                 campaign_unit_id=units[row.campaign_unit_id].id))
    db.session.flush()
    return campaign
