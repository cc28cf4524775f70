"""The implementation limits (docs/scoring.md, "实现限制 / Implementation limits").

SCORING.md accepts any JSON number, any string and any nesting; this
implementation refuses, with the path of the value, only what it cannot
represent:

- nesting deeper than :data:`MAX_DEPTH` (checked on the text, before
  parsing, so that no input reaches Python's recursion limit);
- integers outside int64 and numbers that overflow a double (``1e400``);
- strings or keys holding a lone UTF-16 surrogate (``"\\ud800"``), which no
  UTF-8 output can carry;
- weights, points, proportions and objective scores whose sums or products
  in sections 4-5 would overflow to infinity (the results would not be
  finite numbers).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from ._checks import is_number
from ._errors import BundleProblem

__all__ = ["MAX_DEPTH", "INT64_MIN", "INT64_MAX", "Unrepresentable", "parse_int", "parse_float",
           "depth_problem", "may_hold_surrogates", "value_problems", "finite_problems"]

#: The deepest nesting of arrays and objects read (the document itself is depth 1).
MAX_DEPTH = 64
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class Unrepresentable:
    """What the parser puts in place of a number it cannot represent."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def parse_int(text: str) -> int | Unrepresentable:
    """``json.loads``'s ``parse_int``: int64 or a marker (never a 4300-digit conversion)."""
    if len(text) <= 18:
        return int(text)
    if len(text) <= 20:
        value = int(text)
        if INT64_MIN <= value <= INT64_MAX:
            return value
    return Unrepresentable(text)


def parse_float(text: str) -> float | Unrepresentable:
    """``json.loads``'s ``parse_float``: a finite double or a marker."""
    value = float(text)
    return value if math.isfinite(value) else Unrepresentable(text)


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _path_at_depth(text: str, limit: int) -> str:
    """The path of the first array or object nested deeper than `limit`."""
    frames: list[list[Any]] = []  # [is_object, key or index, expecting a key]
    for match in _TOKEN.finditer(text):
        tok = match.group()
        if tok in "[{":
            if len(frames) >= limit:
                break
            frames.append([tok == "{", None if tok == "{" else 0, True])
        elif tok in "]}":
            if frames:
                frames.pop()
        elif not frames:
            continue
        elif tok == ",":
            top = frames[-1]
            if top[0]:
                top[2] = True
            else:
                top[1] += 1
        elif tok == ":":
            frames[-1][2] = False
        elif frames[-1][0] and frames[-1][2]:
            try:
                frames[-1][1] = json.loads(tok)
            except ValueError:
                frames[-1][1] = tok[1:-1]
    path = ""
    for is_object, label, _ in frames:
        if is_object:
            if label is not None:
                path = f"{path}.{label}" if path else str(label)
        else:
            path += f"[{label}]"
    return path or "$"


_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[0x5B, 0x7B]] = 1
_STEP[[0x5D, 0x7D]] = -1
_CHUNK = 1 << 24


def _too_deep(data: bytes, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit` in a JSON text (UTF-8).

    No Python step per character: escapes are dropped (a backslash escapes
    exactly the next character), every byte but quotes and brackets is
    deleted, and numpy counts the depth of the brackets outside strings.
    """
    if b"\\" in data:
        data = _ESCAPE.sub(b"", data)
    marks = np.frombuffer(data.translate(None, _NOT_STRUCTURE), dtype=np.uint8)
    in_string, depth = 0, 0
    for lo in range(0, len(marks), _CHUNK):
        chunk = marks[lo:lo + _CHUNK]
        parity = np.cumsum(chunk == 0x22, dtype=np.int32)
        parity += in_string
        parity &= 1
        steps = _STEP[chunk]
        steps[parity.astype(np.bool_)] = 0  # brackets inside strings do not count
        levels = np.cumsum(steps, dtype=np.int32)
        levels += depth
        if int(levels.max()) > limit:
            return True
        in_string, depth = int(parity[-1]), int(levels[-1])
    return False


def depth_problem(text: str, data: bytes | None = None, limit: int = MAX_DEPTH) -> BundleProblem | None:
    """The refusal of a text nested deeper than `limit`, found without parsing it.

    `data` is the text's UTF-8 encoding where the caller has it.
    """
    if text.count("[") + text.count("{") <= limit:
        return None
    if not _too_deep(text.encode("utf-8", "surrogatepass") if data is None else data, limit):
        return None
    return BundleProblem(_path_at_depth(text, limit), f"嵌套超过 {limit} 层（实现限制）",
                         f"nested deeper than {limit} levels (implementation limit)")


def may_hold_surrogates(text: str, data: bytes | None = None) -> bool:
    """Whether the parsed text may hold a lone surrogate (cheap; :func:`value_problems` decides).

    `data`, where given, is `text` decoded from UTF-8 (which holds no
    surrogate itself): only ``\\uD8xx`` escapes can make one.
    """
    if data is None:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def value_problems(node: Any, path: str = "") -> Iterator[BundleProblem]:
    """Numbers beyond the representable and strings with lone surrogates in a parsed tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            kp = _key_path(path, k)
            if _SURROGATE.search(k):
                yield BundleProblem(kp, "键含有孤立的 UTF-16 代理字符（实现限制）",
                                    "key holds a lone UTF-16 surrogate (implementation limit)")
            yield from value_problems(v, kp)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from value_problems(v, f"{path}[{i}]")
    elif isinstance(node, str):
        if _SURROGATE.search(node):
            yield BundleProblem(path or "$", "字符串含有孤立的 UTF-16 代理字符（实现限制）",
                                "string holds a lone UTF-16 surrogate (implementation limit)")
    elif isinstance(node, Unrepresentable):
        if "." in node.text or "e" in node.text or "E" in node.text:
            zh, en = "超出双精度浮点数范围", "beyond the range of a double"
        else:
            zh, en = "整数超出 64 位范围", "integer beyond the 64-bit range"
        yield BundleProblem(path or "$", f"{zh}：{_short(node.text)}（实现限制）",
                            f"{en}: {_short(node.text)} (implementation limit)")


# ---------------------------------------------------------------------------
# Sums and products of sections 4-5 that must stay finite


def _overflow(path: str, what_zh: str, what_en: str) -> BundleProblem:
    return BundleProblem(path, f"{what_zh}过大，计算结果将溢出为无穷大（实现限制）",
                         f"{what_en} too large: the results would overflow to infinity (implementation limit)")


def _largest(values: list[tuple[str, float]]) -> str:
    return max(values, key=lambda pv: abs(pv[1]))[0]


def _fsum(values: Iterable[float]) -> float:
    try:
        return math.fsum(values)
    except OverflowError:  # an intermediate sum beyond the doubles
        return math.inf


def _sum_ok(values: list[tuple[str, float]], factor: float = 1.0) -> bool:
    total = _fsum(abs(v) for _, v in values)
    return math.isfinite(total) and math.isfinite(total * factor)


def _records(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    return value if isinstance(value, list) else []


def finite_problems(doc: Mapping[str, Any], rules: Mapping[str, Any], n_ballots: int | None = None) -> list[BundleProblem]:
    """Values of a valid bundle whose sums or products in the scores would not be finite.

    `n_ballots` counts the ballots where `doc` was read without them (a
    streamed bundle); otherwise they are counted in ``doc["ballots"]``.

    The bounds are those of the arithmetic: a ballot-unit score divides
    Σ v·points by Σ v, a group score a sum of weight × score, a composite
    a·S + Σ c·O; the differences of scores (extreme raters) span the range
    of the points times the units. The value reported is the largest of the
    sum that overflows.
    """
    problems: list[BundleProblem] = []
    points = [(f"scale[{i}].points", float(o["points"])) for i, o in enumerate(_records(doc, "scale"))
              if isinstance(o, dict) and is_number(o.get("points"))]
    top = max((abs(v) for _, v in points), default=0.0)
    span = (max(v for _, v in points) - min(v for _, v in points)) if points else 0.0
    n_units = max(len(_records(doc, "units")), 1)
    if not math.isfinite(span) or not math.isfinite(span * n_units * 4):
        problems.append(_overflow(_largest(points), "分值", "points"))
        return problems
    weights = [(f"items[{i}].weight", float(it["weight"])) for i, it in enumerate(_records(doc, "items"))
               if isinstance(it, dict) and is_number(it.get("weight"))]
    if not _sum_ok(weights, top):
        problems.append(_overflow(_largest(weights), "评价项目权重", "item weight"))
    groups = [(f"groups[{i}].weight", float(g["weight"])) for i, g in enumerate(_records(doc, "groups"))
              if isinstance(g, dict) and is_number(g.get("weight"))]
    if not _sum_ok(groups, top):
        problems.append(_overflow(_largest(groups), "评议组权重", "group weight"))
    margins = doc.get("margins")
    if isinstance(margins, dict):
        for g, variables in margins.items():
            for var, cats in (variables.items() if isinstance(variables, dict) else ()):
                props = [(f"margins.{g}.{var}.{c}", float(p)) for c, p in cats.items() if is_number(p)]
                if not _sum_ok(props):
                    problems.append(_overflow(_largest(props), "边际比例", "margin proportion"))
    # Ballot weights: at most the forms issued (or returned) per batch, kept by raking and trimming.
    if n_ballots is None:
        n_ballots = len(_records(doc, "ballots"))
    issued = sum(int(b["issued"]) for b in _records(doc, "batches")
                 if isinstance(b, dict) and isinstance(b.get("issued"), (int, float)))
    total_weight = float(max(issued, 1)) * float(max(n_ballots, 1))
    if not math.isfinite(total_weight * max(top, 1.0) * 4):
        problems.append(_overflow(_largest(points) if points else "batches", "分值", "points"))
    # The composite a·S + Σ c·O, normalised by a + Σ c.
    share = rules.get("ballot_share")
    parts: list[tuple[str, float]] = []
    if isinstance(share, (int, float)) and is_number(share):
        parts.append(("rules.ballot_share", float(share) * max(top, 1.0)))
    comps = rules.get("objective_components")
    scores = [o for o in _records(doc, "objective_scores") if isinstance(o, dict) and is_number(o.get("score"))]
    if isinstance(comps, dict):
        for comp, c in comps.items():
            if not is_number(c):
                continue
            biggest = max((abs(float(o["score"])) for o in scores if o.get("component") == comp), default=0.0)
            parts.append((f"rules.objective_components.{comp}", float(c) * max(biggest, 1.0)))
    for i, o in enumerate(scores):
        if not math.isfinite(float(o["score"]) * 4):
            parts.append((f"objective_scores[{i}].score", math.inf))
    if not _sum_ok(parts) or not all(math.isfinite(v) for _, v in parts):
        bad = [p for p, v in parts if not math.isfinite(v)]
        problems.append(_overflow(bad[0] if bad else _largest(parts), "综合得分的占比或客观得分",
                                  "composite share or objective score"))
    return problems
