"""The rules a campaign runs with (SCORING.md section 8): their defaults, their checks and their merging."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from ._checks import FLAGS, Problems, check_list, check_number, check_obj, check_string, is_number, show
from ._errors import BundleError, BundleProblem

__all__ = ["DEFAULT_RULES", "check_rules", "effective_rules"]

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

#: A check of one rule: its value, its path and the item codes (None: unknown).
_RuleCheck = Callable[[Any, str, "Mapping[str, int] | None"], Problems]


def _ballot_share(v: Any, p: str, items: Mapping[str, int] | None) -> Problems:
    yield from check_number(v, p, nonneg=True)


def _objective_components(v: Any, p: str, items: Mapping[str, int] | None) -> Problems:
    if (yield from check_obj(v, p)):
        for comp, c in v.items():
            yield from check_number(c, f"{p}.{comp}", nonneg=True)


def _thresholds(v: Any, p: str, items: Mapping[str, int] | None) -> Problems:
    if not (yield from check_obj(v, p)):
        return
    for tk, tv in v.items():
        if tk not in ("satisfied", "basic"):
            yield BundleProblem(f"{p}.{tk}", f"未知阈值 {tk}", f"unknown threshold {tk}")
        else:
            yield from check_number(tv, f"{p}.{tk}")
    s, b = v.get("satisfied"), v.get("basic")
    if is_number(s) and is_number(b) and b > s:
        yield BundleProblem(p, "基本满意阈值不能高于满意阈值", "the basic threshold must not exceed the satisfied one")


def _max_dissatisfied_share(v: Any, p: str, items: Mapping[str, int] | None) -> Problems:
    yield from check_number(v, p, nullable=True)


def _bottom(v: Any, p: str, items: Mapping[str, int] | None) -> Problems:
    if v is None or not (yield from check_obj(v, p)):
        return
    yield from check_number(v.get("n"), f"{p}.n", integer=True, positive=True)
    yield from check_number(v.get("below"), f"{p}.below")
    for bk in v:
        if bk not in ("n", "below"):
            yield BundleProblem(f"{p}.{bk}", f"未知键 {bk}", f"unknown key {bk}")


def _min_valid_per_unit(v: Any, p: str, items: Mapping[str, int] | None) -> Problems:
    yield from check_number(v, p, integer=True, nonneg=True)


def _trim_per_end(v: Any, p: str, items: Mapping[str, int] | None) -> Problems:
    if (yield from check_number(v, p, nonneg=True)) and not v < 0.5:
        yield BundleProblem(p, f"每端去除比例必须小于 0.5，实为 {show(v)}", f"trim_per_end must be below 0.5, got {show(v)}")


def _nonresponse_adjust(v: Any, p: str, items: Mapping[str, int] | None) -> Problems:
    if not isinstance(v, bool):
        yield BundleProblem(p, "应为 true 或 false", "must be true or false")


def _weight_cap(v: Any, p: str, items: Mapping[str, int] | None) -> Problems:
    yield from check_number(v, p, nullable=True, positive=True)


def _exclude_flags(v: Any, p: str, items: Mapping[str, int] | None) -> Problems:
    if (yield from check_list(v, p)):
        for i, f in enumerate(v):
            if f not in FLAGS:
                yield BundleProblem(f"{p}[{i}]", f"未知标记 {show(f)}", f"unknown flag {show(f)}")


def _overall_item(v: Any, p: str, items: Mapping[str, int] | None) -> Problems:
    if v is not None and (yield from check_string(v, p)) and items is not None and v not in items:
        yield BundleProblem(p, f"未知评价项目 {v}", f"unknown item {v}")


def _bootstrap(v: Any, p: str, items: Mapping[str, int] | None) -> Problems:
    if not (yield from check_obj(v, p)):
        return
    for bk, bv in v.items():
        if bk in ("replicates", "seed"):
            yield from check_number(bv, f"{p}.{bk}", integer=True, nonneg=True)
        else:
            yield BundleProblem(f"{p}.{bk}", f"未知键 {bk}", f"unknown key {bk}")


_RULE_CHECKS: dict[str, _RuleCheck] = {
    "ballot_share": _ballot_share,
    "objective_components": _objective_components,
    "thresholds": _thresholds,
    "max_dissatisfied_share": _max_dissatisfied_share,
    "bottom": _bottom,
    "min_valid_per_unit": _min_valid_per_unit,
    "trim_per_end": _trim_per_end,
    "nonresponse_adjust": _nonresponse_adjust,
    "weight_cap": _weight_cap,
    "exclude_flags": _exclude_flags,
    "burst_limit": _min_valid_per_unit,  # a non-negative integer too
    "overall_item": _overall_item,
    "bootstrap": _bootstrap,
}
assert set(_RULE_CHECKS) == set(DEFAULT_RULES)


def check_rules(rules: object, path: str = "rules", items: Mapping[str, int] | None = None) -> Problems:
    """The problems of a rules object, one rule at a time.

    Parameters
    ----------
    rules : object
        The rules as parsed (a bundle's ``rules``, or an override).
    path : str
        Where the rules are (``rules``).
    items : mapping of str to int, optional
        Item code → index; where given, ``overall_item`` must name one.
    """
    if not (yield from check_obj(rules, path)):
        return
    assert isinstance(rules, dict)
    for key, v in rules.items():
        p = f"{path}.{key}"
        check = _RULE_CHECKS.get(key)
        if check is None:
            yield BundleProblem(p, f"未知规则 {key}", f"unknown rule {key}")
        else:
            yield from check(v, p, items)


def effective_rules(bundle_rules: Mapping[str, Any] | None, override: Mapping[str, Any] | None = None,
                    items: Mapping[str, int] | None = None) -> dict[str, Any]:
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
    if override:
        problems = list(check_rules(override, "rules", items))
        if problems:
            raise BundleError(problems)
    for layer in (bundle_rules, override):
        if not layer:
            continue
        for k, v in layer.items():
            if k in _MERGED_RULES and isinstance(v, dict):
                merged = dict(rules[k])
                merged.update(copy.deepcopy(v))
                rules[k] = merged
            else:
                rules[k] = copy.deepcopy(v)
    return rules
