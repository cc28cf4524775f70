"""Cell, group, unit and composite scores with per-end trimming, for one sample or many bootstrap replicates at once (SCORING.md section 5)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

#: An array of any shape and dtype (this module's arrays are documented in the docstrings).
Array = NDArray[Any]

__all__ = [
    "GroupCells",
    "prepare_group",
    "bulk_size",
    "window_size",
    "CellSums",
    "cell_sums",
    "cells_bytes",
    "count_dtype",
    "counts_by_row",
    "trim_count",
    "combine_groups",
    "composite",
    "option_weights",
    "scored_shares",
    "exact_sums",
    "ValueCells",
    "value_cells",
    "value_cell_sums",
]


def trim_count(p: float, n: ArrayLike) -> NDArray[np.float64]:
    """floor(p·n) in binary floating point, as SCORING.md fixes it."""
    return np.floor(p * np.asarray(n, dtype=float))


@dataclass(frozen=True)
class GroupCells:
    """The valid ballots of one group, ready for (re)sampled cell sums.

    Rows are in ballot-id order, so that a resample does not depend on the
    order of the input.

    Attributes
    ----------
    rows : ndarray of int64
        Indices of the group's valid ballots into the campaign, in id order.
    weights : ndarray of float
    score : ndarray of float
        With trimming, s(b, u) of every unit's cell in sorted order, end to
        end as in `cell_pos` (read only to recompute a replicate exactly);
        empty without.
    stacked : ndarray of float, shape (n_g, k·units)
        Columns summed for every replicate with one matrix product, in
        blocks of `units` columns (see `cols`): w·s, w·defined (with
        trimming: over the middle of each sorted cell only); with shares
        and unequal weights, the weight of the lowest option and of any
        scored option on the overall item (with equal weights those are
        counts of ballots: see `counting`).
    sorted_pos : tuple of ndarray
        Per unit, the cell's rows sorted by (s, ballot id) (views of
        `cell_pos`); only with trimming.
    bulk : ndarray of int64, shape (units,)
        Per unit, how many positions at each end of the sorted cell are
        dropped in (nearly) every replicate, so left out of the matrix
        product; only the positions after them are visited replicate by
        replicate.
    cols : dict
        Per block name, where it starts in `stacked`.
    cell_pos : ndarray of int32
        Every unit's cell rows end to end (with trimming in sorted order):
        the drawn ballots of each cell, of its bulks and of its middle are
        counted from the replicate counts at these rows, exactly, in whole
        numbers.
    cell_bounds : ndarray of int64, shape (units, 4)
        Per unit, where in `cell_pos` its cell starts, its low bulk ends,
        its high bulk starts and its cell ends.
    equal_weight : float or None
        The common weight where all rows weigh the same (the blocks then hold
        unweighted sums, scaled afterwards).
    window_pos : ndarray of int64
        Every unit's window positions (`windows`' first member) end to end,
        so that one gather of the replicate counts serves all units.
    windows : tuple
        Per unit (with trimming): the positions of the low window (ascending)
        then of the high window (descending), their weights and weighted
        scores as two columns, and the window length.
    trim_per_end : float
    n_units : int
    with_shares : bool
    counting : scipy.sparse.csc_array or None
        The whole-number sums of every replicate, as one sparse 0/1 matrix
        (CSC, in the replicate counts' precision: see :func:`counts_by_row`)
        applied to the counts by row: per unit its low bulk, middle and high
        bulk (rows 3u, 3u + 1, 3u + 2, from `cell_pos`), then, where
        `share_counts` says so, per unit the ballots with the lowest option
        and those with any scored option on the overall item. Built once
        here (None for a group without cells).
    share_counts : int
        With shares and equal weights, how many share blocks are counted by
        `counting` instead of summed in `stacked`: 1 (the lowest option;
        every ballot of a cell has a scored overall answer, so the other is
        the cell's count) or 2; 0 otherwise.
    """

    rows: np.ndarray
    weights: np.ndarray
    score: np.ndarray
    stacked: np.ndarray
    sorted_pos: tuple[Array, ...]
    bulk: np.ndarray
    trim_per_end: float
    n_units: int
    with_shares: bool
    windows: tuple[tuple[Array, Array, int], ...] = ()
    cols: dict[str, tuple[str, int]] = field(default_factory=dict)
    equal_weight: float | None = None
    window_pos: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cell_pos: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    cell_bounds: Array = field(default_factory=lambda: np.zeros((0, 4), dtype=np.int64))
    counting: Any = None
    share_counts: int = 0

    @property
    def n(self) -> int:
        return len(self.rows)


#: Largest group trimming supports (the counts of a cell are summed in int32
#: and int16 per replicate and position).
_PACK = float(1 << 26)


def _margin(p: float, m: int) -> float:
    # 3.5 standard deviations of (drawn ballots up to position j) − p·n*
    # near j = p·m: with Poisson-like counts its variance is at most
    # (1 − p)²·j + p²·(m − j) = p(1 − p)m; plus slack for the floor. A
    # replicate beyond it is recomputed exactly, so this only sets speed.
    return 3.5 * math.sqrt(p * (1.0 - p) * m) + 4.0


def bulk_size(p: float, m: int) -> int:
    """Positions at each end of a sorted cell of m ballots trimmed in nearly every replicate."""
    if p <= 0 or m == 0:
        return 0
    return int(max(0.0, math.floor(p * m - _margin(p, m))))


def window_size(p: float, m: int) -> int:
    """Positions after the bulk visited per replicate to find the cut."""
    if p <= 0 or m == 0:
        return 0
    a = bulk_size(p, m)
    return int(min(m - 2 * a, math.ceil(p * m - a + _margin(p, m))))


def cells_bytes(n_rows: int, n_units: int, n_defined: int, *, equal_weight: bool, trim: bool,
                shares: bool) -> int:
    """About the memory :func:`prepare_group` keeps for a group (bytes), before building it.

    The summed blocks are dense (rows × units doubles each: w·s, and unless
    the weights are equal w and the two share blocks); the cells' rows are
    kept once per defined (row, unit) as int32 (with trimming in sorted
    order, and their scores as float64 beside them), and again in the
    counting matrix (with the counted share blocks' rows).
    """
    blocks = 1 + (0 if equal_weight else 3 if shares else 1)
    # The counting matrix: a float32 and an int32 per cell row (at most twice
    # more with shares counted), beside the rows and their scores.
    counted = 8 * n_defined * (3 if shares and equal_weight else 1)
    return 8 * blocks * n_rows * n_units + (4 + (8 if trim else 0)) * n_defined + counted + 64 * n_units


def prepare_group(rows: ArrayLike, weights: ArrayLike, s_rows: Array, *, trim_per_end: float = 0.0,
                  overall: Array | None = None, lowest_option: int | None = None,
                  scored_options: ArrayLike | None = None) -> GroupCells:
    """Build :class:`GroupCells`.

    Parameters
    ----------
    rows : ndarray of int64
        Campaign indices of the group's valid ballots, already in id order.
    weights : ndarray of float
    s_rows : ndarray, shape (n_g, units)
        s(b, u) of those rows.
    trim_per_end : float
        p of SCORING.md section 5 (0: no trimming).
    overall : ndarray of int8, shape (n_g, units), optional
        Overall-item option per row and unit; with `lowest_option` and
        `scored_options` adds the two share columns.
    """
    s_rows = np.asarray(s_rows, dtype=float)
    n_g, U = s_rows.shape
    defined = ~np.isnan(s_rows)
    w = np.asarray(weights, dtype=float)
    trim = trim_per_end > 0
    with_shares = overall is not None
    # With equal weights (a group neither adjusted unevenly nor raked) the
    # weight factors out: w0·Σc·s / (w0·Σc), which saves product columns.
    equal = bool(n_g) and bool(np.all(w == w[0]))
    # With trimming, "s" and "w" hold the middle of each sorted cell only
    # (the bulks at both ends, dropped in nearly every replicate, are left
    # out). The counts of ballots (whole numbers) are not in the product:
    # they are summed from the replicate counts at `cell_pos`.
    names = ["s"] if equal else ["s", "w"]
    if trim and n_g >= _PACK:
        raise ValueError(f"trimming supports groups below {int(_PACK)} ballots, got {n_g}")
    # With equal weights the share blocks would hold 0/1: they are counted
    # with the cells' ballots instead (exact, and a sparse sum of a tenth of
    # the rows where each ballot rates a tenth of the units).
    if with_shares and not equal:
        names += ["low_share", "any_share"]
    cols = {name: ("v", i * U) for i, name in enumerate(names)}
    scale = w if not equal else np.ones(n_g)
    stacked = np.zeros((n_g, len(names) * U))

    def block(name: str) -> Array:
        _, at = cols[name]
        return stacked[:, at:at + U]
    # Filled in place: building and concatenating temporaries costs as much
    # as the bootstrap's products for large groups.
    ws = block("s")
    np.copyto(ws, s_rows)
    ws[~defined] = 0.0
    if not equal:
        ws *= w[:, None]
        np.multiply(defined, w[:, None], out=block("w"))
    sorted_pos: tuple[Array, ...] = ()
    windows: tuple[tuple[Array, Array, int], ...] = ()
    window_pos = np.zeros(0, dtype=np.int64)
    bulk = np.zeros(U, dtype=np.int64)
    if trim:
        wins = []
        # The defined cells, rows in order and units within (flat row-major
        # indices ascend), sorted by unit, then by s, then by row: two stable
        # sorts (by s, then by unit). Row order is ballot-id order, so ties
        # on s are broken by id.
        at = np.flatnonzero(defined.reshape(-1))
        row_of, unit_of = np.divmod(at, U)
        s_def = s_rows.reshape(-1)[at]
        del at
        values = np.unique(s_def)
        # Few distinct scores (they come from a short scale): their ranks are
        # small integers that a stable sort handles in linear time.
        key = np.searchsorted(values, s_def).astype(np.uint16) if len(values) < np.iinfo(np.uint16).max else s_def
        by_s = np.argsort(key, kind="stable")
        del key
        units_by_s = unit_of[by_s]
        order = by_s[np.argsort(units_by_s.astype(np.uint16) if U <= np.iinfo(np.uint16).max else units_by_s,
                                kind="stable")]
        del by_s, units_by_s
        cell_pos = row_of[order]
        # s(b, u) in sorted order, read again only to recompute a trimmed replicate exactly.
        cell_score = s_def[order]
        del order, row_of, s_def
        m_all = np.bincount(unit_of, minlength=U)
        del unit_of
        ends_all = np.cumsum(m_all)
        in_bulk = np.zeros(len(cell_pos), dtype=bool)
        for u in range(U):
            m = int(m_all[u])
            s0 = int(ends_all[u]) - m
            srt = cell_pos[s0:s0 + m]
            sc = cell_score[s0:s0 + m]
            a = bulk_size(trim_per_end, m)
            bulk[u] = a
            if a:
                in_bulk[s0:s0 + a] = True
                in_bulk[s0 + m - a:s0 + m] = True
            W = window_size(trim_per_end, m)
            # Both windows side by side, the high one read downwards, so one
            # gather and one cumulative sum serve both ends.
            if W:
                both_pos = np.concatenate([srt[a:a + W], srt[m - a - W:m - a][::-1]])
                both_s = np.concatenate([sc[a:a + W], sc[m - a - W:m - a][::-1]])
            else:
                both_pos, both_s = srt[:0], sc[:0]
            w_both = w[both_pos]
            wins.append((both_pos, np.stack([w_both, w_both * both_s], axis=1), W))
        if bulk.any():
            # The bulks are left out of the summed blocks.
            bulk_rows = cell_pos[in_bulk]
            bulk_units = np.repeat(np.arange(U), m_all)[in_bulk]
            for name in ("s", "w"):
                if name in cols:
                    block(name)[bulk_rows, bulk_units] = 0.0
        del in_bulk
        windows = tuple(wins)
        window_pos = np.concatenate([both for both, _, _ in wins]) if wins else window_pos
        m_cells = m_all.astype(np.int64)
    else:
        unit_of, cell_pos = np.nonzero(defined.T)
        m_cells = np.bincount(unit_of, minlength=U).astype(np.int64)
        cell_score = np.zeros(0)
    ends = np.cumsum(m_cells)
    starts = ends - m_cells
    cell_bounds = np.stack([starts, starts + bulk, ends - bulk, ends], axis=1)
    cell_pos = cell_pos.astype(np.int32)
    if trim:
        # Views of `cell_pos`: the (units × rows) sort order is not kept alive.
        sorted_pos = tuple(cell_pos[b0:b3] for b0, b3 in zip(starts, ends, strict=True))
    share_masks: list[Array] = []
    if with_shares:
        assert overall is not None
        ov = overall.astype(np.intp)
        scored_lookup = np.append(np.asarray(scored_options, dtype=bool), False)
        in_cell_scored = scored_lookup[ov] & defined
        lowest = in_cell_scored & (ov == lowest_option)
        if equal:
            share_masks = [lowest] if np.array_equal(in_cell_scored, defined) else [lowest, in_cell_scored]
        else:
            np.multiply(lowest, scale[:, None], out=block("low_share"))
            np.multiply(in_cell_scored, scale[:, None], out=block("any_share"))
    counting = _counting(n_g, U, cell_pos, cell_bounds, share_masks) if U and int(ends[-1]) else None
    return GroupCells(np.asarray(rows), w, cell_score, stacked, sorted_pos, bulk,
                      float(trim_per_end), U, with_shares, windows, cols, float(w[0]) if equal else None,
                      window_pos, cell_pos, cell_bounds, counting, len(share_masks))


def _counting(n_g: int, U: int, cell_pos: Array, cell_bounds: Array, share_masks: Sequence[Array]) -> Any:
    """:attr:`GroupCells.counting`: the cells' parts, then each (rows × units) mask's rows per unit."""
    # One row per unit and part (low bulk, middle, high bulk): its cell's rows
    # in `cell_pos` order, so that the CSR structure is `cell_pos` itself.
    indptr = [np.append(cell_bounds[:, :3].ravel(), cell_bounds[-1, 3])]
    indices = [cell_pos]
    for mask in share_masks:
        unit_of, row_of = np.nonzero(mask.T)  # by unit, rows ascending
        indptr.append(indptr[-1][-1] + np.cumsum(np.bincount(unit_of, minlength=U)))
        indices.append(row_of.astype(np.int32))
    at = np.concatenate(indices)
    parts = sparse.csr_array((np.ones(len(at), dtype=count_dtype(n_g)), at, np.concatenate(indptr)),
                             shape=((3 + len(share_masks)) * U, n_g))
    # Column by column (CSC): the counts are read row after row, in order,
    # and the few sums stay in cache (several times faster than by row).
    return parts.tocsc()


@dataclass(frozen=True)
class CellSums:
    """Per replicate and unit, the sums a group contributes.

    Attributes
    ----------
    num, den : ndarray, shape (R, units)
        Σ w·s and Σ w over the cell after trimming.
    n : ndarray, shape (R, units)
        n(u, g): resampled ballots in the cell (before trimming).
    kept : ndarray, shape (R, units)
        Ballots left after trimming.
    low_share, any_share : ndarray or None
        Weight of the lowest option and of any scored option on the overall item.
    """

    num: np.ndarray
    den: np.ndarray
    n: np.ndarray
    kept: np.ndarray
    low_share: np.ndarray | None
    any_share: np.ndarray | None

    def score(self) -> np.ndarray:
        """S(u, g) per replicate; NaN where the cell is empty after trimming."""
        ok = (self.kept > 0) & (self.den > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(ok, self.num / np.where(ok, self.den, 1.0), np.nan)


def _exact_tails(c_sorted: Array, w_sorted: Array, ws_sorted: Array, k: float) -> tuple[Any, Any]:
    """Both tails of one replicate's sorted cell, visiting every position."""
    def one(c: Array, w_: Array, ws_: Array) -> tuple[Any, Any]:
        cum = np.cumsum(c)
        drop = np.clip(k - (cum - c), 0.0, c)
        return drop @ w_, drop @ ws_
    lw, lws = one(c_sorted, w_sorted, ws_sorted)
    hw, hws = one(c_sorted[::-1], w_sorted[::-1], ws_sorted[::-1])
    return lw + hw, lws + hws


def count_dtype(n_g: int) -> type[np.floating[Any]]:
    """The precision that holds a group's replicate counts and their sums exactly: single below 2**24 rows."""
    return np.float32 if n_g < (1 << 24) else np.float64


def counts_by_row(counts: Array) -> Array:
    """The replicate counts (R, n_g) laid out row by row, shape (n_g, R), for the cells' counts.

    The cells' ballot counts are sums of these rows (a sparse product) and
    trimming reads them at each cell's window positions: rows of this layout
    are contiguous, where columns of (R, n_g) are scattered. Single
    precision, exact: every sum of counts within a replicate is a whole
    number at most n_g, below 2**24 (larger groups get double precision).
    """
    counts = np.asarray(counts)
    out: Array = np.ascontiguousarray(counts.T, dtype=count_dtype(counts.shape[1]))
    return out


def _cell_counts(cells: GroupCells, counts_t: Array) -> list[Array]:
    """Per replicate and unit, the drawn ballots of the low bulk, the middle and the high bulk of each cell,
    then those of the share blocks :attr:`GroupCells.counting` counts.

    Whole numbers summed in integers (exact in any order), returned as float
    arrays of shape (R, units); without trimming the bulks are empty.
    """
    U = cells.n_units
    R = counts_t.shape[1]
    parts = cells.counting
    if parts is None:
        return [np.zeros((R, U)) for _ in range(3 + cells.share_counts)]
    if parts.dtype != counts_t.dtype:
        parts = parts.astype(counts_t.dtype)
    sums = np.rint((parts @ counts_t).astype(np.float64))  # (k·units, R), whole numbers
    out = [np.ascontiguousarray(sums[j:3 * U:3].T) for j in range(3)]
    out += [np.ascontiguousarray(sums[(3 + j) * U:(4 + j) * U].T) for j in range(cells.share_counts)]
    return out


def _window_cuts(cells: GroupCells, counts_t: Array, low_bulk: Array, high_bulk: Array,
                 k_all: Array) -> list[tuple[Array | None, Array]]:
    """Per unit, the weight and weighted score the first k drawn ballots take from each end's window.

    Returns per unit (sums, ok): sums of shape (R, 2), columns Σ w and Σ w·s
    over both ends (None where the unit has no window), and per replicate
    whether both cuts lie in their windows (else the caller recomputes that
    replicate exactly). The window positions of every unit are gathered in
    one pass (whole rows of `counts_t`); then unit by unit, on a block small
    enough to stay in cache, their counts are summed cumulatively along each
    half window (the low window ascending, the high one descending in sorted
    order) in integers, starting from the drawn ballots of its bulk; a
    position drops clip(k − drawn before it, 0, its count), and the dropped
    counts (R, 2·W) are multiplied with the window's weights.
    """
    U = cells.n_units
    R = counts_t.shape[1]
    widths = [W for _, _, W in cells.windows] or [0] * U
    low_i = low_bulk.astype(np.int32)
    high_i = high_bulk.astype(np.int32)
    k_i = k_all.astype(np.int32)
    # Per replicate and unit: the bulks' drawn ballots less k, where each half window's running sum starts.
    low_from = low_i - k_i
    high_from = high_i - k_i
    both_within = (low_from <= 0) & (high_from <= 0)
    # (positions, replicates): whole rows of the counts, in window order.
    gathered = np.take(counts_t, cells.window_pos, axis=0) if len(cells.window_pos) else None
    out: list[tuple[Array | None, Array]] = []
    at = 0
    for u in range(U):
        W = int(widths[u])
        if W == 0:
            out.append((None, (low_from[:, u] == 0) & (high_from[:, u] == 0)))
            continue
        assert gathered is not None
        # (replicates, 2·W), whole numbers: the sums run along the contiguous axis.
        g = np.empty((R, 2 * W), dtype=np.int32)
        g[...] = gathered[at:at + 2 * W].T
        # c = (drawn up to and at a position) − k, restarting at the high half.
        c = np.cumsum(g, axis=1, dtype=np.int32)
        c[:, W:] -= c[:, W - 1:W]
        c[:, :W] += low_from[:, u:u + 1]
        c[:, W:] += high_from[:, u:u + 1]
        # Both cuts inside: each bulk holds at most k, and each half window reaches k.
        ok = both_within[:, u] & (c[:, W - 1] >= 0) & (c[:, 2 * W - 1] >= 0)
        # drop = clip(count − c, 0, count), in place.
        np.subtract(g, c, out=c)
        np.maximum(c, 0, out=c)
        np.minimum(c, g, out=c)
        out.append((c.astype(np.float64) @ cells.windows[u][1], ok))  # (R, 2·W) · (2·W, 2)
        at += 2 * W
    return out


def cell_sums(cells: GroupCells, counts: np.ndarray | None, trim_per_end: float | None = None,
              counts_t: Array | None = None) -> CellSums:
    """Cell sums of a group for the replicates given by `counts`.

    Parameters
    ----------
    cells : GroupCells
    counts : ndarray, shape (R, n_g), or None
        How many times each row is drawn in each replicate; None for the
        sample itself (every row once).
    trim_per_end : float, optional
        Must equal the `cells`' own (kept for clarity at call sites).
    counts_t : ndarray, shape (n_g, R), optional
        :func:`counts_by_row` of `counts`, where the caller has it already
        (the units' and every item's cells of a group share one).

    Notes
    -----
    Untrimmed, everything is one matrix product of the counts. Trimmed, the
    product also gives the sums of each cell's "bulk" (the positions of the
    sorted cell dropped in nearly every replicate); only a window of
    O(sqrt(n)) positions past it is visited per replicate to place the cut
    exactly (cumulative counts along the sorted order). Replicates whose cut
    falls outside the window are recomputed over the whole cell, so the
    result is exact in every case.
    """
    p = cells.trim_per_end
    if trim_per_end is not None and trim_per_end != p:
        raise ValueError(f"trim_per_end {trim_per_end} differs from the cells' {p}")
    U = cells.n_units
    if counts is None:
        counts = np.ones((1, cells.n))
    counts = np.asarray(counts)
    if counts.dtype not in (np.float32, np.float64):
        counts = counts.astype(np.float64)
    if counts.ndim != 2 or counts.shape[1] != cells.n:
        raise ValueError(f"counts must have shape (replicates, {cells.n}), got {counts.shape}")
    R = counts.shape[0]
    if cells.n == 0:
        z = np.zeros((R, U))
        return CellSums(z, z.copy(), z.copy(), z.copy(),
                        z.copy() if cells.with_shares else None, z.copy() if cells.with_shares else None)
    c64 = np.asarray(counts, dtype=np.float64)
    tot: Array = c64 @ cells.stacked
    cols = cells.cols

    def block(name: str) -> Array:
        _, at = cols[name]
        return tot[:, at:at + U]

    if counts_t is None:
        counts_t = counts_by_row(counts)
    elif counts_t.shape != (cells.n, R):
        raise ValueError(f"counts_t must have shape ({cells.n}, {R}), got {counts_t.shape}")
    counted = _cell_counts(cells, counts_t)
    low_bulk, n, high_bulk = counted[:3]
    w0 = cells.equal_weight
    if w0 is None:
        num, den = block("s").copy(), block("w").copy()
    else:
        num, den = block("s") * w0, n * w0
    low = anys = None
    # Every drawn ballot of each cell (the bulks are empty without trimming).
    n_all = n + low_bulk + high_bulk if p > 0 else n
    if cells.with_shares and cells.share_counts:
        assert w0 is not None
        low = counted[3] * w0
        anys = (counted[4] if cells.share_counts == 2 else n_all) * w0
    elif cells.with_shares:
        low, anys = block("low_share"), block("any_share")
        if w0 is not None:
            low, anys = low * w0, anys * w0
    if p <= 0:
        return CellSums(num, den, n, n.copy(), low, anys)
    # The sums above cover the middles of the sorted cells; the bulks are
    # dropped, and the cut inside each window is placed replicate by replicate.
    n = n_all
    k_all = trim_count(p, n)
    kept = n - 2 * k_all
    w = cells.weights
    cuts = _window_cuts(cells, counts_t, low_bulk, high_bulk, k_all)
    for u in range(U):
        k = k_all[:, u]
        if len(cells.sorted_pos[u]) == 0:
            continue
        sums_u, ok = cuts[u]
        if sums_u is not None:
            den[:, u] -= sums_u[:, 0]
            num[:, u] -= sums_u[:, 1]
        bad = np.flatnonzero(~ok)
        if len(bad):
            pos = cells.sorted_pos[u]
            w_u = w[pos]
            b0, _, _, b3 = cells.cell_bounds[u]
            ws_u = w_u * cells.score[b0:b3]
            for r in bad:
                # The cut fell outside the window: redo this replicate exactly.
                c_row = counts[r, pos]
                tw, tws = _exact_tails(c_row, w_u, ws_u, k[r])
                num[r, u] = c_row @ ws_u - tws
                den[r, u] = c_row @ w_u - tw
    return CellSums(num, den, n, kept, low, anys)


def combine_groups(values: np.ndarray, group_weights: ArrayLike) -> np.ndarray:
    """Σ_g w(g)·x_g / Σ_g w(g) over the groups where x_g is defined.

    Parameters
    ----------
    values : ndarray, shape (..., G, units)
        NaN where a group's figure does not exist.
    group_weights : array_like, shape (G,)

    Returns
    -------
    ndarray, shape (..., units); NaN where no group has a figure.
    """
    gw = np.asarray(group_weights, dtype=float)[:, None]
    ok = ~np.isnan(values)
    num = np.where(ok, values, 0.0) * gw
    den = ok * gw
    num = num.sum(axis=-2)
    den = den.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def composite(score_ballot: np.ndarray, objective: np.ndarray, ballot_share: float,
              component_weights: ArrayLike) -> np.ndarray:
    """C(u) = a·S(u) + Σ_k c(k)·O(u,k), normalised over the parts the unit has.

    Parameters
    ----------
    score_ballot : ndarray, shape (..., units)
        S(u), NaN where it does not exist.
    objective : ndarray, shape (units, K)
        O(u, k), NaN where absent.
    ballot_share : float
        a.
    component_weights : array_like, shape (K,)
        c(k).

    Returns
    -------
    ndarray, shape (..., units); NaN where the unit has no part.
    """
    c = np.asarray(component_weights, dtype=float)
    has_o = ~np.isnan(objective)
    o_num = (np.where(has_o, objective, 0.0) * c).sum(axis=1) if c.size else np.zeros(objective.shape[0])
    o_den = (has_o * c).sum(axis=1) if c.size else np.zeros(objective.shape[0])
    has_s = ~np.isnan(score_ballot)
    num = np.where(has_s, score_ballot, 0.0) * ballot_share + o_num
    den = has_s * ballot_share + o_den
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def option_weights(answers: Array, weights: Array, equal_weight: float | None,
                   n_options: int) -> tuple[Array, Array]:
    """Counts and weights of each option given to one item, per unit.

    Parameters
    ----------
    answers : ndarray of int8, shape (n, units)
        Option index per ballot and unit on the item; -1 where unanswered.
    weights : ndarray of float, shape (n,)
    equal_weight : float or None
        The common weight where all rows weigh the same (the weights are
        then the counts times it).
    n_options : int

    Returns
    -------
    counts, weights : ndarray, shape (units, n_options + 1)
        Slot 0 collects the unanswered, slot 1 + o option o.
    """
    U = answers.shape[1]
    flat = answers.astype(np.int64)
    flat += (np.arange(U, dtype=np.int64) * (n_options + 1) + 1)[None, :]
    flat = flat.ravel()
    n_slots = U * (n_options + 1)
    counts_uo = np.bincount(flat, minlength=n_slots).reshape(U, n_options + 1)
    if equal_weight is not None:
        return counts_uo, counts_uo * equal_weight
    return counts_uo, np.bincount(flat, weights=np.repeat(weights, U), minlength=n_slots).reshape(U, n_options + 1)


def scored_shares(option_weight: Array, scored_idx: Array) -> NDArray[np.float64]:
    """Share of each scored option in the weight given to any scored option, per unit.

    Parameters
    ----------
    option_weight : ndarray, shape (units, n_options + 1)
        From :func:`option_weights`.
    scored_idx : ndarray of int
        Indices of the scored options (not 不了解), in scale order.

    Returns
    -------
    ndarray, shape (units, len(scored_idx)); NaN for a unit without a scored answer.
    """
    wo = option_weight[:, 1 + scored_idx]
    wa = wo.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares: NDArray[np.float64] = np.where(wa[:, None] > 0, wo / np.where(wa > 0, wa, 1.0)[:, None], np.nan)
    return shares


# ---------------------------------------------------------------------------
# Item cells counted by value (exact figures)

#: Answer patterns (per unit, of the items counted together) one sparse
#: product counts at most: items are packed so that (values + 1)**items stays
#: within it.
_PATTERNS = 1024


def exact_sums(values: ArrayLike, weight: float | None, n_rows: int) -> bool:
    """Whether every sum of weight·value over at most `n_rows` drawn ballots is exact in double precision.

    True where the common weight is a power of two and the values are
    binary fractions whose sums stay far below 2**53 units of their last
    place: the matrix products then give those sums exactly, in whatever
    order they add, so counting the ballots of each value gives the very same
    doubles (:func:`value_cells`).
    """
    if weight is None or not 0 < weight < math.inf:
        return False
    mantissa, exponent = math.frexp(weight)
    if mantissa != 0.5 or not -500 < exponent < 500:
        return False
    vals = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(vals)):
        return False
    for bits in range(31):
        scaled = vals * float(1 << bits)  # exact: a power of two
        if np.all(scaled == np.floor(scaled)):
            top = float(np.max(np.abs(scaled), initial=0.0))
            return top * max(n_rows, 1) < 2.0 ** 50
    return False


@dataclass(frozen=True)
class ValueCells:
    """A group's item cells as counts of drawn ballots per unit, item and value.

    Only for a group whose figures are exact (:func:`exact_sums`): all its
    ballots weigh the same and the items' points are short binary fractions.
    Then a trimmed cell's sums depend only on how many drawn ballots gave
    each value (ties in the sorted cell have the same score and weight), and
    they are computed exactly, equal to the last bit to what
    :func:`cell_sums` gives on :func:`prepare_group`'s cells.

    Attributes
    ----------
    items : tuple of int
        The items, in the order of `packs`' columns.
    values : ndarray of float, shape (V,)
        The distinct points of the scored options, ascending.
    packs : tuple
        Per pack of items counted together: the (unit, answer pattern) ×
        rows matrix (CSR, ones) and the patterns' values, shape
        (patterns, items in pack · V), ones where a pattern gives that item
        that value.
    weight : float
        The group's common weight.
    trim_per_end : float
    n_units : int
    n : int
        Rows of the group.
    """

    items: tuple[int, ...]
    values: Array
    packs: tuple[tuple[Any, Array], ...]
    weight: float
    trim_per_end: float
    n_units: int
    n: int


def value_cells(answers: Array, option_points: Array, items: Sequence[int], weight: float,
                trim_per_end: float) -> ValueCells:
    """Build :class:`ValueCells` for one group.

    Parameters
    ----------
    answers : ndarray of int8, shape (n_g, units, all items)
        Option index per row, unit and item; -1 where unanswered. Rows in
        ballot-id order (any order gives the same counts).
    option_points : ndarray of float
        Points per option; NaN where the option is not scored.
    items : sequence of int
        The items whose cells are wanted.
    weight : float
        The group's common weight.
    """
    n_g, U = answers.shape[0], answers.shape[1]
    points = np.asarray(option_points, dtype=float)
    scored = ~np.isnan(points)
    values = np.unique(points[scored])
    V = len(values)
    # 1 + the value's rank per option; 0 for an unscored option and (the
    # last slot, index -1) for no answer.
    rank = np.zeros(len(points) + 1, dtype=np.int64)
    rank[:-1][scored] = 1 + np.searchsorted(values, points[scored])
    per_pack = 1
    while per_pack < len(items) and (V + 1) ** (per_pack + 1) <= _PATTERNS:
        per_pack += 1
    packs = []
    for at in range(0, len(items), per_pack):
        pack = list(items[at:at + per_pack])
        P = (V + 1) ** len(pack)
        # Small integers throughout (P is at most _PATTERNS): each item's
        # digit looked up from its option by a table indexed with the int8
        # answers themselves (-1, no answer, takes the table's last slot).
        code_type = np.int16 if P <= np.iinfo(np.int16).max else np.int32
        # Only the (row, unit) cells where an item of the pack is answered
        # can have a pattern (each ballot rates a few of the units): all of
        # the pack's answers are -1 (all bits set) exactly where their
        # bitwise and is -1. Their flat indices ascend: rows in order, and
        # within a row the units ascend.
        unanswered = answers[:, :, pack[0]].copy()
        for item in pack[1:]:
            unanswered &= answers[:, :, item]
        at_cell = np.flatnonzero(unanswered != -1)
        del unanswered
        picked = answers.reshape(n_g * U, answers.shape[2])[at_cell]
        code: Array = np.zeros(len(at_cell), dtype=code_type)
        for t, item in enumerate(pack):
            code += (rank * (V + 1) ** t).astype(code_type)[picked[:, item]]
        # Column by column (CSC), as :func:`_cell_counts` uses it: the
        # classes of each column come sorted, with no sort or conversion.
        scored_at = code != 0
        b_idx, u_idx = np.divmod(at_cell[scored_at], U)
        cls = u_idx.astype(np.int32) * P + code[scored_at]
        indptr = np.zeros(n_g + 1, dtype=np.int64)
        np.cumsum(np.bincount(b_idx, minlength=n_g), out=indptr[1:])
        matrix = sparse.csc_array((np.ones(len(cls), dtype=np.float32), cls, indptr), shape=(U * P, n_g))
        patterns = np.arange(P)
        to_values = np.zeros((P, len(pack) * V), dtype=np.float32)
        for t in range(len(pack)):
            digit = (patterns // (V + 1) ** t) % (V + 1)
            has = digit > 0
            to_values[patterns[has], t * V + digit[has] - 1] = 1.0
        packs.append((matrix, to_values))
    return ValueCells(tuple(items), values, tuple(packs), float(weight), float(trim_per_end), U, n_g)


def value_cell_sums(cells: ValueCells, counts_t: Array | None) -> list[CellSums]:
    """Per item of `cells`, its cell sums for the replicates of `counts_t` (None: the sample).

    Parameters
    ----------
    counts_t : ndarray, shape (n_g, R), or None
        :func:`counts_by_row` of the replicate counts.

    Returns
    -------
    list of CellSums (without shares), in the order of ``cells.items``.
    """
    if counts_t is None:
        counts_t = np.ones((cells.n, 1), dtype=np.float32)
    R = counts_t.shape[1]
    U, V = cells.n_units, len(cells.values)
    p, w = cells.trim_per_end, cells.weight
    if V == 0:
        # No scored option: every cell is empty.
        return [CellSums(np.zeros((R, U)), np.zeros((R, U)), np.zeros((R, U)), np.zeros((R, U)), None, None)
                for _ in cells.items]
    out: list[CellSums] = []
    for matrix, to_values in cells.packs:
        P = to_values.shape[0]
        if cells.n:
            # Whole numbers at most n_g: exact in single precision, in any order.
            by_pattern = (matrix @ counts_t).astype(np.float32).reshape(U, P, R)
            counted = np.matmul(by_pattern.transpose(0, 2, 1), to_values).astype(np.float64)  # (U, R, items·V)
        else:
            counted = np.zeros((U, R, to_values.shape[1]))
        for t in range(to_values.shape[1] // V):
            N = np.ascontiguousarray(counted[:, :, t * V:(t + 1) * V].transpose(1, 0, 2))  # (R, U, V)
            n = N.sum(axis=2)
            k = trim_count(p, n)
            kept_v = N.copy()
            if p > 0:
                # The k lowest and the k highest drawn ballots go, value by value.
                before = np.cumsum(N, axis=2) - N
                kept_v -= np.clip(k[..., None] - before, 0.0, N)
                after = np.cumsum(N[..., ::-1], axis=2)[..., ::-1] - N
                kept_v -= np.clip(k[..., None] - after, 0.0, N)
            kept = n - 2 * k
            num = (kept_v @ cells.values) * w
            out.append(CellSums(num, kept * w, n, kept, None, None))
    return out
