"""The small checks every validator is made of, and the bundle's fixed vocabularies.

Each ``check_*`` helper is a generator: it yields the problems of one value
and returns whether the value passed, so a validator writes
``ok = yield from check_string(value, path)``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Generator, Iterator
from typing import Any

from ._errors import BundleProblem

__all__ = [
    "FORMAT",
    "FLAGS",
    "CHANNELS",
    "BEIJING",
    "Problems",
    "Check",
    "parse_instant_us",
    "is_number",
    "is_int",
    "show",
    "check_obj",
    "check_list",
    "check_string",
    "check_number",
]

FORMAT = "pingyi-campaign/1"

#: The five data-quality flags of SCORING.md section 3, in report order.
FLAGS = ("duplicate", "straight_line", "speeder", "burst", "extreme_rater")

CHANNELS = ("online", "email", "sms", "paper", "qr", "public")

BEIJING = _dt.timezone(_dt.timedelta(hours=8))
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)

#: What a validator yields.
Problems = Iterator[BundleProblem]
#: What a check yields, returning whether the value passed.
Check = Generator[BundleProblem, None, bool]


def is_number(x: object) -> bool:
    """A finite JSON number (``true`` is not one, though bool is an int in Python)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def is_int(x: object) -> bool:
    """A JSON integer: an int, or a finite float with no fractional part."""
    if isinstance(x, bool):
        return False
    if isinstance(x, int):
        return True
    return isinstance(x, float) and math.isfinite(x) and x.is_integer()


def parse_instant_us(value: object) -> int:
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


def show(value: object) -> str:
    """A JSON value shortened for a message."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def check_obj(value: object, path: str, what_zh: str = "对象", what_en: str = "an object") -> Check:
    if not isinstance(value, dict):
        yield BundleProblem(path, f"应为{what_zh}，实为 {show(value)}", f"must be {what_en}, got {show(value)}")
        return False
    return True


def check_list(value: object, path: str) -> Check:
    if not isinstance(value, list):
        yield BundleProblem(path, f"应为数组，实为 {show(value)}", f"must be an array, got {show(value)}")
        return False
    return True


def check_string(value: object, path: str, required: bool = True) -> Check:
    if isinstance(value, str) or (value is None and not required):
        return True
    if value is None:
        yield BundleProblem(path, "缺少此项", "missing")
    else:
        yield BundleProblem(path, f"应为字符串，实为 {show(value)}", f"must be a string, got {show(value)}")
    return False


def check_number(value: Any, path: str, *, positive: bool = False, nonneg: bool = False, nullable: bool = False,
                 integer: bool = False) -> Check:
    if value is None and nullable:
        return True
    if not (is_int(value) if integer else is_number(value)):
        kind_zh, kind_en = ("整数", "an integer") if integer else ("数字", "a number")
        if value is None:
            yield BundleProblem(path, "缺少此项", "missing")
        else:
            yield BundleProblem(path, f"应为{kind_zh}，实为 {show(value)}", f"must be {kind_en}, got {show(value)}")
        return False
    if positive and not value > 0:
        yield BundleProblem(path, f"应为正数，实为 {show(value)}", f"must be positive, got {show(value)}")
        return False
    if nonneg and not value >= 0:
        yield BundleProblem(path, f"不能为负数，实为 {show(value)}", f"must not be negative, got {show(value)}")
        return False
    return True
