"""Reading, validating and turning into arrays the campaign bundle (pingyi-campaign/1, SCORING.md section 1)."""

from __future__ import annotations

import copy
import datetime as _dt
import ipaddress
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BundleProblem",
    "BundleError",
    "DEFAULT_RULES",
    "FLAGS",
    "CHANNELS",
    "OPEN_CHANNELS",
    "loads_bundle",
    "validate_bundle",
    "effective_rules",
    "parse_instant_us",
    "network_of",
    "Campaign",
    "Margin",
    "from_document",
]

FORMAT = "pingyi-campaign/1"
ERRORS_FORMAT = "pingyi-errors/1"

#: The five data-quality flags of SCORING.md section 3, in report order.
FLAGS = ("duplicate", "straight_line", "speeder", "burst", "extreme_rater")

CHANNELS = ("online", "email", "sms", "paper", "qr", "public")
#: Channels that normally come without ``issued``; openness itself is decided
#: by the absence of ``issued`` (SCORING.md: "an open batch is one without issued").
OPEN_CHANNELS = ("public", "qr")

#: SCORING.md section 8.
DEFAULT_RULES: dict[str, Any] = {
    "ballot_share": 1.0,
    "objective_components": {},
    "thresholds": {"satisfied": 85, "basic": 60},
    "max_dissatisfied_share": None,
    "bottom": None,
    "min_valid_per_unit": 8,
    "trim_per_end": 0.0,
    "nonresponse_adjust": True,
    "weight_cap": 5,
    "exclude_flags": ["duplicate"],
    "burst_limit": 20,
    "overall_item": None,
    "bootstrap": {"replicates": 1000, "seed": 20261123},
}

_MERGED_RULES = ("thresholds", "bootstrap")

BEIJING = _dt.timezone(_dt.timedelta(hours=8))
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


@dataclass(frozen=True)
class BundleProblem:
    """One reason a bundle is refused.

    Attributes
    ----------
    path : str
        Where in the document, e.g. ``ballots[3].answers.u99`` (``$`` for the
        document as a whole).
    reason : str
        The reason in Chinese, for the organiser.
    reason_en : str
        The same reason in English.
    """

    path: str
    reason: str
    reason_en: str

    def to_json(self) -> dict:
        return {"path": self.path, "reason": self.reason, "reason_en": self.reason_en}


class BundleError(ValueError):
    """A bundle refused whole, carrying every problem found.

    Attributes
    ----------
    problems : list of BundleProblem
        All problems, in document order as far as the checks allow.
    """

    def __init__(self, problems: Sequence[BundleProblem]):
        self.problems = list(problems)
        first = self.problems[0] if self.problems else None
        summary = f"{first.path}: {first.reason_en}" if first else "invalid bundle"
        more = len(self.problems) - 1
        if more > 0:
            summary += f" (and {more} more problem{'s' if more > 1 else ''})"
        super().__init__(summary)

    def to_json(self) -> dict:
        """The refusal as a pingyi-errors/1 document."""
        return {"format": ERRORS_FORMAT, "errors": [p.to_json() for p in self.problems]}


# ---------------------------------------------------------------------------
# Parsing with duplicate-key detection


class _PairsDict(dict):
    """A dict that remembers the keys its JSON object repeated."""

    __slots__ = ("dup_keys",)


def _make_pairs_hook(found: list):
    def hook(pairs):
        d = dict(pairs)
        if len(d) == len(pairs):
            # The common case stays a plain dict built in C: parsing a large
            # bundle calls this hook once per JSON object.
            return d
        seen = set()
        dups = []
        for k, _ in pairs:
            if k in seen:
                dups.append(k)
            seen.add(k)
        marked = _PairsDict(d)
        marked.dup_keys = dups
        found.append(True)
        return marked

    return hook


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _plain(node, path: str, problems: list[BundleProblem]):
    # Hooks run bottom-up and cannot know where they are; a second walk
    # attaches paths to the repeated keys and strips the helper type.
    if isinstance(node, dict):
        for k in getattr(node, "dup_keys", ()):
            problems.append(
                BundleProblem(_key_path(path, k), f"重复的键 {k}", f"duplicate key {k}")
            )
        return {k: _plain(v, _key_path(path, k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v, f"{path}[{i}]", problems) for i, v in enumerate(node)]
    return node


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def loads_bundle(text: str | bytes) -> dict:
    """Parse and validate a pingyi-campaign/1 document.

    Parameters
    ----------
    text : str or bytes
        The JSON document (bytes are decoded as UTF-8, a BOM allowed).

    Returns
    -------
    dict
        The document as plain dicts and lists, key order kept.

    Raises
    ------
    BundleError
        Listing every problem found: invalid JSON (path ``$``), duplicate keys
        at their path, and all checks of :func:`validate_bundle`.
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BundleError(
                [BundleProblem("$", f"不是 UTF-8 编码：第 {exc.start} 字节", f"not UTF-8: byte {exc.start}")]
            ) from None
    elif text.startswith("\ufeff"):
        text = text[1:]
    try:
        found: list = []
        raw = json.loads(text, object_pairs_hook=_make_pairs_hook(found), parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BundleError(
            [
                BundleProblem(
                    "$",
                    f"JSON 格式错误：第 {exc.lineno} 行第 {exc.colno} 列，{exc.msg}",
                    f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                )
            ]
        ) from None
    except ValueError as exc:
        raise BundleError([BundleProblem("$", f"JSON 格式错误：{exc}", f"invalid JSON: {exc}")]) from None
    problems: list[BundleProblem] = []
    # Only a document with a repeated key needs the walk that finds its path.
    doc = _plain(raw, "", problems) if found else raw
    problems.extend(validate_bundle(doc))
    if problems:
        raise BundleError(problems)
    return doc


# ---------------------------------------------------------------------------
# Validation


def _is_number(x) -> bool:
    # bool is an int subclass in Python, but `true` is not a number in JSON.
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_int(x) -> bool:
    if isinstance(x, bool):
        return False
    if isinstance(x, int):
        return True
    return isinstance(x, float) and math.isfinite(x) and x.is_integer()


def parse_instant_us(value) -> int:
    """Microseconds since the Unix epoch of an ISO 8601 instant.

    A time without an offset is Beijing time (+08:00), as SCORING.md says.

    Raises
    ------
    ValueError
        If `value` is not a string in ISO 8601 form.
    """
    if not isinstance(value, str):
        raise ValueError(f"submitted_at must be a string, got {value!r}")
    dt = _dt.datetime.fromisoformat(value.strip())
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=BEIJING)
    return (dt - _EPOCH) // _dt.timedelta(microseconds=1)


class _Checker:
    def __init__(self):
        self.problems: list[BundleProblem] = []

    def add(self, path, zh, en):
        self.problems.append(BundleProblem(path, zh, en))

    def obj(self, value, path, what_zh="对象", what_en="an object") -> bool:
        if not isinstance(value, dict):
            self.add(path, f"应为{what_zh}，实为 {_show(value)}", f"must be {what_en}, got {_show(value)}")
            return False
        return True

    def lst(self, value, path) -> bool:
        if not isinstance(value, list):
            self.add(path, f"应为数组，实为 {_show(value)}", f"must be an array, got {_show(value)}")
            return False
        return True

    def string(self, value, path, required=True) -> bool:
        if value is None and not required:
            return True
        if not isinstance(value, str):
            if value is None:
                self.add(path, "缺少此项", "missing")
            else:
                self.add(path, f"应为字符串，实为 {_show(value)}", f"must be a string, got {_show(value)}")
            return False
        return True

    def number(self, value, path, *, positive=False, nonneg=False, nullable=False, integer=False) -> bool:
        if value is None and nullable:
            return True
        ok = _is_int(value) if integer else _is_number(value)
        kind_zh, kind_en = ("整数", "an integer") if integer else ("数字", "a number")
        if not ok:
            if value is None:
                self.add(path, "缺少此项", "missing")
            else:
                self.add(path, f"应为{kind_zh}，实为 {_show(value)}", f"must be {kind_en}, got {_show(value)}")
            return False
        if positive and not value > 0:
            self.add(path, f"应为正数，实为 {_show(value)}", f"must be positive, got {_show(value)}")
            return False
        if nonneg and not value >= 0:
            self.add(path, f"不能为负数，实为 {_show(value)}", f"must not be negative, got {_show(value)}")
            return False
        return True


def _show(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _codes(ck: _Checker, doc, key, fields) -> dict[str, int]:
    """Check a top-level list of coded entries; return code -> index (first occurrence)."""
    seen: dict[str, int] = {}
    entries = doc.get(key)
    if entries is None:
        ck.add(key, f"缺少 {key}", f"missing {key}")
        return seen
    if not ck.lst(entries, key):
        return seen
    for i, e in enumerate(entries):
        p = f"{key}[{i}]"
        if not ck.obj(e, p):
            continue
        code = e.get("code")
        if ck.string(code, f"{p}.code"):
            if code in seen:
                ck.add(f"{p}.code", f"重复的代码 {code}", f"duplicate code {code}")
            else:
                seen[code] = i
        for fname, kind in fields:
            v = e.get(fname)
            fp = f"{p}.{fname}"
            if kind == "str":
                ck.string(v, fp)
            elif kind == "str?":
                ck.string(v, fp, required=False)
            elif kind == "weight":
                if ck.number(v, fp):
                    if not v > 0:
                        ck.add(fp, f"权重必须为正数，实为 {_show(v)}", f"weight must be positive, got {_show(v)}")
    return seen


def validate_bundle(doc: dict) -> list[BundleProblem]:
    """Every problem SCORING.md section 1 refuses a bundle for.

    Parameters
    ----------
    doc : dict
        A parsed pingyi-campaign/1 document.

    Returns
    -------
    list of BundleProblem
        Empty where the bundle is acceptable.
    """
    ck = _Checker()
    if not isinstance(doc, dict):
        ck.add("$", "文档应为 JSON 对象", "the document must be a JSON object")
        return ck.problems
    if doc.get("format") != FORMAT:
        ck.add("format", f"格式应为 {FORMAT}，实为 {_show(doc.get('format'))}",
               f"format must be {FORMAT}, got {_show(doc.get('format'))}")
    camp = doc.get("campaign")
    if camp is None:
        ck.add("campaign", "缺少 campaign", "missing campaign")
    elif ck.obj(camp, "campaign"):
        ck.string(camp.get("code"), "campaign.code")
        ck.string(camp.get("name"), "campaign.name", required=False)
        if "anonymous" in camp and not isinstance(camp["anonymous"], bool):
            ck.add("campaign.anonymous", "应为 true 或 false", "must be true or false")

    # scale
    options = _codes(ck, doc, "scale", [("label", "str?")])
    n_scored = 0
    for i, e in enumerate(doc.get("scale") or [] if isinstance(doc.get("scale"), list) else []):
        if isinstance(e, dict):
            if "points" not in e:
                ck.add(f"scale[{i}].points", "缺少分值（不计分选项请写 null）", "missing points (null for a non-scored option)")
            elif ck.number(e["points"], f"scale[{i}].points", nullable=True) and e["points"] is not None:
                n_scored += 1
    if isinstance(doc.get("scale"), list) and n_scored == 0:
        ck.add("scale", "至少需要一个计分选项", "at least one scored option is needed")

    items = _codes(ck, doc, "items", [("label", "str?"), ("weight", "weight")])
    if isinstance(doc.get("items"), list) and not doc["items"]:
        ck.add("items", "至少需要一个评价项目", "at least one item is needed")
    categories = _codes(ck, doc, "categories", [("label", "str?")])
    units = _codes(ck, doc, "units", [("name", "str?")])
    for i, e in enumerate(doc.get("units") if isinstance(doc.get("units"), list) else []):
        if isinstance(e, dict):
            c = e.get("category")
            if ck.string(c, f"units[{i}].category") and c not in categories:
                ck.add(f"units[{i}].category", f"未知类别 {c}", f"unknown category {c}")
    groups = _codes(ck, doc, "groups", [("label", "str?"), ("weight", "weight")])

    # margins
    margins = doc.get("margins")
    if margins is not None and ck.obj(margins, "margins"):
        for g, variables in margins.items():
            p = f"margins.{g}"
            if g not in groups:
                ck.add(p, f"未知评议组 {g}", f"unknown group {g}")
            if not ck.obj(variables, p):
                continue
            for var, cats in variables.items():
                vp = f"{p}.{var}"
                if not ck.obj(cats, vp):
                    continue
                if not cats:
                    ck.add(vp, "边际分布为空", "empty margin")
                total = 0.0
                ok = True
                for cat, prop in cats.items():
                    if ck.number(prop, f"{vp}.{cat}", nonneg=True):
                        total += prop
                    else:
                        ok = False
                if ok and cats and not total > 0:
                    ck.add(vp, "边际比例之和必须为正", "margin proportions must sum to a positive number")

    # batches
    batches = _codes(ck, doc, "batches", [])
    batch_list = doc.get("batches") if isinstance(doc.get("batches"), list) else []
    for i, e in enumerate(batch_list):
        if not isinstance(e, dict):
            continue
        p = f"batches[{i}]"
        g = e.get("group")
        if ck.string(g, f"{p}.group") and g not in groups:
            ck.add(f"{p}.group", f"未知评议组 {g}", f"unknown group {g}")
        ch = e.get("channel")
        if ck.string(ch, f"{p}.channel") and ch not in CHANNELS:
            ck.add(f"{p}.channel", f"未知渠道 {ch}", f"unknown channel {ch}")
        if e.get("issued") is not None:
            ck.number(e["issued"], f"{p}.issued", integer=True, nonneg=True)

    # ballots
    ballots = doc.get("ballots")
    returned = [0] * len(batch_list)
    if ballots is None:
        ck.add("ballots", "缺少 ballots", "missing ballots")
        ballots = []
    elif not ck.lst(ballots, "ballots"):
        ballots = []
    ids: set[str] = set()
    for i, b in enumerate(ballots):
        p = f"ballots[{i}]"
        if not ck.obj(b, p):
            continue
        bid = b.get("id")
        if ck.string(bid, f"{p}.id"):
            if bid in ids:
                ck.add(f"{p}.id", f"重复的选票编号 {bid}", f"duplicate ballot id {bid}")
            ids.add(bid)
        bat = b.get("batch")
        if ck.string(bat, f"{p}.batch"):
            if bat not in batches:
                ck.add(f"{p}.batch", f"未知批次 {bat}", f"unknown batch {bat}")
            else:
                returned[batches[bat]] += 1
        if "submitted_at" not in b or b["submitted_at"] is None:
            ck.add(f"{p}.submitted_at", "缺少提交时间", "missing submitted_at")
        else:
            try:
                parse_instant_us(b["submitted_at"])
            except (ValueError, TypeError, OverflowError):
                ck.add(f"{p}.submitted_at", f"无法识别的时间 {_show(b['submitted_at'])}",
                       f"unreadable time {_show(b['submitted_at'])}")
        if b.get("duration_s") is not None:
            ck.number(b["duration_s"], f"{p}.duration_s", nonneg=True)
        if b.get("source") is not None:
            ck.string(b["source"], f"{p}.source")
        if b.get("attributes") is not None:
            ck.obj(b["attributes"], f"{p}.attributes")
        answers = b.get("answers")
        if answers is None:
            ck.add(f"{p}.answers", "缺少 answers", "missing answers")
            continue
        if not ck.obj(answers, f"{p}.answers"):
            continue
        for u, per_item in answers.items():
            up = f"{p}.answers.{u}"
            if u not in units:
                ck.add(up, f"未知单位 {u}", f"unknown unit {u}")
                continue
            if not ck.obj(per_item, up):
                continue
            for it, opt in per_item.items():
                ip = f"{up}.{it}"
                if it not in items:
                    ck.add(ip, f"未知评价项目 {it}", f"unknown item {it}")
                    continue
                if not isinstance(opt, str):
                    ck.add(ip, f"选项应为字符串代码，实为 {_show(opt)}", f"option must be a code string, got {_show(opt)}")
                elif opt not in options:
                    ck.add(ip, f"未知选项 {opt}", f"unknown option {opt}")
    for k, e in enumerate(batch_list):
        if isinstance(e, dict) and _is_int(e.get("issued")) and e["issued"] >= 0 and returned[k] > e["issued"]:
            ck.add(f"batches[{k}].issued",
                   f"回收票数大于发出票数：回收 {returned[k]}，发出 {int(e['issued'])}",
                   f"more ballots returned ({returned[k]}) than issued ({int(e['issued'])})")

    # objective scores and vetoes
    objs = doc.get("objective_scores")
    if objs is not None and ck.lst(objs, "objective_scores"):
        seen_pairs = set()
        for i, o in enumerate(objs):
            p = f"objective_scores[{i}]"
            if not ck.obj(o, p):
                continue
            u = o.get("unit")
            if ck.string(u, f"{p}.unit") and u not in units:
                ck.add(f"{p}.unit", f"未知单位 {u}", f"unknown unit {u}")
            comp = o.get("component")
            ck.string(comp, f"{p}.component")
            ck.number(o.get("score"), f"{p}.score")
            key = (u, comp)
            if isinstance(u, str) and isinstance(comp, str):
                if key in seen_pairs:
                    ck.add(p, f"单位 {u} 的分项 {comp} 有两个客观得分", f"two objective scores for unit {u} and component {comp}")
                seen_pairs.add(key)
    vetoes = doc.get("vetoes")
    if vetoes is not None and ck.lst(vetoes, "vetoes"):
        for i, v in enumerate(vetoes):
            p = f"vetoes[{i}]"
            if not ck.obj(v, p):
                continue
            u = v.get("unit")
            if ck.string(u, f"{p}.unit") and u not in units:
                ck.add(f"{p}.unit", f"未知单位 {u}", f"unknown unit {u}")
            ck.string(v.get("reason"), f"{p}.reason", required=False)

    rules = doc.get("rules")
    if rules is not None:
        _check_rules(ck, rules, "rules", items)
    return ck.problems


def _check_rules(ck: _Checker, rules, path: str, items: Mapping[str, int] | None) -> None:
    if not ck.obj(rules, path):
        return
    for key, v in rules.items():
        p = f"{path}.{key}"
        if key not in DEFAULT_RULES:
            ck.add(p, f"未知规则 {key}", f"unknown rule {key}")
        elif key == "ballot_share":
            ck.number(v, p, nonneg=True)
        elif key == "objective_components":
            if ck.obj(v, p):
                for comp, c in v.items():
                    ck.number(c, f"{p}.{comp}", nonneg=True)
        elif key == "thresholds":
            if ck.obj(v, p):
                for tk, tv in v.items():
                    if tk not in ("satisfied", "basic"):
                        ck.add(f"{p}.{tk}", f"未知阈值 {tk}", f"unknown threshold {tk}")
                    else:
                        ck.number(tv, f"{p}.{tk}")
                s, b = v.get("satisfied"), v.get("basic")
                if _is_number(s) and _is_number(b) and b > s:
                    ck.add(p, "基本满意阈值不能高于满意阈值", "the basic threshold must not exceed the satisfied one")
        elif key == "max_dissatisfied_share":
            ck.number(v, p, nullable=True)
        elif key == "bottom":
            if v is not None and ck.obj(v, p):
                ck.number(v.get("n"), f"{p}.n", integer=True, positive=True)
                ck.number(v.get("below"), f"{p}.below")
                for bk in v:
                    if bk not in ("n", "below"):
                        ck.add(f"{p}.{bk}", f"未知键 {bk}", f"unknown key {bk}")
        elif key == "min_valid_per_unit":
            ck.number(v, p, integer=True, nonneg=True)
        elif key == "trim_per_end":
            if ck.number(v, p, nonneg=True) and not v < 0.5:
                ck.add(p, f"每端去除比例必须小于 0.5，实为 {_show(v)}", f"trim_per_end must be below 0.5, got {_show(v)}")
        elif key == "nonresponse_adjust":
            if not isinstance(v, bool):
                ck.add(p, "应为 true 或 false", "must be true or false")
        elif key == "weight_cap":
            ck.number(v, p, nullable=True, positive=True)
        elif key == "exclude_flags":
            if ck.lst(v, p):
                for i, f in enumerate(v):
                    if f not in FLAGS:
                        ck.add(f"{p}[{i}]", f"未知标记 {_show(f)}", f"unknown flag {_show(f)}")
        elif key == "burst_limit":
            ck.number(v, p, integer=True, nonneg=True)
        elif key == "overall_item":
            if v is not None and ck.string(v, p) and items is not None and v not in items:
                ck.add(p, f"未知评价项目 {v}", f"unknown item {v}")
        elif key == "bootstrap":
            if ck.obj(v, p):
                for bk, bv in v.items():
                    if bk == "replicates":
                        ck.number(bv, f"{p}.{bk}", integer=True, nonneg=True)
                    elif bk == "seed":
                        ck.number(bv, f"{p}.{bk}", integer=True, nonneg=True)
                    else:
                        ck.add(f"{p}.{bk}", f"未知键 {bk}", f"unknown key {bk}")


def effective_rules(bundle_rules: dict | None, override: dict | None = None,
                    items: Mapping[str, int] | None = None) -> dict:
    """The rules a campaign runs with: defaults, then the bundle's, then an override.

    Each layer replaces keys one by one; ``thresholds`` and ``bootstrap`` are
    merged key by key (SCORING.md section 1).

    Raises
    ------
    BundleError
        If `override` is not a valid rules object (paths start at ``rules``);
        ``items`` (item code → index), where given, lets it check
        ``overall_item`` too.
    """
    rules = copy.deepcopy(DEFAULT_RULES)
    for layer in (bundle_rules, override):
        if not layer:
            continue
        if layer is override:
            ck = _Checker()
            _check_rules(ck, layer, "rules", items)
            if ck.problems:
                raise BundleError(ck.problems)
        for k, v in layer.items():
            if k in _MERGED_RULES and isinstance(v, dict):
                merged = dict(rules[k])
                merged.update(copy.deepcopy(v))
                rules[k] = merged
            else:
                rules[k] = copy.deepcopy(v)
    return rules


# ---------------------------------------------------------------------------
# The typed array form


@dataclass(frozen=True)
class Margin:
    """The raking targets of one variable of one group.

    Attributes
    ----------
    group : int
        Index of the group raked.
    variable : str
        Attribute name.
    categories : tuple
        Category values (JSON values), in the given order.
    proportions : ndarray of float
        Target proportions, normalised to sum 1.
    codes : ndarray of int64, shape (n_ballots,)
        Per ballot: index into `categories`; -1 where the attribute is missing
        or null, -2 where its value is not a named category.
    """

    group: int
    variable: str
    categories: tuple
    proportions: np.ndarray
    codes: np.ndarray


@dataclass(frozen=True)
class Campaign:
    """A campaign as arrays: what the engine runs on.

    Attributes
    ----------
    code : str
        Campaign code.
    option_codes, item_codes, unit_codes, category_codes, group_codes, batch_codes : tuple of str
        Codes in document order.
    option_points : ndarray of float
        Points per option; NaN for a non-scored option.
    item_weights, group_weights : ndarray of float
    unit_category : ndarray of int64
        Category index per unit.
    batch_group : ndarray of int64
    batch_issued : ndarray of int64
        Forms issued per batch; -1 for an open batch.
    ballot_ids : ndarray of str
    ballot_batch : ndarray of int64
    submitted_us : ndarray of int64
        Submission instants, microseconds since the Unix epoch.
    duration_s : ndarray of float
        NaN where absent.
    source : ndarray of int64
        Code of the submitting address (equal codes for equal strings); -1 where absent.
    network : ndarray of int64
        Code of the IPv4 /24 or IPv6 /64 of the source; -1 where not an IP address.
    answer_key : ndarray of int64
        Equal codes exactly where two ballots' answers are equal as JSON
        objects (from a document: computed for ballots of open batches with a
        source, the only ones the duplicate flag compares; the others get
        distinct negative codes).
    answers : ndarray of int8, shape (n_ballots, n_units, n_items)
        Option index per ballot, unit and item; -1 where not answered.
    margins : tuple of Margin
    objective : ndarray of float, shape (n_units, n_components)
        NaN where a unit has no score for a component.
    objective_components : tuple of str
    veto : ndarray of bool
    rules : dict
        Effective rules (see :func:`effective_rules`).
    """

    code: str
    option_codes: tuple
    option_points: np.ndarray
    item_codes: tuple
    item_weights: np.ndarray
    category_codes: tuple
    unit_codes: tuple
    unit_category: np.ndarray
    group_codes: tuple
    group_weights: np.ndarray
    batch_codes: tuple
    batch_group: np.ndarray
    batch_issued: np.ndarray
    ballot_ids: np.ndarray
    ballot_batch: np.ndarray
    submitted_us: np.ndarray
    duration_s: np.ndarray
    source: np.ndarray
    network: np.ndarray
    answer_key: np.ndarray
    answers: np.ndarray
    margins: tuple = ()
    objective: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    objective_components: tuple = ()
    veto: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    rules: dict = field(default_factory=lambda: copy.deepcopy(DEFAULT_RULES))

    @property
    def n_ballots(self) -> int:
        return int(self.answers.shape[0])

    @property
    def ballot_group(self) -> np.ndarray:
        return self.batch_group[self.ballot_batch]

    @property
    def overall_item(self) -> int:
        code = self.rules.get("overall_item")
        return 0 if code is None else self.item_codes.index(code)

    @classmethod
    def from_arrays(
        cls,
        *,
        option_points,
        item_weights,
        unit_category,
        group_weights,
        batch_group,
        batch_issued,
        ballot_batch,
        answers,
        ballot_ids=None,
        submitted_us=None,
        duration_s=None,
        source=None,
        network=None,
        answer_key=None,
        margins=(),
        objective=None,
        objective_components=(),
        veto=None,
        rules=None,
        code="campaign",
        option_codes=None,
        item_codes=None,
        unit_codes=None,
        category_codes=None,
        group_codes=None,
        batch_codes=None,
    ) -> Campaign:
        """Build a campaign straight from arrays (no JSON), filling the optional ones.

        Absent ids become ``b0000000``, ``b0000001``, ...; absent times, all
        equal; absent durations and sources, absent. `answer_key` is computed
        from `answers` where not given. Codes default to ``o0``, ``i0``, ...

        Raises
        ------
        ValueError
            If shapes disagree or an index is out of range, naming it.
        """
        option_points = np.asarray(option_points, dtype=float)
        item_weights = np.asarray(item_weights, dtype=float)
        unit_category = np.asarray(unit_category, dtype=np.int64)
        group_weights = np.asarray(group_weights, dtype=float)
        batch_group = np.asarray(batch_group, dtype=np.int64)
        batch_issued = np.asarray(batch_issued, dtype=np.int64)
        ballot_batch = np.asarray(ballot_batch, dtype=np.int64)
        answers = np.asarray(answers)
        if answers.ndim == 2:
            answers = answers[:, :, None]
        if answers.ndim != 3:
            raise ValueError(f"answers must have shape (ballots, units, items), got {answers.shape}")
        if answers.dtype != np.int8:
            if answers.size and (answers.min() < -1 or answers.max() >= len(option_points)):
                raise ValueError("answers holds an option index out of range")
            answers = answers.astype(np.int8)
        n, n_units, n_items = answers.shape
        if n_units != len(unit_category):
            raise ValueError(f"answers has {n_units} units but unit_category has {len(unit_category)}")
        if n_items != len(item_weights):
            raise ValueError(f"answers has {n_items} items but item_weights has {len(item_weights)}")
        if len(ballot_batch) != n:
            raise ValueError(f"ballot_batch has {len(ballot_batch)} rows, answers {n}")
        if n and (ballot_batch.min() < 0 or ballot_batch.max() >= len(batch_group)):
            raise ValueError("ballot_batch holds a batch index out of range")
        if np.any(item_weights <= 0):
            raise ValueError(f"item weights must be positive, got {item_weights.tolist()}")
        if np.any(group_weights <= 0):
            raise ValueError(f"group weights must be positive, got {group_weights.tolist()}")
        n_categories = int(unit_category.max()) + 1 if len(unit_category) else 0
        if ballot_ids is None:
            ballot_ids = np.char.add("b", np.char.zfill(np.arange(n).astype(str), 7)) if n else np.zeros(0, dtype="<U1")
        ballot_ids = np.asarray(ballot_ids)
        if ballot_ids.dtype.kind != "U":
            ballot_ids = ballot_ids.astype(str)
        if len(np.unique(ballot_ids)) != n:
            raise ValueError("ballot_ids must be unique")
        if submitted_us is None:
            submitted_us = np.zeros(n, dtype=np.int64)
        if duration_s is None:
            duration_s = np.full(n, np.nan)
        if source is None:
            source = np.full(n, -1, dtype=np.int64)
        if network is None:
            network = np.full(n, -1, dtype=np.int64)
        if answer_key is None:
            answer_key = _row_codes(answers)
        if objective is None:
            objective = np.zeros((n_units, len(objective_components)))
            objective[:] = np.nan
        if veto is None:
            veto = np.zeros(n_units, dtype=bool)
        return cls(
            code=code,
            option_codes=tuple(option_codes or (f"o{i}" for i in range(len(option_points)))),
            option_points=option_points,
            item_codes=tuple(item_codes or (f"i{i}" for i in range(n_items))),
            item_weights=item_weights,
            category_codes=tuple(category_codes or (f"c{i}" for i in range(n_categories))),
            unit_codes=tuple(unit_codes or (f"u{i}" for i in range(n_units))),
            unit_category=unit_category,
            group_codes=tuple(group_codes or (f"g{i}" for i in range(len(group_weights)))),
            group_weights=group_weights,
            batch_codes=tuple(batch_codes or (f"k{i}" for i in range(len(batch_group)))),
            batch_group=batch_group,
            batch_issued=batch_issued,
            ballot_ids=ballot_ids,
            ballot_batch=ballot_batch,
            submitted_us=np.asarray(submitted_us, dtype=np.int64),
            duration_s=np.asarray(duration_s, dtype=float),
            source=np.asarray(source, dtype=np.int64),
            network=np.asarray(network, dtype=np.int64),
            answer_key=np.asarray(answer_key, dtype=np.int64),
            answers=answers,
            margins=tuple(margins),
            objective=np.asarray(objective, dtype=float),
            objective_components=tuple(objective_components),
            veto=np.asarray(veto, dtype=bool),
            rules=effective_rules(rules),
        )


def _row_codes(answers: np.ndarray) -> np.ndarray:
    """Codes equal exactly where two ballots' answer rows are equal."""
    n = answers.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rows = np.ascontiguousarray(answers.reshape(n, -1))
    view = rows.view(np.dtype((np.void, rows.shape[1])))
    _, inverse = np.unique(view.ravel(), return_inverse=True)
    return inverse.astype(np.int64).ravel()


def network_of(source: str) -> str | None:
    """The IPv4 /24 or IPv6 /64 of an address, or None where it is not one."""
    try:
        ip = ipaddress.ip_address(source.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _canonical_answers(answers: dict) -> str:
    return json.dumps(answers, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _json_value_key(value) -> str:
    # Categories compare as JSON values: 1 != "1", 1 == 1.0.
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return "n:" + repr(float(value))
    return "j:" + json.dumps(value, sort_keys=True, ensure_ascii=False)


def from_document(doc: dict, override: dict | None = None) -> Campaign:
    """Turn a valid bundle into a :class:`Campaign`.

    Parameters
    ----------
    doc : dict
        A document accepted by :func:`validate_bundle` (call it, or use
        :func:`loads_bundle`, first).
    override : dict, optional
        Rules replacing the bundle's (``--rules``).

    Raises
    ------
    BundleError
        If the document (or the override) is not valid.
    """
    problems = validate_bundle(doc)
    if problems:
        raise BundleError(problems)
    rules = effective_rules(doc.get("rules"), override, {it["code"]: k for k, it in enumerate(doc["items"])})
    options = doc["scale"]
    items = doc["items"]
    units = doc["units"]
    categories = doc["categories"]
    groups = doc["groups"]
    batches = doc["batches"]
    ballots = doc["ballots"]
    opt_idx = {o["code"]: i for i, o in enumerate(options)}
    item_idx = {it["code"]: i for i, it in enumerate(items)}
    unit_idx = {u["code"]: i for i, u in enumerate(units)}
    cat_idx = {c["code"]: i for i, c in enumerate(categories)}
    group_idx = {g["code"]: i for i, g in enumerate(groups)}
    batch_idx = {b["code"]: i for i, b in enumerate(batches)}
    n = len(ballots)
    answers = np.full((n, len(units), len(items)), -1, dtype=np.int8)
    if len(options) > 127:
        raise ValueError(f"at most 127 scale options are supported, got {len(options)}")
    ids = []
    bbatch = np.empty(n, dtype=np.int64)
    t_us = np.empty(n, dtype=np.int64)
    dur = np.full(n, np.nan)
    source = np.full(n, -1, dtype=np.int64)
    network = np.full(n, -1, dtype=np.int64)
    akey = np.empty(n, dtype=np.int64)
    src_codes: dict[str, int] = {}
    net_codes: dict[str, int] = {}
    ans_codes: dict[str, int] = {}
    open_batch = [b.get("issued") is None for b in batches]
    flat_pos: list[int] = []
    flat_opt: list[int] = []
    n_units, n_items = len(units), len(items)
    for r, b in enumerate(ballots):
        ids.append(b["id"])
        k = batch_idx[b["batch"]]
        bbatch[r] = k
        t_us[r] = parse_instant_us(b["submitted_at"])
        if b.get("duration_s") is not None:
            dur[r] = float(b["duration_s"])
        s = b.get("source")
        if s is not None:
            source[r] = src_codes.setdefault(s, len(src_codes))
            net = network_of(s)
            if net is not None:
                network[r] = net_codes.setdefault(net, len(net_codes))
        if s is not None and open_batch[k]:
            akey[r] = ans_codes.setdefault(_canonical_answers(b["answers"]), len(ans_codes))
        else:
            # Only ballots of open batches with a source can be duplicates;
            # the others get keys no other ballot shares.
            akey[r] = -1 - r
        base = r * n_units
        for u, per_item in b["answers"].items():
            cell = (base + unit_idx[u]) * n_items
            for it, opt in per_item.items():
                flat_pos.append(cell + item_idx[it])
                flat_opt.append(opt_idx[opt])
    if flat_pos:
        answers.reshape(-1)[np.array(flat_pos, dtype=np.int64)] = np.array(flat_opt, dtype=np.int8)
    margins = []
    for g, variables in (doc.get("margins") or {}).items():
        gi = group_idx[g]
        for var, cats in variables.items():
            keys = {_json_value_key(c): j for j, c in enumerate(cats)}
            props = np.array([float(p) for p in cats.values()])
            codes = np.full(n, -1, dtype=np.int64)
            for r, b in enumerate(ballots):
                attrs = b.get("attributes") or {}
                if var in attrs and attrs[var] is not None:
                    codes[r] = keys.get(_json_value_key(attrs[var]), -2)
            margins.append(Margin(gi, var, tuple(cats), props / props.sum(), codes))
    comps = []
    for o in doc.get("objective_scores") or []:
        if o["component"] not in comps:
            comps.append(o["component"])
    for c in rules["objective_components"]:
        if c not in comps:
            comps.append(c)
    objective = np.full((len(units), len(comps)), np.nan)
    for o in doc.get("objective_scores") or []:
        objective[unit_idx[o["unit"]], comps.index(o["component"])] = float(o["score"])
    veto = np.zeros(len(units), dtype=bool)
    for v in doc.get("vetoes") or []:
        veto[unit_idx[v["unit"]]] = True
    return Campaign(
        code=str(doc["campaign"]["code"]),
        option_codes=tuple(o["code"] for o in options),
        option_points=np.array([np.nan if o["points"] is None else float(o["points"]) for o in options]),
        item_codes=tuple(it["code"] for it in items),
        item_weights=np.array([float(it["weight"]) for it in items]),
        category_codes=tuple(c["code"] for c in categories),
        unit_codes=tuple(u["code"] for u in units),
        unit_category=np.array([cat_idx[u["category"]] for u in units], dtype=np.int64),
        group_codes=tuple(g["code"] for g in groups),
        group_weights=np.array([float(g["weight"]) for g in groups]),
        batch_codes=tuple(b["code"] for b in batches),
        batch_group=np.array([group_idx[b["group"]] for b in batches], dtype=np.int64),
        batch_issued=np.array([-1 if b.get("issued") is None else int(b["issued"]) for b in batches], dtype=np.int64),
        ballot_ids=np.array(ids, dtype=str) if ids else np.zeros(0, dtype="<U1"),
        ballot_batch=bbatch,
        submitted_us=t_us,
        duration_s=dur,
        source=source,
        network=network,
        answer_key=akey,
        answers=answers,
        margins=tuple(margins),
        objective=objective,
        objective_components=tuple(comps),
        veto=veto,
        rules=rules,
    )
