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
import os
import re
from array import array
from collections.abc import Callable, Mapping
from json import decoder as _json_decoder
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _fork, _limits, _parse, _validate
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
#: Between two objects of an array: where the guess of a ballot's start is looked for.
_BOUNDARY = re.compile(r"\}[ \t\n\r]*,[ \t\n\r]*\{")
#: Where a key may end: a quote, optional whitespace, a colon.
_KEY_END = re.compile(r'"[ \t\n\r]*:')
#: The plain decoder the ballots are read with first (strict numbers: no NaN or Infinity).
_FAST = json.JSONDecoder(parse_constant=_parse.reject_constant)


class _Unusual(Exception):
    """Not the ordinary case: the document path reads the bundle (and words any refusal)."""


class _Recount(Exception):
    """The ballots' text holds more key ends than their keys: read again, counting ballot by ballot."""


def _key_ends(text: str, start: int, end: int) -> int:
    """How many key ends (a quote, optional whitespace, a colon) ``text[start:end]`` holds."""
    if any(text.find(c, start, end) >= 0 for c in " \t\n\r"):  # single characters: found fast
        return len(_KEY_END.findall(text, start, end))
    return text.count('":', start, end)


#: Times parsed at once (a million ballots' times are not held as text).
_STAMPS = 1 << 16


class _Tally:
    """What the ballots' reading counts for the checks made once at its end."""

    def __init__(self) -> None:
        #: Keys of the ballots read plainly; key ends in the text of those read with the hooks.
        self.keys = 0
        #: Objects the ballots read plainly hold (each opens one brace in the text).
        self.objects = 0
        #: Whether some ballot was read with the hooks (nested values, numbers beyond the limits).
        self.careful = False
        #: The times of the ballots, parsed some thousand at a time (in order), and those not yet parsed.
        self.parsed: list[NDArray[np.int64]] = []
        self.stamps: list[Any] = []

    def parse_stamps(self) -> None:
        """Parse the times read since the last call (raises as :func:`parse_instants_us`)."""
        if self.stamps:
            self.parsed.append(parse_instants_us(self.stamps))
            self.stamps = []

    def times(self) -> NDArray[np.int64]:
        """Every ballot's time, in microseconds, in order."""
        self.parse_stamps()
        return np.concatenate(self.parsed) if self.parsed else np.zeros(0, dtype=np.int64)


def read_campaign(text: str | bytes | bytearray, override: Mapping[str, Any] | None = None, *,
                  min_bytes: int = STREAM_MIN_BYTES, utf8: bool = False, parallel: bool = False) -> Campaign:
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
    parallel : bool
        Read the second half of the ballots in a forked helper process at
        the same time (the command line: a second core), where the text is
        between :data:`PARALLEL_MIN_CHARS` and :data:`PARALLEL_MAX_CHARS`.
        The same Campaign either way.

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
                return _streamed(decoded, data, override, utf8 or data is not None, per_ballot=False,
                                 parallel=parallel)
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
              per_ballot: bool, parallel: bool = False) -> Campaign:
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
                helper = _Helper.start(text, i, head, ctx) if parallel and not per_ballot else None
                try:
                    i, at_split = _read_ballots(text, i, scan, cols, ctx, found, odd, tally, per_ballot,
                                                stop=helper.at if helper is not None else -1)
                    if at_split:
                        assert helper is not None
                        end = helper.join(cols, ctx, tally)
                        if end is None:  # the helper found something unusual: read on here, in its words
                            i, _ = _read_ballots(text, i, scan, cols, ctx, found, odd, tally, per_ballot, first=False)
                        else:
                            i = end
                finally:
                    if helper is not None:
                        helper.close()
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
    if not per_ballot and _key_ends(text, *span) != tally.keys + cols.answered:
        raise _Recount
    try:
        cols.submitted_us = array("q", tally.times().tobytes())
    except (ValueError, TypeError, OverflowError):
        raise _Unusual from None
    _none(_validate.sections_after_ballots(head, ctx))
    # The bundle is valid: from here on, as from_document on a validated document.
    rules = effective_rules(head.get("rules"), override, _index(head["items"]))
    overflow = _limits.finite_problems(head, rules, n_ballots=len(cols))
    if overflow:
        raise _Unusual
    return from_columns(head, cols, rules)


#: Texts from which the ballots' second half is read by a helper process (:class:`_Helper`).
PARALLEL_MIN_CHARS = 8 << 20
#: Texts above which it is not (a million ballots: the helper's own memory counts then).
PARALLEL_MAX_CHARS = 256 << 20


class _Helper:
    """A forked process reading the ballots from a ballot's start near the middle of the text to the array's end.

    Its start is only a guess (``},{`` past the middle); the parent reads
    from the first ballot and takes the helper's arrays only where one of
    its ballots ends exactly there, so the ballots are read as one reading
    would read them. Anything the helper finds unusual it leaves to the
    parent, which then reads on itself and words it.
    """

    def __init__(self, outcome: _fork.Outcome, at: int) -> None:
        self.outcome, self.at = outcome, at

    @classmethod
    def start(cls, text: str, i: int, head: dict[str, Any], ctx: _validate.BundleContext) -> _Helper | None:
        if not (PARALLEL_MIN_CHARS <= len(text) <= PARALLEL_MAX_CHARS) or not hasattr(os, "fork"):
            return None
        at = _split_guess(text, i)
        if at < 0:
            return None
        # Anything the helper raises comes back as None: the parent reads on itself.
        return cls(_fork.compute(lambda: _helper_read(text, at, head, ctx)), at)

    def join(self, cols: BallotColumns, ctx: _validate.BundleContext, tally: _Tally) -> int | None:
        """Take the helper's ballots into `cols`; the position after the array, or None (read on)."""
        payload = self.outcome.get()
        if payload is None:
            return None
        end, part, returned, keys, objects, careful, stamps = payload
        if not ctx.ballot_ids.isdisjoint(part["ids"]):
            raise _Unusual  # a ballot id of the first half again
        ctx.ballot_ids.update(part["ids"])
        for k, n in enumerate(returned):
            ctx.returned[k] += n
        cols.take(part)
        tally.keys += keys
        tally.objects += objects
        tally.careful = tally.careful or careful
        tally.parse_stamps()  # the times before the helper's
        tally.parsed.append(stamps)
        end_at: int = end
        return end_at

    def close(self) -> None:
        self.outcome.close()


def _split_guess(text: str, i: int) -> int:
    """Where a ballot may start near the middle of the ballots from `i` (-1: nowhere)."""
    found = _BOUNDARY.search(text, i + (len(text) - i) // 2)
    return found.end() - 1 if found is not None else -1


def _helper_read(text: str, at: int, head: dict[str, Any], parent: _validate.BundleContext) -> tuple[Any, ...]:
    """In the helper: read the ballots from `at` to the array's end, as the parent would."""
    found: list[bool] = []
    odd: list[bool] = []
    scan: Any = _parse.decoder(found, odd).scan_once  # type: ignore[attr-defined]
    ctx = _validate.BundleContext(batches=parent.batches, returned=[0] * len(parent.returned))
    cols = BallotColumns(head)
    tally = _Tally()
    end, _ = _read_ballots(text, at, scan, cols, ctx, found, odd, tally, False, first=False)
    stamps = tally.times()  # raises where the parent must read on and word it
    return end, cols.part(), ctx.returned, tally.keys, tally.objects, tally.careful, stamps


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


def _keys(ballot: dict[str, Any], answers: dict[str, Any], attributes: dict[str, Any] | None) -> int:
    """Keys of a parsed ballot, its answers' objects and its attributes (an answer not an object: refused)."""
    keys = len(ballot) + len(answers) + (len(attributes) if attributes is not None else 0)
    for per_item in answers.values():
        if type(per_item) is not dict:
            raise _Unusual
        keys += len(per_item)
    return keys


def _plain_attributes(attributes: dict[str, Any]) -> bool:
    """Whether the attributes hold none of what the plain reading could take wrong: nesting, numbers beyond the limits.

    (The duration, the other number a ballot holds, is checked where it is read.)
    """
    for value in attributes.values():
        kind = type(value)
        if kind is dict or kind is list or (kind is int and not _limits.INT64_MIN <= value <= _limits.INT64_MAX):
            return False
        if kind is float and not math.isfinite(value):
            return False
    return True


def _read_ballots(text: str, i: int, scan: Any, cols: BallotColumns, ctx: _validate.BundleContext,
                  found: list[bool], odd: list[bool], tally: _Tally, per_ballot: bool, *,
                  first: bool = True, stop: int = -1) -> tuple[int, bool]:
    """Parse, check and append the ballots of the array from `i`; where it stopped, and whether at `stop`.

    From the array's bracket where `first`, else from a ballot's start. It
    reads to the array's end (returning the position after it, False) or,
    where it comes to a ballot starting exactly at `stop`, stops there
    (returning `stop`, True).

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
    if first:
        if text[i:i + 1] != "[":
            raise _Unusual
        i = _skip(text, i + 1)
        if text[i:i + 1] == "]":
            return i + 1, False
    put = cols.put
    seen, returned, batches = ctx.ballot_ids, ctx.returned, ctx.batches
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
        nested = attributes is not None and not _plain_attributes(attributes)
        source = get("source")
        if source is not None and type(source) is not str:
            raise _Unusual
        # A source such as "::ffff:10.0.0.8" adds a key end of its own to the
        # text (its opening quote, then a colon): such a ballot is counted alone.
        counted_alone = per_ballot or (source is not None and (source[:1] == ":" or '"' in source))
        rescanned = nested or (counted_alone and not _no_repeated_key(text, start, i, _keys(ballot, answers, attributes)))
        if rescanned:
            # Read again with the hooks that see a repeated key or a number beyond the limits.
            ballot, i = scan(text, start)
            if found or odd:
                raise _Unusual
            get = ballot.get
            answers, attributes = get("answers"), get("attributes")
        k = batches.get(batch)
        if k is None:
            raise _Unusual
        stamp = get("submitted_at")
        if type(stamp) is not str:
            raise _Unusual
        tally.stamps.append(stamp)
        if len(tally.stamps) >= _STAMPS:
            try:
                tally.parse_stamps()
            except (ValueError, TypeError, OverflowError):
                raise _Unusual from None
        try:
            # Unknown units, items and options fail their lookups here, an
            # answer that is not an object fails too (the arrays half-filled
            # are dropped with the whole streamed read).
            put(bid, k, seconds, source, answers, attributes)
        except (KeyError, TypeError, AttributeError):
            raise _Unusual from None
        if rescanned:
            # Its text's key ends, less the items it answered (counted for all ballots at the end).
            keys_read += len(_KEY_END.findall(text, start, i)) - sum(map(len, answers.values()))
        else:
            keys_read += len(ballot) + len(answers) + (len(attributes) if attributes is not None else 0)
        if nested:
            tally.careful = True
        else:
            objects += 2 + len(answers) + (attributes is not None)
        seen.add(bid)
        returned[k] += 1
        c = text[i:i + 1]
        if c != "," and c != "]":
            i = _skip(text, i)
            c = text[i:i + 1]
        if c != "]" and c != ",":
            raise _Unusual
        if c == ",":
            i = _skip(text, i + 1)
            if i < stop:
                continue
            if i > stop:
                stop = -1  # not a ballot's start: read on to the end
                continue
        try:
            cols.flush()
        except (KeyError, TypeError, AttributeError):
            raise _Unusual from None
        tally.keys += keys_read
        tally.objects += objects
        return (i + 1, False) if c == "]" else (i, True)
