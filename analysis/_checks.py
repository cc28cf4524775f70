"""The small checks every validator is made of, and the bundle's fixed vocabularies.

Each ``check_*`` helper is a generator: it yields the problems of one value
and returns whether the value passed, so a validator writes
``ok = yield from check_string(value, path)``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Generator, Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

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


#: Where "YYYY-MM-DDTHH:MM:SS+HH:MM" has its separators and its digits.
_ISO_SEPARATORS = {4: b"-", 7: b"-", 10: b"T", 13: b":", 16: b":", 22: b":"}
_ISO_DIGITS = [i for i in range(25) if i not in _ISO_SEPARATORS and i != 19]
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def parse_instants_us(values: Sequence[object]) -> NDArray[np.int64]:
    """:func:`parse_instant_us` of every value, the usual form ("2026-11-02T08:00:00+08:00") in numpy.

    Values in any other form (or not valid dates) are parsed one by one, so
    the results and the errors are exactly those of :func:`parse_instant_us`.

    Raises
    ------
    ValueError, TypeError, OverflowError
        As :func:`parse_instant_us` for the first value it refuses.
    """
    n = len(values)
    out = np.zeros(n, dtype=np.int64)
    usual = np.zeros(n, dtype=bool)
    if n and all(type(v) is str and len(v) == 25 for v in values):
        joined = "".join(values)  # type: ignore[arg-type]  # all str, checked above
        if joined.isascii():
            a = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(n, 25)
            usual = np.all((a[:, _ISO_DIGITS] >= 48) & (a[:, _ISO_DIGITS] <= 57), axis=1)
            for at, sep in _ISO_SEPARATORS.items():
                usual &= a[:, at] == sep[0]
            usual &= (a[:, 19] == ord("+")) | (a[:, 19] == ord("-"))
            d = a.astype(np.int64) - 48

            def number(i: int, k: int) -> NDArray[np.int64]:
                v = d[:, i]
                for j in range(i + 1, i + k):
                    v = v * 10 + d[:, j]
                return v
            year, month, day = number(0, 4), number(5, 2), number(8, 2)
            hour, minute, second = number(11, 2), number(14, 2), number(17, 2)
            off_h, off_m = number(20, 2), number(23, 2)
            leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
            month_ok = (month >= 1) & (month <= 12)
            dim = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + (leap & (month == 2))
            usual &= (year >= 1) & month_ok & (day >= 1) & (day <= dim) & (hour <= 23) & (minute <= 59)
            usual &= (second <= 59) & (off_h <= 23) & (off_m <= 59)
            # Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
            y = year - (month <= 2)
            era = y // 400
            yoe = y - era * 400
            doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
            days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
            sign = np.where(a[:, 19] == ord("-"), -1, 1)
            seconds = days * 86400 + hour * 3600 + minute * 60 + second - sign * (off_h * 3600 + off_m * 60)
            out = np.where(usual, seconds * 1_000_000, 0)
    for r in np.flatnonzero(~usual):
        out[r] = parse_instant_us(values[int(r)])
    return out


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
