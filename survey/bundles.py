"""The one bridge between the database and the campaign bundle
(pingyi-campaign/1, SCORING.md section 1; docs/scoring.md): export builds the
document from the database, import loads a validated document into it,
:func:`bundle_campaign` reads ballots in chunks into analysis arrays while it
writes the bundle text (the results and finalization: the columnar path),
and :func:`campaign_arrays` reads them straight into arrays for the flags of
the board and the exports (the only places where database rows become
analysis arrays)."""
from __future__ import annotations

import datetime as dt
import json
import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Row, case, func, insert, select
from sqlalchemy.exc import DataError, IntegrityError

from analysis import BundleError, BundleProblem, from_records, loads_bundle, network_of
from analysis import Campaign as ArrayCampaign
from survey.clock import from_beijing, to_beijing
from survey.extensions import db
from survey.models import (
    Answer,
    Ballot,
    Batch,
    BatchUnit,
    Campaign,
    CampaignCategory,
    CampaignGroup,
    CampaignUnit,
    Category,
    DeductionRule,
    EvaluatorGroup,
    FieldSession,
    Item,
    MarginTarget,
    MarginVariable,
    ObjectiveScore,
    OutcomeSettings,
    RegisterComponent,
    RoundComponent,
    RoundScore,
    ScaleOption,
    SessionBatch,
    SessionUnit,
    SupervisionCase,
    Unit,
    Veto,
)
from survey.models.campaign import ATTRIBUTE_K_DEFAULT, ATTRIBUTE_K_MIN, KIND_ROUND, MARGIN_SUPPLIES
from survey.models.register import CASE_KINDS, VERDICTS
from survey.register.services import case_deductions, components_of, counted_cases, derived_values
from survey.rounds.services import component_of as rollup_component
from survey.rounds.services import rollup_values
from survey.rounds.services import scores_of as rollup_scores

FORMAT = "pingyi-campaign/1"


# --- the application's limits ----------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """What the application accepts for one field of a bundle (and keeps in the database).

    SCORING.md accepts any string and any number; the application does not:
    its pages, exports and database columns have bounds. A field is refused
    (with its JSON path, in Chinese and English) where its value breaks any
    bound below. Values of the wrong type are left to the analysis'
    validation, which reports them.

    Attributes
    ----------
    zh : str
        What the field is, for the Chinese message.
    max_len : int, optional
        At most this many characters (strings).
    code : bool
        A code: ``^[A-Za-z0-9_-]{1,max_len}$`` (it appears in URLs, file
        names and spreadsheets).
    multiline : bool
        Text where line breaks and tabs are allowed; every other control
        character (NUL …) is refused in every string.
    low, high : float, optional
        Numeric range, bounds included unless `low_open`.
    low_open : bool
        The low bound itself is refused (weights: 0 < w).
    integer : bool
        A whole number.
    years : bool
        An ISO 8601 instant whose year is within :data:`YEARS`.
    """

    zh: str
    max_len: int | None = None
    code: bool = False
    multiline: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    integer: bool = False
    years: bool = False


#: Years the application handles (campaign years, ballot times, opening and closing times).
YEARS = (2000, 2100)
NAME_MAX = 200
TEXT_MAX = 2000
CODE_MAX = 64
ISSUED_MAX = 10_000_000
WEIGHT_MAX = 1000.0
#: The longest 现场测评 session code (its batches' codes add "-<k>" within 24 characters) and the
#: largest attendance expected of one group at one session (survey/sessions/services.py).
SESSION_CODE_MAX = 20
SESSION_EXPECTED_MAX = 100_000

#: The one table of the application's limits, per bundle field (``[]`` for every record of a list,
#: ``*`` for every key of an object). Kept consistent with the setup forms
#: (survey/campaigns/forms.py, survey/distribution/forms.py) and the database's columns and CHECKs.
LIMITS: dict[str, Limit] = {
    "campaign.code": Limit("活动代码", max_len=CODE_MAX, code=True),
    "campaign.name": Limit("活动名称", max_len=NAME_MAX),
    "scale[].code": Limit("选项代码", max_len=32, code=True),
    "scale[].label": Limit("选项名称", max_len=100),
    "scale[].points": Limit("分值", low=0, high=100),
    "items[].code": Limit("指标代码", max_len=CODE_MAX, code=True),
    "items[].label": Limit("指标名称", max_len=NAME_MAX),
    "items[].weight": Limit("指标权重", low=0, low_open=True, high=WEIGHT_MAX),
    "categories[].code": Limit("类别代码", max_len=CODE_MAX, code=True),
    "categories[].label": Limit("类别名称", max_len=NAME_MAX),
    "units[].code": Limit("单位代码", max_len=CODE_MAX, code=True),
    "units[].name": Limit("单位名称", max_len=NAME_MAX),
    "groups[].code": Limit("评议主体代码", max_len=CODE_MAX, code=True),
    "groups[].label": Limit("评议主体名称", max_len=NAME_MAX),
    "groups[].weight": Limit("评议主体权重", low=0, low_open=True, high=WEIGHT_MAX),
    "groups[].quota": Limit("名额", low=0, high=ISSUED_MAX, integer=True),
    "margins.*.*key": Limit("边际变量名", max_len=CODE_MAX),
    "margins.*.*.*key": Limit("边际类别", max_len=NAME_MAX),
    "margins.*.*.*": Limit("边际比例", low=0, high=1),
    "batches[].code": Limit("批次代码", max_len=24, code=True),
    "batches[].issued": Limit("发放份数", low=0, high=ISSUED_MAX, integer=True),
    "ballots[].id": Limit("评议票编号", max_len=CODE_MAX),
    "ballots[].submitted_at": Limit("提交时间", max_len=64, years=True),
    "ballots[].duration_s": Limit("答题用时（秒）", low=0, high=366 * 86400),
    "ballots[].source": Limit("提交地址", max_len=64),
    "ballots[].attributes.*key": Limit("属性名", max_len=CODE_MAX),
    "ballots[].attributes.*": Limit("属性值", max_len=NAME_MAX, low=-1e15, high=1e15),
    "objective_scores[].component": Limit("考核项目代码", max_len=CODE_MAX, code=True),
    "objective_scores[].score": Limit("客观得分", low=0, high=100),
    "vetoes[].reason": Limit("否决理由", max_len=TEXT_MAX, multiline=True),
    "vetoes[].evidence": Limit("否决依据", max_len=TEXT_MAX, multiline=True),
    "extensions.labels_en.scale.*": Limit("选项英文名称", max_len=100),
    "extensions.labels_en.items.*": Limit("指标英文名称", max_len=NAME_MAX),
    "extensions.labels_en.categories.*": Limit("类别英文名称", max_len=NAME_MAX),
    "extensions.labels_en.units.*": Limit("单位英文名称", max_len=NAME_MAX),
    "extensions.margins.*.*.label": Limit("边际问题", max_len=NAME_MAX),
    "extensions.margins.*.*.label_en": Limit("边际问题英文", max_len=NAME_MAX),
    "extensions.margins.*.*.source": Limit("边际比例数据来源", max_len=NAME_MAX),
    "extensions.margins.*.*.fallback": Limit("边际归并类别", max_len=NAME_MAX),
    "extensions.attribute_k": Limit("名册属性 k", low=ATTRIBUTE_K_MIN, high=ISSUED_MAX, integer=True),
    "extensions.objective_raw[].raw": Limit("原始得分", low=0, high=1e9),
    "extensions.objective_raw[].full_marks": Limit("满分", low=0, low_open=True, high=1e9),
    "extensions.objective_raw[].evidence": Limit("得分依据", max_len=TEXT_MAX, multiline=True),
    "extensions.register.components[].code": Limit("考核项目代码", max_len=CODE_MAX, code=True),
    "extensions.register.components[].label": Limit("考核项目名称", max_len=NAME_MAX),
    "extensions.register.components[].base": Limit("扣分基数", low=0, low_open=True, high=100_000),
    "extensions.register.components[].rules[].points": Limit("扣分", low=0, high=100_000),
    "extensions.register.cases[].id": Limit("案件编号", max_len=CODE_MAX),
    "extensions.rounds.component.code": Limit("考核项目代码", max_len=CODE_MAX, code=True),
    "extensions.rounds.component.label": Limit("考核项目名称", max_len=NAME_MAX),
    "extensions.rounds.scores[].round": Limit("轮次代码", max_len=CODE_MAX, code=True),
    "extensions.rounds.scores[].name": Limit("轮次名称", max_len=NAME_MAX),
    "extensions.register.cases[].deductions.*": Limit("扣分", low=0, high=100_000),
    "extensions.sessions[].code": Limit("场次代码", max_len=SESSION_CODE_MAX, code=True),
    "extensions.sessions[].name": Limit("场次名称", max_len=NAME_MAX),
    "extensions.sessions[].place": Limit("场次地点", max_len=NAME_MAX),
    "extensions.sessions[].starts_at": Limit("场次时间", max_len=64, years=True),
    "extensions.sessions[].groups[].expected": Limit("应到人数", low=0, high=SESSION_EXPECTED_MAX, integer=True),
    "extensions.batch_times.*.*": Limit("批次时间", max_len=64, years=True),
    "rules.ballot_share": Limit("问卷测评占比", low=0, high=WEIGHT_MAX),
    "rules.objective_components.*": Limit("客观考核分项占比", low=0, high=WEIGHT_MAX),
    "rules.objective_components.*key": Limit("客观考核分项代码", max_len=CODE_MAX, code=True),
    "rules.thresholds.*": Limit("阈值", low=0, high=100),
    "rules.max_dissatisfied_share": Limit("不满意率上限", low=0, high=1),
    "rules.bottom.n": Limit("末位名数", low=1, high=ISSUED_MAX, integer=True),
    "rules.bottom.below": Limit("末位分数线", low=0, high=100),
    "rules.min_valid_per_unit": Limit("每个单位至少有效票数", low=0, high=ISSUED_MAX, integer=True),
    "rules.trim_per_end": Limit("每端去除比例", low=0, high=0.5),
    "rules.weight_cap": Limit("权重上限", low=0, low_open=True, high=WEIGHT_MAX),
    "rules.burst_limit": Limit("集中提交上限", low=0, high=ISSUED_MAX, integer=True),
    "rules.bootstrap.replicates": Limit("自助法重复次数", low=0, high=100_000, integer=True),
    "rules.bootstrap.seed": Limit("随机种子", low=0, high=2**63 - 1, integer=True),
}

_CODE = re.compile(r"[A-Za-z0-9_-]+")
_LINE_BREAKS = frozenset("\n\r\t")


def _control(text: str, multiline: bool) -> str | None:
    """The first control character of `text` (NUL, escape …) not allowed, shown as U+XXXX."""
    for ch in text:
        if unicodedata.category(ch) == "Cc" and not (multiline and ch in _LINE_BREAKS):
            return f"U+{ord(ch):04X}"
    return None


def _value_problems(value: Any, path: str, limit: Limit) -> Iterator[BundleProblem]:
    if isinstance(value, str):
        if limit.max_len is not None and len(value) > limit.max_len:
            yield BundleProblem(path, f"{limit.zh}过长：{len(value)} 个字符，最多 {limit.max_len} 个",
                                f"too long: {len(value)} characters, at most {limit.max_len}")
        elif limit.code and not _CODE.fullmatch(value):
            yield BundleProblem(path, f"{limit.zh}只能由字母、数字、- 和 _ 组成",
                                "a code must be letters, digits, - and _ only")
        elif (bad := _control(value, limit.multiline)) is not None:
            yield BundleProblem(path, f"{limit.zh}含有控制字符 {bad}", f"holds the control character {bad}")
        elif limit.years:
            try:
                year = dt.datetime.fromisoformat(value.strip()).year  # as written, before any conversion
            except ValueError:
                return  # the analysis' validation reports it
            if not YEARS[0] <= year <= YEARS[1]:
                yield BundleProblem(path, f"{limit.zh}的年份 {year} 不在 {YEARS[0]}–{YEARS[1]} 之间",
                                    f"year {year} is not within {YEARS[0]}-{YEARS[1]}")
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and limit.low is not None:
        assert limit.high is not None
        low_ok = value > limit.low if limit.low_open else value >= limit.low
        if not (math.isfinite(value) and low_ok and value <= limit.high):
            bracket = "(" if limit.low_open else "["
            yield BundleProblem(path, f"{limit.zh}应在 {bracket}{limit.low:g}, {limit.high:g}] 之内，实为 {value!r:.40}",
                                f"must be within {bracket}{limit.low:g}, {limit.high:g}], got {value!r:.40}")
        elif limit.integer and not float(value).is_integer():
            yield BundleProblem(path, f"{limit.zh}应为整数", "must be a whole number")


def _walk(node: Any, pattern: list[str], path: str, key: str) -> Iterator[BundleProblem]:
    """Apply the limit named by the rest of `pattern` to what `node` holds there."""
    if not pattern:
        return
    head, rest = pattern[0], pattern[1:]
    if head == "[]":
        if isinstance(node, list):
            for i, record in enumerate(node):
                yield from _walk(record, rest, f"{path}[{i}]", key)
        return
    if not isinstance(node, dict):
        return
    if head in ("*", "*key"):
        for k, v in node.items():
            kp = f"{path}.{k}" if path else k
            if rest:
                yield from _walk(v, rest, kp, key)
            else:
                yield from _value_problems(k if head == "*key" else v, kp, LIMITS[key])
    elif head in node:
        kp = f"{path}.{head}" if path else head
        if rest:
            yield from _walk(node[head], rest, kp, key)
        else:
            yield from _value_problems(node[head], kp, LIMITS[key])


def _pattern(key: str) -> list[str]:
    parts: list[str] = []
    for part in key.split("."):
        if part.endswith("[]"):
            parts += [part[:-2], "[]"]
        else:
            parts.append(part)
    return parts


_PATTERNS = [(key, _pattern(key)) for key in LIMITS]


def limit_problems(doc: Any) -> list[BundleProblem]:
    """Every field of a bundle outside the application's limits (:data:`LIMITS`).

    Tolerates any document (types are the analysis' validation's concern);
    returns the problems sorted by path within each field of the table.
    """
    if not isinstance(doc, dict):
        return []
    problems: list[BundleProblem] = list(_app_field_types(doc))
    for key, pattern in _PATTERNS:
        problems.extend(_walk(doc, pattern, "", key))
    return problems


def _app_field_types(doc: dict[str, Any]) -> Iterator[BundleProblem]:
    """The types of the fields only the application reads (SCORING.md does not name them)."""
    for key, field, want, zh, en in (("groups", "quota", int, "整数", "a whole number"),
                                     ("vetoes", "evidence", str, "字符串", "a string")):
        records = doc.get(key)
        for i, record in enumerate(records if isinstance(records, list) else []):
            value = record.get(field) if isinstance(record, dict) else None
            if value is not None and (not isinstance(value, want) or isinstance(value, bool)):
                yield BundleProblem(f"{key}[{i}].{field}", f"应为{zh}或 null", f"must be {en} or null")
    yield from _english_label_problems(doc)
    yield from _margin_extension_problems(doc)
    yield from _register_problems(doc)
    yield from _rounds_problems(doc)
    yield from _outcome_extension_problems(doc)
    yield from _on_the_spot_problems(doc)


# --- margins' setup (extensions.margins, extensions.attribute_k) ----------

#: What extensions.margins says of a raked variable beyond SCORING.md's proportions, and the
#: defaults of a variable it does not name (supplied by the roster, labelled by its name).
MARGIN_FIELDS = ("label", "label_en", "source", "fallback", "supply")
MARGIN_SUPPLY_DEFAULT = "roster"


def _margin_extension_problems(doc: dict[str, Any]) -> Iterator[BundleProblem]:
    """extensions.margins names raked variables of ``margins`` (group, then variable)
    with the fields of MARGIN_FIELDS: strings, a known supply, a fallback among the
    variable's categories; extensions.attribute_k is a whole number (its range: LIMITS)."""
    extensions = doc.get("extensions")
    if not isinstance(extensions, dict):
        return
    k = extensions.get("attribute_k")
    if "attribute_k" in extensions and (not isinstance(k, int) or isinstance(k, bool)):
        yield BundleProblem("extensions.attribute_k", "应为整数", "must be a whole number")
    if "margins" not in extensions:
        return
    setup = extensions["margins"]
    if not isinstance(setup, dict):
        yield BundleProblem("extensions.margins", "应为对象", "must be an object")
        return
    margins: dict[str, Any] = doc["margins"] if isinstance(doc.get("margins"), dict) else {}
    for group, variables in setup.items():
        path = f"extensions.margins.{group}"
        known = margins.get(group)
        if not isinstance(known, dict):
            yield BundleProblem(path, f"margins 中没有评议主体 {group}", f"margins has no group {group}")
            continue
        if not isinstance(variables, dict):
            yield BundleProblem(path, "应为对象", "must be an object")
            continue
        for variable, fields in variables.items():
            vp = f"{path}.{variable}"
            if variable not in known:
                yield BundleProblem(vp, f"margins.{group} 中没有变量 {variable}", f"margins.{group} has no variable {variable}")
                continue
            if not isinstance(fields, dict):
                yield BundleProblem(vp, "应为对象", "must be an object")
                continue
            for key, value in fields.items():
                if key not in MARGIN_FIELDS:
                    yield BundleProblem(f"{vp}.{key}", f"未知的字段 {key}", f"unknown field {key}")
                elif not isinstance(value, str) or not value:
                    yield BundleProblem(f"{vp}.{key}", "应为非空字符串", "must be a non-empty string")
                elif key == "supply" and value not in MARGIN_SUPPLIES:
                    yield BundleProblem(f"{vp}.{key}", f"未知的取值方式 {value}（question 或 roster）",
                                        f"unknown supply {value} (question or roster)")
                elif key == "fallback" and isinstance(known[variable], dict) and value not in known[variable]:
                    yield BundleProblem(f"{vp}.{key}", f"归并类别 {value} 不在该变量的类别中",
                                        f"fallback {value} is not one of the variable's categories")


def _margin_setup(doc: dict[str, Any]) -> dict[str, Any]:
    extensions = doc.get("extensions")
    setup = extensions.get("margins") if isinstance(extensions, dict) else None
    return setup if isinstance(setup, dict) else {}


# --- on the spot (extensions.allow_unanswered, batch_units, batch_times, sessions) ----

#: Times of the set-up are written in Beijing time, with their offset.
BEIJING_MIN = 480
SESSION_FIELDS = ("code", "name", "place", "starts_at", "announce", "units", "groups")


def _codes_of(doc: dict[str, Any], key: str) -> set[str]:
    records = doc.get(key)
    return {r["code"] for r in records if isinstance(r, dict) and isinstance(r.get("code"), str)} \
        if isinstance(records, list) else set()


def _on_the_spot_problems(doc: dict[str, Any]) -> Iterator[BundleProblem]:
    """extensions.batch_units names batches and units of the bundle; batch_times
    a batch's opens_at/closes_at as ISO 8601 (closing not before opening);
    sessions are records of SESSION_FIELDS whose units and batches the bundle
    has, one batch per group, a batch in one session only."""
    extensions = doc.get("extensions")
    if not isinstance(extensions, dict):
        return
    batches, units = _codes_of(doc, "batches"), _codes_of(doc, "units")
    if "allow_unanswered" in extensions and not isinstance(extensions["allow_unanswered"], bool):
        yield BundleProblem("extensions.allow_unanswered", "应为 true 或 false", "must be true or false")
    chosen = extensions.get("batch_units", {})
    if not isinstance(chosen, dict):
        yield BundleProblem("extensions.batch_units", "应为对象", "must be an object")
        chosen = {}
    for batch, codes in chosen.items():
        path = f"extensions.batch_units.{batch}"
        if batch not in batches:
            yield BundleProblem(path, f"未知批次 {batch}", f"unknown batch {batch}")
        if not isinstance(codes, list) or not codes:
            yield BundleProblem(path, "应为非空的单位代码列表", "must be a non-empty list of unit codes")
            continue
        for k, code in enumerate(codes):
            if code not in units:
                yield BundleProblem(f"{path}[{k}]", f"未知单位 {code}", f"unknown unit {code}")
        if len(set(map(str, codes))) != len(codes):
            yield BundleProblem(path, "单位代码重复", "a unit code appears twice")
    times = extensions.get("batch_times", {})
    if not isinstance(times, dict):
        yield BundleProblem("extensions.batch_times", "应为对象", "must be an object")
        times = {}
    for batch, period in times.items():
        path = f"extensions.batch_times.{batch}"
        if batch not in batches:
            yield BundleProblem(path, f"未知批次 {batch}", f"unknown batch {batch}")
        if not isinstance(period, dict):
            yield BundleProblem(path, "应为对象", "must be an object")
            continue
        parsed = {}
        for key, value in period.items():
            if key not in ("opens_at", "closes_at"):
                yield BundleProblem(f"{path}.{key}", f"未知的字段 {key}", f"unknown field {key}")
            elif (instant := _instant_or_none(value)) is None:
                yield BundleProblem(f"{path}.{key}", "应为 ISO 8601 时间", "must be an ISO 8601 time")
            else:
                parsed[key] = instant
        if len(parsed) == 2 and parsed["closes_at"] < parsed["opens_at"]:
            yield BundleProblem(f"{path}.closes_at", "截止时间早于开始时间", "closes before it opens")
    sessions = extensions.get("sessions", [])
    if not isinstance(sessions, list):
        yield BundleProblem("extensions.sessions", "应为列表", "must be a list")
        return
    group_of = {b.get("code"): b.get("group") for b in doc.get("batches") or [] if isinstance(b, dict)}
    seen_codes: set[str] = set()
    seen_batches: set[str] = set()
    for i, session in enumerate(sessions):
        path = f"extensions.sessions[{i}]"
        if not isinstance(session, dict):
            yield BundleProblem(path, "应为对象", "must be an object")
            continue
        for key in session:
            if key not in SESSION_FIELDS:
                yield BundleProblem(f"{path}.{key}", f"未知的字段 {key}", f"unknown field {key}")
        code, name = session.get("code"), session.get("name")
        if not isinstance(code, str) or not code:
            yield BundleProblem(f"{path}.code", "应为非空字符串", "must be a non-empty string")
        elif code in seen_codes:
            yield BundleProblem(f"{path}.code", f"场次代码 {code} 重复", f"session code {code} appears twice")
        else:
            seen_codes.add(code)
        if not isinstance(name, str) or not name:
            yield BundleProblem(f"{path}.name", "应为非空字符串", "must be a non-empty string")
        if session.get("place") is not None and not isinstance(session.get("place"), str):
            yield BundleProblem(f"{path}.place", "应为字符串或 null", "must be a string or null")
        if "starts_at" in session and _instant_or_none(session["starts_at"]) is None:
            yield BundleProblem(f"{path}.starts_at", "应为 ISO 8601 时间", "must be an ISO 8601 time")
        if "announce" in session and not isinstance(session["announce"], bool):
            yield BundleProblem(f"{path}.announce", "应为 true 或 false", "must be true or false")
        codes = session.get("units")
        if not isinstance(codes, list) or not codes:
            yield BundleProblem(f"{path}.units", "应为非空的单位代码列表", "must be a non-empty list of unit codes")
        else:
            for k, unit in enumerate(codes):
                if unit not in units:
                    yield BundleProblem(f"{path}.units[{k}]", f"未知单位 {unit}", f"unknown unit {unit}")
        groups = session.get("groups")
        if not isinstance(groups, list) or not groups:
            yield BundleProblem(f"{path}.groups", "应为非空列表", "must be a non-empty list")
            continue
        present: set[Any] = set()
        for k, entry in enumerate(groups):
            gp = f"{path}.groups[{k}]"
            batch = entry.get("batch") if isinstance(entry, dict) else None
            if not isinstance(entry, dict) or set(entry) - {"batch", "expected"}:
                yield BundleProblem(gp, "应为 {\"batch\", \"expected\"} 对象", 'must be a {"batch", "expected"} object')
            elif batch not in batches:
                yield BundleProblem(f"{gp}.batch", f"未知批次 {batch}", f"unknown batch {batch}")
            elif batch in seen_batches:
                yield BundleProblem(f"{gp}.batch", f"批次 {batch} 已属于另一场次", f"batch {batch} is in another session")
            elif group_of.get(batch) in present:
                yield BundleProblem(f"{gp}.batch", "一个评议主体在一个场次只能有一个批次",
                                    "a group has one batch per session")
            else:
                seen_batches.add(batch)
                present.add(group_of.get(batch))
            expected = entry.get("expected") if isinstance(entry, dict) else None
            if not isinstance(expected, int) or isinstance(expected, bool):
                yield BundleProblem(f"{gp}.expected", "应为整数", "must be a whole number")


def _instant_or_none(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value)[0]
    except ValueError:
        return None


def _load_on_the_spot(extensions: dict[str, Any], campaign: Campaign, batches: dict[str, Batch],
                      cunits: dict[str, CampaignUnit]) -> None:
    """extensions.allow_unanswered, batch_units, batch_times and sessions (checked by _on_the_spot_problems)."""
    campaign.allow_unanswered = bool(extensions.get("allow_unanswered", False))
    for code, unit_codes in (extensions.get("batch_units") or {}).items():
        for unit in unit_codes:
            db.session.add(BatchUnit(batch_id=batches[code].id, campaign_unit_id=cunits[unit].id))
    for code, period in (extensions.get("batch_times") or {}).items():
        batches[code].opens_at = parse_instant(period["opens_at"])[0] if "opens_at" in period else None
        batches[code].closes_at = parse_instant(period["closes_at"])[0] if "closes_at" in period else None
    for i, record in enumerate(extensions.get("sessions") or []):
        starts = record.get("starts_at")
        db.session.add(FieldSession(
            campaign_id=campaign.id, position=i + 1, code=record["code"], name=record["name"],
            place=record.get("place"), starts_at=parse_instant(starts)[0] if starts else None,
            announce=bool(record.get("announce", False)),
            units=[SessionUnit(campaign_unit_id=cunits[u].id, position=k) for k, u in enumerate(record["units"])],
            batches=[SessionBatch(batch_id=batches[g["batch"]].id, position=k, expected=g["expected"])
                     for k, g in enumerate(record["groups"])]))


def _export_on_the_spot(campaign: Campaign, extensions: dict[str, Any]) -> None:
    """What _load_on_the_spot reads, where the campaign has it."""
    if campaign.allow_unanswered:
        extensions["allow_unanswered"] = True
    codes = {cu.id: cu.code for cu in campaign.units}
    order = {cu.id: k for k, cu in enumerate(campaign.units)}
    chosen: dict[int, list[int]] = {}
    for batch_id, unit_id in db.session.execute(
            select(BatchUnit.batch_id, BatchUnit.campaign_unit_id).join(Batch, BatchUnit.batch_id == Batch.id)
            .where(Batch.campaign_id == campaign.id)):
        chosen.setdefault(batch_id, []).append(unit_id)
    batch_units = {b.code: [codes[u] for u in sorted(chosen[b.id], key=order.__getitem__)]
                   for b in campaign.batches if b.id in chosen}
    if batch_units:
        extensions["batch_units"] = batch_units
    times = {b.code: {key: format_instant(value, BEIJING_MIN) for key, value in
                      (("opens_at", b.opens_at), ("closes_at", b.closes_at)) if value is not None}
             for b in campaign.batches if b.opens_at is not None or b.closes_at is not None}
    if times:
        extensions["batch_times"] = times
    sessions = db.session.scalars(select(FieldSession).where(FieldSession.campaign_id == campaign.id)
                                  .order_by(FieldSession.position, FieldSession.id)).all()
    if sessions:
        extensions["sessions"] = [{
            "code": s.code, "name": s.name, "place": s.place,
            "starts_at": format_instant(s.starts_at, BEIJING_MIN) if s.starts_at else None,
            "announce": s.announce, "units": [su.campaign_unit.code for su in s.units],
            "groups": [{"batch": sb.batch.code, "expected": sb.expected} for sb in s.batches],
        } for s in sessions]
        for record in extensions["sessions"]:
            for key in ("place", "starts_at"):
                if record[key] is None:
                    del record[key]


# --- English labels (extensions.labels_en) -------------------------------

#: extensions.labels_en's lists: the list of the bundle whose records they name by code.
ENGLISH_LABELS = ("scale", "items", "categories", "units")


def _english_labels(doc: dict[str, Any]) -> dict[str, Any]:
    """``extensions.labels_en`` of a document: {list: {code: English label}} (empty where absent)."""
    extensions = doc.get("extensions")
    labels = extensions.get("labels_en") if isinstance(extensions, dict) else None
    return labels if isinstance(labels, dict) else {}


def _english_label_problems(doc: dict[str, Any]) -> Iterator[BundleProblem]:
    """Each English label names a record of its list by code and is a non-empty string
    (what export writes back: the document comes back the same)."""
    extensions = doc.get("extensions")
    if not isinstance(extensions, dict) or "labels_en" not in extensions:
        return
    labels = extensions["labels_en"]
    if not isinstance(labels, dict):
        yield BundleProblem("extensions.labels_en", "应为对象", "must be an object")
        return
    for key, by_code in labels.items():
        path = f"extensions.labels_en.{key}"
        if key not in ENGLISH_LABELS:
            yield BundleProblem(path, f"未知的列表 {key}", f"unknown list {key}")
            continue
        if not isinstance(by_code, dict):
            yield BundleProblem(path, "应为对象", "must be an object")
            continue
        records = doc.get(key)
        codes = {r.get("code") for r in records if isinstance(r, dict)} if isinstance(records, list) else set()
        for code, label in by_code.items():
            if code not in codes:
                yield BundleProblem(f"{path}.{code}", f"没有代码为 {code} 的记录", f"no record with code {code}")
            elif not isinstance(label, str) or not label:
                yield BundleProblem(f"{path}.{code}", "应为非空字符串", "must be a non-empty string")


# --- times ---------------------------------------------------------------


def parse_instant(text: str) -> tuple[dt.datetime, int | None]:
    """ISO 8601 text -> (naive UTC instant, the stated offset in minutes or None)."""
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        return from_beijing(value), None
    offset = value.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    return value.astimezone(dt.UTC).replace(tzinfo=None), minutes


def format_instant(instant: dt.datetime, offset_min: int | None) -> str:
    """The inverse of parse_instant: the instant in the offset it was given in."""
    aware = instant.replace(tzinfo=dt.UTC)
    if offset_min is None:
        return to_beijing(instant).isoformat()
    return aware.astimezone(dt.timezone(dt.timedelta(minutes=offset_min))).isoformat()


# --- import --------------------------------------------------------------


def import_bundle_text(text: str | bytes, *, status: str = "closed") -> Campaign:
    """Validate and load a bundle; all or nothing.

    Raises BundleError listing every problem (the session is rolled back and
    nothing is written). On success the caller commits.
    """
    doc = loads_bundle(text)
    return import_bundle(doc, status=status)


def import_bundle(doc: dict[str, Any], *, status: str = "closed") -> Campaign:
    """Load a validated document (:func:`analysis.loads_bundle`); all or nothing.

    The application's limits (:data:`LIMITS`) are checked first: a refusal
    raises BundleError before anything is written.
    """
    problems = limit_problems(doc)
    if problems:
        raise BundleError(problems)
    code = doc["campaign"]["code"]
    if db.session.scalar(select(Campaign.id).where(Campaign.code == code)) is not None:
        raise BundleError([BundleProblem(
            "campaign.code", f"评议活动代码 {code} 已存在", f"campaign code {code} already exists"
        )])
    try:
        campaign = _load(doc, status)
        db.session.flush()
    except (IntegrityError, DataError) as exc:
        # The validator and the limits should have caught it; the database is the last line.
        db.session.rollback()
        raise BundleError([BundleProblem(
            "$", f"数据库拒绝了该文件: {exc.orig}", f"the database refused the bundle: {exc.orig}"
        )]) from exc
    return campaign


def _campaign_year(doc: dict[str, Any]) -> int:
    """The year in the campaign's code or name (within YEARS), else that of its first ballot, else this year."""
    match = re.search(r"(?<!\d)(20\d\d|2100)(?!\d)", doc["campaign"]["code"] + " " + _name(doc["campaign"]))
    if match:
        return int(match.group(0))
    for ballot in doc.get("ballots", []):
        return parse_instant(ballot["submitted_at"])[0].year
    return dt.date.today().year


def _org_records(model: type[Category] | type[Unit] | type[EvaluatorGroup], codes_labels: Iterable[tuple[str, str]],
                 label_attr: str) -> dict[str, Any]:
    """Find the organisation's records by code, creating the missing ones."""
    wanted = dict(codes_labels)
    records: Iterable[Category | Unit | EvaluatorGroup] = db.session.scalars(
        select(model).where(model.code.in_(list(wanted))))
    found: dict[str, Any] = {r.code: r for r in records}
    for code, label in wanted.items():
        if code not in found:
            record = model(code=code, **{label_attr: label})
            db.session.add(record)
            found[code] = record
    db.session.flush()
    return found


def _name(record: dict[str, Any], key: str = "name") -> str:
    """A record's name or label; SCORING.md lets it be absent, the database wants one: its code."""
    value = record.get(key)
    return value if isinstance(value, str) else str(record.get("code", ""))


def _load(doc: dict[str, Any], status: str) -> Campaign:
    meta = doc["campaign"]
    extensions: dict[str, Any] = doc["extensions"] if isinstance(doc.get("extensions"), dict) else {}
    campaign = Campaign(
        code=meta["code"], name=_name(meta), anonymous=bool(meta.get("anonymous", True)),
        year=_campaign_year(doc), status=status, rules=doc.get("rules") or {},
        attribute_k=extensions.get("attribute_k", ATTRIBUTE_K_DEFAULT),
    )
    db.session.add(campaign)

    english = _english_labels(doc)
    scale_en, items_en = english.get("scale", {}), english.get("items", {})
    categories_en, units_en = english.get("categories", {}), english.get("units", {})
    campaign.scale = [
        ScaleOption(position=i, code=o["code"], label=_name(o, "label"), label_en=scale_en.get(o["code"]),
                    points=o["points"])
        for i, o in enumerate(doc["scale"])
    ]
    campaign.items = [
        Item(position=i, code=it["code"], label=_name(it, "label"), label_en=items_en.get(it["code"]),
             weight=it["weight"])
        for i, it in enumerate(doc["items"])
    ]
    categories = _org_records(Category, ((c["code"], _name(c, "label")) for c in doc["categories"]), "label")
    units = _org_records(Unit, ((u["code"], _name(u)) for u in doc["units"]), "name")
    groups = _org_records(EvaluatorGroup, ((g["code"], _name(g, "label")) for g in doc["groups"]), "label")

    ccats = {
        c["code"]: CampaignCategory(position=i, category=categories[c["code"]], label=_name(c, "label"),
                                    label_en=categories_en.get(c["code"]))
        for i, c in enumerate(doc["categories"])
    }
    campaign.categories = list(ccats.values())
    cunits = {
        u["code"]: CampaignUnit(position=i, unit=units[u["code"]], name=_name(u), name_en=units_en.get(u["code"]),
                                category=ccats[u["category"]])
        for i, u in enumerate(doc["units"])
    }
    campaign.units = list(cunits.values())
    cgroups = {
        g["code"]: CampaignGroup(position=i, group=groups[g["code"]], label=_name(g, "label"),
                                 weight=g["weight"], quota=g.get("quota"))
        for i, g in enumerate(doc["groups"])
    }
    campaign.groups = list(cgroups.values())
    margin_setup = _margin_setup(doc)
    for group_code, variables in (doc.get("margins") or {}).items():
        cgroups[group_code].margins = [
            MarginTarget(variable_position=vi, variable=variable, position=ci,
                         category=category, proportion=proportion)
            for vi, (variable, cats) in enumerate(variables.items())
            for ci, (category, proportion) in enumerate(cats.items())
        ]
        setup = margin_setup.get(group_code) or {}
        cgroups[group_code].margin_variables = [
            MarginVariable(position=vi, variable=variable, label=(setup.get(variable) or {}).get("label") or variable,
                           label_en=(setup.get(variable) or {}).get("label_en"),
                           source=(setup.get(variable) or {}).get("source"),
                           fallback=(setup.get(variable) or {}).get("fallback"),
                           supply=(setup.get(variable) or {}).get("supply") or MARGIN_SUPPLY_DEFAULT)
            for vi, variable in enumerate(variables)
        ]
    batches = {
        b["code"]: Batch(position=i, code=b["code"], group=cgroups[b["group"]],
                         channel=b["channel"], issued=b.get("issued"))
        for i, b in enumerate(doc["batches"])
    }
    campaign.batches = list(batches.values())
    db.session.flush()

    period = extensions.get("period")
    if isinstance(period, dict):
        campaign.period_start, campaign.period_end = _date_or_none(period["start"]), _date_or_none(period["end"])
        campaign.inputs_cutoff = _date_or_none(period.get("cutoff"))
    derived = _load_register(doc, campaign, units) | _load_rounds(doc, campaign, cunits)
    raws = {(r["unit"], r["component"]): r for r in extensions.get("objective_raw") or []}
    for i, score in enumerate(doc.get("objective_scores") or []):
        if score["component"] in derived:
            continue  # derived from the register's cases (checked below), never stored
        raw = raws.get((score["unit"], score["component"])) or {}
        db.session.add(ObjectiveScore(position=i, campaign_unit=cunits[score["unit"]],
                                      component=score["component"], score=score["score"],
                                      raw=raw.get("raw"), full_marks=raw.get("full_marks"),
                                      evidence=raw.get("evidence"),
                                      assessed_on=_date_or_none(raw.get("date"))))
    for i, veto in enumerate(doc.get("vetoes") or []):
        db.session.add(Veto(position=i, campaign_unit=cunits[veto["unit"]], reason=veto.get("reason") or "",
                            evidence=veto.get("evidence")))
    db.session.flush()
    if derived:
        _check_derived(doc, campaign, derived)
    _load_outcome_setup(campaign, extensions)
    _load_on_the_spot(extensions, campaign, batches, cunits)
    _insert_ballots(campaign, doc.get("ballots") or [], batches, cunits)
    return campaign


def _insert_ballots(campaign: Campaign, ballots: list[dict[str, Any]], batches: dict[str, Batch],
                    cunits: dict[str, CampaignUnit]) -> None:
    """Bulk insert: one executemany for the ballots, one for their answers."""
    if not ballots:
        return
    rows = []
    for i, b in enumerate(ballots):
        instant, offset = parse_instant(b["submitted_at"])
        rows.append({
            "campaign_id": campaign.id, "batch_id": batches[b["batch"]].id,
            "public_id": b["id"], "position": i, "submitted_at": instant,
            "utc_offset_min": offset, "duration_s": b.get("duration_s"),
            "source": b.get("source"), "attributes": b.get("attributes"),
        })
    ids = db.session.scalars(
        insert(Ballot).returning(Ballot.id, sort_by_parameter_order=True), rows
    ).all()
    items = {it.code: it.id for it in campaign.items}
    options = {o.code: o.id for o in campaign.scale}
    unit_ids = {code: cu.id for code, cu in cunits.items()}
    answers = [
        {"ballot_id": ballot_id, "campaign_unit_id": unit_ids[unit_code],
         "item_id": items[item_code], "option_id": options[option_code], "position": pos}
        for ballot_id, b in zip(ids, ballots, strict=True)
        for pos, (unit_code, item_code, option_code) in enumerate(
            (u, it, o) for u, by_item in b["answers"].items() for it, o in by_item.items()
        )
    ]
    if answers:
        db.session.execute(insert(Answer), answers)


# --- export --------------------------------------------------------------


def export_bundle(campaign: Campaign) -> dict[str, Any]:
    """The campaign as a pingyi-campaign/1 document, in its stored order."""
    before, after = export_sections(campaign)
    return {**before, "ballots": list(_ballots(campaign)), **after}


def export_sections(campaign: Campaign) -> tuple[dict[str, Any], dict[str, Any]]:
    """The document's sections before its ``ballots`` and after them, in their order."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "campaign": {"code": campaign.code, "name": campaign.name, "anonymous": campaign.anonymous},
        "scale": [{"code": o.code, "label": o.label, "points": _number(o.points)} for o in campaign.scale],
        "items": [{"code": i.code, "label": i.label, "weight": _number(i.weight)} for i in campaign.items],
        "categories": [{"code": c.code, "label": c.label} for c in campaign.categories],
        "units": [{"code": u.code, "name": u.name, "category": u.category.code} for u in campaign.units],
        "groups": [_group(g) for g in campaign.groups],
    }
    margins = {}
    for g in campaign.groups:
        variables: dict[str, dict[str, float | int | None]] = {}
        for m in g.margins:
            variables.setdefault(m.variable, {})[m.category] = _number(m.proportion)
        if variables:
            margins[g.code] = variables
    if margins:
        doc["margins"] = margins
    doc["batches"] = [_batch(b) for b in campaign.batches]
    before, doc = doc, {}
    scores = db.session.scalars(
        select(ObjectiveScore).join(CampaignUnit)
        .where(CampaignUnit.campaign_id == campaign.id).order_by(ObjectiveScore.position)
    ).all()
    derived = all_derived_values(campaign, list(campaign.units))
    objective = [{"unit": s.campaign_unit.code, "component": s.component, "score": _number(s.score)}
                 for s in scores]
    objective += [{"unit": v.unit.code, "component": code, "score": _number(v.value)}
                  for code, values in derived.items() for v in values]
    if objective:
        doc["objective_scores"] = objective
    raw = [{"unit": s.campaign_unit.code, "component": s.component, "raw": _number(s.raw),
            "full_marks": _number(s.full_marks), **({"evidence": s.evidence} if s.evidence else {}),
            **({"date": s.assessed_on.isoformat()} if s.assessed_on else {})}
           for s in scores if s.raw is not None and s.full_marks is not None]
    raw += [{"unit": v.unit.code, "component": code, "raw": _number(v.raw), "full_marks": _number(v.base)}
            for code, values in derived.items() for v in values]
    vetoes = db.session.scalars(
        select(Veto).join(CampaignUnit)
        .where(CampaignUnit.campaign_id == campaign.id).order_by(Veto.position, Veto.id)
    ).all()
    if vetoes:
        doc["vetoes"] = [{"unit": v.campaign_unit.code, "reason": v.reason} for v in vetoes]
    if campaign.rules:
        doc["rules"] = campaign.rules
    english = {key: labels for key, labels in (
        ("scale", {o.code: o.label_en for o in campaign.scale if o.label_en}),
        ("items", {i.code: i.label_en for i in campaign.items if i.label_en}),
        ("categories", {c.code: c.label_en for c in campaign.categories if c.label_en}),
        ("units", {u.code: u.name_en for u in campaign.units if u.name_en}),
    ) if labels}
    extensions: dict[str, Any] = {}
    if english:
        extensions["labels_en"] = english
    margin_setup = {g.code: kept for g in campaign.groups if (kept := _margin_variables(g))}
    if margin_setup:
        extensions["margins"] = margin_setup
    if campaign.attribute_k != ATTRIBUTE_K_DEFAULT:
        extensions["attribute_k"] = campaign.attribute_k
    if campaign.period_start is not None and campaign.period_end is not None:
        extensions["period"] = {"start": campaign.period_start.isoformat(), "end": campaign.period_end.isoformat(),
                                **({"cutoff": campaign.inputs_cutoff.isoformat()} if campaign.inputs_cutoff else {})}
    if raw:
        extensions["objective_raw"] = raw
    register = _register_extension(campaign)
    if register:
        extensions["register"] = register
    extensions.update(_rounds_extension(campaign))
    extensions.update(_outcome_setup(campaign))
    _export_on_the_spot(campaign, extensions)
    if extensions:
        doc["extensions"] = extensions
    return before, doc


# --- the register's setup (extensions.register) and raw scores (extensions.objective_raw) ---
# Only case number, kind, date, unit, verdict and deductions travel: never a
# complainant, a summary or a reply (survey/register/services.py).


def _date_or_none(text: Any) -> dt.date | None:
    return dt.date.fromisoformat(text) if isinstance(text, str) else None


def _register_extension(campaign: Campaign) -> dict[str, Any]:
    components = components_of(campaign)
    cases = counted_cases(campaign)
    if not components and not cases:
        return {}
    return {
        "components": [{"code": c.code, "label": c.label, "base": _number(c.base),
                        "rules": [{"kind": r.kind, "verdict": r.verdict, "points": _number(r.points)}
                                  for r in c.rules]} for c in components],
        "cases": [{"id": k.code, "kind": k.kind, "date": k.occurred_on.isoformat(), "unit": k.unit.code,
                   "verdict": k.verdict,
                   "deductions": {code: _number(p) for code, p in case_deductions(k, components).items()}}
                  for k in cases],
    }


def _register_problems(doc: dict[str, Any]) -> Iterator[BundleProblem]:
    """extensions.register and extensions.objective_raw: their shapes, known
    kinds, verdicts, units, components and dates."""
    extensions = doc.get("extensions")
    if not isinstance(extensions, dict):
        return
    units = {u.get("code") for u in doc.get("units") or [] if isinstance(u, dict)}
    raw = extensions.get("objective_raw")
    if raw is not None:
        if not isinstance(raw, list):
            yield BundleProblem("extensions.objective_raw", "应为数组", "must be an array")
        else:
            for i, r in enumerate(raw):
                if not isinstance(r, dict) or r.get("unit") not in units or not isinstance(r.get("component"), str):
                    yield BundleProblem(f"extensions.objective_raw[{i}]", "应为含已知单位和考核项目的对象",
                                        "must be an object with a known unit and a component")
                    continue
                try:
                    _date_or_none(r.get("date"))
                except ValueError:
                    yield BundleProblem(f"extensions.objective_raw[{i}].date", "日期应写作 YYYY-MM-DD",
                                        "the date must be YYYY-MM-DD")
    period = extensions.get("period")
    if period is not None:
        try:
            start, end = (dt.date.fromisoformat(period[k]) for k in ("start", "end"))
            cutoff = _date_or_none(period.get("cutoff"))
            if start > end or (cutoff is not None and cutoff < start):
                raise ValueError
        except (TypeError, KeyError, ValueError, AttributeError):
            yield BundleProblem("extensions.period", "应为 {start, end[, cutoff]}，日期写作 YYYY-MM-DD，开始不晚于结束",
                                "must be {start, end[, cutoff]}: dates YYYY-MM-DD, the start not after the end")
    register = extensions.get("register")
    if register is None:
        return
    if not isinstance(register, dict) or not isinstance(register.get("components", []), list) \
            or not isinstance(register.get("cases", []), list):
        yield BundleProblem("extensions.register", "应为含 components 和 cases 数组的对象",
                            "must be an object with the arrays components and cases")
        return
    codes = set()
    for i, c in enumerate(register.get("components", [])):
        path = f"extensions.register.components[{i}]"
        if not isinstance(c, dict) or not isinstance(c.get("code"), str) or \
                not isinstance(c.get("base"), int | float) or not isinstance(c.get("rules", []), list):
            yield BundleProblem(path, "应含 code、base 和 rules", "must have code, base and rules")
            continue
        if c["code"] in codes:
            yield BundleProblem(f"{path}.code", f"考核项目 {c['code']} 重复", f"duplicate component {c['code']}")
        codes.add(c["code"])
        for j, r in enumerate(c.get("rules", [])):
            if not isinstance(r, dict) or r.get("kind") not in CASE_KINDS or r.get("verdict") not in VERDICTS \
                    or not isinstance(r.get("points"), int | float):
                yield BundleProblem(f"{path}.rules[{j}]", "应含已知的 kind、verdict 和数值 points",
                                    "must have a known kind, a known verdict and numeric points")
    ids = set()
    for i, k in enumerate(register.get("cases", [])):
        path = f"extensions.register.cases[{i}]"
        if not isinstance(k, dict):
            yield BundleProblem(path, "应为对象", "must be an object")
            continue
        if not isinstance(k.get("id"), str) or k["id"] in ids:
            yield BundleProblem(f"{path}.id", "案件编号缺失或重复", "a case id is missing or repeated")
        ids.add(k.get("id"))
        if k.get("kind") not in CASE_KINDS:
            yield BundleProblem(f"{path}.kind", f"未知的案件类别 {k.get('kind')}", f"unknown kind {k.get('kind')}")
        if k.get("verdict") not in VERDICTS:
            yield BundleProblem(f"{path}.verdict", f"未知的核实结论 {k.get('verdict')}",
                                f"unknown verdict {k.get('verdict')}")
        if k.get("unit") not in units:
            yield BundleProblem(f"{path}.unit", f"未知单位 {k.get('unit')}", f"unknown unit {k.get('unit')}")
        try:
            dt.date.fromisoformat(str(k.get("date")))
        except ValueError:
            yield BundleProblem(f"{path}.date", "日期应写作 YYYY-MM-DD", "the date must be YYYY-MM-DD")
        deductions = k.get("deductions", {})
        if not isinstance(deductions, dict) or any(code not in codes for code in deductions):
            yield BundleProblem(f"{path}.deductions", "应为对象，键为已声明的考核项目",
                                "must be an object keyed by declared components")


def _load_register(doc: dict[str, Any], campaign: Campaign, units: dict[str, Unit]) -> set[str]:
    """extensions.register into the campaign: its components and rules, and its
    cases (verified, closed, counted for it); the derived component codes."""
    extensions = doc.get("extensions")
    register = extensions.get("register") if isinstance(extensions, dict) else None
    if not isinstance(register, dict):
        return set()
    components = []
    for c in register.get("components", []):
        component = RegisterComponent(code=c["code"], label=c.get("label") or c["code"], base=c["base"],
                                      rules=[DeductionRule(kind=r["kind"], verdict=r["verdict"], points=r["points"])
                                             for r in c.get("rules", [])])
        component.campaign = campaign
        db.session.add(component)
        components.append(component)
    problems = []
    for i, k in enumerate(register.get("cases", [])):
        case = SupervisionCase(code=k["id"], kind=k["kind"], source="导入", occurred_on=dt.date.fromisoformat(k["date"]),
                               unit=units[k["unit"]], summary="", step="closed", verdict=k["verdict"],
                               campaign=campaign)
        given = {code: float(p) for code, p in (k.get("deductions") or {}).items()}
        if case_deductions(case, components) != given:
            # a 明查暗访 finding deducts its own points: one value for every matching rule
            case.points = next(iter(given.values()), None) if len(set(given.values())) == 1 else None
            if case.kind != "inspection" or case_deductions(case, components) != given:
                problems.append(BundleProblem(f"extensions.register.cases[{i}].deductions",
                                              "扣分与考核项目的扣分规则不符",
                                              "the deductions do not follow the components' rules"))
        db.session.add(case)
    if problems:
        db.session.rollback()
        raise BundleError(problems)
    return {c.code for c in components}


def _check_derived(doc: dict[str, Any], campaign: Campaign, derived: set[str]) -> None:
    """The bundle's scores of derived components are what its cases and rules give."""
    values = {(v.unit.code, code): v.value
              for code, per_unit in all_derived_values(campaign, list(campaign.units)).items() for v in per_unit}
    problems = []
    for i, score in enumerate(doc.get("objective_scores") or []):
        key = (score["unit"], score["component"])
        if score["component"] in derived and not math.isclose(values.pop(key, math.nan), score["score"],
                                                              abs_tol=1e-9):
            problems.append(BundleProblem(f"objective_scores[{i}].score", "与督查登记的扣分或平时考核轮次算出的得分不符",
                                          "differs from what the register's deductions or the rounds give"))
    if problems:
        db.session.rollback()
        raise BundleError(problems)
def all_derived_values(campaign: Campaign, units: list[CampaignUnit]) -> dict[str, list[Any]]:
    """Every derived component's values (the register's deductions, the rounds' 平时
    roll-up): each value has ``unit``, ``value`` (0–100), ``raw`` and ``base``."""
    return {**derived_values(campaign, units), **rollup_values(campaign, units)}


# --- 平时考核 rounds (extensions.round, extensions.rounds; survey/rounds/services.py) ---------
# A round carries its day; an annual campaign its 平时 component and the
# published rounds' composites per unit (the values the roll-up is the mean of).


def _rounds_extension(campaign: Campaign) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if campaign.state.is_round:
        out["round"] = {"date": campaign.held_on.isoformat() if campaign.held_on else None}
    component = rollup_component(campaign)
    if component is not None:
        out["rounds"] = {
            "component": {"code": component.code, "label": component.label},
            "scores": [{"round": s.round_code, "name": s.round_name, "date": s.held_on.isoformat(),
                        "unit": s.campaign_unit.code, "composite": _number(s.composite)}
                       for s in rollup_scores(campaign)],
        }
    return out


def _rounds_problems(doc: dict[str, Any]) -> Iterator[BundleProblem]:
    """extensions.round and extensions.rounds: their shapes, dates, units and composites."""
    extensions = doc.get("extensions")
    if not isinstance(extensions, dict):
        return
    round_ = extensions.get("round")
    if round_ is not None:
        try:
            if not isinstance(round_, dict):
                raise TypeError
            _date_or_none(round_.get("date"))
        except (TypeError, ValueError):
            yield BundleProblem("extensions.round", "应为 {date}，日期写作 YYYY-MM-DD",
                                "must be {date}: a date YYYY-MM-DD")
    rounds = extensions.get("rounds")
    if rounds is None:
        return
    component = rounds.get("component") if isinstance(rounds, dict) else None
    if not isinstance(component, dict) or not isinstance(component.get("code"), str) \
            or not isinstance(rounds.get("scores", []), list):
        yield BundleProblem("extensions.rounds", "应为含 component 和 scores 数组的对象",
                            "must be an object with component and the array scores")
        return
    units = {u.get("code") for u in doc.get("units") or [] if isinstance(u, dict)}
    seen = set()
    for i, s in enumerate(rounds.get("scores", [])):
        path = f"extensions.rounds.scores[{i}]"
        if not isinstance(s, dict) or not isinstance(s.get("round"), str) or s.get("unit") not in units:
            yield BundleProblem(path, "应为含轮次代码和已知单位的对象", "must be an object with a round and a known unit")
            continue
        if (s["round"], s["unit"]) in seen:
            yield BundleProblem(path, "同一轮次、同一单位重复", "the same round and unit twice")
        seen.add((s["round"], s["unit"]))
        composite = s.get("composite")
        if composite is not None and (not isinstance(composite, int | float) or not 0 <= composite <= 100):
            yield BundleProblem(f"{path}.composite", "综合得分应为 0 到 100 之间的数或 null",
                                "the composite must be a number from 0 to 100, or null")
        try:
            dt.date.fromisoformat(str(s.get("date")))
        except ValueError:
            yield BundleProblem(f"{path}.date", "日期应写作 YYYY-MM-DD", "the date must be YYYY-MM-DD")


def _load_rounds(doc: dict[str, Any], campaign: Campaign, cunits: dict[str, CampaignUnit]) -> set[str]:
    """extensions.round and extensions.rounds into the campaign; the 平时 component's code (if any)."""
    extensions = doc.get("extensions")
    if not isinstance(extensions, dict):
        return set()
    round_ = extensions.get("round")
    if isinstance(round_, dict):
        campaign.kind, campaign.held_on = KIND_ROUND, _date_or_none(round_.get("date"))
    rounds = extensions.get("rounds")
    if not isinstance(rounds, dict):
        return set()
    component = rounds["component"]
    db.session.add(RoundComponent(campaign_id=campaign.id, code=component["code"],
                                  label=component.get("label") or component["code"]))
    for s in rounds.get("scores", []):
        db.session.add(RoundScore(campaign_id=campaign.id, campaign_unit_id=cunits[s["unit"]].id,
                                  round_code=s["round"], round_name=s.get("name") or s["round"],
                                  held_on=dt.date.fromisoformat(s["date"]), composite=s.get("composite")))
    db.session.flush()
    return {component["code"]}


# --- the committee's setup (extensions.consequences, extensions.honours) ----------
# The consequence rules (the class rules' switches, owners, deadlines,
# escalation rules: survey/results/carrying.py, escalation.py) and the
# positive tier's rule and star bands (survey/results/honours.py).

#: The class rules' switches and their types (survey.models.outcome.DEFAULT_CONSEQUENCES).
_CONSEQUENCE_SWITCHES = ("self_examination", "criticism_notice", "media_list", "bonus_linkage",
                         "escalate_bottom_two_years")


def _consequence_problems(setup: Any) -> Iterator[BundleProblem]:
    from survey.results.carrying import RULE_KEYS, check_rules
    from survey.results.escalation import RuleProblem

    where = "extensions.consequences"
    if not isinstance(setup, dict):
        yield BundleProblem(where, "应为对象", "must be an object")
        return
    for key, value in setup.items():
        if key in _CONSEQUENCE_SWITCHES:
            if not isinstance(value, bool):
                yield BundleProblem(f"{where}.{key}", "应为 true 或 false", "must be true or false")
        elif key == "self_examination_days":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 366:
                yield BundleProblem(f"{where}.{key}", "应为 1 到 366 之间的整数", "must be a whole number 1–366")
        elif key == "leader_handling":
            if value is not None and (not isinstance(value, str) or len(value) > 100):
                yield BundleProblem(f"{where}.{key}", "应为不超过 100 字的文字或 null",
                                    "must be text of at most 100 characters, or null")
        elif key not in RULE_KEYS:
            yield BundleProblem(f"{where}.{key}", "未知字段", "unknown field")
    try:
        check_rules(setup, where)
    except RuleProblem as exc:
        yield BundleProblem(exc.where, exc.reason, "refused (the reason, in Chinese, says why)")


def _outcome_extension_problems(doc: dict[str, Any]) -> Iterator[BundleProblem]:
    """extensions.consequences and extensions.honours, as the committee's pages would save them."""
    from survey.results.escalation import RuleProblem
    from survey.results.honours import parse_rule

    extensions = doc.get("extensions")
    if not isinstance(extensions, dict):
        return
    if "consequences" in extensions:
        yield from _consequence_problems(extensions["consequences"])
    if "honours" in extensions:
        try:
            parse_rule(extensions["honours"], "extensions.honours")
        except RuleProblem as exc:
            yield BundleProblem(exc.where, exc.reason, "refused (the reason, in Chinese, says why)")


def _outcome_setup(campaign: Campaign) -> dict[str, Any]:
    """The campaign's extensions.consequences and extensions.honours (what differs from the defaults)."""
    from survey.results.carrying import exported_rules
    from survey.results.honours import parse_rule

    out: dict[str, Any] = {}
    rules = exported_rules(campaign)
    if rules:
        out["consequences"] = rules
    settings = db.session.scalar(select(OutcomeSettings).where(OutcomeSettings.campaign_id == campaign.id))
    honours = parse_rule(settings.honours).as_json() if settings is not None and settings.honours else {}
    if honours:
        out["honours"] = honours
    return out


def _load_outcome_setup(campaign: Campaign, extensions: dict[str, Any]) -> None:
    """The committee's settings from a (checked) bundle's extensions."""
    from survey.results.carrying import RULE_KEYS, check_rules
    from survey.results.honours import parse_rule

    if "consequences" not in extensions and "honours" not in extensions:
        return
    consequences = dict(extensions.get("consequences") or {})
    rules = check_rules(consequences)
    consequences = {k: v for k, v in consequences.items() if k not in RULE_KEYS} | rules
    honours = parse_rule(extensions.get("honours")).as_json() or None
    db.session.add(OutcomeSettings(campaign_id=campaign.id, min_group_ballots=5, public=True,
                                   consequences=consequences, honours=honours))


def _margin_variables(g: CampaignGroup) -> dict[str, dict[str, str]]:
    """extensions.margins of a group: what differs from a variable's defaults."""
    out = {}
    for v in g.margin_variables:
        fields = {"label": v.label if v.label != v.variable else None, "label_en": v.label_en, "source": v.source,
                  "fallback": v.fallback, "supply": v.supply if v.supply != MARGIN_SUPPLY_DEFAULT else None}
        kept = {k: value for k, value in fields.items() if value}
        if kept:
            out[v.variable] = kept
    return out


def _number(value: float | None) -> float | int | None:
    """Whole numbers go out as integers, as people write them (100, not 100.0)."""
    if value is not None and float(value).is_integer():
        return int(value)
    return value


def _group(g: CampaignGroup) -> dict[str, Any]:
    out: dict[str, Any] = {"code": g.code, "label": g.label, "weight": _number(g.weight)}
    if g.quota is not None:
        out["quota"] = g.quota
    return out


def _batch(b: Batch) -> dict[str, Any]:
    out: dict[str, Any] = {"code": b.code, "group": b.group.code, "channel": b.channel}
    if b.issued is not None:
        out["issued"] = b.issued
    return out


#: Ballots read at a time by ``_ballots`` (two statements per chunk).
BALLOT_CHUNK = 5000


def _ballots(campaign: Campaign) -> Iterator[dict[str, Any]]:
    """Ballots in bundle order; those submitted here follow in submission order.

    Read in chunks of ``BALLOT_CHUNK`` (their rows, then their answers), so
    that a campaign of any size is never held whole: the ids in bundle order
    come first (one column), then each chunk's ballots and answers.
    """
    order = (case((Ballot.position.is_(None), 1), else_=0), Ballot.position, Ballot.id)
    ids = list(db.session.scalars(select(Ballot.id).where(Ballot.campaign_id == campaign.id).order_by(*order)))
    batch_codes = {b.id: b.code for b in campaign.batches}
    unit_codes: dict[int, str] = {cu_id: code for cu_id, code in db.session.execute(
        select(CampaignUnit.id, Unit.code).join(Unit, CampaignUnit.unit_id == Unit.id)
        .where(CampaignUnit.campaign_id == campaign.id))}
    item_codes = {i.id: i.code for i in campaign.items}
    option_codes = {o.id: o.code for o in campaign.scale}
    connection = db.session.connection()
    for start in range(0, len(ids), BALLOT_CHUNK):
        chunk = ids[start:start + BALLOT_CHUNK]
        # The campaign's ids between the chunk's first and last where they ascend (the usual
        # case: bundle order is id order; others in that range are passed over), its ids otherwise.
        ascending = all(a < b for a, b in zip(chunk, chunk[1:], strict=False))
        cond = ([Ballot.campaign_id == campaign.id, Ballot.id.between(chunk[0], chunk[-1])] if ascending
                else [Ballot.id.in_(chunk)])
        rows = {r[0]: r for r in connection.execute(
            select(Ballot.id, Ballot.public_id, Ballot.batch_id, Ballot.submitted_at, Ballot.utc_offset_min,
                   Ballot.duration_s, Ballot.source, Ballot.attributes).where(*cond)).all()}
        answers: dict[int, dict[str, dict[str, str]]] = {}
        for ballot_id, cu_id, item_id, option_id in connection.execute(
                select(Answer.ballot_id, Answer.campaign_unit_id, Answer.item_id, Answer.option_id)
                .where(Answer.ballot_id.in_(select(Ballot.id).where(*cond)))
                .order_by(Answer.ballot_id, Answer.position)).all():  # fetched at once: row by row is slow
            answers.setdefault(ballot_id, {}).setdefault(unit_codes[cu_id], {})[item_codes[item_id]] = \
                option_codes[option_id]
        for bid in chunk:
            (_, public_id, batch_id, submitted_at, offset, duration, source, attributes) = rows[bid]
            out: dict[str, Any] = {"id": public_id, "batch": batch_codes[batch_id],
                                   "submitted_at": format_instant(submitted_at, offset)}
            if duration is not None:
                out["duration_s"] = _number(duration)
            if source is not None:
                out["source"] = source
            if attributes is not None:
                out["attributes"] = attributes
            out["answers"] = answers.get(bid, {})
            yield out


# --- the columnar path: finalization and the results ----------------------------

#: Bytes of bundle text gathered before they are handed to ``write``.
WRITE_BUFFER = 1 << 20


def bundle_campaign(campaign: Campaign, write: Callable[[bytes], object],
                    rules_override: dict[str, Any] | None = None) -> ArrayCampaign:
    """The campaign's analysis arrays, its ballots read from the database in
    chunks, and its bundle text written as it is read.

    The path of the results and of finalization: no document of every ballot
    is held. Each ballot goes, as it is read, through the engine's
    per-record validator into its arrays (:func:`analysis.from_records`), and
    out as text to `write` in pieces of about ``WRITE_BUFFER`` bytes: UTF-8,
    byte for byte the canonical JSON of :func:`export_bundle`'s document
    (``survey.results.snapshots.canonical_json``), so its SHA-256 is the
    bundle's. The arrays equal ``from_document(export_bundle(campaign))``'s.

    Raises
    ------
    BundleError
        Where the engine refuses the campaign's bundle or the override.
    """
    before, after = export_sections(campaign)
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    pending: list[str] = []
    size = 0

    def put(text: str) -> None:
        nonlocal size
        pending.append(text)
        size += len(text)
        if size >= WRITE_BUFFER:
            write("".join(pending).encode("utf-8"))
            pending.clear()
            size = 0

    put("{" + "".join(f"{encode(key)}:{encode(value)}," for key, value in before.items()) + '"ballots":[')

    def ballots() -> Iterator[dict[str, Any]]:
        sep = ""
        for ballot in _ballots(campaign):
            put(sep + encode(ballot))
            sep = ","
            yield ballot

    arrays = from_records({**before, **after}, ballots(), rules_override)
    put("]" + "".join(f",{encode(key)}:{encode(value)}" for key, value in after.items()) + "}")
    write("".join(pending).encode("utf-8"))
    return arrays


# --- columnar: rows straight into analysis arrays ------------------------------

#: Answers read into the arrays at a time (``campaign_arrays``).
ANSWER_PARTITION = 65536
#: (id, public_id, batch_id, submitted_at, duration_s, source) of a ballot.
BallotRow = Row[int, str, int, dt.datetime, float | None, str | None]


def _lookup(keys: list[int], used: NDArray[np.int64]) -> NDArray[np.int64]:
    """Position in `keys` of each database id in `used` (-1 where absent)."""
    table = np.full(max([*keys, int(used.max()) if used.size else 0]) + 1, -1, dtype=np.int64)
    table[keys] = np.arange(len(keys))
    return table[used]


def _codes(values: Sequence[str | None]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Source and network codes (-1 where absent or not an IP address), as analysis numbers them."""
    sources: dict[str, int] = {}
    networks: dict[str, int] = {}
    source = np.full(len(values), -1, dtype=np.int64)
    network = np.full(len(values), -1, dtype=np.int64)
    for k, value in enumerate(values):
        if value is not None:
            source[k] = sources.setdefault(value, len(sources))
            net = network_of(value)
            if net is not None:
                network[k] = networks.setdefault(net, len(networks))
    return source, network


def campaign_arrays(campaign: Campaign, *, batch_ids: Collection[int] | None = None,
                    max_id: int | None = None) -> tuple[ArrayCampaign, Sequence[BallotRow]] | None:
    """The campaign's ballots as an analysis Campaign, straight from two queries (no bundle document).

    Parameters
    ----------
    campaign : Campaign
        The database campaign (its scale, items, units, groups and batches
        give the codes and weights).
    batch_ids : collection of int, optional
        Only the ballots of these batches (all where None).
    max_id : int, optional
        Only the ballots with ``Ballot.id <= max_id`` (all ballots in at the
        first query where None), so that both queries see the same ballots.

    Returns
    -------
    (analysis.Campaign, rows) or None
        The arrays, ballots in ``Ballot.id`` order, and their rows
        ``(id, public_id, batch_id, submitted_at, duration_s, source)``; None
        where there is no ballot.
    """
    if max_id is None:
        max_id = db.session.scalar(select(func.coalesce(func.max(Ballot.id), 0))
                                   .where(Ballot.campaign_id == campaign.id))
    cond = [Ballot.campaign_id == campaign.id, Ballot.id <= max_id]
    if batch_ids is not None:
        cond.append(Ballot.batch_id.in_(list(batch_ids)))
    rows = db.session.execute(
        select(Ballot.id, Ballot.public_id, Ballot.batch_id, Ballot.submitted_at, Ballot.duration_s, Ballot.source)
        .where(*cond).order_by(Ballot.id)).all()
    if not rows:
        return None
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    units, items, scale = campaign.units, campaign.items, campaign.scale
    answers = np.full((len(rows), len(units), len(items)), -1, dtype=np.int8)
    unit_ids, item_ids, option_ids = [u.id for u in units], [i.id for i in items], [o.id for o in scale]
    # Through the answers' ballot index (a subquery, not a join), streamed in
    # partitions of plain tuples: numpy is slow to read SQLAlchemy rows, and
    # the answers of a large campaign held as Python rows all at once would
    # take gigabytes (the int8 array takes one byte each).
    streamed = db.session.connection().execute(
        select(Answer.ballot_id, Answer.campaign_unit_id, Answer.item_id, Answer.option_id)
        .where(Answer.ballot_id.in_(select(Ballot.id).where(*cond)))
        .execution_options(yield_per=ANSWER_PARTITION))
    for part in streamed.partitions():
        answer_rows = np.array([tuple(r) for r in part], dtype=np.int64).reshape(-1, 4)
        answers[np.searchsorted(ids, answer_rows[:, 0]), _lookup(unit_ids, answer_rows[:, 1]),
                _lookup(item_ids, answer_rows[:, 2])] = _lookup(option_ids, answer_rows[:, 3])
    source, network = _codes([r[5] for r in rows])
    batch_index = {b.id: k for k, b in enumerate(campaign.batches)}
    group_index = {g.id: k for k, g in enumerate(campaign.groups)}
    category_index = {c.id: k for k, c in enumerate(campaign.categories)}
    epoch = dt.datetime(1970, 1, 1)
    arrays = ArrayCampaign.from_arrays(
        option_points=[np.nan if o.points is None else o.points for o in scale],
        item_weights=[i.weight for i in items],
        unit_category=[category_index[u.campaign_category_id] for u in units],
        group_weights=[g.weight for g in campaign.groups],
        batch_group=[group_index[b.campaign_group_id] for b in campaign.batches],
        batch_issued=[-1 if b.issued is None else b.issued for b in campaign.batches],
        ballot_batch=[batch_index[r[2]] for r in rows],
        answers=answers,
        ballot_ids=np.array([r[1] for r in rows], dtype=str),
        submitted_us=[(r[3] - epoch) // dt.timedelta(microseconds=1) for r in rows],
        duration_s=[np.nan if r[4] is None else r[4] for r in rows],
        source=source, network=network, rules=campaign.rules or None, code=campaign.code,
        option_codes=[o.code for o in scale], item_codes=[i.code for i in items],
        unit_codes=[u.code for u in units], group_codes=[g.code for g in campaign.groups],
        batch_codes=[b.code for b in campaign.batches])
    return arrays, rows
