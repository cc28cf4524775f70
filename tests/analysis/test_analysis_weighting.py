"""Raking against R survey::rake, trimming, Kish effective size and non-response factors."""

import json

import numpy as np
import pytest
from analysis_testkit import DATA

from analysis.weighting import kish_ess, nonresponse_weights, rake, trim_weights

RAKE = DATA / "rake"


def test_rake_matches_r_survey():
    data = np.loadtxt(RAKE / "data.csv", delimiter=",", skiprows=1)
    targets = json.loads((RAKE / "targets.json").read_text())
    r_weights = np.loadtxt(RAKE / "r_weights.csv", skiprows=1)
    res = rake([data[:, 0].astype(int), data[:, 1].astype(int), data[:, 2].astype(int)],
               [targets["district"], targets["age"], targets["sex"]], data[:, 3])
    assert res.converged
    assert 1 < res.iterations < 100
    np.testing.assert_allclose(res.weights, r_weights, rtol=1e-8, atol=0)


def test_rake_meets_every_margin():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 4, 500), rng.integers(0, 3, 500)
    ta, tb = np.array([100.0, 200, 150, 50]), np.array([250.0, 150, 100])
    res = rake([a, b], [ta, tb])
    assert res.converged
    np.testing.assert_allclose(np.bincount(a, res.weights), ta, rtol=1e-10)
    np.testing.assert_allclose(np.bincount(b, res.weights), tb, rtol=1e-10)


def test_rake_zero_target_gets_zero_weight():
    a = np.array([0, 0, 1, 1, 2])
    res = rake([a], [np.array([3.0, 2.0, 0.0])])
    assert res.converged and res.iterations == 1
    assert res.weights.tolist() == [1.5, 1.5, 1.0, 1.0, 0.0]


def test_rake_empty_category_with_target_does_not_converge():
    # Category 2 has a positive target but no row: margins cannot all be met.
    res = rake([np.array([0, 1, 0, 1])], [np.array([1.0, 1.0, 2.0])], max_iter=7)
    assert not res.converged and res.iterations == 7


def test_rake_not_converging_keeps_last_weights():
    # Two variables that cannot both be met: row pattern forces a conflict.
    a = np.array([0, 0, 1])
    b = np.array([0, 0, 1])
    res = rake([a, b], [np.array([1.0, 2.0]), np.array([2.0, 1.0])], max_iter=100)
    assert not res.converged and res.iterations == 100
    assert np.all(np.isfinite(res.weights))


def test_rake_equal_weights_already_fitting():
    a = np.array([0, 1, 0, 1])
    res = rake([a], [np.array([2.0, 2.0])])
    assert res.converged and res.iterations == 1
    assert res.weights.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_rake_n0_and_n1():
    res = rake([np.zeros(0, dtype=int)], [np.array([1.0])])
    assert res.weights.shape == (0,) and res.converged
    res = rake([np.array([0])], [np.array([4.0])], weights=[2.0])
    assert res.weights.tolist() == [4.0]


def test_rake_errors_name_the_bad_value():
    with pytest.raises(ValueError, match="codes has 2 variables but targets has 1"):
        rake([np.array([0]), np.array([0])], [np.array([1.0])])
    with pytest.raises(ValueError, match=r"codes\[0\] holds a category outside 0..1"):
        rake([np.array([0, 2])], [np.array([1.0, 1.0])])
    with pytest.raises(ValueError, match=r"targets\[0\]"):
        rake([np.array([0])], [np.array([-1.0])])
    with pytest.raises(ValueError, match="weights has 3 rows"):
        rake([np.array([0])], [np.array([1.0])], weights=[1, 2, 3])


def test_rake_keeps_input_weights_untouched():
    w = np.array([1.0, 2.0, 3.0])
    rake([np.array([0, 1, 1])], [np.array([1.0, 1.0])], weights=w)
    assert w.tolist() == [1.0, 2.0, 3.0]


def test_trim_caps_and_keeps_total():
    w = np.array([1.0] * 9 + [30.0])
    res = trim_weights(w, 2.0)
    cap = 2.0 * w.mean()
    assert res.weights.sum() == pytest.approx(w.sum())
    assert res.weights.max() <= cap * (1 + 1e-12)
    assert res.capped.tolist() == [False] * 9 + [True]
    assert res.weights[-1] == pytest.approx(cap)


def test_trim_several_rounds():
    w = np.array([1.0, 1.0, 1.0, 1.0, 6.0, 10.0])
    res = trim_weights(w, 1.5)
    cap = 1.5 * w.mean()
    assert res.weights.sum() == pytest.approx(w.sum())
    assert np.all(res.weights <= cap + 1e-12)
    assert res.rounds >= 1


def test_trim_none_and_equal_weights():
    w = np.ones(5)
    assert trim_weights(w, None).weights.tolist() == [1.0] * 5
    assert trim_weights(w, 1.0).weights.tolist() == [1.0] * 5
    assert trim_weights(np.zeros(0), 5).weights.shape == (0,)
    with pytest.raises(ValueError, match="weight cap must be positive, got 0"):
        trim_weights(w, 0)


def test_kish():
    assert kish_ess([]) == 0.0
    assert kish_ess([3.0]) == 1.0
    assert kish_ess([1.0, 1.0, 1.0, 1.0]) == 4.0
    assert kish_ess([1.5] * 4 + [1.0] * 6) == pytest.approx(9.6)
    assert kish_ess([0.0, 0.0]) == 0.0


def test_nonresponse_factor():
    f = nonresponse_weights([0, 0, 1], [12, 10])
    assert f.tolist() == [6.0, 6.0, 10.0]
