"""How sure the figures are: stratified bootstrap, Wilson intervals and Krippendorff's ordinal alpha (SCORING.md section 7)."""

from __future__ import annotations

import contextlib
import mmap
import os
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _fork
from .scores import CellSums

__all__ = [
    "Z95",
    "wilson_interval",
    "krippendorff_alpha_ordinal",
    "value_counts_by_unit",
    "replicate_chunk",
    "draw_replicate_counts",
    "replicate_draws",
    "replicate_draws_ahead",
    "AheadDraws",
    "concat_sums",
    "BootstrapResult",
    "percentile_ci95",
    "summarise_bootstrap",
]

Z95 = 1.959963984540054

#: Elements of one replicate-count block (replicates × ballots of a group):
#: bounds the bootstrap's memory whatever the campaign's size.
_BLOCK = 1 << 25


def wilson_interval(p: ArrayLike, n: ArrayLike, z: float = Z95) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wilson score interval of a proportion.

    Parameters
    ----------
    p : array_like
        Proportions (NaN where none).
    n : array_like
        Sample sizes (here Kish effective sizes); where n <= 0 the interval is NaN.
    z : float

    Returns
    -------
    lo, hi : ndarray
        Not clipped to [0, 1], so rounding may leave -1e-17 where p is 0.
    """
    p = np.asarray(p, dtype=float)
    n = np.asarray(n, dtype=float)
    ok = (n > 0) & ~np.isnan(p)
    nn = np.where(ok, n, 1.0)
    pp = np.where(ok, p, 0.0)
    z2 = z * z
    denom = 1.0 + z2 / nn
    center = (pp + z2 / (2.0 * nn)) / denom
    half = z * np.sqrt(np.maximum(pp * (1.0 - pp) / nn + z2 / (4.0 * nn * nn), 0.0)) / denom
    return np.where(ok, center - half, np.nan), np.where(ok, center + half, np.nan)


def value_counts_by_unit(values: np.ndarray, n_values: int) -> np.ndarray:
    """Counts of each value index per rated unit.

    Parameters
    ----------
    values : ndarray of int, shape (coders, units)
        Value index (0 .. n_values - 1) or -1 where the coder gave none.

    Returns
    -------
    ndarray of float, shape (units, n_values)
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values must be a (coders, units) matrix, got shape {values.shape}")
    n_units = values.shape[1]
    # Slot 0 of each unit collects the "no value" entries, so no mask is needed.
    flat = values.astype(np.int64) + 1
    flat += (np.arange(n_units, dtype=np.int64) * (n_values + 1))[None, :]
    counts = np.bincount(flat.ravel(), minlength=n_units * (n_values + 1)).reshape(n_units, n_values + 1)
    return counts[:, 1:].astype(float)


def krippendorff_alpha_ordinal(value_counts: np.ndarray) -> float | None:
    """Krippendorff's alpha, ordinal metric, from value counts per unit.

    Parameters
    ----------
    value_counts : ndarray, shape (units, values)
        How many coders gave each value (in ascending order of the value
        domain; values nobody chose count in the ordinal distance as empty
        ranks) to each unit.

    Returns
    -------
    float or None
        None where fewer than two values can be paired or all paired values
        are equal. Equals ``krippendorff.alpha(..., level_of_measurement=
        "ordinal", value_domain=...)``.
    """
    vc = np.asarray(value_counts, dtype=float)
    m = vc.sum(axis=1)
    vc = vc[m >= 2]
    m = m[m >= 2]
    if len(m) == 0:
        return None
    # Coincidence matrix: each unit's ordered pairs of values, 1/(m_u - 1) each.
    o = np.einsum("uc,uk->ck", vc / (m - 1)[:, None], vc) - np.diag((vc / (m - 1)[:, None]).sum(axis=0))
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n < 2:
        return None
    cum = np.concatenate([[0.0], np.cumsum(n_c)])
    idx = np.arange(len(n_c))
    lo = np.minimum(idx[:, None], idx[None, :])
    hi = np.maximum(idx[:, None], idx[None, :])
    delta = (cum[hi + 1] - cum[lo] - (n_c[:, None] + n_c[None, :]) / 2.0) ** 2
    d_e = (np.outer(n_c, n_c) * delta).sum()
    if d_e <= 0:
        return None
    d_o = (o * delta).sum()
    return float(1.0 - (n - 1.0) * d_o / d_e)


def replicate_chunk(total_rows: int, replicates: int) -> int:
    """Replicates drawn at once when the groups hold `total_rows` valid ballots."""
    if total_rows <= 0:
        return max(1, replicates)
    return int(max(1, min(replicates, _BLOCK // total_rows)))


def draw_replicate_counts(rng: np.random.Generator, sizes: Sequence[int], replicates: int,
                          out: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
    """Draw `replicates` stratified resamples; return per group how often each row was drawn.

    Replicate after replicate, and within one group after group (in group
    order), ``rng.integers(0, n_g, size=n_g)`` draws the group's ballots
    (rows in ballot-id order) with replacement. Groups without valid ballots
    draw nothing. Drawing in chunks of replicates uses the random stream
    exactly as drawing all at once.

    Parameters
    ----------
    out : sequence of ndarray, optional
        Buffers of shape (>= replicates, n_g) to fill (reusing them spares the
        page faults of fresh arrays); their first `replicates` rows are returned.

    Returns
    -------
    list of ndarray of float, shape (replicates, n_g)
    """
    if out is None:
        counts = [np.empty((replicates, n)) for n in sizes]
    else:
        counts = [o[:replicates] for o in out]
    for r in range(replicates):
        for g, n in enumerate(sizes):
            if n > 0:
                # One row at a time: the draws stay in cache for bincount
                # (drawing a whole chunk at once is several times slower).
                counts[g][r] = np.bincount(rng.integers(0, n, size=n), minlength=n)
    return counts


def replicate_draws(seed: int, sizes: Sequence[int], replicates: int, chunk: int,
                    buffers: Sequence[np.ndarray]) -> Iterator[list[np.ndarray]]:
    """The bootstrap's counts chunk after chunk, from a generator seeded with `seed`.

    Every call with the same arguments yields the same draws (see
    :func:`draw_replicate_counts`), so figures computed in a later pass over
    the replicates use the very resamples of the first. The chunks are
    views of `buffers`, overwritten by the next chunk.
    """
    rng = np.random.default_rng(seed)
    for start in range(0, replicates, chunk):
        yield draw_replicate_counts(rng, sizes, min(chunk, replicates - start), out=buffers)


def replicate_draws_ahead(seed: int, sizes: Sequence[int], replicates: int, chunk: int,
                          dtype: Any) -> AheadDraws:
    """:func:`replicate_draws`, drawn by a forked helper process ahead of their use (see :class:`AheadDraws`)."""
    return AheadDraws(seed, sizes, replicates, chunk, dtype)


class AheadDraws:
    """The bootstrap's counts chunk after chunk, drawn by a forked helper process ahead of their use.

    The helper starts drawing at once (so while the caller still computes the
    sample's figures) and holds the generator: it draws chunk k + 2 into a
    set of shared buffers as soon as the caller is done with chunk k (two
    sets alternate). One generator, used in order, so the very draws of
    :func:`replicate_draws`. Iterate once; a chunk stays valid until the next
    is asked for. Should the helper fail, the rest is drawn here (the chunks
    already used drawn again, from the seed, and skipped). The helper ends
    when the iteration does, on :meth:`close`, or when this object goes.
    POSIX only (fork).
    """

    def __init__(self, seed: int, sizes: Sequence[int], replicates: int, chunk: int, dtype: Any) -> None:
        self.seed, self.sizes, self.replicates, self.chunk, self.dtype = seed, list(sizes), replicates, chunk, dtype
        self.starts = list(range(0, replicates, chunk))
        item = np.dtype(dtype).itemsize
        set_bytes = item * chunk * sum(sizes)
        shared = mmap.mmap(-1, max(1, 2 * set_bytes))  # anonymous, shared with the helper
        self.sets: list[list[np.ndarray]] = []
        for k in range(2):
            views, at = [], k * set_bytes
            for n in sizes:
                views.append(np.ndarray((chunk, n), dtype=dtype, buffer=shared, offset=at))
                at += item * chunk * n
            self.sets.append(views)
        ready_r, ready_w = os.pipe()
        free_r, free_w = os.pipe()

        def body() -> None:  # in the helper
            os.close(ready_r)
            os.close(free_w)
            _helper_draws(seed, sizes, replicates, chunk, self.sets, self.starts, ready_w, free_r)
        pid = _fork.start(body)
        os.close(ready_w)
        os.close(free_r)
        self._ready, self._free = ready_r, free_w
        self._end = weakref.finalize(self, _fork.end, pid, ready_r, free_w)

    def close(self) -> None:
        """End the helper (its draws are no longer wanted)."""
        self._end()

    def __iter__(self) -> Iterator[list[np.ndarray]]:
        used = 0
        try:
            for k, start in enumerate(self.starts):
                if os.read(self._ready, 1) != b"x":
                    break  # the helper is gone: draw the rest here
                yield [v[:min(self.chunk, self.replicates - start)] for v in self.sets[k % 2]]
                used = k + 1
                if k + 2 < len(self.starts):
                    with contextlib.suppress(BrokenPipeError):  # a helper gone is found at the next read
                        os.write(self._free, b"x")  # chunk k is done with: its buffers may take chunk k + 2
            else:
                return
        finally:
            self.close()
        buffers = [np.empty((self.chunk, n), dtype=self.dtype) for n in self.sizes]
        for k, drawn in enumerate(replicate_draws(self.seed, self.sizes, self.replicates, self.chunk, buffers)):
            if k >= used:
                yield drawn


def _helper_draws(seed: int, sizes: Sequence[int], replicates: int, chunk: int, sets: list[list[np.ndarray]],
                  starts: list[int], ready: int, free: int) -> None:
    """In the helper: draw every chunk in order into the set of buffers it alternates with."""
    rng = np.random.default_rng(seed)
    for k, start in enumerate(starts):
        if k >= 2 and os.read(free, 1) != b"x":
            return  # the parent is gone
        draw_replicate_counts(rng, sizes, min(chunk, replicates - start), out=sets[k % 2])
        os.write(ready, b"x")


def concat_sums(parts: Sequence[CellSums]) -> CellSums:
    """Stack the cell sums of consecutive replicate chunks."""
    def cat(name: str) -> Any:
        vals = [getattr(p, name) for p in parts]
        return None if vals[0] is None else np.concatenate(vals, axis=0)

    return CellSums(cat("num"), cat("den"), cat("n"), cat("kept"), cat("low_share"), cat("any_share"))


def percentile_ci95(replicates: np.ndarray) -> NDArray[np.float64]:
    """2.5% and 97.5% percentiles of each column over the replicates where it is defined.

    Parameters
    ----------
    replicates : ndarray, shape (R, k)
        A figure per replicate; NaN where it does not exist.

    Returns
    -------
    ndarray, shape (k, 2)
        Linear interpolation (numpy's default); NaN where a column is never
        defined.
    """
    k = replicates.shape[1]
    ci = np.full((k, 2), np.nan)
    for j in range(k):
        col = replicates[:, j]
        col = col[~np.isnan(col)]
        if len(col):
            ci[j] = np.percentile(col, [2.5, 97.5])
    return ci


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap summary per unit.

    Attributes
    ----------
    ci95 : ndarray, shape (units, 2)
        2.5% and 97.5% percentiles of C(u) over the replicates where it is
        defined; NaN where it never is.
    stability : ndarray, shape (units,)
        Share of all replicates giving the unit its reported class; NaN with
        no replicate.
    borderline : ndarray of bool, shape (units,)
        stability < 0.95.
    replicates : int
    """

    ci95: np.ndarray
    stability: np.ndarray
    borderline: np.ndarray
    replicates: int


def summarise_bootstrap(C_rep: np.ndarray, class_rep: np.ndarray, reported_class: np.ndarray) -> BootstrapResult:
    """ci95, stability and borderline from replicate composites and classes.

    Parameters
    ----------
    C_rep : ndarray, shape (R, units)
    class_rep : ndarray, shape (R, units)
    reported_class : ndarray, shape (units,)
    """
    R, U = C_rep.shape
    ci = percentile_ci95(C_rep)
    if R == 0:
        stab = np.full(U, np.nan)
        return BootstrapResult(ci, stab, np.zeros(U, dtype=bool), 0)
    stab = (class_rep == reported_class[None, :]).mean(axis=0)
    return BootstrapResult(ci, stab, stab < 0.95, R)
