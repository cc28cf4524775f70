"""Ballot-unit scores, ballot states and the five data-quality flags (SCORING.md sections 2, 3 and 5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._campaign import Campaign
from ._checks import FLAGS

__all__ = [
    "ballot_unit_scores",
    "flag_duplicate",
    "flag_straight_line",
    "flag_speeder",
    "flag_burst",
    "flag_extreme_rater",
    "FlagResult",
    "flag_ballots",
    "id_ranks",
    "DUPLICATE_WINDOW_US",
    "BURST_WINDOW_US",
]

#: 600 s, in the microseconds submission times are kept in.
DUPLICATE_WINDOW_US = 600_000_000
BURST_WINDOW_US = 600_000_000
_ROW_CHUNK = 1 << 16

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]


def ballot_unit_scores(answers: ArrayLike, option_points: ArrayLike, item_weights: ArrayLike) -> Floats:
    """s(b, u): the item-weighted mean points of the scored answers of b for u.

    Parameters
    ----------
    answers : ndarray of int8, shape (n, units, items)
        Option index, -1 where not answered.
    option_points : array_like of float
        Points per option, NaN for a non-scored option (不了解).
    item_weights : array_like of float

    Returns
    -------
    ndarray of float, shape (n, units)
        NaN where b scored no item of u.
    """
    answers = np.asarray(answers)
    n, n_units, n_items = answers.shape
    points = np.asarray(option_points, dtype=float)
    v = np.asarray(item_weights, dtype=float)
    # Index -1 (unanswered) picks the appended NaN entry.
    lookup = np.append(points, np.nan)
    if n_items == 1:
        # One item: the score is its points (the weight cancels).
        one: Floats = lookup[answers[:, :, 0]]
        return one
    n_options = len(points)
    if (n_options + 1) ** n_items <= _TABLE_MAX:
        # Few answer combinations: each one's score computed once (by the
        # very operations below, element for element the same doubles),
        # then looked up by the combination's code.
        combos = np.arange((n_options + 1) ** n_items)
        every = np.stack([(combos // (n_options + 1) ** i) % (n_options + 1) - 1 for i in range(n_items)],
                         axis=1)
        table = _scores(every[:, None, :], lookup, v)[:, 0]
        out = np.empty((n, n_units))
        for lo in range(0, n, _ROW_CHUNK):
            hi = min(n, lo + _ROW_CHUNK)
            digits = answers[lo:hi].astype(np.int32)  # one contiguous pass; codes below 2**16
            digits += 1
            code = digits[:, :, 0].copy()
            for i in range(1, n_items):
                code += digits[:, :, i] * (n_options + 1) ** i
            np.take(table, code, out=out[lo:hi])
        return out
    out = np.empty((n, n_units))
    # Row chunks keep the temporaries small for a million ballots.
    for lo in range(0, n, _ROW_CHUNK):
        hi = min(n, lo + _ROW_CHUNK)
        out[lo:hi] = _scores(answers[lo:hi], lookup, v)
    return out


#: Answer combinations (options + 1 to the power items) up to which s(b, u) is looked up in a table.
_TABLE_MAX = 1 << 16


def _scores(answers: NDArray[Any], lookup: Floats, v: Floats) -> Floats:
    """s(b, u) of answers of shape (rows, units, items): lookup holds the options' points and NaN last."""
    rows, n_units, n_items = answers.shape
    num = np.zeros((rows, n_units))
    den = np.zeros((rows, n_units))
    for i in range(n_items):
        p = lookup[answers[:, :, i]]
        scored = ~np.isnan(p)
        num += v[i] * np.where(scored, p, 0.0)
        den += v[i] * scored
    with np.errstate(invalid="ignore", divide="ignore"):
        out: Floats = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def flag_duplicate(group: Ints, source: Ints, answer_key: Ints, t_us: Ints, id_rank: Ints,
                   eligible: ArrayLike) -> Bools:
    """The ``duplicate`` flag.

    A ballot is a duplicate where an earlier eligible ballot (order:
    submission time, then id) of the same group has the same source and the
    same answers and was submitted at most 600 s before it. Eligible are the
    received ballots of open batches that have a source.
    """
    n = len(group)
    out = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(np.asarray(eligible) & (np.asarray(source) >= 0))
    if len(idx) < 2:
        return out
    g, s, a, t, r = group[idx], source[idx], answer_key[idx], t_us[idx], id_rank[idx]
    order = np.lexsort((r, t, a, s, g))
    g, s, a, t = g[order], s[order], a[order], t[order]
    same = (g[1:] == g[:-1]) & (s[1:] == s[:-1]) & (a[1:] == a[:-1])
    # Within a run the nearest earlier ballot decides: if it is further than
    # 600 s, every earlier one is too.
    hit = same & (t[1:] - t[:-1] <= DUPLICATE_WINDOW_US)
    out[idx[order[1:][hit]]] = True
    return out


def flag_straight_line(overall_answers: NDArray[np.int8], option_points: ArrayLike) -> Bools:
    """The ``straight_line`` flag.

    At least 5 units given a scored option on the overall item, all the same
    option, and that option has the highest or lowest points of the scale.
    """
    points = np.asarray(option_points, dtype=float)
    scored_opt = ~np.isnan(points)
    n = overall_answers.shape[0]
    if n == 0 or not scored_opt.any():
        return np.zeros(n, dtype=bool)
    extreme = scored_opt & ((points == np.nanmax(points)) | (points == np.nanmin(points)))
    out = np.zeros(n, dtype=bool)
    lookup_scored = np.append(scored_opt, False)
    for lo in range(0, n, _ROW_CHUNK):
        a = overall_answers[lo:lo + _ROW_CHUNK].astype(np.int16)
        sc = lookup_scored[a]
        count = sc.sum(axis=1)
        big = np.iinfo(np.int16).max
        amin = np.where(sc, a, big).min(axis=1, initial=big)
        amax = np.where(sc, a, -1).max(axis=1, initial=-1)
        ok = (count >= 5) & (amin == amax)
        ok &= extreme[np.clip(amin, 0, len(points) - 1)]
        out[lo:lo + len(a)] = ok
    return out


def flag_speeder(group: Ints, duration_s: ArrayLike, n_groups: int) -> Bools:
    """The ``speeder`` flag: duration below 0.3 × its group's median (groups with ≥ 10 durations)."""
    duration_s = np.asarray(duration_s, dtype=float)
    out = np.zeros(len(duration_s), dtype=bool)
    has = ~np.isnan(duration_s)
    for g in range(n_groups):
        m = has & (group == g)
        if m.sum() >= 10:
            med = np.median(duration_s[m])
            out[m] = duration_s[m] < 0.3 * med
    return out


def flag_burst(network: ArrayLike, t_us: Ints, eligible: ArrayLike, limit: int) -> Bools:
    """The ``burst`` flag.

    For each eligible ballot b (received, open batch), the eligible ballots of
    the same /24 (/64) submitted in [t(b), t(b) + 600 s]; where they are more
    than `limit`, all of them are flagged.
    """
    network = np.asarray(network)
    n = len(network)
    out = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(np.asarray(eligible) & (network >= 0))
    if len(idx) <= limit:
        return out
    order = np.lexsort((t_us[idx], network[idx]))
    idx = idx[order]
    net, t = network[idx], t_us[idx]
    starts = np.flatnonzero(np.r_[True, net[1:] != net[:-1]])
    ends = np.r_[starts[1:], len(idx)]
    cover = np.zeros(len(idx) + 1, dtype=np.int64)
    for a, b in zip(starts, ends, strict=True):
        if b - a <= limit:
            continue
        tt = t[a:b]
        left = np.searchsorted(tt, tt, side="left")
        right = np.searchsorted(tt, tt + BURST_WINDOW_US, side="right")
        big = (right - left) > limit
        # Mark every window [left, right) that is too full.
        np.add.at(cover, a + left[big], 1)
        np.add.at(cover, a + right[big], -1)
    out[idx[np.cumsum(cover[:-1]) > 0]] = True
    return out


def flag_extreme_rater(s: Floats, rows: ArrayLike | None = None) -> Bools:
    """The ``extreme_rater`` flag on received ballots' ballot-unit scores.

    d(b) is the mean over the units b scored of s(b, u) − median_u; flagged
    where MAD > 0 and |d − M| / (1.4826 MAD) > 3.5. `rows` (bool) restricts
    the computation to the received ballots without copying `s`.
    """
    n, n_units = s.shape
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    rows = np.ones(n, dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    total = np.zeros(n)
    count = np.zeros(n)
    # Blocks of columns, transposed: a strided column of a (ballots × units)
    # matrix touches a cache line per element.
    for lo in range(0, n_units, 8):
        blk = np.array(s[:, lo:lo + 8].T, order="C", copy=True)  # never a view: modified below
        blk[:, ~rows] = np.nan
        for col in blk:
            ok = ~np.isnan(col)
            if not ok.any():
                continue
            col -= np.median(col[ok])
            np.add(total, col, out=total, where=ok)
            count += ok
    has = count > 0
    if not has.any():
        return out
    d = total[has] / count[has]
    M = np.median(d)
    mad = np.median(np.abs(d - M))
    if mad > 0:
        out[has] = np.abs(d - M) / (1.4826 * mad) > 3.5
    return out


@dataclass(frozen=True)
class FlagResult:
    """Ballot-unit scores, ballot states and flags over all ballots of a campaign.

    Attributes
    ----------
    scores : ndarray of float, shape (n_ballots, n_units)
        s(b, u) of :func:`ballot_unit_scores`; NaN where b scored no item of u.
    id_rank : ndarray of int64, shape (n_ballots,)
        Rank of each ballot's id in id order (the tie-break of SCORING.md).
    received : ndarray of bool
        Non-blank ballots.
    flags : dict of str to ndarray of bool
        Each flag of SCORING.md section 3, in report order (False on blank ballots).
    excluded : ndarray of bool
        Received ballots carrying a flag of ``rules.exclude_flags``.
    valid : ndarray of bool
        Received and not excluded.
    """

    scores: Floats
    id_rank: Ints
    received: Bools
    flags: dict[str, Bools]
    excluded: Bools
    valid: Bools


def id_ranks(ballot_ids: NDArray[np.str_]) -> Ints:
    """Rank of each id in sorted order (stable: equal ids keep their order)."""
    n = len(ballot_ids)
    id_order = np.argsort(ballot_ids, kind="stable")
    id_rank = np.empty(n, dtype=np.int64)
    id_rank[id_order] = np.arange(n)
    return id_rank


def flag_ballots(campaign: Campaign) -> FlagResult:
    """Ballot-unit scores, states and the five flags of every ballot (SCORING.md sections 2 and 3).

    Parameters
    ----------
    campaign : Campaign
        From :func:`analysis.from_document` or :meth:`Campaign.from_arrays`
        (any subset of a campaign's ballots: the flags are those of the
        ballots given).

    Returns
    -------
    FlagResult
    """
    c = campaign
    s = ballot_unit_scores(c.answers, c.option_points, c.item_weights)
    id_rank = id_ranks(c.ballot_ids)
    n = c.n_ballots
    received = ~np.all(np.isnan(s), axis=1) if n else np.zeros(0, dtype=bool)
    group = c.ballot_group
    open_batch = c.batch_issued[c.ballot_batch] < 0 if n else np.zeros(0, dtype=bool)
    flags = {}
    flags["duplicate"] = flag_duplicate(group, c.source, c.answer_key, c.submitted_us, id_rank, received & open_batch)
    flags["straight_line"] = flag_straight_line(c.answers[:, :, c.overall_item], c.option_points) & received
    rec_idx = np.flatnonzero(received)
    sp = np.zeros(n, dtype=bool)
    sp[rec_idx] = flag_speeder(group[rec_idx], c.duration_s[rec_idx], len(c.group_codes))
    flags["speeder"] = sp
    flags["burst"] = flag_burst(c.network, c.submitted_us, received & open_batch, int(c.rules["burst_limit"]))
    flags["extreme_rater"] = flag_extreme_rater(s, received)
    flags = {k: flags[k] for k in FLAGS}
    excluded = np.zeros(n, dtype=bool)
    for f in c.rules["exclude_flags"]:
        excluded |= flags[f]
    excluded &= received
    return FlagResult(s, id_rank, received, flags, excluded, received & ~excluded)
