"""The whole scoring pipeline, from a campaign to its pingyi-results/1 figures (SCORING.md sections 2–9)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._campaign import Campaign, from_document
from ._checks import FLAGS
from .breakdowns import (
    Breakdown,
    Breakdowns,
    ItemCells,
    ItemScores,
    breakdowns,
    score_basis,
    subset_scores,
    valid_rows_by_group,
)
from .breakdowns import json_float as _f
from .classify import CLASSES, INSUFFICIENT, TOL, Classification, classify
from .flags import FlagResult, flag_ballots
from .scores import (
    CellSums,
    GroupCells,
    cell_sums,
    cells_bytes,
    combine_groups,
    composite,
    count_dtype,
    counts_by_row,
    option_weights,
    prepare_group,
    scored_shares,
)
from .uncertainty import (
    BootstrapResult,
    concat_sums,
    krippendorff_alpha_ordinal,
    replicate_chunk,
    replicate_draws,
    replicate_draws_ahead,
    summarise_bootstrap,
    wilson_interval,
)
from .weighting import kish_ess, nonresponse_weights, rake, trim_weights

__all__ = ["Results", "ResultWarning", "evaluate", "evaluate_document", "compute_weights", "breakdown"]

RESULTS_FORMAT = "pingyi-results/1"

Array = NDArray[Any]
Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

#: Largest total size of the groups' summing matrices kept between
#: bootstrap chunks (bytes).
_CACHE_BYTES = 640 * 1024 * 1024
#: What the engine's large arrays may take in all (bytes): the campaign's
#: answers and scores, one group's matrices and the replicate counts being
#: summed, and the matrices kept between chunks, which get what is left (at
#: most :data:`_CACHE_BYTES`). A matrix not kept is built again per chunk,
#: or its item cells summed in a pass of their own over the same draws: the
#: figures are the same either way, only time and memory change.
_MEMORY_BYTES = 1280 * 1024 * 1024


@dataclass(frozen=True)
class ResultWarning:
    """A warning of the results (the computation went on).

    Attributes
    ----------
    code : str
        ``nonresponse_skipped``, ``rake_skipped``, ``rake_not_converged`` or
        ``objective_missing``.
    message : str
        Chinese text for the committee.
    group, unit, component : str or None
        What the warning is about.
    """

    code: str
    message: str
    group: str | None = None
    unit: str | None = None
    component: str | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code}
        for k in ("group", "unit", "component"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        d["message"] = self.message
        return d


@dataclass(frozen=True)
class Results:
    """Everything the scoring gives for a campaign.

    Attributes
    ----------
    campaign : str
        Campaign code.
    ballots : dict
        received, blank, excluded, valid and flag counts.
    batches, groups, units : tuple of dict
        Figures per batch, group and unit, keyed as in pingyi-results/1
        (units with their ``explain`` and, with details, the keys of section
        5a: ``items``, ``by_batch``, ``by_channel``, ``by_attribute``).
    warnings : tuple of ResultWarning
    explain : dict
        Campaign-level explanation: flag counts and the excluded ballots
        (by ballot id, with their flags).
    weights : ndarray of float
        Final weight per ballot of the campaign (0 where not valid).
    flags : FlagResult
    composite : ndarray of float
        C(u), NaN where it does not exist.
    classes : ndarray of int8
        Index into CLASSES per unit.
    bootstrap : BootstrapResult
    items : ItemScores or None
        The per-item figures of section 5a (None without details).
    breakdowns : Breakdowns or None
        The breakdowns of section 5a by batch, channel and attribute (None
        without details).
    """

    campaign: str
    ballots: dict[str, Any]
    batches: tuple[dict[str, Any], ...]
    groups: tuple[dict[str, Any], ...]
    units: tuple[dict[str, Any], ...]
    warnings: tuple[ResultWarning, ...]
    explain: dict[str, Any]
    weights: np.ndarray = field(repr=False)
    flags: FlagResult = field(repr=False)
    composite: np.ndarray = field(repr=False)
    classes: np.ndarray = field(repr=False)
    bootstrap: BootstrapResult = field(repr=False)
    items: ItemScores | None = field(default=None, repr=False)
    breakdowns: Breakdowns | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The pingyi-results/1 document (plus ``explain``)."""
        return {
            "format": RESULTS_FORMAT,
            "campaign": self.campaign,
            "ballots": self.ballots,
            "batches": list(self.batches),
            "groups": list(self.groups),
            "units": list(self.units),
            "warnings": [w.to_json() for w in self.warnings],
            "explain": self.explain,
        }


def evaluate_document(doc: Mapping[str, Any], rules_override: Mapping[str, Any] | None = None, *,
                      validated: bool = False, details: bool = True) -> Results:
    """Evaluate a bundle document; see :func:`evaluate`.

    Parameters
    ----------
    doc : dict
        A pingyi-campaign/1 document.
    rules_override : dict, optional
        Rules replacing the bundle's (``--rules``); always checked.
    validated : bool, default False
        True where `doc` comes from :func:`analysis.loads_bundle` unchanged:
        it is not validated a second time (see :func:`analysis.from_document`).
    details : bool, default True
        Compute the per-item figures and breakdowns of section 5a.

    Raises
    ------
    BundleError
        If the document (unless `validated`) or the override is invalid.
    """
    return evaluate(from_document(doc, rules_override, validated=validated), details=details)


def compute_weights(c: Campaign, valid: np.ndarray, warnings: list[ResultWarning] | None = None) -> np.ndarray:
    """Final weights of the valid ballots (SCORING.md section 4); 0 elsewhere."""
    rules = c.rules
    warnings = [] if warnings is None else warnings
    group = c.ballot_group
    w = np.where(valid, 1.0, 0.0)
    n_batches = len(c.batch_codes)
    for g, gcode in enumerate(c.group_codes):
        rows = np.flatnonzero(valid & (group == g))
        batches_g = np.flatnonzero(c.batch_group == g)
        if rules["nonresponse_adjust"]:
            if np.any(c.batch_issued[batches_g] < 0):
                warnings.append(ResultWarning("nonresponse_skipped", f"评议组 {gcode} 含开放渠道批次，未做无回应调整", group=gcode))
            elif len(rows):
                w[rows] *= nonresponse_weights(c.ballot_batch[rows], c.batch_issued, n_batches)
        margins = [m for m in c.margins if m.group == g]
        if margins:
            problem = None
            if len(rows) == 0:
                problem = "无有效票"
            else:
                for m in margins:
                    codes = m.codes[rows]
                    if np.any(codes == -1):
                        problem = f"有效票缺少属性 {m.variable}"
                        break
                    if np.any(codes < 0):
                        problem = f"属性 {m.variable} 含边际分布未列出的类别"
                        break
                    present = np.bincount(codes, minlength=len(m.categories)) > 0
                    if np.any((m.proportions > 0) & ~present):
                        problem = f"属性 {m.variable} 有目标比例为正但无选票的类别"
                        break
            if problem is not None:
                warnings.append(ResultWarning("rake_skipped", f"评议组 {gcode} 未做加权调整（raking）：{problem}", group=gcode))
            else:
                total = w[rows].sum()
                res = rake([m.codes[rows] for m in margins], [m.proportions * total for m in margins], w[rows])
                w[rows] = res.weights
                if not res.converged:
                    warnings.append(ResultWarning("rake_not_converged",
                                             f"评议组 {gcode} 的加权调整 {res.iterations} 轮后未收敛，沿用最后一轮权重",
                                             group=gcode))
        cap = rules["weight_cap"]
        if cap is not None and len(rows):
            w[rows] = trim_weights(w[rows], float(cap)).weights
    return w


@dataclass
class _GroupOut:
    sums: CellSums
    boot: CellSums | None
    shares: np.ndarray  # (units, scored options), NaN where none
    share_ci: tuple[Floats, Floats]  # lo, hi same shape
    ess_cell: np.ndarray  # (units,)
    ess: float
    alpha: float | None


def _cell_ess(sums: CellSums, equal_w: float | None, w_rows: Floats, s_rows: Floats) -> Floats:
    """Kish effective size per unit cell of a group."""
    if equal_w is not None:
        # Equal weights: the Kish size of a cell is its ballot count.
        n_cells: Floats = sums.n[0].astype(float)
        return n_cells
    defined = (~np.isnan(s_rows)).astype(float)
    sw = w_rows @ defined
    sw2 = (w_rows * w_rows) @ defined
    del defined
    with np.errstate(invalid="ignore", divide="ignore"):
        ess: Floats = np.where(sw2 > 0, sw * sw / np.where(sw2 > 0, sw2, 1.0), 0.0)
    return ess


def _alpha(scored_counts: Array, dom_of_scored: Array, n_domain: int) -> float | None:
    """Krippendorff's ordinal alpha of a group from its option counts per unit; None without a scored option."""
    if not n_domain:
        return None
    vc = np.zeros((scored_counts.shape[0], n_domain))
    np.add.at(vc.T, dom_of_scored, scored_counts.T.astype(float))
    return krippendorff_alpha_ordinal(vc)


def _objective_warnings(unit_codes: Sequence[str], comp_names: Sequence[str], objective: Floats) -> list[ResultWarning]:
    return [ResultWarning("objective_missing", f"单位 {ucode} 缺少工作考核分项 {name}", unit=ucode, component=name)
            for u, ucode in enumerate(unit_codes) for k, name in enumerate(comp_names) if np.isnan(objective[u, k])]


def _share_context(c: Campaign) -> tuple[NDArray[np.bool_], Ints, int]:
    points = c.option_points
    scored = ~np.isnan(points)
    scored_idx = np.flatnonzero(scored)
    lowest = int(scored_idx[np.argmin(points[scored_idx])]) if len(scored_idx) else -1
    return scored, scored_idx, lowest


def _cache_budgets(c: Campaign, s: Floats, group_bytes: Sequence[int], sizes: Sequence[int],
                   R: int) -> tuple[int, int]:
    """Bytes of summing matrices that may be kept between bootstrap chunks, and
    that the item cells' own passes may hold (see :data:`_MEMORY_BYTES`).

    What is held anyway: the campaign's answers and the scores s(b, u), one
    chunk of replicate counts (single precision, with one group's copies in
    double precision and by row) and, beside the kept matrices, the largest
    group's matrices while they are built or used (the item cells' passes
    come after the units' matrices are let go).
    """
    total = sum(sizes)
    chunk = replicate_chunk(total, R) if R > 0 and total else 0
    held = int(c.answers.nbytes) + int(s.nbytes) + 4 * chunk * total + 12 * chunk * max(sizes, default=0)
    kept = min(_CACHE_BYTES, max(0, _MEMORY_BYTES - held - max(group_bytes, default=0)))
    apart = min(_CACHE_BYTES, max(1, _MEMORY_BYTES - held))
    return int(kept), int(apart)


def evaluate(c: Campaign, *, details: bool = True, parallel: bool = False) -> Results:
    """Run SCORING.md sections 2–7 on a campaign.

    Parameters
    ----------
    c : Campaign
        From :func:`analysis.from_document` or
        :meth:`Campaign.from_arrays`.
    details : bool, default True
        Also compute section 5a: the per-item figures (their intervals from
        the same bootstrap replicates: no other figure changes) and the
        breakdowns by batch, channel and attribute. False leaves their keys
        out of the results.
    parallel : bool, default False
        Let a forked helper process draw the bootstrap's replicates one chunk
        ahead of their use, where memory allows (the command line does: a
        second core's work). The figures are the same either way.

    Returns
    -------
    Results
    """
    rules = c.rules
    U = len(c.unit_codes)
    G = len(c.group_codes)
    warnings: list[ResultWarning] = []

    fl = flag_ballots(c)
    s, id_rank = fl.scores, fl.id_rank
    valid = fl.valid
    weights = compute_weights(c, valid, warnings)

    p = float(rules["trim_per_end"])
    share_rule = rules.get("max_dissatisfied_share") is not None
    boot = rules["bootstrap"]
    R = int(boot["replicates"])
    seed = int(boot["seed"])
    scored, scored_idx, lowest = _share_context(c)
    ov_item = c.overall_item
    # The alpha's value domain: distinct points of the scored options, ascending.
    domain = np.unique(c.option_points[scored_idx])
    opt_to_domain = np.full(len(c.option_points) + 1, -1, dtype=np.int64)
    opt_to_domain[scored_idx] = np.searchsorted(domain, c.option_points[scored_idx])

    group_rows = valid_rows_by_group(c, valid, id_rank)
    # Keep every group's summing matrices between bootstrap chunks only when
    # they fit in memory; otherwise rebuild them from s(b, u) per chunk.
    group_bytes = [cells_bytes(len(rows), U, int(np.count_nonzero(~np.isnan(s[rows]))),
                               equal_weight=bool(len(rows)) and bool(np.all(weights[rows] == weights[rows][0])),
                               trim=p > 0, shares=share_rule) for rows in group_rows]
    cache_bytes = sum(group_bytes)
    budget, apart_budget = _cache_budgets(c, s, group_bytes, [len(rows) for rows in group_rows], R)
    cache = cache_bytes <= budget
    sizes = [len(r) for r in group_rows]
    chunk = replicate_chunk(sum(sizes), R) if R > 0 and G else 0
    # Counts are whole numbers at most n_g: single precision holds them
    # exactly (below 2**24) in half the memory; each group's chunk is
    # widened to double precision for its products when it is used.
    count_type = count_dtype(max(sizes, default=0))
    # A helper process draws one chunk ahead where asked (the command line)
    # and memory allows (every matrix kept, room for a second set of buffers,
    # taken from what the item cells may keep).
    ahead_bytes = np.dtype(count_type).itemsize * chunk * sum(sizes)
    ahead = (parallel and cache and R > chunk > 0 and hasattr(os, "fork")
             and budget - cache_bytes >= 2 * ahead_bytes)
    if ahead:
        budget -= ahead_bytes
        # Started now: the helper draws while the sample's figures are computed.
        draws_ahead = replicate_draws_ahead(seed, sizes, R, chunk, count_type)
    basis = score_basis(c, s, weights, group_rows) if details else None
    # Section 5a's item cells share what is left of the memory budget.
    items = ItemCells(basis, budget - (cache_bytes if cache else 0), R > 0 and G > 0) if basis is not None else None

    def build(g: int) -> GroupCells:
        # Used again per bootstrap chunk where the matrices are not kept.
        rows = group_rows[g]
        return prepare_group(rows, weights[rows], s[rows], trim_per_end=p,
                             overall=c.answers[rows, :, ov_item] if share_rule else None,
                             lowest_option=lowest, scored_options=scored)

    outs: list[_GroupOut] = []
    cached: list[GroupCells | None] = []
    n_opt = len(c.option_points)
    # Domain index of each option's count column (scored options only).
    dom_of_scored = opt_to_domain[scored_idx]
    for g in range(G):
        rows = group_rows[g]
        s_rows = s[rows]
        ov = c.answers[rows, :, ov_item]
        w_rows = weights[rows]
        cells = prepare_group(rows, w_rows, s_rows, trim_per_end=p, overall=ov if share_rule else None,
                              lowest_option=lowest, scored_options=scored)
        sums = cell_sums(cells, None, p)
        cached.append(cells if cache else None)
        equal_w = cells.equal_weight
        del cells
        # Option counts on the overall item per unit: slot 0 collects the
        # unanswered. A scored overall answer implies s(b, u) is defined, so
        # no other mask is needed (shares take no trimming).
        counts_uo, wsum = option_weights(ov, w_rows, equal_w, n_opt)
        shares = scored_shares(wsum, scored_idx)
        ess_cell = _cell_ess(sums, equal_w, w_rows, s_rows)
        lo, hi = wilson_interval(shares, ess_cell[:, None])
        alpha = _alpha(counts_uo[:, 1 + scored_idx], dom_of_scored, len(domain))
        outs.append(_GroupOut(sums, None, shares, (lo, hi), ess_cell, kish_ess(w_rows), alpha))
        del s_rows, ov
        if items is not None:
            items.sample(g, sums, equal_w, shares)

    if R > 0 and G:
        parts: list[list[CellSums]] = [[] for _ in range(G)]

        def fresh() -> list[Array]:
            return [np.empty((chunk, k), dtype=count_type) for k in sizes]
        for drawn in (draws_ahead if ahead else replicate_draws(seed, sizes, R, chunk, fresh())):
            counts: list[Array | None] = list(drawn)
            for g in range(G):
                got = cached[g]
                cells = got if got is not None else build(g)
                drawn_g = counts[g]
                assert drawn_g is not None
                # One row-by-row copy of the counts serves the units' and the items' cells.
                counts_t = counts_by_row(drawn_g)
                got_counts = drawn_g.astype(np.float64)
                parts[g].append(cell_sums(cells, got_counts, p, counts_t))
                del cells
                if items is not None:
                    items.replicate(g, got_counts, parts[g][-1], counts_t)
                del counts_t, got_counts
                counts[g] = None
        for g in range(G):
            outs[g].boot = concat_sums(parts[g])
        del cached
        if items is not None:
            # The item cells that did not fit beside the units' matrices: the same draws again.
            items.replicate_apart(lambda: replicate_draws(seed, sizes, R, chunk, fresh()), apart_budget)
    else:
        del cached

    gw = c.group_weights
    comp_names = list(rules["objective_components"].keys())
    comp_cols = [c.objective_components.index(k) for k in comp_names]
    objective = c.objective[:, comp_cols] if comp_cols else np.zeros((U, 0))
    comp_w = np.array([float(rules["objective_components"][k]) for k in comp_names])
    a = float(rules["ballot_share"])
    n_cat = len(c.category_codes)

    def unit_level(sums_list: list[CellSums]) -> tuple[Array, Array, Array, Array, Array | None]:
        S_g = np.stack([sm.score() for sm in sums_list], axis=-2)  # (R, G, U)
        n_u = np.sum([sm.n for sm in sums_list], axis=0)
        S_u = combine_groups(S_g, gw)
        C = composite(S_u, objective, a, comp_w)
        share_low = None
        if share_rule:
            parts = []
            for sm in sums_list:
                assert sm.any_share is not None and sm.low_share is not None
                with np.errstate(invalid="ignore", divide="ignore"):
                    parts.append(np.where(sm.any_share > 0, sm.low_share / np.where(sm.any_share > 0, sm.any_share, 1.0), np.nan))
            share_low = combine_groups(np.stack(parts, axis=-2), gw)
        return S_g, n_u, S_u, C, share_low

    S_g, n_u, S_u, C, _ = unit_level([o.sums for o in outs]) if G else (
        np.full((1, 0, U), np.nan), np.zeros((1, U)), np.full((1, U), np.nan),
        composite(np.full((1, U), np.nan), objective, a, comp_w), None)
    shares_u = combine_groups(np.stack([o.shares.T for o in outs], axis=1), gw).T if G else np.full((U, len(scored_idx)), np.nan)
    share_low_det = None
    if share_rule:
        j_low = int(np.flatnonzero(scored_idx == lowest)[0])
        share_low_det = shares_u[None, :, j_low]
    cls = classify(C, n_u, c.veto, c.unit_category, n_cat, rules, share_low_det)

    if R > 0 and G:
        _, bn_u, _, bC, bshare = unit_level([o.boot for o in outs if o.boot is not None])
        bcls = classify(bC, bn_u, c.veto, c.unit_category, n_cat, rules, bshare)
        bres = summarise_bootstrap(bC, bcls.klass, cls.klass[0])
    else:
        bres = summarise_bootstrap(np.zeros((0, U)), np.zeros((0, U), dtype=np.int8), cls.klass[0])

    warnings.extend(_objective_warnings(c.unit_codes, comp_names, objective))

    item_scores = items.result() if items is not None else None
    del items
    subsets = breakdowns(basis) if basis is not None else None
    return _assemble(c, fl, weights, outs, S_g[0], n_u[0], S_u[0], C[0], shares_u, share_low_det,
                     cls, bres, warnings, scored_idx, rules, item_scores, subsets)


def _assemble(c: Campaign, fl: FlagResult, weights: Floats, outs: list[_GroupOut], S_g: Array, n_u: Array,
              S_u: Array, C: Array, shares_u: Array, share_low: Array | None, cls: Classification,
              bres: BootstrapResult, warnings: list[ResultWarning], scored_idx: Ints,
              rules: dict[str, Any], items: ItemScores | None, subsets: Breakdowns | None) -> Results:
    received = fl.received
    n_b = len(c.batch_codes)
    returned_b = np.bincount(c.ballot_batch, minlength=n_b)
    valid_b = np.bincount(c.ballot_batch[fl.valid], minlength=n_b)
    flag_counts = {f: int(fl.flags[f].sum()) for f in FLAGS}
    ballots = {
        "received": int(received.sum()),
        "blank": int((~received).sum()),
        "excluded": int(fl.excluded.sum()),
        "valid": int(fl.valid.sum()),
        "flags": flag_counts,
    }

    def rate(ret: int, issued: int | None) -> float | None:
        return None if issued is None or issued == 0 else ret / issued

    batches = []
    for k, code in enumerate(c.batch_codes):
        issued = None if c.batch_issued[k] < 0 else int(c.batch_issued[k])
        batches.append({"code": code, "issued": issued, "returned": int(returned_b[k]),
                        "valid": int(valid_b[k]), "return_rate": rate(int(returned_b[k]), issued)})
    groups = []
    for g, code in enumerate(c.group_codes):
        ks = np.flatnonzero(c.batch_group == g)
        issued = None if np.any(c.batch_issued[ks] < 0) else int(c.batch_issued[ks].sum())
        ret = int(returned_b[ks].sum())
        groups.append({"code": code, "issued": issued, "returned": ret, "valid": int(valid_b[ks].sum()),
                       "return_rate": rate(ret, issued), "ess": float(outs[g].ess), "alpha": outs[g].alpha})
    opt_codes = [c.option_codes[o] for o in scored_idx]
    th = rules["thresholds"]
    bottom = rules.get("bottom")
    limit = rules.get("max_dissatisfied_share")
    units = []
    for u, code in enumerate(c.unit_codes):
        k = int(cls.klass[0, u])
        reasons = cls.reason_list(0, u)
        rank = cls.rank[0, u]
        group_scores = {gc: _f(S_g[g, u]) for g, gc in enumerate(c.group_codes)}
        group_shares: dict[str, dict[str, float | None] | None] = {}
        share_ci: dict[str, dict[str, list[float] | None] | None] = {}
        for g, gc in enumerate(c.group_codes):
            sh = outs[g].shares[u]
            if np.all(np.isnan(sh)):
                group_shares[gc] = None
                share_ci[gc] = None
                continue
            group_shares[gc] = {oc: _f(sh[j]) for j, oc in enumerate(opt_codes)}
            lo, hi = outs[g].share_ci
            share_ci[gc] = {oc: (None if np.isnan(lo[u, j]) else [float(lo[u, j]), float(hi[u, j])])
                            for j, oc in enumerate(opt_codes)}
        shares = None if np.all(np.isnan(shares_u[u])) else {oc: _f(shares_u[u, j]) for j, oc in enumerate(opt_codes)}
        ci = bres.ci95[u]
        ci95 = None if np.isnan(ci[0]) else [float(ci[0]), float(ci[1])]
        stab = _f(bres.stability[u]) if bres.replicates else None
        Cu = C[u]
        distance = {
            "satisfied": _f(Cu - float(th["satisfied"])),
            "basic": _f(Cu - float(th["basic"])),
        }
        if bottom is not None:
            distance["bottom_below"] = _f(Cu - float(bottom["below"]))
        if limit is not None:
            distance["share_limit"] = None if share_low is None else _f(share_low[0, u] - float(limit))
        if k == INSUFFICIENT:
            decided = ["insufficient"]
        else:
            decided = list(reasons) or ["threshold"]
        unit_explain: dict[str, Any] = {
            "groups": {gc: {"score": _f(S_g[g, u]), "n": int(outs[g].sums.n[0, u]),
                            "ess": float(outs[g].ess_cell[u]), "weight": float(c.group_weights[g])}
                       for g, gc in enumerate(c.group_codes)},
            "score_ballot": _f(S_u[u]),
            "objective": {name: _f(c.objective[u, c.objective_components.index(name)])
                          for name in rules["objective_components"]},
            "veto": bool(c.veto[u]),
            "class_set_by": decided,
            "distance": distance,
            "ci95": ci95,
            "stability": stab,
        }
        units.append({
            "code": code,
            "category": c.category_codes[c.unit_category[u]],
            "n_valid": int(n_u[u]),
            "score_ballot": _f(S_u[u]),
            "score": _f(Cu),
            "shares": shares,
            "group_scores": group_scores,
            "group_shares": group_shares,
            "share_ci95": share_ci,
            "class": CLASSES[k],
            "reasons": reasons,
            "rank": None if np.isnan(rank) else int(rank),
            "ci95": ci95,
            "stability": stab,
            "borderline": bool(bres.borderline[u]) if bres.replicates else False,
            "explain": unit_explain,
        })
        if items is not None:
            units[-1]["items"] = items.to_json(c, opt_codes, u)
        if subsets is not None:
            units[-1].update(subsets.to_json(u))
    excluded_idx = np.flatnonzero(fl.excluded)
    excluded_idx = excluded_idx[np.argsort(c.ballot_ids[excluded_idx], kind="stable")]
    explain: dict[str, Any] = {
        "flags": flag_counts,
        "exclude_flags": list(rules["exclude_flags"]),
        "excluded": [{"id": str(c.ballot_ids[i]), "flags": [f for f in FLAGS if fl.flags[f][i]]} for i in excluded_idx],
        "tolerance": TOL,
        "replicates": bres.replicates,
    }
    return Results(
        campaign=c.code,
        ballots=ballots,
        batches=tuple(batches),
        groups=tuple(groups),
        units=tuple(units),
        warnings=tuple(warnings),
        explain=explain,
        weights=weights,
        flags=fl,
        composite=C,
        classes=cls.klass[0],
        bootstrap=bres,
        items=items,
        breakdowns=subsets,
    )


def breakdown(c: Campaign, batches: Iterable[str], *, results: Results | None = None) -> Breakdown:
    """Section 5's ballot figures of each unit on the valid ballots of some batches (SCORING.md section 5a).

    The subset computation of the results' ``by_batch`` breakdowns, for any
    set of batches the application names (the batches of a 现场测评 session,
    say): per group, trimmed, combined by group weights, shares on the
    overall item. The ballots keep their flags and final weights, which come
    from the whole campaign (section 4), not from the subset.

    Parameters
    ----------
    c : Campaign
    batches : iterable of str
        Batch codes of the subset (duplicates ignored; empty gives an empty
        subset).
    results : Results, optional
        :func:`evaluate`'s results of this same campaign: its flags and
        weights are reused. Without them, the flags and weights are
        computed (sections 2–4; no bootstrap).

    Returns
    -------
    Breakdown
        Per unit {"n", "score", "shares"}; ``{"n": 0, "score": None,
        "shares": None}`` where the subset has no valid ballot for the unit.

    Raises
    ------
    ValueError
        If a batch code is not one of the campaign's, or `results` are not
        this campaign's.
    """
    wanted = list(dict.fromkeys(batches))
    index = {code: k for k, code in enumerate(c.batch_codes)}
    unknown = [b for b in wanted if b not in index]
    if unknown:
        raise ValueError(f"unknown batch codes: {', '.join(map(str, unknown))}")
    if results is None:
        fl = flag_ballots(c)
        weights = compute_weights(c, fl.valid)
    else:
        if results.campaign != c.code or len(results.weights) != c.n_ballots:
            raise ValueError(f"the results are of campaign {results.campaign} with {len(results.weights)} ballots, "
                             f"not of campaign {c.code} with {c.n_ballots}")
        fl, weights = results.flags, results.weights
    basis = score_basis(c, fl.scores, weights, valid_rows_by_group(c, fl.valid, fl.id_rank))
    chosen = np.zeros(len(c.batch_codes), dtype=bool)
    chosen[[index[b] for b in wanted]] = True
    labels = np.where(chosen[c.ballot_batch], 0, -1).astype(np.int64)
    sub = subset_scores(basis, labels, ("subset",))
    return Breakdown(tuple(code for k, code in enumerate(c.batch_codes) if chosen[k]),
                     {code: sub.figures(0, u) for u, code in enumerate(c.unit_codes)})
