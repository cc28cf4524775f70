"""Item cells counted by value (analysis.scores.value_cells) give the very doubles of the summing matrices.

Where a group's item figures are exact (equal weights a power of two,
points short binary fractions), section 5a's item cells are counted by
value instead of sorted and summed; every figure must stay the same to the
last bit, for the sample and for resamples, trimmed or not, with windows,
bulks and replicates recomputed whole.
"""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from analysis import evaluate, from_document
from analysis.scores import cell_sums, counts_by_row, exact_sums, prepare_group, value_cell_sums, value_cells
from bench.scale import RULES, campaign_parts

breakdowns_mod = importlib.import_module("analysis.breakdowns")

SCALES = [
    np.array([100.0, 70.0, 0.0, np.nan]),
    np.array([100.0, 80.0, 60.0, 40.0, 20.0]),
    np.array([5.0, 4.0, 3.0, 2.0, 1.0, np.nan]),
    np.array([1.5, 0.25, np.nan]),
    np.array([70.0, 70.0, 0.0]),  # two options with the same points
]


def _draws(rng: np.random.Generator, n: int, R: int) -> np.ndarray:
    return np.stack([np.bincount(rng.integers(0, n, size=n), minlength=n) for _ in range(R)]).astype(np.float64)


@pytest.mark.parametrize("seed", range(12))
def test_value_counts_equal_the_summing_matrices_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    # Large enough cells (a few hundred ballots) that trimming uses its bulks and windows.
    n = int(rng.integers(400, 2500))
    U, n_items = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    points = SCALES[seed % len(SCALES)]
    answers = rng.integers(-1, len(points), size=(n, U, n_items)).astype(np.int8)
    answers[rng.random((n, U)) < 0.5] = -1
    p = [0.0, 0.05, 0.1, 0.2][seed % 4]
    w0 = [1.0, 0.5, 4.0][seed % 3]
    assert exact_sums(points[~np.isnan(points)], w0, n)
    cells = value_cells(answers, points, range(n_items), w0, p)
    counts = _draws(rng, n, int(rng.integers(5, 40)))
    for drawn in (None, counts):
        got = value_cell_sums(cells, None if drawn is None else counts_by_row(drawn))
        assert len(got) == n_items
        for i in range(n_items):
            s = np.append(points, np.nan)[answers[:, :, i]]
            want = cell_sums(prepare_group(np.arange(n), np.full(n, w0), s, trim_per_end=p), drawn, p)
            for name in ("num", "den", "n", "kept"):
                assert np.array_equal(getattr(got[i], name), getattr(want, name)), (i, name)
            assert np.array_equal(got[i].score(), want.score(), equal_nan=True)


def test_value_counts_of_an_empty_group_and_of_a_scale_without_points():
    empty = value_cells(np.zeros((0, 3, 2), dtype=np.int8), SCALES[0], [0, 1], 1.0, 0.05)
    (a, b) = value_cell_sums(empty, None)
    assert a.n.shape == (1, 3) and not a.n.any() and np.isnan(a.score()).all()
    unscored = value_cells(np.zeros((4, 2, 1), dtype=np.int8), np.array([np.nan, np.nan]), [0], 1.0, 0.0)
    (only,) = value_cell_sums(unscored, None)
    assert not only.n.any() and np.isnan(only.score()).all()


@pytest.mark.parametrize(("values", "weight", "rows", "exact"), [
    ([100, 70, 0], 1.0, 200_000, True),
    ([100, 70, 0], 0.25, 200_000, True),
    ([1.5, 0.25], 2.0, 1000, True),
    ([100, 70, 0], 0.7, 1000, False),  # not a power of two: w·s rounds
    ([100, 70, 0], None, 1000, False),  # unequal weights
    ([1 / 3, 1.0], 1.0, 1000, False),  # not a binary fraction
    ([100, 70, 0], 1.0, 2 ** 47, False),  # sums beyond 2**50
    ([100, np.inf], 1.0, 10, False),
])
def test_exact_sums(values, weight, rows, exact):
    assert exact_sums(values, weight, rows) is exact


def _bundle(seed: int) -> dict:
    # bench/scale.py's campaign (three items, equal weights within each group), small.
    head, ballots = campaign_parts(3000, seed, n_units=4, per_ballot=2)
    return {**head, "ballots": list(ballots), "rules": {**RULES, "trim_per_end": 0.1,
                                                       "bootstrap": {"replicates": 60, "seed": seed}}}


@pytest.mark.parametrize("seed", [3, 8])
def test_results_are_the_same_with_and_without_value_counts(seed, monkeypatch):
    bundle = _bundle(seed)
    fast = json.dumps(evaluate(from_document(bundle)).to_json(), sort_keys=True)
    used = []
    real = breakdowns_mod.value_cells
    monkeypatch.setattr(breakdowns_mod, "value_cells", lambda *a, **k: used.append(1) or real(*a, **k))
    assert json.dumps(evaluate(from_document(bundle)).to_json(), sort_keys=True) == fast
    assert used, "the bundle's groups should be counted by value"
    monkeypatch.setattr(breakdowns_mod, "exact_sums", lambda *a, **k: False)
    assert json.dumps(evaluate(from_document(bundle)).to_json(), sort_keys=True) == fast
