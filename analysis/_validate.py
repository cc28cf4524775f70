"""Validation of a campaign bundle (SCORING.md section 1), one record at a time.

Each list of the document has a validator taking ONE record, its index and a
:class:`BundleContext`; it yields the record's problems (with their JSON
paths) and records in the context what later records are checked against
(codes, ballot ids, ballots per batch). :func:`validate_bundle` drives them
over a parsed document in document order; a streaming reader can drive the
same validators record by record without holding the whole tree (the
sections only refer back: margins and batches to groups, ballots to
batches, units, items and options, the rules to items).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from . import _rules
from ._checks import (
    CHANNELS,
    FORMAT,
    Problems,
    check_list,
    check_number,
    check_obj,
    check_string,
    is_int,
    parse_instant_us,
    show,
)
from ._errors import BundleProblem

__all__ = [
    "BundleContext",
    "validate_bundle",
    "iter_problems",
    "validate_header",
    "sections_before_ballots",
    "sections_after_ballots",
    "validate_scale_option",
    "validate_item",
    "validate_category",
    "validate_unit",
    "validate_group",
    "validate_margin",
    "validate_batch",
    "validate_ballot",
    "finish_ballots",
    "validate_objective_score",
    "validate_veto",
]


@dataclass
class BundleContext:
    """What the record validators learn from the records already seen.

    Attributes
    ----------
    options, items, categories, units, groups, batches : dict of str to int
        Code → index of its first occurrence, per list.
    n_scored : int
        Scale options with points.
    batch_issued : list
        Per batch record: its ``issued`` as given (None for a non-object).
    returned : list of int
        Per batch record: the ballots naming it.
    ballot_ids : set of str
        Ballot ids seen.
    objective_pairs : set of (str, str)
        (unit, component) pairs given an objective score.
    """

    options: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict)
    n_scored: int = 0
    batch_issued: list[Any] = field(default_factory=list)
    returned: list[int] = field(default_factory=list)
    ballot_ids: set[str] = field(default_factory=set)
    objective_pairs: set[tuple[str, str]] = field(default_factory=set)


# ---------------------------------------------------------------------------
# Coded records (scale, items, categories, units, groups, batches)


def _code(e: dict[str, Any], p: str, seen: dict[str, int], index: int) -> Problems:
    code = e.get("code")
    if (yield from check_string(code, f"{p}.code")):
        assert isinstance(code, str)
        if code in seen:
            yield BundleProblem(f"{p}.code", f"重复的代码 {code}", f"duplicate code {code}")
        else:
            seen[code] = index


def _weight(v: Any, fp: str) -> Problems:
    if (yield from check_number(v, fp)) and not v > 0:
        yield BundleProblem(fp, f"权重必须为正数，实为 {show(v)}", f"weight must be positive, got {show(v)}")


def _coded(e: Any, p: str, seen: dict[str, int], index: int, text: str) -> Generator[BundleProblem, None, bool]:
    """An object with a code unique among `seen` and an optional text field (label or name);
    False when `e` is no object (nothing more can be checked)."""
    if not (yield from check_obj(e, p)):
        return False
    yield from _code(e, p, seen, index)
    yield from check_string(e.get(text), f"{p}.{text}", required=False)
    return True


def validate_scale_option(e: Any, index: int, ctx: BundleContext) -> Problems:
    """``scale[index]``: code, label and points (null for a non-scored option)."""
    p = f"scale[{index}]"
    if not (yield from _coded(e, p, ctx.options, index, "label")):
        return
    if "points" not in e:
        yield BundleProblem(f"{p}.points", "缺少分值（不计分选项请写 null）", "missing points (null for a non-scored option)")
    elif (yield from check_number(e["points"], f"{p}.points", nullable=True)) and e["points"] is not None:
        ctx.n_scored += 1


def validate_item(e: Any, index: int, ctx: BundleContext) -> Problems:
    """``items[index]``: code, label and a positive weight."""
    p = f"items[{index}]"
    if (yield from _coded(e, p, ctx.items, index, "label")):
        yield from _weight(e.get("weight"), f"{p}.weight")


def validate_category(e: Any, index: int, ctx: BundleContext) -> Problems:
    """``categories[index]``: code and label."""
    yield from _coded(e, f"categories[{index}]", ctx.categories, index, "label")


def validate_unit(e: Any, index: int, ctx: BundleContext) -> Problems:
    """``units[index]``: code, name and a known category."""
    p = f"units[{index}]"
    if not (yield from _coded(e, p, ctx.units, index, "name")):
        return
    c = e.get("category")
    if (yield from check_string(c, f"{p}.category")) and c not in ctx.categories:
        yield BundleProblem(f"{p}.category", f"未知类别 {c}", f"unknown category {c}")


def validate_group(e: Any, index: int, ctx: BundleContext) -> Problems:
    """``groups[index]``: code, label and a positive weight."""
    p = f"groups[{index}]"
    if (yield from _coded(e, p, ctx.groups, index, "label")):
        yield from _weight(e.get("weight"), f"{p}.weight")


def validate_batch(e: Any, index: int, ctx: BundleContext) -> Problems:
    """``batches[index]``: code, a known group, a known channel, ``issued`` if given."""
    ctx.batch_issued.append(e.get("issued") if isinstance(e, dict) else None)
    ctx.returned.append(0)
    p = f"batches[{index}]"
    if not (yield from check_obj(e, p)):
        return
    yield from _code(e, p, ctx.batches, index)
    g = e.get("group")
    if (yield from check_string(g, f"{p}.group")) and g not in ctx.groups:
        yield BundleProblem(f"{p}.group", f"未知评议组 {g}", f"unknown group {g}")
    ch = e.get("channel")
    if (yield from check_string(ch, f"{p}.channel")) and ch not in CHANNELS:
        yield BundleProblem(f"{p}.channel", f"未知渠道 {ch}", f"unknown channel {ch}")
    if e.get("issued") is not None:
        yield from check_number(e["issued"], f"{p}.issued", integer=True, nonneg=True)


# ---------------------------------------------------------------------------
# Margins (an object: one record per group)


def _margin_variable(cats: Any, vp: str) -> Problems:
    if not (yield from check_obj(cats, vp)):
        return
    if not cats:
        yield BundleProblem(vp, "边际分布为空", "empty margin")
    total = 0.0
    ok = True
    for cat, prop in cats.items():
        if (yield from check_number(prop, f"{vp}.{cat}", nonneg=True)):
            total += prop
        else:
            ok = False
    if ok and cats and not total > 0:
        yield BundleProblem(vp, "边际比例之和必须为正", "margin proportions must sum to a positive number")


def validate_margin(group: str, variables: Any, ctx: BundleContext) -> Problems:
    """``margins.<group>``: a known group, and per variable non-negative proportions summing above 0."""
    p = f"margins.{group}"
    if group not in ctx.groups:
        yield BundleProblem(p, f"未知评议组 {group}", f"unknown group {group}")
    if not (yield from check_obj(variables, p)):
        return
    for var, cats in variables.items():
        yield from _margin_variable(cats, f"{p}.{var}")


# ---------------------------------------------------------------------------
# Ballots


def _ballot_id(bid: Any, p: str, ctx: BundleContext) -> Problems:
    if (yield from check_string(bid, f"{p}.id")):
        if bid in ctx.ballot_ids:
            yield BundleProblem(f"{p}.id", f"重复的选票编号 {bid}", f"duplicate ballot id {bid}")
        ctx.ballot_ids.add(bid)


def _ballot_batch(bat: Any, p: str, ctx: BundleContext) -> Problems:
    if (yield from check_string(bat, f"{p}.batch")):
        k = ctx.batches.get(bat)
        if k is None:
            yield BundleProblem(f"{p}.batch", f"未知批次 {bat}", f"unknown batch {bat}")
        else:
            ctx.returned[k] += 1


def _ballot_time(when: Any, p: str) -> Problems:
    if when is None:
        yield BundleProblem(f"{p}.submitted_at", "缺少提交时间", "missing submitted_at")
        return
    try:
        parse_instant_us(when)
    except (ValueError, TypeError, OverflowError):
        yield BundleProblem(f"{p}.submitted_at", f"无法识别的时间 {show(when)}", f"unreadable time {show(when)}")


def _ballot_optional(b: dict[str, Any], p: str) -> Problems:
    if b.get("duration_s") is not None:
        yield from check_number(b["duration_s"], f"{p}.duration_s", nonneg=True)
    if b.get("source") is not None:
        yield from check_string(b["source"], f"{p}.source")
    if b.get("attributes") is not None:
        yield from check_obj(b["attributes"], f"{p}.attributes")


def _answer_problem(it: str, opt: Any, ip: str, ctx: BundleContext) -> BundleProblem:
    if it not in ctx.items:
        return BundleProblem(ip, f"未知评价项目 {it}", f"unknown item {it}")
    if not isinstance(opt, str):
        return BundleProblem(ip, f"选项应为字符串代码，实为 {show(opt)}", f"option must be a code string, got {show(opt)}")
    return BundleProblem(ip, f"未知选项 {opt}", f"unknown option {opt}")


def _answers(answers: dict[str, Any], p: str, ctx: BundleContext) -> Problems:
    units, items, options = ctx.units, ctx.items, ctx.options
    for u, per_item in answers.items():
        if u not in units:
            yield BundleProblem(f"{p}.answers.{u}", f"未知单位 {u}", f"unknown unit {u}")
        elif not isinstance(per_item, dict):
            yield from check_obj(per_item, f"{p}.answers.{u}")
        else:
            # The fast path of a large bundle: no generator, no path built, per valid answer.
            for it, opt in per_item.items():
                if not (it in items and isinstance(opt, str) and opt in options):
                    yield _answer_problem(it, opt, f"{p}.answers.{u}.{it}", ctx)


def validate_ballot(b: Any, index: int, ctx: BundleContext) -> Problems:
    """``ballots[index]``: a new id, a known batch, a readable time, optional fields, answers in known codes.

    Counts the ballot for its batch in `ctx` (see :func:`finish_ballots`).
    """
    p = f"ballots[{index}]"
    if not (yield from check_obj(b, p)):
        return
    yield from _ballot_id(b.get("id"), p, ctx)
    yield from _ballot_batch(b.get("batch"), p, ctx)
    yield from _ballot_time(b.get("submitted_at"), p)
    yield from _ballot_optional(b, p)
    answers = b.get("answers")
    if answers is None:
        yield BundleProblem(f"{p}.answers", "缺少 answers", "missing answers")
    elif (yield from check_obj(answers, f"{p}.answers")):
        yield from _answers(answers, p, ctx)


def finish_ballots(ctx: BundleContext) -> Problems:
    """After the last ballot: batches that returned more ballots than they issued."""
    for k, issued in enumerate(ctx.batch_issued):
        if is_int(issued) and issued >= 0 and ctx.returned[k] > issued:
            yield BundleProblem(f"batches[{k}].issued",
                                f"回收票数大于发出票数：回收 {ctx.returned[k]}，发出 {int(issued)}",
                                f"more ballots returned ({ctx.returned[k]}) than issued ({int(issued)})")


# ---------------------------------------------------------------------------
# Objective scores and vetoes


def _known_unit(u: Any, up: str, ctx: BundleContext) -> Problems:
    if (yield from check_string(u, up)) and u not in ctx.units:
        yield BundleProblem(up, f"未知单位 {u}", f"unknown unit {u}")


def validate_objective_score(o: Any, index: int, ctx: BundleContext) -> Problems:
    """``objective_scores[index]``: a known unit, a component, a score; one per (unit, component)."""
    p = f"objective_scores[{index}]"
    if not (yield from check_obj(o, p)):
        return
    u = o.get("unit")
    yield from _known_unit(u, f"{p}.unit", ctx)
    comp = o.get("component")
    yield from check_string(comp, f"{p}.component")
    yield from check_number(o.get("score"), f"{p}.score")
    if isinstance(u, str) and isinstance(comp, str):
        if (u, comp) in ctx.objective_pairs:
            yield BundleProblem(p, f"单位 {u} 的分项 {comp} 有两个客观得分",
                                f"two objective scores for unit {u} and component {comp}")
        ctx.objective_pairs.add((u, comp))


def validate_veto(v: Any, index: int, ctx: BundleContext) -> Problems:
    """``vetoes[index]``: a known unit and an optional reason."""
    p = f"vetoes[{index}]"
    if not (yield from check_obj(v, p)):
        return
    yield from _known_unit(v.get("unit"), f"{p}.unit", ctx)
    yield from check_string(v.get("reason"), f"{p}.reason", required=False)


# ---------------------------------------------------------------------------
# The driver

_RecordValidator = Callable[[Any, int, BundleContext], Problems]


def validate_header(doc: dict[str, Any]) -> Problems:
    """``format`` and ``campaign``."""
    if doc.get("format") != FORMAT:
        yield BundleProblem("format", f"格式应为 {FORMAT}，实为 {show(doc.get('format'))}",
                            f"format must be {FORMAT}, got {show(doc.get('format'))}")
    camp = doc.get("campaign")
    if camp is None:
        yield BundleProblem("campaign", "缺少 campaign", "missing campaign")
    elif (yield from check_obj(camp, "campaign")):
        yield from check_string(camp.get("code"), "campaign.code")
        yield from check_string(camp.get("name"), "campaign.name", required=False)
        if "anonymous" in camp and not isinstance(camp["anonymous"], bool):
            yield BundleProblem("campaign.anonymous", "应为 true 或 false", "must be true or false")


def _section(doc: dict[str, Any], key: str, validate: _RecordValidator, ctx: BundleContext, *,
             required: bool = True) -> Problems:
    """Every record of the list ``doc[key]``; returns nothing, yields the problems."""
    records = doc.get(key)
    if records is None:
        if required:
            yield BundleProblem(key, f"缺少 {key}", f"missing {key}")
        return
    if not (yield from check_list(records, key)):
        return
    for i, record in enumerate(records):
        yield from validate(record, i, ctx)


def sections_before_ballots(doc: dict[str, Any], ctx: BundleContext) -> Problems:
    """The sections the ballots are checked against: scale, items, categories, units, groups, margins, batches."""
    yield from _section(doc, "scale", validate_scale_option, ctx)
    if isinstance(doc.get("scale"), list) and ctx.n_scored == 0:
        yield BundleProblem("scale", "至少需要一个计分选项", "at least one scored option is needed")
    yield from _section(doc, "items", validate_item, ctx)
    if doc.get("items") == []:
        yield BundleProblem("items", "至少需要一个评价项目", "at least one item is needed")
    yield from _section(doc, "categories", validate_category, ctx)
    yield from _section(doc, "units", validate_unit, ctx)
    yield from _section(doc, "groups", validate_group, ctx)
    margins = doc.get("margins")
    if margins is not None and (yield from check_obj(margins, "margins")):
        for g, variables in margins.items():
            yield from validate_margin(g, variables, ctx)
    yield from _section(doc, "batches", validate_batch, ctx)


def sections_after_ballots(doc: dict[str, Any], ctx: BundleContext) -> Problems:
    """What is checked after the last ballot: issued counts, objective scores, vetoes and rules."""
    yield from finish_ballots(ctx)
    yield from _section(doc, "objective_scores", validate_objective_score, ctx, required=False)
    yield from _section(doc, "vetoes", validate_veto, ctx, required=False)
    if doc.get("rules") is not None:
        yield from _rules.check_rules(doc["rules"], "rules", ctx.items)


def _sections(doc: dict[str, Any], ctx: BundleContext) -> Problems:
    yield from sections_before_ballots(doc, ctx)
    yield from _section(doc, "ballots", validate_ballot, ctx)
    yield from sections_after_ballots(doc, ctx)


def iter_problems(doc: object, ctx: BundleContext | None = None) -> Problems:
    """The problems of a parsed document, in document order, as they are found."""
    if not isinstance(doc, dict):
        yield BundleProblem("$", "文档应为 JSON 对象", "the document must be a JSON object")
        return
    yield from validate_header(doc)
    yield from _sections(doc, BundleContext() if ctx is None else ctx)


def validate_bundle(doc: object) -> list[BundleProblem]:
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
    return list(iter_problems(doc))
