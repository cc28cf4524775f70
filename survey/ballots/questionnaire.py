"""The questionnaire, once for every path: what a group's form asks (units,
items, scale), the names of its fields, the one parser of a posted ballot,
and the campaign's rules for a ballot (the 不满意 cap, required comments).

The personal link's fast path, the full form (WTForms, built from this
model in forms.py), drafts and paper entry all read a ballot through
``parse_ballot`` and judge it with ``check_ballot``.

A group raked on variables asked on the form (MarginVariable.supply
"question") has one margin question per variable, its categories as the
options; every channel requires its answer, which becomes the ballot's
attribute (``attributes_of``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from flask_babel import gettext as _
from sqlalchemy import Float, Integer, String, bindparam, cast, literal, null, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import CompoundSelect

from survey.ballots.i18n import label_of
from survey.caches import Cache
from survey.models import (
    BatchUnit,
    Campaign,
    CampaignUnit,
    GroupUnit,
    Item,
    MarginTarget,
    MarginVariable,
    ScaleOption,
)
from survey.tokens import normalise_receipt

#: answers[campaign_unit_id][item_id] = scale_option_id
AnswerMap = dict[int, dict[int, int]]

# --- the field names of a ballot ---

ANSWER_NAME = re.compile(r"^a_(\d+)_(\d+)$")
COMMENT_NAME = re.compile(r"^c_(\d+)$")
MARGIN_NAME = re.compile(r"^m_(\d+)$")
COMMENT_MAX = 2000
#: Characters a comment may not hold (C0 controls but tab and newlines, DEL):
#: PostgreSQL's text refuses NUL, and none of them is anything an evaluator typed.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: WTForms' own message for a value not on the scale (forms.py translates it as WTForms does).
INVALID_CHOICE = "Not a valid choice."


def answer_field(unit_id: int, item_id: int) -> str:
    """The field of a campaign unit's answer to an item (forms, paper entry, the parser)."""
    return f"a_{unit_id}_{item_id}"


def comment_field(unit_id: int) -> str:
    return f"c_{unit_id}"


def margin_field(question_id: int) -> str:
    """The field of a margin question (its MarginVariable's id); the value is the chosen MarginTarget's id."""
    return f"m_{question_id}"


def unit_of_field(name: str) -> int | None:
    """The campaign unit an answer or comment field belongs to, else None."""
    match = ANSWER_NAME.match(name) or COMMENT_NAME.match(name)
    return int(match.group(1)) if match else None


# --- the model ---


class _Unit(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def unit_id(self) -> int: ...


U = TypeVar("U", bound=_Unit)


def units_on_form(units: Iterable[U], rated: Iterable[int], own_unit_id: int | None,
                  batch_units: Iterable[int] = ()) -> list[U]:
    """The units on a form: those the group rates (all, where the campaign
    names none for the group), restricted to the batch's units where the
    batch names some (a 现场测评 session's units, a window poster's one unit:
    ``batch_unit``), never the evaluator's own."""
    rated, batch_units = set(rated), set(batch_units)
    return [u for u in units if u.unit_id != own_unit_id and (not rated or u.id in rated)
            and (not batch_units or u.id in batch_units)]


@dataclass(frozen=True)
class UnitRow:
    id: int
    unit_id: int
    name: str
    name_en: str | None = None


@dataclass(frozen=True)
class ItemRow:
    id: int
    code: str
    label: str
    label_en: str | None = None
    #: What the item asks about, shown on the form (null: nothing).
    help: str | None = None
    help_en: str | None = None


@dataclass(frozen=True)
class OptionRow:
    id: int
    code: str
    label: str
    points: float | None
    position: int
    label_en: str | None = None


@dataclass(frozen=True)
class MarginOptionRow:
    id: int
    category: str

    @property
    def label(self) -> str:
        """A category reads as itself (it is the value the ballot stores)."""
        return self.category


@dataclass(frozen=True)
class MarginQuestionRow:
    """A raked variable asked on the form: its wording and its categories."""

    id: int
    variable: str
    label: str
    label_en: str | None
    options: tuple[MarginOptionRow, ...]


@dataclass(frozen=True)
class Questionnaire:
    """A campaign's questionnaire as one group sees it, before the evaluator's
    own unit is taken out (``on_form``)."""

    units: tuple[UnitRow, ...]
    items: tuple[ItemRow, ...]
    scale: tuple[OptionRow, ...]
    #: The campaign units the group rates (empty: all).
    rated: frozenset[int]
    #: The group's margin questions, in raking order (required on every channel).
    margins: tuple[MarginQuestionRow, ...] = ()
    #: The campaign units the batch's form is restricted to (empty: no restriction).
    batch_units: frozenset[int] = frozenset()
    #: The units the group rates.
    group_units: tuple[UnitRow, ...] = field(init=False)
    #: Posted value -> scale option id.
    option_ids: dict[str, int] = field(init=False, compare=False)
    #: answer_field() -> (campaign unit, item, unit) of the group's units.
    answer_fields: dict[str, tuple[int, int, int]] = field(init=False, compare=False)
    #: comment_field() -> the group's unit.
    comment_fields: dict[str, UnitRow] = field(init=False, compare=False)
    #: campaign unit -> unit, for the group's units.
    unit_of: dict[int, int] = field(init=False, compare=False)
    #: Every campaign unit (rated by the group or not).
    unit_ids: frozenset[int] = field(init=False, compare=False)
    #: margin_field() -> (question, posted value -> option).
    margin_fields: dict[str, tuple[MarginQuestionRow, dict[str, MarginOptionRow]]] = field(
        init=False, compare=False)

    def __post_init__(self) -> None:
        group_units = tuple(units_on_form(self.units, self.rated, None, self.batch_units))
        setter = object.__setattr__
        setter(self, "group_units", group_units)
        setter(self, "option_ids", {str(o.id): o.id for o in self.scale})
        setter(self, "answer_fields", {answer_field(u.id, i.id): (u.id, i.id, u.unit_id)
                                       for u in group_units for i in self.items})
        setter(self, "comment_fields", {comment_field(u.id): u for u in group_units})
        setter(self, "unit_of", {u.id: u.unit_id for u in group_units})
        setter(self, "unit_ids", frozenset(u.id for u in self.units))
        setter(self, "margin_fields", {margin_field(q.id): (q, {str(o.id): o for o in q.options})
                                       for q in self.margins})

    def on_form(self, own_unit_id: int | None) -> list[UnitRow]:
        """The units an evaluator whose own unit is ``own_unit_id`` rates."""
        return units_on_form(self.units, self.rated, own_unit_id, self.batch_units)


    def attributes_of(self, margin_answers: Mapping[int, int]) -> dict[str, str]:
        """The ballot's attributes from its margin answers (question id -> option id)."""
        out = {}
        for q in self.margins:
            chosen = margin_answers.get(q.id)
            option = next((o for o in q.options if o.id == chosen), None)
            if option is not None:
                out[q.variable] = option.category
        return out


def _structure_statement() -> CompoundSelect[Any]:
    cu, it, so, gu = (CampaignUnit.__table__, Item.__table__, ScaleOption.__table__,
                      GroupUnit.__table__)
    mv, mt, bu = MarginVariable.__table__, MarginTarget.__table__, BatchUnit.__table__
    no_int, no_text, no_real = cast(null(), Integer), cast(null(), String), cast(null(), Float)
    no_help = (no_text, no_text)  # an item's help and help_en; null in the other rows
    campaign_id: BindParameter[int] = bindparam("campaign_id")
    group_id: BindParameter[int] = bindparam("group_id")
    batch_id: BindParameter[int | None] = bindparam("batch_id")
    return union_all(
        select(literal("u"), cu.c.id, cu.c.unit_id, cu.c.name, no_text, no_real, cu.c.position, cu.c.name_en, *no_help)
        .where(cu.c.campaign_id == campaign_id),
        select(literal("i"), it.c.id, no_int, it.c.label, it.c.code, no_real, it.c.position, it.c.label_en,
               it.c.help, it.c.help_en)
        .where(it.c.campaign_id == campaign_id),
        select(literal("s"), so.c.id, no_int, so.c.label, so.c.code, so.c.points, so.c.position, so.c.label_en,
               *no_help)
        .where(so.c.campaign_id == campaign_id),
        select(literal("g"), gu.c.campaign_unit_id, no_int, no_text, no_text, no_real, literal(0), no_text,
               *no_help)
        .where(gu.c.campaign_group_id == group_id),
        # The group's margin questions and every category of its margins
        # (those of variables not asked are left out when building).
        select(literal("v"), mv.c.id, no_int, mv.c.label, mv.c.variable, no_real, mv.c.position, mv.c.label_en,
               *no_help)
        .where(mv.c.campaign_group_id == group_id, mv.c.supply == "question"),
        select(literal("t"), mt.c.id, no_int, mt.c.category, mt.c.variable, no_real, mt.c.position, no_text,
               *no_help)
        .where(mt.c.campaign_group_id == group_id),
        # The batch's units, where its form is restricted (none for batch_id None).
        select(literal("b"), bu.c.campaign_unit_id, no_int, no_text, no_text, no_real, literal(0), no_text,
               *no_help)
        .where(bu.c.batch_id == batch_id),
    )


_STRUCTURE = _structure_statement()
#: Questionnaires by the rows they are built from.
_QUESTIONNAIRES: Cache[tuple[Any, ...], Questionnaire] = Cache("ballots.questionnaires", 256)


def load_questionnaire(connection: Connection, campaign_id: int, group_id: int,
                       batch_id: int | None = None) -> Questionnaire:
    """The campaign's units, items, scale, the units a group rates and those
    a batch's form is restricted to, in one query.

    The rows are read on every call, so an edit of the campaign is seen by
    the next request; only what is built from them is kept per process,
    keyed by the rows themselves (any change of a label, a position, a unit
    or a rated unit makes a new one).
    """
    rows = tuple(tuple(r) for r in connection.execute(
        _STRUCTURE, {"campaign_id": campaign_id, "group_id": group_id, "batch_id": batch_id}))
    built = _QUESTIONNAIRES.get(rows)
    if built is not None:
        return built
    by_kind: dict[str, list[tuple[Any, ...]]] = {"u": [], "i": [], "s": [], "g": [], "v": [], "t": [], "b": []}
    for row in sorted(rows, key=lambda r: (r[0], r[6], r[1])):
        by_kind[row[0]].append(row)
    categories: dict[str, list[MarginOptionRow]] = {}
    for r in by_kind["t"]:
        categories.setdefault(r[4], []).append(MarginOptionRow(r[1], r[3]))
    return _QUESTIONNAIRES.put(rows, Questionnaire(
        units=tuple(UnitRow(r[1], r[2], r[3], r[7]) for r in by_kind["u"]),
        items=tuple(ItemRow(r[1], r[4], r[3], r[7], r[8], r[9]) for r in by_kind["i"]),
        scale=tuple(OptionRow(r[1], r[4], r[3], r[5], r[6], r[7]) for r in by_kind["s"]),
        rated=frozenset(r[1] for r in by_kind["g"]),
        margins=tuple(MarginQuestionRow(r[1], r[4], r[3], r[7], tuple(categories.get(r[4], ())))
                      for r in by_kind["v"]),
        batch_units=frozenset(r[1] for r in by_kind["b"]),
    ))


# --- the one parser ---


@dataclass
class ParsedBallot:
    """A posted ballot, read against the questionnaire."""

    answers: AnswerMap
    comments: dict[int, str]
    #: Campaign units answered in the request although not on the form (the evaluator's own).
    foreign_unit_ids: set[int]
    #: Field name -> why its value is not taken (a value off the scale, a comment too long).
    errors: dict[str, str]
    #: Some field was posted more than once (its first value is read).
    repeated: bool
    #: The receipt code, normalised; None where it is not one.
    receipt: str | None
    #: The signed start time, as posted.
    started: str | None
    #: Names shaped like answer or comment fields that no form of this
    #: questionnaire has (another campaign's unit or item, "a_01_2"…).
    unknown: list[str] = field(default_factory=list)
    #: The margin questions answered: question id -> option (MarginTarget) id.
    margin_answers: dict[int, int] = field(default_factory=dict)

    @property
    def malformed(self) -> bool:
        """Whether the request is not what any form of this questionnaire
        posts (unknown fields, a field twice): refused, never guessed at."""
        return bool(self.unknown) or self.repeated


def parse_ballot(questionnaire: Questionnaire, form: Any, own_unit_id: int | None) -> ParsedBallot:
    """Read the answers, comments and margin answers of a posted form (a
    werkzeug MultiDict): the fields of the units on the form
    (``questionnaire.on_form(own_unit_id)``) and of the group's margin
    questions; fields of other units are reported, other names ignored."""
    option_ids, unit_of = questionnaire.option_ids, questionnaire.unit_of
    margin_fields = questionnaire.margin_fields
    margin_answers: dict[int, int] = {}
    answer_fields, comment_fields = questionnaire.answer_fields, questionnaire.comment_fields
    answers: AnswerMap = {}
    comments: dict[int, str] = {}
    foreign: set[int] = set()
    errors: dict[str, str] = {}
    unknown: list[str] = []
    all_units = questionnaire.unit_ids
    repeated = False
    for name, values in form.lists():
        if len(values) != 1:
            repeated = True
        value = values[0] if values else ""
        answer = answer_fields.get(name)
        if answer is not None:
            unit_id, item_id, unit = answer
            if unit == own_unit_id:
                foreign.add(unit_id)
            elif value:
                option = option_ids.get(value)
                if option is None:
                    errors[name] = INVALID_CHOICE
                else:
                    answers.setdefault(unit_id, {})[item_id] = option
            continue
        row = comment_fields.get(name)
        if row is not None:
            if row.unit_id == own_unit_id:
                foreign.add(row.id)
            elif len(value) > COMMENT_MAX:
                errors[name] = _("对“%(unit)s”的意见建议最多 %(max)d 字", unit=label_of(row), max=COMMENT_MAX)
            elif CONTROL_CHARACTERS.search(value):
                errors[name] = _("对“%(unit)s”的意见建议中有无法保存的控制字符，请删除后再提交。", unit=label_of(row))
            elif value.strip():
                comments[row.id] = value.strip()
            continue
        margin = margin_fields.get(name)
        if margin is not None:
            question, options = margin
            if value:
                chosen = options.get(value)
                if chosen is None:
                    errors[name] = INVALID_CHOICE
                else:
                    margin_answers[question.id] = chosen.id
            continue
        if MARGIN_NAME.match(name):
            unknown.append(name)  # no such question on this group's form
            continue
        other = unit_of_field(name)
        if other is None:
            continue
        if other in all_units and (other not in unit_of or unit_of[other] == own_unit_id):
            foreign.add(other)  # a unit of the campaign, not on this form
        else:
            unknown.append(name)  # no such unit or item in this questionnaire
    return ParsedBallot(answers, comments, foreign, errors, repeated,
                        normalise_receipt(form.get("receipt") or ""), form.get("started"), unknown,
                        margin_answers)


# --- the campaign's rules ---


@dataclass(frozen=True)
class Rules:
    """What the campaign asks of each ballot."""

    max_dissatisfied_share: float | None
    comment_required_for_dissatisfied: bool
    #: The item the 不满意 cap counts (its code); None: the first.
    overall_item_code: str | None
    #: A unit may be left unanswered (no item answered: stored as no answer).
    allow_unanswered: bool = False

    @classmethod
    def of(cls, campaign: Campaign) -> Rules:
        return cls.from_columns(campaign.max_dissatisfied_share_per_ballot,
                                campaign.comment_required_for_dissatisfied, campaign.rules,
                                campaign.allow_unanswered)

    @classmethod
    def from_columns(cls, share: float | None, comment_required: bool | None,
                     rules: dict[str, Any] | None, allow_unanswered: bool | None = False) -> Rules:
        """From the campaign's columns of the same names (eligibility.find_link reads them as a row)."""
        return cls(share, bool(comment_required), (rules or {}).get("overall_item"), bool(allow_unanswered))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a ballot, in words for the evaluator."""

    message: str
    #: The campaign unit it concerns (the page links to it); None for the ballot as a whole.
    unit_id: int | None = None
    #: The margin question it concerns (the page links to it), if any.
    question_id: int | None = None


class _Option(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def label(self) -> str: ...
    @property
    def points(self) -> float | None: ...
    @property
    def position(self) -> int: ...


class _HasScale(Protocol):
    @property
    def scale(self) -> Sequence[_Option]: ...


def dissatisfied_option(questionnaire: _HasScale) -> _Option | None:
    """不满意: the scale's lowest-scored option (None for a scale with fewer than
    two scored options, where no option is the bad end)."""
    scored = [o for o in questionnaire.scale if o.points is not None]
    if len(scored) < 2:
        return None
    return min(scored, key=lambda o: (o.points or 0.0, o.position))


def overall_item(questionnaire: Questionnaire, rules: Rules) -> ItemRow:
    """The item the 不满意 cap counts: rules.overall_item, else the first."""
    items = questionnaire.items
    return next((i for i in items if i.code == rules.overall_item_code), items[0])


def dissatisfied_cap(rules: Rules, n_units: int) -> int | None:
    share = rules.max_dissatisfied_share
    if share is None:
        return None
    # A small tolerance so that 0.6 × 5 counts as 3, not 2.999….
    return int(share * n_units + 1e-9)


def missing_margins(questionnaire: Questionnaire, margin_answers: Mapping[int, int]) -> list[Problem]:
    """The margin questions not answered (every channel requires them: paper entry too)."""
    return [Problem(_("请回答“%(question)s”（必答：用于按总体结构加权）", question=label_of(q)), None, q.id)
            for q in questionnaire.margins if q.id not in margin_answers]


def check_ballot(questionnaire: Questionnaire, rules: Rules, units: Sequence[UnitRow], answers: AnswerMap,
                 comments: Mapping[int, str], *, margin_answers: Mapping[int, int], complete: bool = True,
                 foreign_unit_ids: Iterable[int] = ()) -> list[Problem]:
    """Every reason the ballot may not be taken, in the order of the form.

    ``margin_answers``: the margin questions answered (ParsedBallot.margin_answers);
    ``foreign_unit_ids`` are campaign units the request answered although they
    are not on this evaluator's form (their own unit).
    """
    problems: list[Problem] = []
    if complete:
        problems.extend(missing_margins(questionnaire, margin_answers))
    by_id = {u.id: u for u in questionnaire.units}
    for unit_id in sorted(set(foreign_unit_ids)):
        unit = by_id.get(unit_id)
        if unit is not None:
            problems.append(Problem(_("您不能评议本单位“%(unit)s”：评议代表不对自己所在单位打分。",
                                      unit=label_of(unit)), None))
    items = questionnaire.items
    if complete:
        for unit in units:
            if rules.allow_unanswered and not answers.get(unit.id):
                continue  # left unanswered as a whole: allowed, stored as no answer
            for item in items:
                if item.id not in answers.get(unit.id, {}):
                    problems.append(Problem(_("请为“%(unit)s”的“%(item)s”选择一项",
                                              unit=label_of(unit), item=label_of(item)), unit.id))
    worst = dissatisfied_option(questionnaire)
    if worst is not None:
        if rules.comment_required_for_dissatisfied:
            for unit in units:
                if worst.id in answers.get(unit.id, {}).values() and not comments.get(unit.id, "").strip():
                    problems.append(Problem(_("您对“%(unit)s”选择了“%(option)s”，请在该单位的意见建议栏写明原因。",
                                              unit=label_of(unit), option=label_of(worst)), unit.id))
        # The cap counts the units on the form, answered or not (docs/sessions.md).
        cap = dissatisfied_cap(rules, len(units))
        if cap is not None:
            overall = overall_item(questionnaire, rules)
            marked = [u for u in units if answers.get(u.id, {}).get(overall.id) == worst.id]
            if len(marked) > cap:
                problems.append(Problem(_(
                    "您对 %(n)d 个单位的“%(item)s”选择了“%(option)s”，本次评议每票最多 %(cap)d 个（不超过参评单位的 %(pct)s%%）。请修改后再提交。",  # noqa: E501 (one literal for the catalogue)
                    n=len(marked), item=label_of(overall), option=label_of(worst), cap=cap,
                    pct=f"{(rules.max_dissatisfied_share or 0) * 100:g}"), None))
    return problems


def count_answered(units: Iterable[_Unit], items: Iterable[ItemRow], answers: AnswerMap) -> int:
    """Units whose every item has an answer (what the progress indicator shows)."""
    item_ids = [i.id for i in items]
    return sum(1 for u in units if all(i in answers.get(u.id, {}) for i in item_ids))
