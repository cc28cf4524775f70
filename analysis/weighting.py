"""Ballot weights: non-response adjustment, raking, trimming and Kish effective size (SCORING.md section 4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "RakeResult",
    "TrimResult",
    "rake",
    "trim_weights",
    "kish_ess",
    "nonresponse_weights",
]


@dataclass(frozen=True)
class RakeResult:
    """The outcome of iterative proportional fitting.

    Attributes
    ----------
    weights : ndarray of float
        Raked weights, one per row.
    iterations : int
        Full passes over all raked variables that were run.
    converged : bool
        Whether every achieved margin came within ``epsilon`` × its target.
    """

    weights: np.ndarray
    iterations: int
    converged: bool


@dataclass(frozen=True)
class TrimResult:
    """The outcome of weight trimming.

    Attributes
    ----------
    weights : ndarray of float
        Trimmed weights, same total as the input.
    capped : ndarray of bool
        Rows set to the cap.
    rounds : int
        Capping rounds run.
    """

    weights: np.ndarray
    capped: np.ndarray
    rounds: int


def rake(codes: Sequence[ArrayLike], targets: Sequence[ArrayLike], weights: ArrayLike | None = None, *,
         epsilon: float = 1e-10, max_iter: int = 100) -> RakeResult:
    """Iterative proportional fitting of weights to marginal totals.

    One raked variable after another, in the order given, the weights of each
    category are scaled so that they sum to its target. After each full pass
    the achieved margins of all variables are compared with their targets.
    Where it converges this equals R ``survey::rake`` (``control =
    list(epsilon = 1e-10, maxit = 100)``) to 1e-8 relative.

    Parameters
    ----------
    codes : sequence of array_like of int
        One array per raked variable: the category index of each row
        (0 .. len(targets[j]) - 1).
    targets : sequence of array_like of float
        One array per variable: the target total of each category. A category
        with a zero target gets weight 0.
    weights : array_like of float, optional
        Starting weights (default all 1).
    epsilon : float
        Relative tolerance: converged when every ``|achieved - target| <=
        epsilon * target``.
    max_iter : int
        Maximum number of full passes.

    Returns
    -------
    RakeResult

    Raises
    ------
    ValueError
        If the numbers of variables disagree, a code is out of range, a target
        is negative, or lengths differ (the message names which).
    """
    if len(codes) != len(targets):
        raise ValueError(f"codes has {len(codes)} variables but targets has {len(targets)}")
    cs = [np.asarray(c, dtype=np.intp) for c in codes]
    ts = [np.asarray(t, dtype=float) for t in targets]
    given = None if weights is None else np.array(weights, dtype=float, copy=True)
    n = len(cs[0]) if cs else (0 if given is None else len(given))
    w = np.ones(n) if given is None else given
    if len(w) != n:
        raise ValueError(f"weights has {len(w)} rows, codes {n}")
    for j, (c, t) in enumerate(zip(cs, ts, strict=True)):
        if len(c) != n:
            raise ValueError(f"codes[{j}] has {len(c)} rows, expected {n}")
        if n and (c.min() < 0 or c.max() >= len(t)):
            raise ValueError(f"codes[{j}] holds a category outside 0..{len(t) - 1}")
        if np.any(t < 0) or not np.all(np.isfinite(t)):
            raise ValueError(f"targets[{j}] must be finite and non-negative, got {t.tolist()}")
    if not cs or n == 0:
        return RakeResult(w, 0, True)
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    iterations = 0
    converged = False
    for _ in range(max_iter):
        iterations += 1
        for c, t in zip(cs, ts, strict=True):
            current = np.bincount(c, weights=w, minlength=len(t))
            # A category holding no weight cannot be scaled to its target;
            # its factor is 0 (its rows are already at 0).
            factor = np.divide(t, current, out=np.zeros_like(t), where=current > 0)
            w *= factor[c]
        converged = all(
            np.all(np.abs(np.bincount(c, weights=w, minlength=len(t)) - t) <= epsilon * t)
            for c, t in zip(cs, ts, strict=True)
        )
        if converged:
            break
    return RakeResult(w, iterations, bool(converged))


def trim_weights(weights: ArrayLike, cap: float | None, *, max_rounds: int = 50) -> TrimResult:
    """Cap weights at ``cap`` × their mean, keeping the total.

    The cap is computed once from the mean (which trimming leaves unchanged).
    Repeatedly the weights above it are set to it (and stay there) and the
    others are scaled up so that the total is kept, until none is above or
    `max_rounds` rounds have run.

    Parameters
    ----------
    weights : array_like of float
    cap : float or None
        Multiple of the mean; None disables trimming.

    Raises
    ------
    ValueError
        If `cap` is not positive.
    """
    w = np.array(weights, dtype=float, copy=True)
    capped = np.zeros(len(w), dtype=bool)
    if cap is None or len(w) == 0:
        return TrimResult(w, capped, 0)
    if not cap > 0:
        raise ValueError(f"weight cap must be positive, got {cap!r}")
    total = w.sum()
    limit = cap * total / len(w)
    rounds = 0
    while rounds < max_rounds:
        above = (w > limit) & ~capped
        if not above.any():
            break
        rounds += 1
        capped |= above
        w[capped] = limit
        free = ~capped
        free_total = w[free].sum()
        if free_total <= 0:
            break
        w[free] *= (total - limit * capped.sum()) / free_total
    return TrimResult(w, capped, rounds)


def kish_ess(weights: ArrayLike) -> float:
    """Kish effective sample size (Σw)² / Σw²; 0 for no rows or zero weights."""
    w = np.asarray(weights, dtype=float)
    ss = float(np.dot(w, w))
    if len(w) == 0 or ss == 0:
        return 0.0
    s = float(w.sum())
    return s * s / ss


def nonresponse_weights(batch_of_row: ArrayLike, batch_issued: ArrayLike,
                        n_batches: int | None = None) -> NDArray[np.float64]:
    """Per-row factor issued(k) / valid(k) of the row's batch k.

    Parameters
    ----------
    batch_of_row : array_like of int
        Batch index of each valid ballot.
    batch_issued : array_like of int
        Forms issued per batch (must all be known: no open batch).
    """
    b = np.asarray(batch_of_row, dtype=np.intp)
    issued = np.asarray(batch_issued, dtype=float)
    if n_batches is None:
        n_batches = len(issued)
    valid = np.bincount(b, minlength=n_batches).astype(float)
    factor: NDArray[np.float64] = np.divide(issued, valid, out=np.ones_like(issued), where=valid > 0)
    return factor[b]
