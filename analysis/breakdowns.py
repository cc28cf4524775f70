"""Per-item figures and breakdowns of a unit by subsets of its valid ballots (SCORING.md section 5a).

Both repeat section 5's cells (per group, trimmed, combined by group
weights; shares without trimming) on other inputs: an item's points in place
of s(b, u), or a subset of the valid ballots in place of all of them. The
item cells are computed with section 5's own functions (:func:`prepare_group`,
:func:`cell_sums`, :func:`option_weights`), so with one item they are the
units' figures to the last bit. The breakdowns are summed from histograms of
answer codes (:func:`subset_scores`), in another order than section 5's
matrix products: a subset holding a whole group gives that group's figures
to rounding (about 1e-12), not to the last bit; ``by_batch`` and
:func:`analysis.breakdown` of one batch agree to the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._campaign import Campaign
from .flags import ballot_unit_scores
from .scores import (
    CellSums,
    GroupCells,
    ValueCells,
    cell_sums,
    cells_bytes,
    combine_groups,
    counts_by_row,
    exact_sums,
    option_weights,
    prepare_group,
    scored_shares,
    trim_count,
    value_cell_sums,
    value_cells,
)
from .uncertainty import percentile_ci95

__all__ = [
    "ScoreBasis",
    "score_basis",
    "valid_rows_by_group",
    "SubsetScores",
    "SubsetFigures",
    "Breakdown",
    "Breakdowns",
    "subset_scores",
    "breakdowns",
    "ItemScores",
    "ItemCells",
    "item_points",
    "json_float",
]

Array = NDArray[Any]
Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


def json_float(x: Any) -> float | None:
    """A float for JSON; None where the figure does not exist (None or NaN)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


@dataclass(frozen=True)
class ScoreBasis:
    """What section 5's cells are computed from, fixed once per evaluation.

    Attributes
    ----------
    campaign : Campaign
    scores : ndarray of float, shape (n_ballots, units)
        s(b, u); NaN where undefined.
    weights : ndarray of float, shape (n_ballots,)
        Final weights (section 4); 0 where the ballot is not valid.
    group_rows : tuple of ndarray of int64
        Per group, its valid ballots in ballot-id order.
    scored_idx : ndarray of int64
        The scored options, in scale order.
    """

    campaign: Campaign
    scores: Floats
    weights: Floats
    group_rows: tuple[Ints, ...]
    scored_idx: Ints

    @property
    def trim_per_end(self) -> float:
        return float(self.campaign.rules["trim_per_end"])

    @property
    def option_codes(self) -> tuple[str, ...]:
        """Codes of the scored options (the keys of ``shares``)."""
        return tuple(self.campaign.option_codes[o] for o in self.scored_idx)


def valid_rows_by_group(c: Campaign, valid: NDArray[np.bool_], id_rank: Ints) -> list[Ints]:
    """Per group, its valid ballots in ballot-id order (the order resamples and ties use)."""
    group = c.ballot_group
    out = []
    for g in range(len(c.group_codes)):
        rows = np.flatnonzero(valid & (group == g))
        out.append(rows[np.argsort(id_rank[rows], kind="stable")])
    return out


def score_basis(c: Campaign, scores: Floats, weights: Floats, group_rows: Sequence[Ints]) -> ScoreBasis:
    """A :class:`ScoreBasis` from the flags' scores, the final weights and :func:`valid_rows_by_group`."""
    scored_idx = np.flatnonzero(~np.isnan(c.option_points)).astype(np.int64)
    return ScoreBasis(c, scores, weights, tuple(group_rows), scored_idx)


@dataclass(frozen=True)
class SubsetFigures:
    """Section 5's ballot figures of one unit on one subset of the valid ballots.

    Attributes
    ----------
    n : int
        Σ_g n(u, g) over the subset.
    score : float or None
        The subset's ballot score S(u) (no objective components); None where
        no group of the subset has a score.
    shares : dict of str to float, or None
        Shares of the scored options on the overall item, combined over the
        groups; None where no ballot of the subset gave the unit's overall
        item a scored option.
    """

    n: int
    score: float | None
    shares: dict[str, float | None] | None

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "score": self.score, "shares": None if self.shares is None else dict(self.shares)}


@dataclass(frozen=True)
class SubsetScores:
    """Section 5's ballot figures of several disjoint subsets of the valid ballots, per subset and unit.

    Attributes
    ----------
    labels : tuple of str
        Name of each subset (a batch code, a channel, an attribute value).
    n : ndarray of int64, shape (subsets, units)
    score : ndarray of float, shape (subsets, units)
        NaN where it does not exist.
    shares : ndarray of float, shape (subsets, units, scored options)
        NaN where they do not exist.
    option_codes : tuple of str
        The scored options, in scale order.
    """

    labels: tuple[str, ...]
    n: Ints
    score: Floats
    shares: Floats
    option_codes: tuple[str, ...]

    def figures(self, k: int, u: int) -> SubsetFigures:
        """The figures of subset `k` for unit `u`."""
        sh = self.shares[k, u]
        shares = None if np.all(np.isnan(sh)) else {oc: json_float(sh[j]) for j, oc in enumerate(self.option_codes)}
        return SubsetFigures(int(self.n[k, u]), json_float(self.score[k, u]), shares)

    def to_json(self, u: int) -> dict[str, dict[str, Any]]:
        """{subset name: {"n", "score", "shares"}} for unit `u` (every subset listed)."""
        return {name: self.figures(k, u).to_json() for k, name in enumerate(self.labels)}


@dataclass(frozen=True)
class Breakdown:
    """The figures of one set of batches, per unit (see :func:`analysis.breakdown`).

    Attributes
    ----------
    batches : tuple of str
        The batch codes the subset holds, in campaign order.
    units : dict of str to SubsetFigures
        By unit code, in campaign order.
    """

    batches: tuple[str, ...]
    units: dict[str, SubsetFigures]

    def to_json(self) -> dict[str, dict[str, Any]]:
        """{unit code: {"n", "score", "shares"}}."""
        return {code: f.to_json() for code, f in self.units.items()}


#: Largest histogram (in bins) of one group and partition; beyond it (a
#: partition with very many subsets, answers giving very many distinct scores)
#: each subset's cells are built apart, as section 5 builds a group's.
MAX_BINS = 1 << 22
#: Most combinations of answers to a unit's items that are tabulated (their
#: scores computed once each); beyond it the cells are built apart too.
MAX_COMBINATIONS = 1 << 20
#: Rows of a group binned at once (bounds the temporaries whatever the size).
_ROW_CHUNK = 1 << 15


@dataclass
class _Partials:
    """Section 5's cells of one partition, per subset, group and unit, before groups are combined."""

    score: Floats  # (K, G, U)
    n: Ints  # (K, U)
    shares: Floats  # (K, G, U, scored options)


@dataclass(frozen=True)
class _Combos:
    """The answers of one group as combination codes: everything section 5 reads of a (ballot, unit) pair.

    A ballot's answers to the items of a unit, (a_1 + 1) + B·(a_2 + 1) + …
    with B = options + 1, fix both s(b, u) and the overall option, so the
    cells of any subset follow from how many ballots (and how much weight)
    each code has in it. Combinations with the same s(b, u) and overall
    option share a code: the codes number the distinct pairs, not the
    B^items combinations, so the histograms stay small with many items.
    """

    code: NDArray[np.int32]  # (n_g, units)
    score: Floats  # (codes,) s(b, u) of each code, NaN where undefined
    option_slot: Ints  # (codes,) 1 + the overall option, 0 where unanswered
    n_codes: int


@dataclass(frozen=True)
class _CodeTable:
    """What each combination of answers to a unit's items gives: its code, s(b, u) and overall option per code."""

    compact: NDArray[np.int32] | None  # (combinations,) code of each; None where the combination is the code
    score: Floats  # (codes,) s(b, u) of each code, NaN where undefined
    option_slot: Ints  # (codes,) 1 + the overall option, 0 where unanswered
    n_codes: int


def _code_table(c: Campaign) -> _CodeTable | None:
    """The campaign's table of answer codes (the same for every group), or None where there are too many."""
    n_items, U = len(c.item_codes), len(c.unit_codes)
    base = len(c.option_points) + 1
    n_combinations = base ** n_items
    if n_combinations > MAX_COMBINATIONS:
        return None
    digits = (np.arange(n_combinations)[:, None] // base ** np.arange(n_items)[None, :]) % base - 1
    table = digits.astype(np.int8)[:, None, :]
    # The same function as the ballots' own scores: the same value, to the last bit.
    score = ballot_unit_scores(table, c.option_points, c.item_weights)[:, 0]
    option_slot = digits[:, c.overall_item].astype(np.int64) + 1
    compact = None
    if n_items > 1:
        # One code per distinct (s(b, u), overall option); NaN scores sort last in np.unique.
        _, value_of = np.unique(score, return_inverse=True)
        pairs, first, inverse = np.unique(value_of * base + option_slot, return_index=True, return_inverse=True)
        compact = inverse.astype(np.int32)
        score, option_slot = score[first], option_slot[first]
        n_combinations = len(pairs)
    if n_combinations * U * 2 > MAX_BINS:
        return None
    return _CodeTable(compact, score, option_slot, n_combinations)


def _combos(c: Campaign, table: _CodeTable, rows: Ints) -> _Combos:
    """The group's answer codes (`rows`: its valid ballots)."""
    n_items = len(c.item_codes)
    base = len(c.option_points) + 1
    answers = c.answers[rows]
    if n_items == 1:
        code = answers[:, :, 0].astype(np.int32) + 1
    else:
        code = np.zeros(answers.shape[:2], dtype=np.int32)
        for i in range(n_items - 1, -1, -1):
            code *= base
            code += answers[:, :, i]
            code += 1
    if table.compact is not None:
        code = table.compact[code]
    return _Combos(code, table.score, table.option_slot, table.n_codes)


def _histograms(combos: _Combos, w: Floats, equal_weight: float | None, parts: Sequence[tuple[Ints, int]],
                apart: int = 0) -> list[tuple[Floats, Floats]]:
    """Per partition: ballots and weight of each (subset, unit, code), shape (K, units, codes) each.

    Partitions after the first `apart` are the axes of one histogram over
    their combined labels (as many as fit in :data:`MAX_BINS`), so the
    group's (ballot, unit) pairs are read once for several partitions, each
    partition's histogram being a sum over the other axes. The first `apart`
    partitions get histograms of their own: their weight sums are then added
    in the same order as those of a one-subset partition of the same ballots
    (:func:`analysis.breakdown`), to the last bit.
    """
    n_g, U = combos.code.shape
    cell = U * combos.n_codes
    bundles: list[list[int]] = []
    size = 0
    for i, (_, K) in enumerate(parts):
        if not bundles or i <= apart or size * (K + 1) > MAX_BINS:
            bundles.append([])
            size = cell
        bundles[-1].append(i)
        size *= K + 1
    fines = []
    for bundle in bundles:
        # Label K (one past the last subset) holds the ballots in no subset of that partition.
        fine = np.zeros(n_g, dtype=np.int64)
        for i in bundle:
            lab, K = parts[i]
            fine *= K + 1
            fine += np.where(lab >= 0, lab, K)
        fines.append(fine * cell)
    dims = [[parts[i][1] + 1 for i in bundle] for bundle in bundles]
    totals = [int(np.prod(d)) * cell for d in dims]
    cnts = [np.zeros(n) for n in totals]
    wsums = [np.zeros(n) for n in totals] if equal_weight is None else cnts
    unit_base = (np.arange(U, dtype=np.int64) * combos.n_codes)[None, :]
    for lo in range(0, n_g, _ROW_CHUNK):
        hi = min(n_g, lo + _ROW_CHUNK)
        base = combos.code[lo:hi] + unit_base
        w_rep = np.repeat(w[lo:hi], U) if equal_weight is None else None
        for b in range(len(bundles)):
            key = (base + fines[b][lo:hi, None]).ravel()
            cnts[b] += np.bincount(key, minlength=totals[b])
            if w_rep is not None:
                wsums[b] += np.bincount(key, weights=w_rep, minlength=totals[b])
    out: list[tuple[Floats, Floats]] = [(np.zeros(0), np.zeros(0))] * len(parts)
    for b, bundle in enumerate(bundles):
        shape = (*dims[b], U, combos.n_codes)
        for axis, i in enumerate(bundle):
            K = parts[i][1]
            others = tuple(a for a in range(len(bundle)) if a != axis)
            c_i = cnts[b].reshape(shape).sum(axis=others)[:K]
            w_i = c_i * equal_weight if equal_weight is not None else wsums[b].reshape(shape).sum(axis=others)[:K]
            out[i] = (c_i, w_i)
    return out


def _sum_codes(x: Floats, groups: Sequence[Ints]) -> Floats:
    """Sums over the last axis (codes) for each group of codes; the same sums whatever the leading axes."""
    out = np.zeros((*x.shape[:-1], len(groups)))
    for j, codes in enumerate(groups):
        if len(codes):
            out[..., j] = x[..., codes].sum(axis=-1)
    return out


def _trimmed_by_value(cnt_v: Floats, values: Floats, p: float, w0: float) -> tuple[Floats, Floats, Floats]:
    """Equal weights: Σ w·s, Σ w and the ballots kept after trimming, from the counts per score value (ascending)."""
    n = cnt_v.sum(axis=-1)
    k = trim_count(p, n)[..., None]
    below = np.cumsum(cnt_v, axis=-1) - cnt_v
    above = np.cumsum(cnt_v[..., ::-1], axis=-1)[..., ::-1] - cnt_v
    kept_v = cnt_v - np.clip(k - below, 0.0, cnt_v) - np.clip(k - above, 0.0, cnt_v)
    return w0 * (kept_v * values).sum(axis=-1), w0 * kept_v.sum(axis=-1), n - 2 * k[..., 0]


@dataclass(frozen=True)
class _Entries:
    """The (ballot, unit) pairs of a group with a score, in ballot-id order (row-major)."""

    row: Ints
    unit: Ints
    value: Ints  # index into the sorted distinct scores
    w: Floats
    ws: Floats  # w·s


def _entries(combos: _Combos, w: Floats, value_of: Ints, values: Floats) -> _Entries:
    U = combos.code.shape[1]
    v = value_of[combos.code].ravel()
    at = np.flatnonzero(v >= 0)
    row = at // U
    value = v[at]
    w_e = w[row]
    return _Entries(row, at - row * U, value, w_e, w_e * values[value])


def _trimmed_by_sort(entries: _Entries, lab: Ints, K: int, U: int, V: int, p: float) -> tuple[Floats, Floats]:
    """Unequal weights: Σ w·s and Σ w after trimming each (subset, unit) cell, its ballots sorted by (s, id)."""
    if V == 0:
        return np.zeros((K, U)), np.zeros((K, U))
    lab_e = lab[entries.row]
    lab_e[lab_e < 0] = K
    key = (entries.unit * (K + 1) + lab_e) * V + entries.value
    # A stable sort keeps the id order among equal keys: each (unit, subset)
    # cell comes out sorted by (s, ballot id).
    n_keys = U * (K + 1) * V
    order = np.argsort(key.astype(np.uint16) if n_keys <= (1 << 16) else key, kind="stable")
    seg = key[order] // V
    n_cells = U * (K + 1)
    n_seg = np.bincount(seg, minlength=n_cells)
    start = np.cumsum(n_seg) - n_seg
    pos = np.arange(len(seg)) - start[seg]
    k = trim_count(p, n_seg).astype(np.int64)
    keep = (pos >= k[seg]) & (pos < (n_seg - k)[seg])
    num = np.bincount(seg, weights=np.where(keep, entries.ws[order], 0.0), minlength=n_cells)
    den = np.bincount(seg, weights=np.where(keep, entries.w[order], 0.0), minlength=n_cells)
    num_ku = np.asarray(num.reshape(U, K + 1)[:, :K].T, dtype=np.float64)
    den_ku = np.asarray(den.reshape(U, K + 1)[:, :K].T, dtype=np.float64)
    return num_ku, den_ku


def _group_partials(basis: ScoreBasis, table: _CodeTable | None, g: int, parts: Sequence[tuple[Ints, int]],
                    outs: list[_Partials], apart: int) -> list[int]:
    """Fill group `g` of the partitions whose histograms fit in :data:`MAX_BINS`; return the others' indices."""
    c = basis.campaign
    rows = basis.group_rows[g]
    U = len(c.unit_codes)
    if not len(rows):
        return []
    if table is None:
        return list(range(len(parts)))
    combos = _combos(c, table, rows)
    fit = [i for i, (_, K) in enumerate(parts) if (K + 1) * U * combos.n_codes <= MAX_BINS]
    left = [i for i in range(len(parts)) if i not in fit]
    parts, outs = [parts[i] for i in fit], [outs[i] for i in fit]
    apart = sum(1 for i in fit if i < apart)
    w = basis.weights[rows]
    equal_weight = float(w[0]) if np.all(w == w[0]) else None
    labs = [(lab[rows], K) for lab, K in parts]
    p = basis.trim_per_end
    defined = ~np.isnan(combos.score)
    values = np.unique(combos.score[defined])
    value_of = np.full(combos.n_codes, -1, dtype=np.int64)
    value_of[defined] = np.searchsorted(values, combos.score[defined])
    # Codes by score value and by overall option (the sums below add over them
    # in code order, whatever the number of subsets).
    by_value = [np.flatnonzero(value_of == v) for v in range(len(values))]
    by_option = [np.flatnonzero(combos.option_slot == o) for o in range(len(c.option_points) + 1)]
    entries = _entries(combos, w, value_of, values) if p > 0 and equal_weight is None else None
    for (lab, K), (cnt, wsum), out in zip(labs, _histograms(combos, w, equal_weight, labs, apart), outs,
                                          strict=True):
        cnt_v = _sum_codes(cnt, by_value)
        n = cnt_v.sum(axis=-1)
        if p <= 0:
            w_v = _sum_codes(wsum, by_value)
            num, den, kept = (w_v * values).sum(axis=-1), w_v.sum(axis=-1), n
        elif equal_weight is not None:
            num, den, kept = _trimmed_by_value(cnt_v, values, p, equal_weight)
        else:
            assert entries is not None
            num, den = _trimmed_by_sort(entries, lab, K, U, len(values), p)
            kept = n - 2 * trim_count(p, n)
        ok = (kept > 0) & (den > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.score[:, g] = np.where(ok, num / np.where(ok, den, 1.0), np.nan)
        out.n += np.rint(n).astype(np.int64)
        w_o = _sum_codes(wsum, by_option).reshape(K * U, len(by_option))
        out.shares[:, g] = scored_shares(w_o, basis.scored_idx).reshape(K, U, len(basis.scored_idx))
    return left


def _group_partials_apart(basis: ScoreBasis, g: int, parts: Sequence[tuple[Ints, int]], outs: list[_Partials]) -> None:
    """Fill group `g` building each subset's cells as section 5 builds a group's (any number of codes)."""
    c = basis.campaign
    rows = basis.group_rows[g]
    p = basis.trim_per_end
    for (labels, _), out in zip(parts, outs, strict=True):
        lab = labels[rows]
        present = np.unique(lab[lab >= 0])
        if len(present) == 0:
            continue
        # Rows of each subset in id order: a stable sort on the label keeps it.
        order = np.argsort(lab, kind="stable")
        bounds = np.searchsorted(lab[order], np.concatenate([present, present + 1]))
        for j, k in enumerate(present):
            sub = rows[order[bounds[j]:bounds[len(present) + j]]]
            w_sub = basis.weights[sub]
            cells = prepare_group(sub, w_sub, basis.scores[sub], trim_per_end=p)
            sums = cell_sums(cells, None, p)
            out.score[k, g] = sums.score()[0]
            out.n[k] += sums.n[0].astype(np.int64)
            _, wsum = option_weights(c.answers[sub, :, c.overall_item], w_sub, cells.equal_weight,
                                     len(c.option_points))
            out.shares[k, g] = scored_shares(wsum, basis.scored_idx)


def _partition_scores(basis: ScoreBasis, parts: Sequence[tuple[Ints, Sequence[str]]], apart: int = 0
                      ) -> list[SubsetScores]:
    """:func:`subset_scores` of several partitions, reading each group's answers once (`apart`: see :func:`_histograms`)."""
    c = basis.campaign
    U, G = len(c.unit_codes), len(c.group_codes)
    n_scored = len(basis.scored_idx)
    sized = [(np.asarray(labels, dtype=np.int64), len(names)) for labels, names in parts]
    outs = [_Partials(np.full((K, G, U), np.nan), np.zeros((K, U), dtype=np.int64),
                      np.full((K, G, U, n_scored), np.nan)) for _, K in sized]
    table = _code_table(c)
    # A partition whose histogram would pass MAX_BINS (very many subsets) is
    # read as several, each a range of its subsets filling views of its cells.
    most = MAX_BINS // (U * table.n_codes) - 1 if table is not None and U else 0
    pieces: list[tuple[Ints, int]] = []
    piece_outs: list[_Partials] = []
    n_apart = 0
    for j, ((lab, K), out) in enumerate(zip(sized, outs, strict=True)):
        step = most if 0 < most < K else max(K, 1)
        for lo in range(0, max(K, 1), step):
            hi = min(K, lo + step)
            piece = lab if (lo, hi) == (0, K) else np.where((lab >= lo) & (lab < hi), lab - lo, -1)
            pieces.append((piece, hi - lo))
            piece_outs.append(_Partials(out.score[lo:hi], out.n[lo:hi], out.shares[lo:hi]))
            n_apart += j < apart
    for g in range(G):
        left = _group_partials(basis, table, g, pieces, piece_outs, n_apart)
        if left:
            _group_partials_apart(basis, g, [pieces[i] for i in left], [piece_outs[i] for i in left])
    gw = c.group_weights
    result = []
    for (_, names), (_, K), out in zip(parts, sized, outs, strict=True):
        if G:
            score = combine_groups(out.score, gw)
            shares = combine_groups(out.shares.reshape(K, G, U * n_scored), gw).reshape(K, U, n_scored)
        else:
            score, shares = np.full((K, U), np.nan), np.full((K, U, n_scored), np.nan)
        result.append(SubsetScores(tuple(names), out.n, score, shares, basis.option_codes))
    return result


def subset_scores(basis: ScoreBasis, labels: Ints, names: Sequence[str]) -> SubsetScores:
    """Section 5's cells on each subset of a partition of the ballots.

    Parameters
    ----------
    basis : ScoreBasis
    labels : ndarray of int64, shape (n_ballots,)
        Subset of each ballot (index into `names`); -1 for a ballot in none.
        Only valid ballots count.
    names : sequence of str
        Subset names; a subset without a valid ballot gets n 0 and no score.

    Returns
    -------
    SubsetScores

    Notes
    -----
    Per group, every (ballot, unit) pair is reduced to the code of its
    answers to the unit's items, which fixes s(b, u) and the overall option;
    one histogram per group of (subset, unit, code) then gives every cell of
    every subset without a loop over subsets: n, Σ w, Σ w·s and the option
    weights. Trimming drops floor(p·n) ballots of the subset's cell at each
    end in (s, ballot id) order: with equal weights in the group, from the
    counts per score value; otherwise by sorting the cells' entries (a radix
    sort of small keys). A partition whose histogram would pass
    :data:`MAX_BINS` (very many subsets) is read in ranges of its subsets.
    Where the items have more answer combinations than
    :data:`MAX_COMBINATIONS`, each subset's cells are built apart with
    :func:`prepare_group`, as section 5 builds a group's. Work is linear in
    the valid ballots × units, whatever the number of subsets.
    """
    return _partition_scores(basis, [(labels, names)])[0]


@dataclass(frozen=True)
class Breakdowns:
    """The breakdowns of section 5a: by batch, by channel and by each attribute.

    Attributes
    ----------
    by_batch : SubsetScores
        One subset per batch, in campaign order.
    by_channel : SubsetScores
        One subset per channel some batch has, in the order of the first
        batch that has it.
    by_attribute : dict of str to SubsetScores
        Per attribute name found on a ballot, one subset per non-null value
        (keyed by :func:`analysis.attribute_key`), as first found.
    """

    by_batch: SubsetScores
    by_channel: SubsetScores
    by_attribute: dict[str, SubsetScores]

    def to_json(self, u: int) -> dict[str, Any]:
        """The ``by_batch``, ``by_channel`` and ``by_attribute`` keys of unit `u`."""
        return {"by_batch": self.by_batch.to_json(u), "by_channel": self.by_channel.to_json(u),
                "by_attribute": {name: sub.to_json(u) for name, sub in self.by_attribute.items()}}


def breakdowns(basis: ScoreBasis) -> Breakdowns:
    """Every breakdown of section 5a of a campaign (:func:`subset_scores` of each partition, in one pass)."""
    c = basis.campaign
    channels = tuple(dict.fromkeys(c.batch_channel))
    of_batch = np.array([channels.index(ch) for ch in c.batch_channel], dtype=np.int64)
    by_channel = of_batch[c.ballot_batch] if len(of_batch) else np.full(c.n_ballots, -1, dtype=np.int64)
    parts: list[tuple[Ints, Sequence[str]]] = [(c.ballot_batch, c.batch_codes), (by_channel, channels)]
    parts += [(a.codes, a.values) for a in c.attributes]
    # By batch apart: the same sums as analysis.breakdown() of one batch, to the last bit.
    got = _partition_scores(basis, parts, apart=1)
    return Breakdowns(got[0], got[1], {a.name: sub for a, sub in zip(c.attributes, got[2:], strict=True)})


def item_points(c: Campaign, rows: Ints, item: int) -> Floats:
    """s_i(b, u): the points of the option each row gave item `item` of each unit; NaN where not scored."""
    lookup = np.append(c.option_points, np.nan)
    points: Floats = lookup[c.answers[rows, :, item]]
    return points


def _nbytes(cells: GroupCells) -> int:
    n = cells.stacked.nbytes + cells.cell_pos.nbytes + cells.score.nbytes + cells.weights.nbytes
    # sorted_pos are views of cell_pos.
    n += cells.window_pos.nbytes
    if cells.counting is not None:
        n += cells.counting.data.nbytes + cells.counting.indices.nbytes + cells.counting.indptr.nbytes
    return n + sum(a.nbytes + b.nbytes for a, b, _ in cells.windows)


@dataclass(frozen=True)
class ItemScores:
    """The per-item figures of section 5a.

    Attributes
    ----------
    n : ndarray of int64, shape (items, units)
        Σ_g n_i(u, g).
    score : ndarray of float, shape (items, units)
        S_i(u); NaN where no group has an S_i(u, g).
    group_scores : ndarray of float, shape (items, groups, units)
        S_i(u, g); NaN where the item cell is empty after trimming.
    shares : ndarray of float, shape (items, units, scored options)
        share_i(u, o) combined over groups; NaN where none.
    ci95 : ndarray of float, shape (items, units, 2)
        Percentile interval of S_i(u) over the bootstrap replicates; NaN
        where it is never defined (or there is no replicate).
    """

    n: Ints
    score: Floats
    group_scores: Floats
    shares: Floats
    ci95: Floats

    def to_json(self, c: Campaign, option_codes: Sequence[str], u: int) -> dict[str, dict[str, Any]]:
        """{item code: {"n", "score", "shares", "group_scores", "ci95"}} for unit `u`."""
        out: dict[str, dict[str, Any]] = {}
        for i, code in enumerate(c.item_codes):
            sh = self.shares[i, u]
            lo, hi = self.ci95[i, u]
            out[code] = {
                "n": int(self.n[i, u]),
                "score": json_float(self.score[i, u]),
                "shares": None if np.all(np.isnan(sh)) else {oc: json_float(sh[j]) for j, oc in enumerate(option_codes)},
                "group_scores": {gc: json_float(self.group_scores[i, g, u]) for g, gc in enumerate(c.group_codes)},
                "ci95": None if np.isnan(lo) else [float(lo), float(hi)],
            }
        return out


class ItemCells:
    """The item cells (u, g, i) of every group and item, for the sample and for the bootstrap replicates.

    Fed group by group as the evaluation goes (:meth:`sample`, then
    :meth:`replicate` for each chunk of the replicates section 7 draws),
    then :meth:`replicate_apart` for the item cells that did not fit in
    memory beside the units' matrices, and read with :meth:`result`. The
    cells of one item are a group's section 5 cells with s_i(b, u) in place
    of s(b, u), summed by the same matrix products. With one item s_1(b, u)
    is s(b, u) exactly (the weight cancels), so the unit's own sums serve
    and nothing is computed twice. Where a group's item figures are exact
    (equal weights a power of two, points short binary fractions: see
    :func:`analysis.scores.exact_sums`, the usual case of an unweighted
    group), its cells are counted by value instead (:class:`ValueCells`):
    the same doubles, without sorting or summing matrices.

    Parameters
    ----------
    basis : ScoreBasis
    budget : int
        Bytes of item cells that may be kept beside the units' during the
        bootstrap.
    replicates : bool
        Whether the bootstrap will run (else nothing is kept or left apart).
    """

    def __init__(self, basis: ScoreBasis, budget: int, replicates: bool) -> None:
        c = basis.campaign
        self.basis = basis
        self.n_items = len(c.item_codes)
        self.same_as_units = self.n_items == 1
        G, U, n_scored = len(c.group_codes), len(c.unit_codes), len(basis.scored_idx)
        self._budget = budget
        self._replicates = replicates
        self._kept: list[list[GroupCells | None]] = [[None] * self.n_items for _ in range(G)]
        #: (group, item, bytes) of the cells left for :meth:`replicate_apart` (their sums too).
        self._apart: list[tuple[int, int, int]] = []
        self._sums: list[list[CellSums | None]] = [[None] * self.n_items for _ in range(G)]
        #: Per group, its item cells counted by value where its figures are exact.
        self._by_value: list[ValueCells | None] = [None] * G
        self._shares = np.full((self.n_items, G, U, n_scored), np.nan)
        # Per item and group, the replicate chunks of S_i(u, g), shape (r, units).
        self._reps: list[list[list[Floats]]] = [[[] for _ in range(G)] for _ in range(self.n_items)]

    def _build(self, g: int, item: int) -> GroupCells:
        basis = self.basis
        rows = basis.group_rows[g]
        return prepare_group(rows, basis.weights[rows], item_points(basis.campaign, rows, item),
                             trim_per_end=basis.trim_per_end)

    def sample(self, g: int, unit_sums: CellSums, equal_weight: float | None, overall_shares: Floats) -> None:
        """The sample's item cells and item shares of group `g`.

        `unit_sums` and `overall_shares` are the group's section 5 sums and
        shares: the overall item's shares are section 5's, not computed again.
        """
        basis = self.basis
        c = basis.campaign
        rows = basis.group_rows[g]
        w_rows = basis.weights[rows]
        p = basis.trim_per_end
        # What the cells will hold (an item's cells are within the unit's:
        # s_i(b, u) is defined only where s(b, u) is).
        estimate = cells_bytes(len(rows), len(c.unit_codes), int(unit_sums.n[0].sum()),
                               equal_weight=equal_weight is not None, trim=p > 0, shares=False)
        by_value = None
        points = c.option_points[basis.scored_idx]
        if not self.same_as_units and equal_weight is not None and exact_sums(points, equal_weight, len(rows)):
            by_value = value_cells(c.answers[rows], c.option_points, range(self.n_items), equal_weight, p)
            for i, sums in enumerate(value_cell_sums(by_value, None)):
                self._sums[g][i] = sums
            if self._replicates:
                self._by_value[g] = by_value
        for i in range(self.n_items):
            if self.same_as_units:
                self._sums[g][i] = unit_sums
            elif by_value is not None:
                pass  # counted by value above
            elif self._replicates and estimate > self._budget:
                # Built once, in its pass over the replicates (the sample's sums with them).
                self._apart.append((g, i, estimate))
            else:
                cells = self._build(g, i)
                self._sums[g][i] = cell_sums(cells, None, p)
                size = _nbytes(cells)
                if self._replicates and size <= self._budget:
                    self._kept[g][i] = cells
                    self._budget -= size
                elif self._replicates:
                    self._apart.append((g, i, size))
                del cells
            # Shares take no trimming: the item's option weights over the cell.
            if i == c.overall_item:
                self._shares[i, g] = overall_shares
                continue
            _, wsum = option_weights(c.answers[rows, :, i], w_rows, equal_weight, len(c.option_points))
            self._shares[i, g] = scored_shares(wsum, basis.scored_idx)

    def replicate(self, g: int, counts: Array, unit_sums: CellSums, counts_t: Array | None = None) -> None:
        """One chunk of replicates of group `g`: `counts` as drawn, `unit_sums` the section 5 sums of that chunk.

        `counts_t` is :func:`analysis.scores.counts_by_row` of `counts` where the caller has it.
        """
        by_value = self._by_value[g]
        if by_value is not None:
            for i, sums in zip(by_value.items, value_cell_sums(by_value, counts_t if counts_t is not None
                                                               else counts_by_row(counts)), strict=True):
                self._reps[i][g].append(sums.score())
            return
        for i in range(self.n_items):
            if self.same_as_units:
                self._reps[i][g].append(unit_sums.score())
                continue
            cells = self._kept[g][i]
            if cells is not None:
                if counts_t is None:
                    counts_t = counts_by_row(counts)
                self._reps[i][g].append(cell_sums(cells, counts, self.basis.trim_per_end, counts_t).score())

    def replicate_apart(self, draws: Callable[[], Iterable[Sequence[Array]]], budget: int) -> None:
        """The replicates of the cells :meth:`replicate` left out, on the same draws made again.

        Parameters
        ----------
        draws : callable
            Returns the bootstrap's replicate counts chunk after chunk (per
            group), from the seed: the very draws of section 7 again, so
            every replicate of an item is the same resample as the units'.
        budget : int
            Bytes of cells kept at once: the cells are taken in as few
            passes over the draws as fit (a pass holds at least one group's
            cells of one item).
        """
        # The cells kept beside the units' are done with: their memory goes to the passes.
        self._kept = [[None] * self.n_items for _ in self._kept]
        passes: list[list[tuple[int, int]]] = []
        used = budget
        for g, i, size in self._apart:
            if used + size > budget:
                passes.append([])
                used = 0
            passes[-1].append((g, i))
            used += size
        self._apart = []
        for todo in passes:
            cells = {pair: self._build(*pair) for pair in todo}
            for (g, i), gc in cells.items():
                if self._sums[g][i] is None:
                    self._sums[g][i] = cell_sums(gc, None, self.basis.trim_per_end)
            for counts in draws():
                # The cells come group by group: one copy of a group's counts at a time.
                at_g, counts_t, counts_g = -1, None, None
                for (g, i), gc in cells.items():
                    if g != at_g or counts_t is None or counts_g is None:
                        at_g, counts_t, counts_g = g, None, None  # the last group's copies go first
                        counts_t, counts_g = counts_by_row(counts[g]), np.asarray(counts[g], dtype=np.float64)
                    self._reps[i][g].append(cell_sums(gc, counts_g, self.basis.trim_per_end, counts_t).score())
                del counts_t, counts_g
            del cells

    def result(self) -> ItemScores:
        """The per-item figures (ci95 NaN where there was no replicate)."""
        c = self.basis.campaign
        G, U, n_items = len(c.group_codes), len(c.unit_codes), self.n_items
        gw = c.group_weights
        n = np.zeros((n_items, U), dtype=np.int64)
        S_g = np.full((n_items, G, U), np.nan)
        for g in range(G):
            for i in range(n_items):
                sums = self._sums[g][i]
                assert sums is not None, "sample() was not called for every group"
                S_g[i, g] = sums.score()[0]
                n[i] += sums.n[0].astype(np.int64)
        n_scored = self._shares.shape[3]
        if G:
            score = combine_groups(S_g, gw)
            shares = combine_groups(self._shares.reshape(n_items, G, U * n_scored), gw).reshape(n_items, U, n_scored)
        else:
            score, shares = np.full((n_items, U), np.nan), np.full((n_items, U, n_scored), np.nan)
        ci = np.full((n_items, U, 2), np.nan)
        for i in range(n_items):
            if G and self._reps[i][0]:
                rep = np.stack([np.concatenate(self._reps[i][g], axis=0) for g in range(G)], axis=-2)
                ci[i] = percentile_ci95(combine_groups(rep, gw))
        return ItemScores(n, score, S_g, shares, ci)
