"""The one clock: timestamps are stored as naive UTC, and shown, typed and
counted in days in Beijing time (the office's), through these helpers only."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

#: The office's zone. It has kept UTC+8 without daylight saving since 1991, so
#: for every campaign it agrees with the fixed +08:00 that SCORING.md gives a
#: bundle's times without an offset.
BEIJING = ZoneInfo("Asia/Shanghai")


def utcnow() -> dt.datetime:
    """Now, as every timestamp column stores it: naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def to_beijing(instant: dt.datetime) -> dt.datetime:
    """A stored (naive UTC) instant as naive Beijing wall-clock time."""
    return instant.replace(tzinfo=dt.UTC).astimezone(BEIJING).replace(tzinfo=None)


def from_beijing(local: dt.datetime) -> dt.datetime:
    """Beijing wall-clock time (as typed on a page or written in a file) as naive UTC.
    An aware datetime is converted from its own offset."""
    aware = local if local.tzinfo is not None else local.replace(tzinfo=BEIJING)
    return aware.astimezone(dt.UTC).replace(tzinfo=None)


def beijing_date(instant: dt.datetime) -> dt.date:
    """The office's calendar day of a stored instant."""
    return to_beijing(instant).date()


def day_start(instant: dt.datetime) -> dt.datetime:
    """The start (Beijing midnight, as naive UTC) of a stored instant's office day: what to
    keep where only the day may be known (a finer time could be matched with other rows)."""
    return from_beijing(dt.datetime.combine(beijing_date(instant), dt.time()))


def today() -> dt.date:
    """The office's calendar day now."""
    return beijing_date(utcnow())


def format_beijing(instant: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored instant as the pages and exports show it ('' for none)."""
    return "" if instant is None else to_beijing(instant).strftime(fmt)


def iso_beijing(instant: dt.datetime) -> str:
    """A stored instant in ISO 8601 with its +08:00 offset (bundles, JSON)."""
    return instant.replace(tzinfo=dt.UTC).astimezone(BEIJING).isoformat()
