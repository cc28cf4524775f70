"""The typed array form of a campaign (:class:`Campaign`), built from arrays or from a bundle document."""

from __future__ import annotations

import copy
import ipaddress
import json
import math
import re
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _limits, _validate
from ._checks import parse_instant_us
from ._errors import BundleError
from ._rules import DEFAULT_RULES, effective_rules

__all__ = ["Margin", "Attribute", "Campaign", "BallotColumns", "from_document", "from_columns", "network_of",
           "attribute_key"]

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


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
    categories: tuple[Any, ...]
    proportions: Floats
    codes: Ints


@dataclass(frozen=True)
class Attribute:
    """One ballot attribute, as the breakdowns of SCORING.md section 5a read it.

    Attributes
    ----------
    name : str
        Attribute name.
    values : tuple of str
        The keys of its non-null values (:func:`attribute_key`), in the order
        they are first found on the ballots.
    codes : ndarray of int64, shape (n_ballots,)
        Per ballot: index into `values`; -1 where the attribute is absent or
        null.
    """

    name: str
    values: tuple[str, ...]
    codes: Ints


def attribute_key(value: object) -> str:
    """The key of an attribute value in ``by_attribute`` (SCORING.md section 5a).

    A string is its own key; numbers and booleans are keyed by their JSON
    text (as :func:`json.dumps` writes the value parsed: ``3``, ``2.5``,
    ``true``), so the string ``"3"`` and the number 3 share a key (a JSON
    object cannot hold both) and fall in one subset. Arrays and objects,
    which SCORING.md does not mention, are keyed by their compact JSON text
    with sorted keys.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _default_rules() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_RULES)


def _default_objective() -> Floats:
    return np.zeros((0, 0))


def _default_veto() -> NDArray[np.bool_]:
    return np.zeros(0, dtype=bool)


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
    batch_channel : tuple of str
        Channel per batch (``online``, ``paper`` …); empty where the campaign
        was built from arrays without channels (``by_channel`` is then empty).
    attributes : tuple of Attribute
        Every attribute name found on a ballot, in first-found order.
    objective : ndarray of float, shape (n_units, n_components)
        NaN where a unit has no score for a component.
    objective_components : tuple of str
    veto : ndarray of bool
    rules : dict
        Effective rules (see :func:`effective_rules`).
    """

    code: str
    option_codes: tuple[str, ...]
    option_points: Floats
    item_codes: tuple[str, ...]
    item_weights: Floats
    category_codes: tuple[str, ...]
    unit_codes: tuple[str, ...]
    unit_category: Ints
    group_codes: tuple[str, ...]
    group_weights: Floats
    batch_codes: tuple[str, ...]
    batch_group: Ints
    batch_issued: Ints
    ballot_ids: NDArray[np.str_]
    ballot_batch: Ints
    submitted_us: Ints
    duration_s: Floats
    source: Ints
    network: Ints
    answer_key: Ints
    answers: NDArray[np.int8]
    margins: tuple[Margin, ...] = ()
    batch_channel: tuple[str, ...] = ()
    attributes: tuple[Attribute, ...] = ()
    objective: Floats = field(default_factory=_default_objective)
    objective_components: tuple[str, ...] = ()
    veto: NDArray[np.bool_] = field(default_factory=_default_veto)
    rules: dict[str, Any] = field(default_factory=_default_rules)

    @property
    def n_ballots(self) -> int:
        return int(self.answers.shape[0])

    @property
    def ballot_group(self) -> Ints:
        return self.batch_group[self.ballot_batch]

    @property
    def overall_item(self) -> int:
        code = self.rules.get("overall_item")
        return 0 if code is None else self.item_codes.index(code)

    @classmethod
    def from_arrays(
        cls,
        *,
        option_points: ArrayLike,
        item_weights: ArrayLike,
        unit_category: ArrayLike,
        group_weights: ArrayLike,
        batch_group: ArrayLike,
        batch_issued: ArrayLike,
        ballot_batch: ArrayLike,
        answers: ArrayLike,
        ballot_ids: ArrayLike | None = None,
        submitted_us: ArrayLike | None = None,
        duration_s: ArrayLike | None = None,
        source: ArrayLike | None = None,
        network: ArrayLike | None = None,
        answer_key: ArrayLike | None = None,
        margins: Sequence[Margin] = (),
        batch_channel: Sequence[str] | None = None,
        attributes: Sequence[Attribute] = (),
        objective: ArrayLike | None = None,
        objective_components: Sequence[str] = (),
        veto: ArrayLike | None = None,
        rules: Mapping[str, Any] | None = None,
        code: str = "campaign",
        option_codes: Sequence[str] | None = None,
        item_codes: Sequence[str] | None = None,
        unit_codes: Sequence[str] | None = None,
        category_codes: Sequence[str] | None = None,
        group_codes: Sequence[str] | None = None,
        batch_codes: Sequence[str] | None = None,
    ) -> Campaign:
        """Build a campaign straight from arrays (no JSON), filling the optional ones.

        Absent ids become ``b0000000``, ``b0000001``, ...; absent times, all
        equal; absent durations and sources, absent. `answer_key` is computed
        from `answers` where not given. Codes default to ``o0``, ``i0``, ...
        Without `batch_channel` and `attributes` the breakdowns by channel
        and by attribute are empty.

        Raises
        ------
        ValueError
            If shapes disagree or an index is out of range, naming it.
        """
        points = np.asarray(option_points, dtype=float)
        iw = np.asarray(item_weights, dtype=float)
        ucat = np.asarray(unit_category, dtype=np.int64)
        gw = np.asarray(group_weights, dtype=float)
        bgroup = np.asarray(batch_group, dtype=np.int64)
        bbatch = np.asarray(ballot_batch, dtype=np.int64)
        ans = _answers_array(answers, len(points))
        _check_shapes(ans, iw, ucat, gw, bgroup, bbatch)
        n, n_units, n_items = ans.shape
        channels = tuple(batch_channel) if batch_channel is not None else ()
        if batch_channel is not None and len(channels) != len(bgroup):
            raise ValueError(f"batch_channel has {len(channels)} entries, batch_group {len(bgroup)}")
        _check_attributes(attributes, n)
        n_categories = int(ucat.max()) + 1 if len(ucat) else 0
        if objective is None:
            objective = np.full((n_units, len(objective_components)), np.nan)
        return cls(
            code=code,
            option_codes=tuple(option_codes or (f"o{i}" for i in range(len(points)))),
            option_points=points,
            item_codes=tuple(item_codes or (f"i{i}" for i in range(n_items))),
            item_weights=iw,
            category_codes=tuple(category_codes or (f"c{i}" for i in range(n_categories))),
            unit_codes=tuple(unit_codes or (f"u{i}" for i in range(n_units))),
            unit_category=ucat,
            group_codes=tuple(group_codes or (f"g{i}" for i in range(len(gw)))),
            group_weights=gw,
            batch_codes=tuple(batch_codes or (f"k{i}" for i in range(len(bgroup)))),
            batch_group=bgroup,
            batch_issued=np.asarray(batch_issued, dtype=np.int64),
            ballot_ids=_ballot_ids(ballot_ids, n),
            ballot_batch=bbatch,
            submitted_us=_or_full(submitted_us, n, 0, np.int64),
            duration_s=_or_full(duration_s, n, np.nan, np.float64),
            source=_or_full(source, n, -1, np.int64),
            network=_or_full(network, n, -1, np.int64),
            answer_key=np.asarray(_row_codes(ans) if answer_key is None else answer_key, dtype=np.int64),
            answers=ans,
            margins=tuple(margins),
            batch_channel=channels,
            attributes=tuple(attributes),
            objective=np.asarray(objective, dtype=float),
            objective_components=tuple(objective_components),
            veto=_or_full(veto, n_units, False, np.bool_),
            rules=effective_rules(rules),
        )


def _or_full(values: ArrayLike | None, n: int, fill: float | bool, dtype: type[Any]) -> NDArray[Any]:
    """`values` as an array of `dtype`, or `n` times `fill` where None."""
    if values is None:
        return np.full(n, fill, dtype=dtype)
    return np.asarray(values, dtype=dtype)


def _answers_array(answers: ArrayLike, n_options: int) -> NDArray[np.int8]:
    a = np.asarray(answers)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"answers must have shape (ballots, units, items), got {a.shape}")
    if a.dtype != np.int8:
        if a.size and (a.min() < -1 or a.max() >= n_options):
            raise ValueError("answers holds an option index out of range")
        a = a.astype(np.int8)
    return a


def _check_shapes(answers: NDArray[np.int8], item_weights: Floats, unit_category: Ints, group_weights: Floats,
                  batch_group: Ints, ballot_batch: Ints) -> None:
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


def _check_attributes(attributes: Sequence[Attribute], n: int) -> None:
    names = set()
    for a in attributes:
        if a.name in names:
            raise ValueError(f"attribute {a.name!r} is given twice")
        names.add(a.name)
        if a.codes.shape != (n,):
            raise ValueError(f"attribute {a.name!r} has codes of shape {a.codes.shape}, want ({n},)")
        if n and (a.codes.min() < -1 or a.codes.max() >= len(a.values)):
            raise ValueError(f"attribute {a.name!r} holds a value index out of range")


def _ballot_ids(ballot_ids: ArrayLike | None, n: int) -> NDArray[np.str_]:
    if ballot_ids is None:
        ids = np.char.add("b", np.char.zfill(np.arange(n).astype(str), 7)) if n else np.zeros(0, dtype="<U1")
    else:
        ids = np.asarray(ballot_ids)
    if ids.dtype.kind != "U":
        ids = ids.astype(str)
    if len(np.unique(ids)) != n:
        raise ValueError("ballot_ids must be unique")
    return ids


def _row_codes(answers: NDArray[np.int8]) -> Ints:
    """Codes equal exactly where two ballots' answer rows are equal."""
    n = answers.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rows = np.ascontiguousarray(answers.reshape(n, -1))
    view = rows.view(np.dtype((np.void, rows.shape[1])))
    _, inverse = np.unique(view.ravel(), return_inverse=True)
    return inverse.astype(np.int64).ravel()


_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: An IPv4 address as :mod:`ipaddress` reads it (no leading zeros): its /24 is written without parsing.
_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")


def network_of(source: str) -> str | None:
    """The IPv4 /24 or IPv6 /64 of an address, or None where it is not one."""
    source = source.strip()
    plain = _IPV4.fullmatch(source)
    if plain is not None:
        # What ipaddress.ip_network(f"{source}/24", strict=False) writes, without building it.
        return f"{plain[1]}.{plain[2]}.{plain[3]}.0/24"
    try:
        ip = ipaddress.ip_address(source)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


# ---------------------------------------------------------------------------
# From a document


def _json_value_key(value: object) -> str:
    # Categories compare as JSON values: 1 != "1", 1 == 1.0.
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return "n:" + repr(float(value))
    return "j:" + json.dumps(value, sort_keys=True, ensure_ascii=False)


def _index(records: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    return {r["code"]: i for i, r in enumerate(records)}


class BallotColumns:
    """The per-ballot arrays of a bundle, filled one ballot at a time.

    The one place where ballots become arrays, for a whole document
    (:func:`from_document`) and for ballots read one by one
    (``analysis._stream``): the number of ballots need not be known
    beforehand. Ballots must have passed :func:`analysis._validate.validate_ballot`.
    Per ballot only lookups run (C-level maps over its answers); the
    positions of the answers and the keys of equal answers are worked out
    for all ballots at once, in numpy.

    Parameters
    ----------
    doc : dict
        The bundle's scale, items, units and batches (validated).
    """

    def __init__(self, doc: Mapping[str, Any]) -> None:
        options, items, units, batches = doc["scale"], doc["items"], doc["units"], doc["batches"]
        self.n_options = len(options)
        self.opt_idx, self.item_idx = _index(options), _index(items)
        self.unit_idx, self.batch_idx = _index(units), _index(batches)
        self.open_batch = [b.get("issued") is None for b in batches]
        self.n_units, self.n_items = len(units), len(items)
        self.ids: list[str] = []
        self.batch = array("q")
        self.submitted_us = array("q")
        self.duration_s = array("d")
        self.source = array("q")
        self.network = array("q")
        #: Whether the ballot's answers are compared for duplicates (an open batch, a source).
        self.compared = bytearray()
        # The answers, flat: per ballot its units' count; per (ballot, unit)
        # the unit and its items' count; per answer its item and option.
        # Small integers (a million ballots hold 18 million answers).
        small_units = "h" if self.n_units < (1 << 15) else "i"
        small_items = "h" if self.n_items < (1 << 15) else "i"
        self.units_of_ballot = array("i")
        self.unit = array(small_units)
        self.items_of_unit = array(small_items)
        self.item = array(small_items)
        self.option = array("b" if self.n_options < (1 << 7) else "h")
        #: Per ballot, its ``attributes`` (None where absent): read by the margins and breakdowns.
        self.attributes: list[Any] = []
        #: Answers put and not yet flushed; items answered by those flushed.
        self._pending: list[Mapping[str, Mapping[str, str]]] = []
        self.answered = 0
        self.src_codes: dict[str, int] = {}
        self.net_codes: dict[str, int] = {}
        #: Per source code, its network's code (-1: not an address).
        self.src_net: list[int] = []

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, b: Mapping[str, Any], submitted_us: int | None = None) -> None:
        """Append one (valid) ballot; `submitted_us` is its time where the caller parsed it already."""
        duration = b.get("duration_s")
        self.submitted_us.append(parse_instant_us(b["submitted_at"]) if submitted_us is None else submitted_us)
        self.put(b["id"], self.batch_idx[b["batch"]], math.nan if duration is None else float(duration),
                 b.get("source"), b["answers"], b.get("attributes"))

    def put(self, bid: str, k: int, duration: float, s: str | None, answers: Mapping[str, Mapping[str, str]],
            attributes: Any) -> None:
        """Append a ballot's fields but its time (the caller appends it).

        Its answers join the arrays at the next :meth:`flush` (which
        :meth:`answers` and :meth:`answer_keys` make first).
        """
        self.ids.append(bid)
        self.batch.append(k)
        self.duration_s.append(duration)
        src = net_code = -1
        if s is not None:
            src = self.src_codes.get(s, -1)
            if src < 0:
                # A source seen before has its network already: worked out once per source.
                src = self.src_codes[s] = len(self.src_codes)
                net = network_of(s)
                self.src_net.append(-1 if net is None else self.net_codes.setdefault(net, len(self.net_codes)))
            net_code = self.src_net[src]
        self.source.append(src)
        self.network.append(net_code)
        self._pending.append(answers)
        if len(self._pending) >= _PENDING:
            self.flush()
        # Only ballots of open batches with a source can be duplicates.
        self.compared.append(s is not None and self.open_batch[k])
        self.attributes.append(attributes)

    def flush(self) -> int:
        """Turn the answers put since the last flush into the flat arrays; how many items they answered.

        Done for some dozen ballots at once, each array filled by one
        C-level pass over them. Unknown units, items and options fail their
        lookups (KeyError), an answer that is not an object fails
        ``dict.values`` (TypeError).
        """
        pending = self._pending
        if not pending:
            return 0
        self._pending = []
        before = len(self.option)
        self.units_of_ballot.extend(map(len, pending))
        self.unit.extend(map(self.unit_idx.__getitem__, chain.from_iterable(pending)))
        per_unit: list[Mapping[str, str]] = list(chain.from_iterable(map(_values, pending)))
        self.items_of_unit.extend(map(len, per_unit))
        self.item.extend(map(self.item_idx.__getitem__, chain.from_iterable(per_unit)))
        self.option.extend(map(self.opt_idx.__getitem__, chain.from_iterable(map(_values, per_unit))))
        answered = len(self.option) - before
        self.answered += answered
        return answered

    def part(self) -> dict[str, Any]:
        """What :meth:`take` needs of these ballots (sent from a helper process)."""
        self.flush()
        sources = list(self.src_codes)  # in code order
        return {"ids": self.ids, "batch": self.batch, "duration_s": self.duration_s, "source": self.source,
                "sources": sources, "compared": self.compared, "units_of_ballot": self.units_of_ballot,
                "unit": self.unit, "items_of_unit": self.items_of_unit, "item": self.item, "option": self.option,
                "attributes": self.attributes, "answered": self.answered}

    def take(self, part: Mapping[str, Any]) -> None:
        """Append the ballots of another reading's :meth:`part` (those that follow these in the text).

        Their sources are numbered on from these' in the order they first
        occur, as one reading of all the ballots numbers them.
        """
        self.flush()
        code_of = np.full(len(part["sources"]) + 1, -1, dtype=np.int64)  # index -1: no source
        for c, s in enumerate(part["sources"]):
            code = self.src_codes.get(s, -1)
            if code < 0:
                code = self.src_codes[s] = len(self.src_codes)
                net = network_of(s)
                self.src_net.append(-1 if net is None else self.net_codes.setdefault(net, len(self.net_codes)))
            code_of[c] = code
        source = code_of[np.frombuffer(part["source"], dtype=np.int64)] if part["source"] else np.zeros(0, np.int64)
        net_of = np.append(np.asarray(self.src_net, dtype=np.int64), -1)
        self.ids.extend(part["ids"])
        self.batch.extend(part["batch"])
        self.duration_s.extend(part["duration_s"])
        self.source.frombytes(source.tobytes())
        self.network.frombytes(net_of[source].tobytes())
        self.compared.extend(part["compared"])
        for name in ("units_of_ballot", "unit", "items_of_unit", "item", "option"):
            getattr(self, name).extend(part[name])
        self.attributes.extend(part["attributes"])
        self.answered += part["answered"]

    def _offsets(self) -> tuple[Ints, Ints]:
        """Where each ballot's units and each unit's answers start in the flat arrays (one past the end last)."""
        self.flush()
        unit_at = np.zeros(len(self.units_of_ballot) + 1, dtype=np.int64)
        np.cumsum(_raw(self.units_of_ballot), out=unit_at[1:])
        item_at = np.zeros(len(self.items_of_unit) + 1, dtype=np.int64)
        np.cumsum(_raw(self.items_of_unit), out=item_at[1:])
        return unit_at, item_at

    def _flat(self, lo: int, hi: int, offsets: tuple[Ints, Ints] | None = None) -> tuple[Ints, Ints, Ints, Ints]:
        """Ballots lo..hi's answers: per answer its ballot, unit, item and option."""
        unit_at, item_at = offsets if offsets is not None else self._offsets()
        u0, u1 = int(unit_at[lo]), int(unit_at[hi])
        a0, a1 = int(item_at[u0]), int(item_at[u1])
        units_of = np.diff(unit_at[lo:hi + 1])
        items_of = np.diff(item_at[u0:u1 + 1])
        ballot_of_unit = np.repeat(np.arange(lo, hi, dtype=np.int64), units_of)
        unit = _ints_of(self.unit, u0, u1)
        per_answer = np.repeat(np.stack([ballot_of_unit, unit]), items_of, axis=1)
        return per_answer[0], per_answer[1], _ints_of(self.item, a0, a1), _ints_of(self.option, a0, a1)

    def answers(self) -> NDArray[np.int8]:
        """Option index per ballot, unit and item; -1 where not answered."""
        if self.n_options > 127:
            raise ValueError(f"at most 127 scale options are supported, got {self.n_options}")
        n = len(self.ids)
        answers = np.full((n, self.n_units, self.n_items), -1, dtype=np.int8)
        flat = answers.reshape(-1)
        offsets = self._offsets()
        for lo in range(0, n, _ANSWER_CHUNK):
            ballot, unit, item, option = self._flat(lo, min(n, lo + _ANSWER_CHUNK), offsets)
            flat[(ballot * self.n_units + unit) * self.n_items + item] = option
        return answers

    def answer_keys(self) -> Ints:
        """Per ballot, a key equal exactly where two compared ballots' answers are equal as JSON objects.

        Compared are the ballots of open batches with a source (the others
        get keys no other ballot shares, -1 - row). Two ballots' answers
        are equal as JSON objects (any key order) exactly where the sorted
        codes of every (unit, item, option) answered and of every unit
        present (so that ``{"u1": {}}`` differs from ``{}``) are equal. Keys
        count from 0 in the order the answers first occur.
        """
        n = len(self.ids)
        keys = -1 - np.arange(n, dtype=np.int64)
        compared = np.flatnonzero(np.frombuffer(bytes(self.compared), dtype=np.uint8)) if n else np.zeros(0, np.int64)
        if not len(compared):
            return keys
        stride, width = self.n_items + 1, self.n_options + 1
        self.flush()
        pick = np.frombuffer(bytes(self.compared), dtype=np.bool_)
        units_of = _raw(self.units_of_ballot)
        items_of = _raw(self.items_of_unit)
        # The compared ballots' units and answers only (masks repeated down the
        # flat arrays; the small integers widened only once picked).
        on_u = np.repeat(pick, units_of)
        on = np.repeat(on_u, items_of)
        unit_on = _raw(self.unit)[on_u].astype(np.int64)
        owner_u = np.repeat(compared, units_of[compared])
        owner = np.repeat(owner_u, items_of[on_u])
        unit = np.repeat(unit_on, items_of[on_u])
        item = _raw(self.item)[on].astype(np.int64)
        option = _raw(self.option)[on].astype(np.int64)
        del on, on_u
        codes = [(owner, (unit * stride + item) * width + option), (owner_u, (unit_on * stride + self.n_items) * width)]
        owner = np.concatenate([c[0] for c in codes])
        code = np.concatenate([c[1] for c in codes])
        order = np.lexsort((code, owner))
        owner, code = owner[order], code[order]
        length = np.bincount(owner, minlength=n)[compared]
        start = np.searchsorted(owner, compared)
        first = np.full(len(compared), -1, dtype=np.int64)  # per compared ballot, its key's first ballot
        for L in np.unique(length):
            these = np.flatnonzero(length == L)
            rows = code[start[these, None] + np.arange(L)[None, :]] if L else np.zeros((len(these), 0), np.int64)
            _, at, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
            first[these] = these[at][inverse.ravel()]
        # Keys numbered by first occurrence, as a dict filled ballot by ballot would number them.
        firsts, numbered = np.unique(first, return_inverse=True)
        keys[compared] = numbered.ravel()
        del firsts
        return keys


def _raw(values: array[int]) -> NDArray[np.signedinteger[Any]]:
    """An array of small integers as numpy sees it (no copy)."""
    return np.frombuffer(values, dtype=np.dtype(values.typecode))


def _ints_of(values: array[int], lo: int = 0, hi: int | None = None) -> Ints:
    """Elements lo..hi of an array of small integers, as int64 (for arithmetic without overflow)."""
    got: Ints = np.frombuffer(values, dtype=np.dtype(values.typecode))[lo:hi].astype(np.int64)
    return got


#: Ballots whose answers are placed at once (bounds the temporaries for a million ballots).
_ANSWER_CHUNK = 1 << 16
#: An object's values (fails with TypeError on anything but a dict, as the answers must be).
_values: Any = dict.values
#: Ballots whose answers wait to be flushed into the arrays at once.
_PENDING = 64


def _margins(doc: Mapping[str, Any], ballot_attributes: Sequence[Any]) -> tuple[Margin, ...]:
    group_idx = _index(doc["groups"])
    n = len(ballot_attributes)
    margins = []
    for g, variables in (doc.get("margins") or {}).items():
        gi = group_idx[g]
        for var, cats in variables.items():
            keys = {_json_value_key(c): j for j, c in enumerate(cats)}
            props = np.array([float(p) for p in cats.values()])
            codes = np.full(n, -1, dtype=np.int64)
            for r, given in enumerate(ballot_attributes):
                attrs = given or {}
                if var in attrs and attrs[var] is not None:
                    codes[r] = keys.get(_json_value_key(attrs[var]), -2)
            margins.append(Margin(gi, var, tuple(cats), props / props.sum(), codes))
    return tuple(margins)


def _attributes(ballot_attributes: Sequence[Any]) -> tuple[Attribute, ...]:
    if not any(ballot_attributes):
        return ()
    n = len(ballot_attributes)
    keys: dict[str, dict[str, int]] = {}
    codes: dict[str, Ints] = {}
    for r, given in enumerate(ballot_attributes):
        for name, value in (given or {}).items():
            if name not in keys:
                keys[name] = {}
                codes[name] = np.full(n, -1, dtype=np.int64)
            if value is not None:
                seen = keys[name]
                codes[name][r] = seen.setdefault(attribute_key(value), len(seen))
    return tuple(Attribute(name, tuple(seen), codes[name]) for name, seen in keys.items())


def _objective(doc: Mapping[str, Any], rules: Mapping[str, Any]) -> tuple[Floats, tuple[str, ...]]:
    unit_idx = _index(doc["units"])
    scores = doc.get("objective_scores") or []
    comps: list[str] = []
    for o in scores:
        if o["component"] not in comps:
            comps.append(o["component"])
    for c in rules["objective_components"]:
        if c not in comps:
            comps.append(c)
    objective = np.full((len(unit_idx), len(comps)), np.nan)
    for o in scores:
        objective[unit_idx[o["unit"]], comps.index(o["component"])] = float(o["score"])
    return objective, tuple(comps)


def _veto(doc: Mapping[str, Any]) -> NDArray[np.bool_]:
    unit_idx = _index(doc["units"])
    veto = np.zeros(len(unit_idx), dtype=bool)
    for v in doc.get("vetoes") or []:
        veto[unit_idx[v["unit"]]] = True
    return veto


def from_document(doc: Mapping[str, Any], override: Mapping[str, Any] | None = None, *,
                  validated: bool = False) -> Campaign:
    """Turn a valid bundle into a :class:`Campaign`.

    Parameters
    ----------
    doc : dict
        A pingyi-campaign/1 document.
    override : dict, optional
        Rules replacing the bundle's (``--rules``); always checked.
    validated : bool, default False
        True where `doc` comes from :func:`analysis.loads_bundle` (or passed
        :func:`analysis.validate_bundle`) unchanged since: it is then not
        validated again. A bundle is validated once; passing True for a
        document never validated gives undefined results.

    Raises
    ------
    BundleError
        If the document (unless `validated`) or the override is not valid.
    """
    if not validated:
        problems = _validate.validate_bundle(doc)
        if problems:
            raise BundleError(problems)
    rules = effective_rules(doc.get("rules"), override, _index(doc["items"]))
    overflow = _limits.finite_problems(doc, rules)
    if overflow:
        raise BundleError(overflow)
    cols = BallotColumns(doc)
    for b in doc["ballots"]:
        cols.add(b)
    return from_columns(doc, cols, rules)


def from_columns(doc: Mapping[str, Any], cols: BallotColumns, rules: dict[str, Any]) -> Campaign:
    """The :class:`Campaign` of a valid bundle whose ballots are already in `cols`.

    Parameters
    ----------
    doc : dict
        The bundle's other sections (its ``ballots``, if any, are not read).
    cols : BallotColumns
        Every ballot, in document order.
    rules : dict
        The effective rules (:func:`effective_rules`), the bundle's limits
        already checked against them (:func:`analysis._limits.finite_problems`).
    """
    items, categories, groups, batches = doc["items"], doc["categories"], doc["groups"], doc["batches"]
    options = doc["scale"]
    cat_idx, group_idx = _index(categories), _index(groups)
    answers = cols.answers()
    objective, comps = _objective(doc, rules)
    return Campaign(
        code=str(doc["campaign"]["code"]),
        option_codes=tuple(o["code"] for o in options),
        option_points=np.array([np.nan if o["points"] is None else float(o["points"]) for o in options]),
        item_codes=tuple(it["code"] for it in items),
        item_weights=np.array([float(it["weight"]) for it in items]),
        category_codes=tuple(c["code"] for c in categories),
        unit_codes=tuple(u["code"] for u in doc["units"]),
        unit_category=np.array([cat_idx[u["category"]] for u in doc["units"]], dtype=np.int64),
        group_codes=tuple(g["code"] for g in groups),
        group_weights=np.array([float(g["weight"]) for g in groups]),
        batch_codes=tuple(b["code"] for b in batches),
        batch_group=np.array([group_idx[b["group"]] for b in batches], dtype=np.int64),
        batch_issued=np.array([-1 if b.get("issued") is None else int(b["issued"]) for b in batches], dtype=np.int64),
        ballot_ids=np.array(cols.ids, dtype=str) if cols.ids else np.zeros(0, dtype="<U1"),
        ballot_batch=_ints_of(cols.batch),
        submitted_us=_ints_of(cols.submitted_us),
        duration_s=np.frombuffer(cols.duration_s, dtype=np.float64).copy() if cols.duration_s else np.zeros(0),
        source=_ints_of(cols.source),
        network=_ints_of(cols.network),
        answer_key=cols.answer_keys(),
        answers=answers,
        margins=_margins(doc, cols.attributes),
        batch_channel=tuple(str(b["channel"]) for b in batches),
        attributes=_attributes(cols.attributes),
        objective=objective,
        objective_components=comps,
        veto=_veto(doc),
        rules=rules,
    )
