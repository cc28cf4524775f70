"""Reading a large bundle without its whole object tree (the command line's path).

The document's small sections are parsed as usual; its ballots are parsed
one at a time by the plain C decoder (as ``json.load``), checked inline as
the per-record validator (:func:`analysis._validate.validate_ballot`)
checks them and put into the arrays (:class:`analysis._campaign.BallotColumns`)
before the next is read: the parsed ballots are dropped within a few
dozen, so memory holds the text and the arrays, not millions of Python
objects. What the bundle decoder's hooks would see is found otherwise: a
repeated key by counting the key ends of the ballots' text against their
parsed keys (once for all, then ballot by ballot where the counts differ),
nesting beyond the limit by counting their braces, numbers beyond the
limits by a look at the values that can hold them (a ballot in doubt is
parsed again with the hooks). The times are parsed at the end, in numpy.

Only the ordinary case is read this way: a valid bundle whose ballots come
after the sections they refer to (as :func:`survey.bundles.export_bundle`
writes it). Anything else (a problem of any kind, invalid JSON, a repeated
key, a number or string beyond the implementation limits, the sections in
another order) sends the whole text down the document path
(:func:`analysis.loads_bundle`), which words the refusal, so a refused
bundle lists exactly the problems, paths and reasons it always did. For a
valid bundle the :class:`Campaign` is the same as
``from_document(loads_bundle(text))``, array for array.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections.abc import Callable, Mapping
from json import decoder as _json_decoder
from typing import Any

from . import _limits, _parse, _validate
from ._campaign import BallotColumns, Campaign, _index, from_columns, from_document
from ._checks import Problems, parse_instants_us
from ._rules import effective_rules

__all__ = ["read_campaign", "STREAM_MIN_BYTES"]

#: Smaller bundles are read whole (:func:`analysis.loads_bundle`): their object tree is small.
STREAM_MIN_BYTES = 1 << 20

#: Sections the ballots are checked against: they must come before ``ballots``.
_BEFORE_BALLOTS = ("format", "campaign", "scale", "items", "categories", "units", "groups", "batches")
#: Sections that may not follow ``ballots`` (what the ballots are read against).
_NOT_AFTER_BALLOTS = frozenset(_BEFORE_BALLOTS) | {"margins"}

#: The C string scanner json.loads reads keys with (not in the typing stubs).
_scanstring: Callable[[str, int, bool], tuple[str, int]] = _json_decoder.scanstring  # type: ignore[attr-defined]
_WS = re.compile(r"[ \t\n\r]*")
#: Where a key may end: a quote, optional whitespace, a colon.
_KEY_END = re.compile(r'"[ \t\n\r]*:')
#: The plain decoder the ballots are read with first (strict numbers: no NaN or Infinity).
_FAST = json.JSONDecoder(parse_constant=_parse.reject_constant)


class _Unusual(Exception):
    """Not the ordinary case: the document path reads the bundle (and words any refusal)."""


class _Recount(Exception):
    """The ballots' text holds more key ends than their keys: read again, counting ballot by ballot."""


#: Whitespace a key's end may hold between its quote and its colon.
_SPACED = ('" ', '"\t', '"\n', '"\r')


def _key_ends(text: str, start: int, end: int) -> int:
    """How many key ends (a quote, optional whitespace, a colon) ``text[start:end]`` holds."""
    if any(text.find(s, start, end) >= 0 for s in _SPACED):
        return len(_KEY_END.findall(text, start, end))
    return text.count('":', start, end)


class _Tally:
    """What the ballots' reading counts for the checks made once at its end."""

    def __init__(self) -> None:
        #: Keys of the ballots read plainly; key ends in the text of those read with the hooks.
        self.keys = 0
        #: Objects the ballots read plainly hold (each opens one brace in the text).
        self.objects = 0
        #: Whether some ballot was read with the hooks (nested values, numbers beyond the limits).
        self.careful = False
        self.stamps: list[Any] = []


def read_campaign(text: str | bytes | bytearray, override: Mapping[str, Any] | None = None, *,
                  min_bytes: int = STREAM_MIN_BYTES, utf8: bool = False) -> Campaign:
    """The :class:`Campaign` of a bundle's JSON text, read ballot by ballot where it is large.

    Parameters
    ----------
    text : str or bytes
        The pingyi-campaign/1 document (bytes as UTF-8, a BOM allowed).
    override : dict, optional
        Rules replacing the bundle's (``--rules``).
    min_bytes : int
        Texts shorter than this are read whole.
    utf8 : bool
        True where a str `text` was decoded from UTF-8 (as the command line
        does, to let the bytes go): it then holds no lone surrogate but
        those an escape writes.

    Returns
    -------
    Campaign
        Equal, array for array, to ``from_document(loads_bundle(text), override, validated=True)``.

    Raises
    ------
    BundleError
        Exactly as :func:`analysis.loads_bundle` and :func:`analysis.from_document` would.
    """
    decoded = _parse.decode_text(text)  # not UTF-8: refused here as on the document path
    if len(text) >= min_bytes:
        data = bytes(text) if isinstance(text, (bytes, bytearray)) else None
        try:
            try:
                return _streamed(decoded, data, override, utf8 or data is not None, per_ballot=False)
            except _Recount:
                # Some ballot's text has more key ends than keys: find it ballot by ballot.
                return _streamed(decoded, data, override, utf8 or data is not None, per_ballot=True)
        except _Unusual:
            pass
        del data
    del decoded
    return from_document(_parse.loads_bundle(text), override, validated=True)


def _skip(text: str, i: int) -> int:
    return _WS.match(text, i).end()  # type: ignore[union-attr]  # the pattern matches the empty string


def _expect(text: str, i: int, char: str) -> int:
    """The position after `char` at `i` (after whitespace)."""
    i = _skip(text, i)
    if text[i:i + 1] != char:
        raise _Unusual
    return i + 1


def _clean(found: list[bool], odd: list[bool]) -> None:
    if found or odd:
        raise _Unusual


def _none(problems: Problems) -> None:
    for _ in problems:
        raise _Unusual


def _streamed(text: str, data: bytes | None, override: Mapping[str, Any] | None, utf8: bool, *,
              per_ballot: bool) -> Campaign:
    # Decoded from UTF-8, the text can hold a lone surrogate only through an escape.
    if _limits.may_hold_surrogates(text, b"" if utf8 else None):
        raise _Unusual
    found: list[bool] = []
    odd: list[bool] = []
    scan: Any = _parse.decoder(found, odd).scan_once  # type: ignore[attr-defined]
    head: dict[str, Any] = {}
    ctx = _validate.BundleContext()
    cols: BallotColumns | None = None
    span = (0, 0)
    tally = _Tally()
    try:
        i = _expect(text, 0, "{")
        i = _skip(text, i)
        if text[i:i + 1] == "}":
            raise _Unusual  # an empty document: refused, in the document path's words
        while True:
            i = _expect(text, i, '"')
            key, i = _scanstring(text, i, True)
            if key in head or (key == "ballots" and cols is not None) or (cols is not None and key in _NOT_AFTER_BALLOTS):
                raise _Unusual
            i = _skip(text, _expect(text, i, ":"))
            if key == "ballots":
                cols = _ballots_before(head, ctx)
                start = i
                i = _read_ballots(text, i, scan, cols, ctx, found, odd, tally, per_ballot)
                span = (start, i)
            else:
                head[key], i = scan(text, i)
                _clean(found, odd)
            i = _skip(text, i)
            if text[i:i + 1] == ",":
                i += 1
                continue
            i = _expect(text, i, "}")
            break
        if _skip(text, i) != len(text):
            raise _Unusual
    except (ValueError, StopIteration, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise _Unusual from exc
    if cols is None:
        raise _Unusual
    _nesting(text, data, span, tally)
    if not per_ballot and _key_ends(text, *span) != tally.keys:
        raise _Recount
    try:
        cols.submitted_us = array("q", parse_instants_us(tally.stamps).tobytes())
    except (ValueError, TypeError, OverflowError):
        raise _Unusual from None
    _none(_validate.sections_after_ballots(head, ctx))
    # The bundle is valid: from here on, as from_document on a validated document.
    rules = effective_rules(head.get("rules"), override, _index(head["items"]))
    overflow = _limits.finite_problems(head, rules, n_ballots=len(cols))
    if overflow:
        raise _Unusual
    return from_columns(head, cols, rules)


def _nesting(text: str, data: bytes | None, span: tuple[int, int], tally: _Tally) -> None:
    """Refuse (to the document path) a text nested deeper than the limit.

    Ballots read plainly nest five deep at most; where every brace and
    bracket of the ballots' text is one of their objects (or the array's
    own bracket), only the text around them needs the full check.
    """
    start, end = span
    plain = not tally.careful and text.count("{", start, end) == tally.objects and text.count("[", start, end) == 1
    if not plain:
        if _limits.depth_problem(text, data) is not None:
            raise _Unusual
        return
    # The text after the ballots is one level inside the document's object.
    if _limits.depth_problem(text[:start]) is not None or _limits.depth_problem("{" + text[end:]) is not None:
        raise _Unusual


def _ballots_before(head: dict[str, Any], ctx: _validate.BundleContext) -> BallotColumns:
    """Check what precedes the ballots; their arrays, ready to be filled."""
    if any(k not in head for k in _BEFORE_BALLOTS):
        raise _Unusual
    _none(_validate.validate_header(head))
    _none(_validate.sections_before_ballots(head, ctx))
    return BallotColumns(head)


def _no_repeated_key(text: str, start: int, end: int, keys: int) -> bool:
    """Whether the object parsed from ``text[start:end]`` with `keys` keys in all repeated none.

    Every key of the text ends in a quote followed by a colon (whitespace
    between); a string value may hold that too. So the text has at least as
    many such ends as keys, and the parsed objects hold as many keys as the
    text exactly where no object repeated one: equal counts prove it, and a
    count that differs only sends the ballot to the careful reading.
    """
    return len(_KEY_END.findall(text, start, end)) == keys


def _plain_values(ballot: dict[str, Any], attributes: dict[str, Any] | None) -> bool:
    """Whether the values the fast reading could take wrong are absent: numbers beyond the limits, nesting."""
    duration = ballot.get("duration_s")
    if type(duration) is int and not _limits.INT64_MIN <= duration <= _limits.INT64_MAX:
        return False
    if attributes:
        for value in attributes.values():
            kind = type(value)
            if kind is dict or kind is list or (kind is int and not _limits.INT64_MIN <= value <= _limits.INT64_MAX):
                return False
            if kind is float and not math.isfinite(value):
                return False
    return True


def _read_ballots(text: str, i: int, scan: Any, cols: BallotColumns, ctx: _validate.BundleContext,
                  found: list[bool], odd: list[bool], tally: _Tally, per_ballot: bool) -> int:
    """Parse, check and append every ballot of the array at `i`; the position after it.

    Each ballot is parsed by the plain decoder (C throughout, as ``json.load``;
    NaN and Infinity refused); where its values could hide what the bundle
    decoder's hooks see (a number beyond int64 or a double, nested values),
    it is parsed again with those hooks (`scan`). A repeated key is found by
    counting: the text of the ballots must hold as many key ends as their
    parsed objects hold keys (:func:`_no_repeated_key`), checked once for all
    of them (`tally`), or ballot by ballot where `per_ballot` (after the
    whole count differed), where a ballot with more is read with the hooks.
    Their times are parsed at the end, all at once.
    """
    fast = _FAST.scan_once  # type: ignore[attr-defined]
    if text[i:i + 1] != "[":
        raise _Unusual
    i = _skip(text, i + 1)
    if text[i:i + 1] == "]":
        return i + 1
    put = cols.put
    seen, returned, batches = ctx.ballot_ids, ctx.returned, ctx.batches
    stamps = tally.stamps
    keys_read = objects = 0
    nan, inf, top = math.nan, math.inf, _limits.INT64_MAX
    while True:
        start = i
        ballot, i = fast(text, i)
        # What _validate.validate_ballot accepts, checked inline (no generator,
        # no path built): anything it would refuse, and anything unusual, goes
        # down the document path, which words the refusal.
        if type(ballot) is not dict:
            raise _Unusual
        get = ballot.get
        bid, batch, answers, attributes = get("id"), get("batch"), get("answers"), get("attributes")
        if type(bid) is not str or bid in seen or type(batch) is not str or type(answers) is not dict:
            raise _Unusual
        if attributes is not None and type(attributes) is not dict:
            raise _Unusual
        duration = get("duration_s")
        if duration is None:
            seconds = nan
        elif type(duration) is int:
            # Beyond int64 the hooks would refuse it too; below 0 it is invalid.
            if not 0 <= duration <= top:
                raise _Unusual
            seconds = float(duration)
        elif type(duration) is float and 0 <= duration < inf:
            seconds = duration
        else:
            raise _Unusual
        careful = per_ballot or (attributes is not None and not _plain_values(ballot, attributes))
        if careful:
            keys = len(ballot) + len(answers) + (len(attributes) if attributes is not None else 0)
            for per_item in answers.values():
                if type(per_item) is not dict:
                    raise _Unusual
                keys += len(per_item)
            if attributes is not None and not _plain_values(ballot, attributes) or not _no_repeated_key(text, start, i, keys):
                # Read again with the hooks that see a repeated key or a number beyond the limits.
                ballot, i = scan(text, start)
                if found or odd:
                    raise _Unusual
                tally.careful = True
                get = ballot.get
                answers, attributes = get("answers"), get("attributes")
            else:
                careful = False
        k = batches.get(batch)
        if k is None:
            raise _Unusual
        stamp, source = get("submitted_at"), get("source")
        if type(stamp) is not str or (source is not None and type(source) is not str):
            raise _Unusual
        stamps.append(stamp)
        try:
            # Unknown units, items and options fail their lookups here, an
            # answer that is not an object fails too (the arrays half-filled
            # are dropped with the whole streamed read).
            put(bid, k, seconds, source, answers, attributes)
        except (KeyError, TypeError, AttributeError):
            raise _Unusual from None
        if careful:
            # Its text's key ends, less the items it answered (counted for all ballots at the end).
            keys_read += len(_KEY_END.findall(text, start, i)) - sum(map(len, answers.values()))
        else:
            keys_read += len(ballot) + len(answers) + (len(attributes) if attributes is not None else 0)
            objects += 2 + len(answers) + (attributes is not None)
        seen.add(bid)
        returned[k] += 1
        c = text[i:i + 1]
        if c != "," and c != "]":
            i = _skip(text, i)
            c = text[i:i + 1]
        if c == "]":
            try:
                cols.flush()
            except (KeyError, TypeError, AttributeError):
                raise _Unusual from None
            tally.keys, tally.objects = keys_read + cols.answered, objects
            return i + 1
        if c != ",":
            raise _Unusual
        i = _skip(text, i + 1)
