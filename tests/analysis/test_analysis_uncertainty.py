"""Wilson intervals, Krippendorff's alpha against the reference package, and the bootstrap summary."""

import krippendorff
import numpy as np
import pytest

from analysis.uncertainty import (
    Z95,
    draw_replicate_counts,
    krippendorff_alpha_ordinal,
    summarise_bootstrap,
    value_counts_by_unit,
    wilson_interval,
)


def test_wilson_known_values():
    lo, hi = wilson_interval(0.625, 8.0)
    assert lo == pytest.approx(0.3057423946026273, abs=1e-12)
    assert hi == pytest.approx(0.8631557141764027, abs=1e-12)
    lo, hi = wilson_interval(np.array([0.0, 1.0]), np.array([8.0, 8.0]))
    assert lo[0] == pytest.approx(0.0, abs=1e-15) and hi[1] == pytest.approx(1.0, abs=1e-15)
    lo, hi = wilson_interval(0.5, 0.0)
    assert np.isnan(lo) and np.isnan(hi)
    assert Z95 == 1.959963984540054


@pytest.mark.parametrize("seed", range(8))
def test_alpha_equals_krippendorff_package(seed):
    rng = np.random.default_rng(seed)
    domain = np.array([0.0, 55.0, 75.0, 100.0])
    coders, units = rng.integers(2, 12), rng.integers(2, 9)
    vals = rng.integers(-1, len(domain) - (seed % 2), size=(coders, units))  # odd seeds leave a value unused
    data = np.where(vals >= 0, domain[np.clip(vals, 0, None)], np.nan)
    ours = krippendorff_alpha_ordinal(value_counts_by_unit(vals, len(domain)))
    try:
        ref = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal", value_domain=domain)
    except ValueError:
        ref = None
    if ref is None or not np.isfinite(ref):
        assert ours is None
    else:
        assert ours == pytest.approx(ref, abs=1e-9)


def test_alpha_none_cases():
    assert krippendorff_alpha_ordinal(np.zeros((3, 3))) is None
    # Every unit rated once: nothing to pair.
    assert krippendorff_alpha_ordinal(np.array([[1.0, 0, 0], [0, 1.0, 0]])) is None
    # All values equal.
    assert krippendorff_alpha_ordinal(np.array([[0, 3.0, 0], [0, 2.0, 0]])) is None


def test_draws_are_chunk_independent():
    sizes = [5, 0, 7]
    whole = draw_replicate_counts(np.random.default_rng(4), sizes, 6)
    rng = np.random.default_rng(4)
    parts = [draw_replicate_counts(rng, sizes, k) for k in (2, 4)]
    for g in range(3):
        np.testing.assert_array_equal(whole[g], np.concatenate([p[g] for p in parts]))
    assert whole[0].sum(axis=1).tolist() == [5.0] * 6
    assert whole[1].shape == (6, 0)


def test_summary_n0_and_undefined():
    res = summarise_bootstrap(np.zeros((0, 2)), np.zeros((0, 2), dtype=np.int8), np.array([0, 1]))
    assert np.isnan(res.stability).all() and np.isnan(res.ci95).all() and res.replicates == 0
    C = np.array([[np.nan, 80.0], [np.nan, 90.0]])
    res = summarise_bootstrap(C, np.array([[3, 1], [3, 0]]), np.array([3, 1]))
    assert np.isnan(res.ci95[0]).all()
    assert res.ci95[1].tolist() == [80.25, 89.75]
    assert res.stability.tolist() == [1.0, 0.5]
    assert res.borderline.tolist() == [False, True]


# ---------------------------------------------------------------------------
# Draws made one chunk ahead by a helper process (the command line's)

def _chunks(gen):
    return [[a.copy() for a in drawn] for drawn in gen]


@pytest.mark.parametrize(("sizes", "replicates", "chunk"), [((50, 0, 7), 23, 5), ((30,), 4, 4), ((9, 12), 9, 2)])
def test_draws_ahead_are_the_draws(sizes, replicates, chunk):
    from analysis.uncertainty import replicate_draws, replicate_draws_ahead

    buffers = [np.empty((chunk, n), dtype=np.float32) for n in sizes]
    want = _chunks(replicate_draws(77, sizes, replicates, chunk, buffers))
    got = _chunks(replicate_draws_ahead(77, sizes, replicates, chunk, np.float32))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(g, w, strict=True))


def test_draws_ahead_go_on_here_when_the_helper_dies(monkeypatch):
    import analysis.uncertainty as uncertainty_module

    real = uncertainty_module._helper_draws

    def one_chunk_then_die(seed, sizes, replicates, chunk, sets, starts, ready, free):
        real(seed, sizes, min(replicates, chunk), chunk, sets, starts[:1], ready, free)
        raise SystemExit  # the helper ends after its first chunk
    monkeypatch.setattr(uncertainty_module, "_helper_draws", one_chunk_then_die)
    buffers = [np.empty((4, n), dtype=np.float32) for n in (40, 13)]
    want = _chunks(uncertainty_module.replicate_draws(5, (40, 13), 18, 4, buffers))
    got = _chunks(uncertainty_module.replicate_draws_ahead(5, (40, 13), 18, 4, np.float32))
    assert len(got) == len(want) == 5
    for g, w in zip(got, want, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(g, w, strict=True))


def test_evaluate_with_draws_ahead_gives_the_same_results(monkeypatch):
    import importlib
    import json

    from bench.scale import RULES, campaign_parts

    evaluate_module = importlib.import_module("analysis.evaluate")
    uncertainty_module = importlib.import_module("analysis.uncertainty")
    head, ballots = campaign_parts(2500, 3, n_units=5, per_ballot=2)
    doc = {**head, "ballots": list(ballots), "rules": {**RULES, "bootstrap": {"replicates": 50, "seed": 9}}}
    campaign = evaluate_module.from_document(doc)
    monkeypatch.setattr(uncertainty_module, "_BLOCK", 2500 * 12)  # several chunks
    want = json.dumps(evaluate_module.evaluate(campaign).to_json(), sort_keys=True)
    used = []
    real = evaluate_module.replicate_draws_ahead
    monkeypatch.setattr(evaluate_module, "replicate_draws_ahead", lambda *a: used.append(1) or real(*a))
    assert json.dumps(evaluate_module.evaluate(campaign, parallel=True).to_json(), sort_keys=True) == want
    assert used


def test_draws_ahead_unused_end_their_helper():
    import gc
    import os

    from analysis.uncertainty import replicate_draws_ahead

    draws = replicate_draws_ahead(3, (20, 30), 12, 3, np.float32)  # the helper starts at once
    pid = draws._end.peek()[2][0]  # (object, function, args, kwargs)
    del draws
    gc.collect()
    with pytest.raises(ChildProcessError):  # ended and reaped when its object went
        os.waitpid(pid, os.WNOHANG)
