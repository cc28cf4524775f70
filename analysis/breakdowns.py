"""Per-item figures and breakdowns of a unit by subsets of its valid ballots (SCORING.md section 5a).

Both repeat section 5's cells (per group, trimmed, combined by group
weights; shares without trimming) on other inputs: an item's points in place
of s(b, u), or a subset of the valid ballots in place of all of them. They
are computed with the same functions as section 5 (:func:`prepare_group`,
:func:`cell_sums`, :func:`option_weights`), so a subset holding a whole group
gives that group's figures to the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._campaign import Campaign
from .scores import CellSums, GroupCells, cell_sums, combine_groups, option_weights, prepare_group, scored_shares
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
    Each (subset, group) cell is built with :func:`prepare_group` on its own
    rows, still in ballot-id order, so trimming drops floor(p·n) ballots of
    the subset at each end, ties broken by id, as section 5 does for the
    whole group. The work is linear in the valid ballots per partition.
    """
    c = basis.campaign
    U, G, K = len(c.unit_codes), len(c.group_codes), len(names)
    n_opt = len(c.option_points)
    n_scored = len(basis.scored_idx)
    p = basis.trim_per_end
    ov_item = c.overall_item
    S_g = np.full((K, G, U), np.nan)
    shares_g = np.full((K, G, U, n_scored), np.nan)
    n = np.zeros((K, U), dtype=np.int64)
    for g, rows in enumerate(basis.group_rows):
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
            S_g[k, g] = sums.score()[0]
            n[k] += sums.n[0].astype(np.int64)
            _, wsum = option_weights(c.answers[sub, :, ov_item], w_sub, cells.equal_weight, n_opt)
            shares_g[k, g] = scored_shares(wsum, basis.scored_idx)
    gw = c.group_weights
    score = combine_groups(S_g, gw) if G else np.full((K, U), np.nan)
    if G:
        shares = combine_groups(shares_g.reshape(K, G, U * n_scored), gw).reshape(K, U, n_scored)
    else:
        shares = np.full((K, U, n_scored), np.nan)
    return SubsetScores(tuple(names), n, score, shares, basis.option_codes)


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
    """Every breakdown of section 5a of a campaign (one :func:`subset_scores` per partition)."""
    c = basis.campaign
    by_batch = subset_scores(basis, c.ballot_batch, c.batch_codes)
    channels = tuple(dict.fromkeys(c.batch_channel))
    of_batch = np.array([channels.index(ch) for ch in c.batch_channel], dtype=np.int64)
    by_channel = subset_scores(basis, of_batch[c.ballot_batch] if len(of_batch) else
                               np.full(c.n_ballots, -1, dtype=np.int64), channels)
    return Breakdowns(by_batch, by_channel, {a.name: subset_scores(basis, a.codes, a.values) for a in c.attributes})


def item_points(c: Campaign, rows: Ints, item: int) -> Floats:
    """s_i(b, u): the points of the option each row gave item `item` of each unit; NaN where not scored."""
    lookup = np.append(c.option_points, np.nan)
    points: Floats = lookup[c.answers[rows, :, item]]
    return points


def _nbytes(cells: GroupCells) -> int:
    n = cells.stacked.nbytes + cells.stacked_counts.nbytes + cells.score.nbytes + cells.weights.nbytes
    n += sum(pos.nbytes for pos in cells.sorted_pos)
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
    :meth:`replicate` for each chunk of the replicates section 7 draws: the
    same counts, no new random numbers), it gives :class:`ItemScores` at the
    end (:meth:`result`). The cells of one item are a group's section 5
    cells with s_i(b, u) in place of s(b, u), summed by the same matrix
    products. With one item s_1(b, u) is s(b, u) exactly (the weight
    cancels), so the unit's own sums serve and nothing is computed twice.

    Parameters
    ----------
    basis : ScoreBasis
    budget : int
        Bytes of item cells that may be kept between the bootstrap chunks;
        the others are rebuilt for each chunk (memory stays bounded).
    """

    def __init__(self, basis: ScoreBasis, budget: int) -> None:
        c = basis.campaign
        self.basis = basis
        self.n_items = len(c.item_codes)
        self.same_as_units = self.n_items == 1
        G, U, n_scored = len(c.group_codes), len(c.unit_codes), len(basis.scored_idx)
        self._budget = budget
        self._kept: list[list[GroupCells | None]] = [[None] * self.n_items for _ in range(G)]
        self._sums: list[list[CellSums | None]] = [[None] * self.n_items for _ in range(G)]
        self._shares = np.full((self.n_items, G, U, n_scored), np.nan)
        # Per item and group, the replicate chunks of S_i(u, g), shape (r, units).
        self._reps: list[list[list[Floats]]] = [[[] for _ in range(G)] for _ in range(self.n_items)]

    def _cells(self, g: int, item: int) -> GroupCells:
        kept = self._kept[g][item]
        if kept is not None:
            return kept
        basis = self.basis
        rows = basis.group_rows[g]
        return prepare_group(rows, basis.weights[rows], item_points(basis.campaign, rows, item),
                             trim_per_end=basis.trim_per_end)

    def sample(self, g: int, unit_sums: CellSums, equal_weight: float | None) -> None:
        """The sample's item cells and item shares of group `g` (`unit_sums`: its section 5 sums)."""
        basis = self.basis
        c = basis.campaign
        rows = basis.group_rows[g]
        w_rows = basis.weights[rows]
        for i in range(self.n_items):
            if self.same_as_units:
                self._sums[g][i] = unit_sums
            else:
                cells = self._cells(g, i)
                self._sums[g][i] = cell_sums(cells, None, basis.trim_per_end)
                size = _nbytes(cells)
                if size <= self._budget:
                    self._kept[g][i] = cells
                    self._budget -= size
                del cells
            # Shares take no trimming: the item's option weights over the cell.
            _, wsum = option_weights(c.answers[rows, :, i], w_rows, equal_weight, len(c.option_points))
            self._shares[i, g] = scored_shares(wsum, basis.scored_idx)

    def replicate(self, g: int, counts: Array, unit_sums: CellSums) -> None:
        """One chunk of replicates of group `g`: `counts` as drawn, `unit_sums` the section 5 sums of that chunk."""
        for i in range(self.n_items):
            if self.same_as_units:
                sums = unit_sums
            else:
                sums = cell_sums(self._cells(g, i), counts, self.basis.trim_per_end)
            self._reps[i][g].append(sums.score())

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
