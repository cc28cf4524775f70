"""Setting a campaign up: its units, groups, questionnaire and rules, copying last
year's, and moving it from draft to open to closed, with the edits each status allows."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, Update, bindparam, delete, func, select, update

from analysis import DEFAULT_RULES, BundleError, effective_rules, validate_bundle
from survey import audit, webhooks
from survey.ballots import test_ballots
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
    MessageTemplate,
    OutcomeSettings,
    RoundComponent,
    ScaleOption,
    Unit,
)
from survey.models.lifecycle import ORGANIZER_TARGETS, Status, label, where_annual, where_open, where_round


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
                    opens_at: dt.datetime | None, closes_at: dt.datetime | None, is_test: bool = False) -> Campaign:
    if find_campaign(code) is not None:
        raise SetupRefused(_("评议活动代码 %(code)s 已存在", code=code))
    campaign = Campaign(code=code, name=name, year=year, anonymous=anonymous, status=Status.DRAFT.value,
                        return_target=return_target, opens_at=opens_at, closes_at=closes_at, rules={},
                        is_test=is_test)
    db.session.add(campaign)
    db.session.flush()
    return campaign


def update_campaign(campaign: Campaign, *, name: str, year: int, anonymous: bool, return_target: float,
                    opens_at: dt.datetime | None, closes_at: dt.datetime | None,
                    allow_unanswered: bool | None = None) -> None:
    ensure_editable(campaign)
    if allow_unanswered is not None:
        campaign.allow_unanswered = allow_unanswered
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
    state.require_not_archived()
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
        test_ballots.purge(campaign)  # 开始评议 purges the preview's test ballots
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
        audit.record("campaign.close_due", f"campaign:{campaign.code}", None,
                     {"状态": campaign.state.label, "closes_at": campaign.closes_at}, system=True)
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


#: The columns of a pasted or imported list of units, in order (英文名称 optional).
BULK_COLUMNS = ("类别", "单位代码", "单位名称", "英文名称")
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class BulkRefused(SetupRefused):
    """A list of units with problems: every problem (row, column, reason); nothing was added."""

    def __init__(self, source: str, problems: list[tuple[int, str, str]]) -> None:
        super().__init__(_("“%(source)s”有 %(n)d 处问题，没有添加任何类别或单位", source=source, n=len(problems)))
        self.source, self.problems = source, problems


def pasted_table(text: str) -> list[list[str]]:
    """The lines of a pasted list as cells: split at tabs (copied from a spreadsheet),
    else at commas (also ，), else at runs of spaces."""
    table = []
    for line in text.splitlines():
        if "\t" in line:
            cells = line.split("\t")
        elif "," in line or "，" in line:
            cells = line.replace("，", ",").split(",")
        else:
            cells = line.split()
        table.append([c.strip() for c in cells])
    return table


def bulk_units(campaign: Campaign, source: str, table: list[list[str]]) -> tuple[list[CampaignCategory], int]:
    """Add the categories and units of a list (rows of 类别, 单位代码, 单位名称,
    英文名称, or of a 类别 alone; a first row naming the columns is skipped), all or nothing.

    A 类别 is one of the campaign's categories (by code or name), else a known
    category record (by code or name), else a new category: its code is the
    text where that is a valid code, else c1, c2 … (the name is the text).
    A 单位代码 of a known unit may leave the name empty. Returns the new
    categories and the number of units added; raises BulkRefused with every
    problem (row as numbered in the list or file, column, reason)."""
    ensure_editable(campaign)
    rows = [(n, r) for n, r in enumerate(table, start=1) if any(c.strip() for c in r)]
    if rows and rows[0][1] and rows[0][1][0].strip() in ("类别", "类别名称", "单位类别", "category"):
        rows = rows[1:]
    problems: list[tuple[int, str, str]] = []
    if not rows:
        raise BulkRefused(source, [(1, "", _("没有任何类别或单位：每行填写“类别、单位代码、单位名称”，或只填类别"))])
    in_campaign = {c.code: c for c in campaign.categories} | {c.label: c for c in campaign.categories}
    records = {c.code: c for c in db.session.scalars(select(Category))}
    records_by_label = {c.label: c for c in records.values()}
    known_units = {u.code: u for u in db.session.scalars(select(Unit))}
    taken_units = {cu.unit_id for cu in campaign.units}
    seen: dict[str, int] = {}
    plan: list[tuple[str, str, str, str]] = []  # category text, unit code, name, English name
    for number, cells in rows:
        cells = [*cells, "", "", "", ""][:max(4, len(cells))]
        category, code, name, name_en = (c.strip() for c in cells[:4])
        before = len(problems)
        if category and not code and not name and not name_en and len(category) <= 200:
            plan.append((category, "", "", ""))  # a category alone
            continue
        if len(cells) > 4 and any(c.strip() for c in cells[4:]):
            problems.append((number, "", _("多出的列：每行只填类别、单位代码、单位名称和英文名称（可空）")))
        if not category:
            problems.append((number, BULK_COLUMNS[0], _("缺少类别")))
        elif len(category) > 200:
            problems.append((number, BULK_COLUMNS[0], _("类别过长（最多 200 字）")))
        if not code:
            problems.append((number, BULK_COLUMNS[1], _("缺少单位代码")))
        elif not _CODE.match(code):
            problems.append((number, BULK_COLUMNS[1], _("单位代码“%(v)s”只能由字母、数字、- 和 _ 组成（最多 64 个）", v=code)))
        elif code in seen:
            problems.append((number, BULK_COLUMNS[1], _("单位代码 %(v)s 与第 %(n)d 行重复", v=code, n=seen[code])))
        elif code in known_units and known_units[code].id in taken_units:
            problems.append((number, BULK_COLUMNS[1], _("单位 %(v)s 已在本次评议中", v=code)))
        elif code not in known_units and not name:
            problems.append((number, BULK_COLUMNS[2], _("单位 %(v)s 是新单位，请填写名称", v=code)))
        if len(name) > 200:
            problems.append((number, BULK_COLUMNS[2], _("单位名称过长（最多 200 字）")))
        if len(name_en) > 200:
            problems.append((number, BULK_COLUMNS[3], _("英文名称过长（最多 200 字）")))
        if code:
            seen.setdefault(code, number)
        if len(problems) == before:
            plan.append((category, code, name, name_en))
    if problems:
        raise BulkRefused(source, problems)
    added: list[CampaignCategory] = []
    auto = 1
    for category, code, name, name_en in plan:
        cc = in_campaign.get(category)
        if cc is None:
            record = records.get(category) or records_by_label.get(category)
            if record is not None:
                cc = add_category(campaign, code=record.code, label=record.label if record.label == category else "")
            else:
                new_code = category if _CODE.match(category) else None
                while new_code is None or new_code in records:
                    new_code, auto = f"c{auto}", auto + 1
                cc = add_category(campaign, code=new_code, label=category)
                records[new_code] = cc.category
            in_campaign[category] = in_campaign[cc.code] = cc
            added.append(cc)
        if code:
            add_unit(campaign, category=cc, code=code, name=name, name_en=name_en)
    return added, sum(1 for _category, code, _name, _en in plan if code)


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


def add_item(campaign: Campaign, *, code: str, label: str, weight: float, label_en: str = "", help: str = "",
             help_en: str = "") -> Item:
    ensure_editable(campaign)
    if any(i.code == code for i in campaign.items):
        raise SetupRefused(_("评议指标代码 %(code)s 已存在", code=code))
    item = Item(code=code, label=label, label_en=label_en or None, weight=weight, help=help or None,
                help_en=help_en or None, position=_next_position(campaign.items))
    campaign.items.append(item)
    db.session.flush()
    return item


def update_item(campaign: Campaign, item: Item, *, label: str, weight: float, label_en: str | None = None,
                help: str | None = None, help_en: str | None = None) -> None:
    """``label_en``, ``help``, ``help_en``: the English label and the help texts ("" clears one; None keeps it)."""
    ensure_editable(campaign)
    item.label, item.weight = label, weight
    if label_en is not None:
        item.label_en = label_en or None
    if help is not None:
        item.help = help or None
    if help_en is not None:
        item.help_en = help_en or None


def move_row(campaign: Campaign, rows: list[Any], row: Any, step: int) -> bool:
    """Move an item or an option one place up (step -1) or down (+1) on the form;
    False where it is first or last already. Only while the campaign is a draft:
    the first item is the default 总体评价 and printed forms keep their order."""
    ensure_editable(campaign, alters_ballots=True)
    ordered = sorted(rows, key=lambda r: (r.position, r.id))
    index = ordered.index(row)
    other = index + step
    if not 0 <= other < len(ordered):
        return False
    ordered[index], ordered[other] = ordered[other], ordered[index]
    for position, r in enumerate(ordered):
        r.position = position
    db.session.flush()
    return True


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
    """The latest real annual campaign of an earlier year (never a demo, test,
    archived one or a 平时考核 round)."""
    return db.session.scalar(_real_campaigns().where(Campaign.year < year).limit(1))


def _real_campaigns(round_: bool = False) -> Select[Campaign]:
    kind = where_round(Campaign.kind) if round_ else where_annual(Campaign.kind)
    return (select(Campaign).where(Campaign.is_test.is_(False), Campaign.is_demo.is_(False),
                                   Campaign.archived_at.is_(None), kind)
            .order_by(Campaign.year.desc(), Campaign.id.desc()))


def copy_sources(round_: bool = False) -> tuple[list[Campaign], Campaign | None]:
    """The campaigns a new one may copy from (archived ones left out), and the
    default: the latest real campaign of the same kind (an annual campaign's last
    year's campaign, a round's latest round), never a demo or test campaign
    (None: start blank)."""
    sources = list(db.session.scalars(select(Campaign).where(Campaign.archived_at.is_(None))
                                      .order_by(Campaign.year.desc(), Campaign.code)))
    return sources, db.session.scalar(_real_campaigns(round_).limit(1))


# --- test campaigns: archived or deleted before they open ------------------------------


def archive_campaign(campaign: Campaign) -> None:
    """Hide a test campaign that never opened from the lists (the caller commits)."""
    campaign.state.archive()


def restore_campaign(campaign: Campaign) -> None:
    campaign.state.restore()


def delete_campaign(campaign: Campaign) -> str:
    """Delete a test campaign that never opened, with everything of it (its
    roster, batches, invitations, drafts: the database cascades); returns its name."""
    campaign.state.require_discardable()
    name, campaign_id = campaign.name, campaign.id
    db.session.expunge(campaign)
    db.session.execute(delete(Campaign).where(Campaign.id == campaign_id))
    return name


def copy_campaign(source: Campaign, *, code: str, name: str, year: int,
                  opens_at: dt.datetime | None = None, closes_at: dt.datetime | None = None) -> Campaign:
    """A new draft with the source's categories, units, groups (weights, quotas, margins
    with their questions, sources and fallbacks), items, scale, rated units, rules and
    the k of its k rule, its own message texts and the committee's standing settings (minimum
    group size, consequence rules, what the public page shows and how to appeal — never dates,
    the quorum or a publication); never its batches, invitations or ballots."""
    campaign = create_campaign(code=code, name=name, year=year, anonymous=source.anonymous,
                               return_target=source.return_target, opens_at=opens_at, closes_at=closes_at)
    campaign.rules = dict(source.rules or {})
    campaign.attribute_k = source.attribute_k
    campaign.scale = [ScaleOption(position=o.position, code=o.code, label=o.label, label_en=o.label_en,
                                  points=o.points) for o in source.scale]
    campaign.items = [Item(position=i.position, code=i.code, label=i.label, label_en=i.label_en, weight=i.weight,
                           help=i.help, help_en=i.help_en) for i in source.items]
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
    for text in db.session.scalars(select(MessageTemplate).where(MessageTemplate.campaign_id == source.id)):
        db.session.add(MessageTemplate(campaign_id=campaign.id, kind=text.kind, channel=text.channel,
                                       subject=text.subject, body=text.body))
    pingshi = db.session.scalar(select(RoundComponent).where(RoundComponent.campaign_id == source.id))
    if pingshi is not None:  # the 平时 component (docs/rounds.md); never the rounds' composites
        db.session.add(RoundComponent(campaign_id=campaign.id, code=pingshi.code, label=pingshi.label))
    old = db.session.scalar(select(OutcomeSettings).where(OutcomeSettings.campaign_id == source.id))
    if old is not None:
        db.session.add(OutcomeSettings(
            campaign_id=campaign.id, min_group_ballots=old.min_group_ballots, consequences=dict(old.consequences or {}),
            public=old.public, public_scores=old.public_scores, public_office=old.public_office,
            public_contact=old.public_contact, appeal_how=old.appeal_how))
    db.session.flush()
    return campaign
