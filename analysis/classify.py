"""Classes, reasons and ranks of units, for one sample or many replicates at once (SCORING.md section 6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "TOL",
    "CLASSES",
    "REASONS",
    "SATISFIED",
    "BASIC",
    "DISSATISFIED",
    "INSUFFICIENT",
    "Classification",
    "classify",
    "competition_ranks",
]

#: Scores and shares within this of each other, or of a limit, are equal.
TOL = 1e-9

CLASSES = ("satisfied", "basically_satisfied", "dissatisfied", "insufficient")
SATISFIED, BASIC, DISSATISFIED, INSUFFICIENT = 0, 1, 2, 3
#: Reason bits, in the order reasons are reported.
REASONS = ("veto", "threshold", "share", "bottom")
_VETO, _THRESHOLD, _SHARE, _BOTTOM = 1, 2, 4, 8


@dataclass(frozen=True)
class Classification:
    """Classes of units, per replicate.

    Attributes
    ----------
    klass : ndarray of int8, shape (R, units)
        Index into CLASSES.
    reasons : ndarray of int8, shape (R, units)
        Bit set over REASONS (bit 0 veto, 1 threshold, 2 share, 3 bottom).
    rank : ndarray of float, shape (R, units)
        Competition rank within the category; NaN where not ranked.
    """

    klass: np.ndarray
    reasons: np.ndarray
    rank: np.ndarray

    def reason_list(self, r: int, u: int) -> list[str]:
        """The reasons of unit `u` in replicate `r`, in rule order."""
        if self.klass[r, u] == INSUFFICIENT:
            return ["insufficient"]
        bits = int(self.reasons[r, u])
        return [name for i, name in enumerate(REASONS) if bits & (1 << i)]


def competition_ranks(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """1 + the number of masked values greater by more than TOL (1, 2, 2, 4).

    Parameters
    ----------
    values, mask : ndarray, shape (R, m)

    Returns
    -------
    ndarray of float, shape (R, m); NaN outside `mask`.
    """
    v = np.where(mask, values, -np.inf)
    greater = (v[:, None, :] > v[:, :, None] + TOL) & mask[:, None, :]
    rank = 1.0 + greater.sum(axis=2)
    return np.where(mask, rank, np.nan)


def classify(C: NDArray[np.float64], n: NDArray[Any], veto: NDArray[np.bool_], unit_category: NDArray[np.int64],
             n_categories: int, rules: Mapping[str, Any], share_low: NDArray[np.float64] | None = None) -> Classification:
    """Apply SCORING.md section 6 to composite scores.

    Parameters
    ----------
    C : ndarray, shape (R, units)
        Composite scores, NaN where none.
    n : ndarray, shape (R, units)
        n(u), valid ballots rating the unit.
    veto : ndarray of bool, shape (units,)
    unit_category : ndarray of int, shape (units,)
    n_categories : int
    rules : dict
        Effective rules.
    share_low : ndarray, shape (R, units), optional
        Combined share of the lowest-scored option (NaN where none); needed
        when ``max_dissatisfied_share`` is set.

    Raises
    ------
    ValueError
        If the share rule is set but `share_low` is missing.
    """
    C = np.atleast_2d(np.asarray(C, dtype=float))
    n = np.atleast_2d(np.asarray(n, dtype=float))
    R, U = C.shape
    veto = np.asarray(veto, dtype=bool)
    th = rules["thresholds"]
    satisfied, basic = float(th["satisfied"]), float(th["basic"])
    # A unit without a composite cannot be placed; it is treated as short of data.
    insufficient = (n < rules["min_valid_per_unit"]) | np.isnan(C)
    ranked = ~insufficient
    Cz = np.where(ranked, C, 0.0)
    klass = np.where(Cz >= satisfied - TOL, SATISFIED, np.where(Cz >= basic - TOL, BASIC, DISSATISFIED)).astype(np.int8)
    reasons = np.zeros((R, U), dtype=np.int8)
    reasons[:, veto] |= _VETO
    reasons |= np.where(klass == DISSATISFIED, _THRESHOLD, 0).astype(np.int8)
    limit = rules.get("max_dissatisfied_share")
    if limit is not None:
        if share_low is None:
            raise ValueError("share_low is needed when max_dissatisfied_share is set")
        share_low = np.atleast_2d(share_low)
        hit = ~np.isnan(share_low) & (np.nan_to_num(share_low, nan=-1.0) >= float(limit) - TOL)
        reasons |= np.where(hit, _SHARE, 0).astype(np.int8)
    rank = np.full((R, U), np.nan)
    bottom = rules.get("bottom")
    unit_category = np.asarray(unit_category)
    for cat in range(n_categories):
        cols = np.flatnonzero(unit_category == cat)
        if len(cols) == 0:
            continue
        mask = ranked[:, cols]
        vals = Cz[:, cols]
        rank[:, cols] = competition_ranks(vals, mask)
        if bottom is not None:
            nb = int(bottom["n"])
            below = float(bottom["below"])
            count = mask.sum(axis=1)
            srt = np.sort(np.where(mask, vals, np.inf), axis=1)
            pick = np.clip(np.minimum(nb, count) - 1, 0, len(cols) - 1)
            boundary = srt[np.arange(R), pick]
            hit = mask & (count > 0)[:, None] & (vals <= boundary[:, None] + TOL) & (vals < below - TOL)
            sub = reasons[:, cols]
            sub |= np.where(hit, _BOTTOM, 0).astype(np.int8)
            reasons[:, cols] = sub
    klass = np.where((reasons & (_VETO | _SHARE | _BOTTOM)) != 0, DISSATISFIED, klass).astype(np.int8)
    klass[insufficient] = INSUFFICIENT
    reasons[insufficient] = 0
    return Classification(klass, reasons, rank)
