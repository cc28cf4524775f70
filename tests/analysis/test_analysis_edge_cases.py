"""Edge cases of the pipeline: empty units and groups, blank campaigns, raking corner cases, ties, n = 0 and n = 1."""

import numpy as np
import pytest
from analysis_testkit import ballot, make_bundle

from analysis import Campaign, evaluate, evaluate_document
from analysis.classify import classify, competition_ranks
from analysis.flags import ballot_unit_scores
from analysis.scores import cell_sums, combine_groups, composite, prepare_group, trim_count


def run(doc):
    return evaluate_document(doc).to_json()


def many(n, batch, answers, prefix="b", **extra):
    return [ballot(f"{prefix}{i:03d}", batch, answers, **extra) for i in range(n)]


def unit(res, code):
    return next(u for u in res["units"] if u["code"] == code)


def test_no_ballots_at_all():
    res = run(make_bundle([]))
    assert res["ballots"] == {"received": 0, "blank": 0, "excluded": 0, "valid": 0,
                              "flags": dict.fromkeys(["duplicate", "straight_line", "speeder", "burst", "extreme_rater"], 0)}
    u = unit(res, "u1")
    assert u["n_valid"] == 0 and u["score"] is None and u["score_ballot"] is None
    assert u["class"] == "insufficient" and u["rank"] is None and u["ci95"] is None
    assert u["group_scores"] == {"g1": None}
    assert res["groups"][0]["ess"] == 0.0 and res["groups"][0]["alpha"] is None
    assert res["groups"][0]["return_rate"] == 0.0


def test_all_ballots_blank():
    res = run(make_bundle(many(5, "g1b", {"u1": "U", "u2": "U"})))
    assert res["ballots"]["blank"] == 5 and res["ballots"]["received"] == 0 and res["ballots"]["valid"] == 0
    assert res["batches"][0]["returned"] == 5 and res["batches"][0]["valid"] == 0
    assert all(u["class"] == "insufficient" for u in res["units"])


def test_unit_nobody_rated():
    res = run(make_bundle(many(10, "g1b", {"u1": "S"})))
    u2 = unit(res, "u2")
    assert u2["n_valid"] == 0 and u2["score"] is None and u2["shares"] is None
    assert u2["class"] == "insufficient" and u2["rank"] is None
    assert unit(res, "u1")["rank"] == 1


def test_group_with_one_ballot():
    doc = make_bundle(many(9, "g1b", {"u1": "B"}) + [ballot("z", "g2b", {"u1": "S"})],
                      groups=(("g1", 0.5), ("g2", 0.5)))
    res = run(doc)
    u1 = unit(res, "u1")
    assert u1["group_scores"] == {"g1": 70.0, "g2": 100.0}
    assert u1["score"] == pytest.approx(85.0)
    assert u1["class"] == "satisfied"
    assert res["groups"][1]["ess"] == 1.0
    assert res["groups"][1]["alpha"] is None


def test_single_ballot_campaign_with_low_minimum():
    res = run(make_bundle([ballot("a", "g1b", {"u1": "D"})], rules={"min_valid_per_unit": 1}))
    u1 = unit(res, "u1")
    assert u1["class"] == "dissatisfied" and u1["reasons"] == ["threshold"] and u1["rank"] == 1
    assert u1["ci95"] == [0.0, 0.0] and u1["stability"] == 1.0


def test_trimming_one_ballot_cell_keeps_it():
    # floor(0.4 · 1) = 0: nothing is trimmed from a single ballot.
    res = run(make_bundle([ballot("a", "g1b", {"u1": "B"})], rules={"trim_per_end": 0.4, "min_valid_per_unit": 0}))
    assert unit(res, "u1")["group_scores"]["g1"] == 70.0


def test_trim_drops_floor_pn_each_end_with_id_ties():
    # Scores 0, 70 ×3, 100; p = 0.2 → one dropped at each end.
    ballots = [ballot("e", "g1b", {"u1": "D"}), ballot("a", "g1b", {"u1": "B"}), ballot("c", "g1b", {"u1": "B"}),
               ballot("b", "g1b", {"u1": "B"}), ballot("d", "g1b", {"u1": "S"})]
    res = run(make_bundle(ballots, rules={"trim_per_end": 0.2, "min_valid_per_unit": 0}))
    assert unit(res, "u1")["group_scores"]["g1"] == pytest.approx(70.0)
    assert unit(res, "u1")["n_valid"] == 5


def test_trim_count_is_binary_floating_point():
    assert trim_count(0.1, 30) == 3.0
    assert trim_count(0.1, 0) == 0.0


def test_raking_margin_with_an_empty_category_is_skipped():
    ballots = many(5, "g1b", {"u1": "S"}, attributes={"d": "东"}) + \
        many(5, "g1b", {"u1": "D"}, prefix="c", attributes={"d": "西"})
    res = run(make_bundle(ballots, margins={"g1": {"d": {"东": 0.5, "西": 0.3, "南": 0.2}}}))
    assert [(w["code"], w.get("group")) for w in res["warnings"]] == [("rake_skipped", "g1")]
    assert unit(res, "u1")["score"] == pytest.approx(50.0)


def test_raking_zero_target_category_gets_zero_weight():
    ballots = many(5, "g1b", {"u1": "S"}, attributes={"d": "东"}) + \
        many(5, "g1b", {"u1": "D"}, prefix="c", attributes={"d": "西"})
    res = run(make_bundle(ballots, margins={"g1": {"d": {"东": 1.0, "西": 0.0}}}, rules={"weight_cap": None}))
    assert res["warnings"] == []
    assert unit(res, "u1")["score"] == pytest.approx(100.0)
    assert res["groups"][0]["ess"] == pytest.approx(5.0)


def test_raking_missing_attribute_and_unknown_category_skip():
    base = many(5, "g1b", {"u1": "S"}, attributes={"d": "东"}) + many(5, "g1b", {"u1": "D"}, prefix="c", attributes={"d": "西"})
    margins = {"g1": {"d": {"东": 0.5, "西": 0.5}}}
    missing = base + [ballot("z", "g1b", {"u1": "S"})]
    unknown = base + [ballot("z", "g1b", {"u1": "S"}, attributes={"d": "北"})]
    for ballots in (missing, unknown):
        res = run(make_bundle(ballots, margins=margins))
        assert [w["code"] for w in res["warnings"]] == ["rake_skipped"]
    # A blank ballot lacking the attribute does not matter.
    res = run(make_bundle(base + [ballot("z", "g1b", {"u1": "U"})], margins=margins))
    assert res["warnings"] == []


def test_rake_not_converged_warning():
    # Row pattern makes the two margins incompatible.
    ballots = many(4, "g1b", {"u1": "S"}, attributes={"a": "x", "b": "x"}) + \
        many(4, "g1b", {"u1": "D"}, prefix="c", attributes={"a": "y", "b": "y"})
    res = run(make_bundle(ballots, margins={"g1": {"a": {"x": 0.5, "y": 0.5}, "b": {"x": 0.2, "y": 0.8}}}))
    assert [w["code"] for w in res["warnings"]] == ["rake_not_converged"]


def test_equal_weights_give_plain_means():
    ballots = many(6, "g1b", {"u1": "S"}) + many(4, "g1b", {"u1": "D"}, prefix="c")
    res = run(make_bundle(ballots))
    assert unit(res, "u1")["score"] == pytest.approx(60.0)
    assert unit(res, "u1")["shares"] == pytest.approx({"S": 0.6, "B": 0.0, "D": 0.4})
    assert res["groups"][0]["ess"] == pytest.approx(10.0)


def test_no_objective_scores_with_components_warns_and_uses_ballots():
    ballots = many(10, "g1b", {"u1": "B"})
    res = run(make_bundle(ballots, rules={"ballot_share": 0.7, "objective_components": {"work": 0.3}}))
    assert unit(res, "u1")["score"] == pytest.approx(70.0)
    assert sorted((w["code"], w["unit"], w["component"]) for w in res["warnings"]) == [
        ("objective_missing", "u1", "work"), ("objective_missing", "u2", "work")]


def test_objective_only_unit_is_insufficient_without_ballots():
    res = run(make_bundle([], objective_scores=[{"unit": "u1", "component": "work", "score": 90}],
                          rules={"objective_components": {"work": 0.3}}))
    u1 = unit(res, "u1")
    assert u1["score"] == pytest.approx(90.0) and u1["class"] == "insufficient"


def test_ties_at_threshold_and_bottom():
    # u1: 85 exactly (17 S, 3 D → 85); u2 the same; both satisfied, both rank 1.
    b = many(17, "g1b", {"u1": "S", "u2": "S"}) + many(3, "g1b", {"u1": "D", "u2": "D"}, prefix="c")
    res = run(make_bundle(b, rules={"bottom": {"n": 1, "below": 90}}))
    for code in ("u1", "u2"):
        u = unit(res, code)
        assert u["score"] == pytest.approx(85.0)
        assert u["class"] == "dissatisfied" and u["reasons"] == ["bottom"] and u["rank"] == 1
    res = run(make_bundle(b, rules={"bottom": {"n": 1, "below": 85}}))
    assert [unit(res, c)["class"] for c in ("u1", "u2")] == ["satisfied", "satisfied"]


def test_competition_ranks_and_tolerance():
    v = np.array([[90.0, 80.0, 90.0 - 1e-10, 70.0]])
    r = competition_ranks(v, np.ones_like(v, dtype=bool))
    assert r.tolist() == [[1.0, 3.0, 1.0, 4.0]]


def test_classify_rules_in_order_and_insufficient_overrides_veto():
    rules = {"thresholds": {"satisfied": 85, "basic": 60}, "min_valid_per_unit": 8,
             "max_dissatisfied_share": 0.3, "bottom": {"n": 1, "below": 75}}
    C = np.array([[85 - 1e-10, 59.0, 90.0, 70.0]])
    n = np.array([[8, 8, 7, 8]])
    share = np.array([[0.0, 0.3 - 1e-10, 0.0, 0.1]])
    cls = classify(C, n, np.array([False, True, True, False]), np.array([0, 0, 0, 0]), 1, rules, share)
    assert cls.klass.tolist() == [[0, 2, 3, 1]]
    assert cls.reason_list(0, 1) == ["veto", "threshold", "share", "bottom"]
    assert cls.reason_list(0, 2) == ["insufficient"]
    assert cls.rank[0].tolist()[:2] == [1.0, 3.0] and np.isnan(cls.rank[0, 2])


def test_classify_needs_share_when_rule_set():
    with pytest.raises(ValueError, match="share_low"):
        classify(np.zeros((1, 1)), np.ones((1, 1)) * 10, np.zeros(1, bool), np.zeros(1, int), 1,
                 {"thresholds": {"satisfied": 85, "basic": 60}, "min_valid_per_unit": 0,
                  "max_dissatisfied_share": 0.3, "bottom": None})


def test_ballot_unit_scores_item_weights_and_unknown():
    answers = np.array([[[0, 1], [3, 3], [3, 0]]], dtype=np.int8)  # S,B | U,U | U,S
    s = ballot_unit_scores(answers, [100, 70, 0, np.nan], [2.0, 1.0])
    assert s[0, 0] == pytest.approx(90.0) and np.isnan(s[0, 1]) and s[0, 2] == 100.0
    assert ballot_unit_scores(np.zeros((0, 2, 1), dtype=np.int8), [100.0], [1.0]).shape == (0, 2)


def test_cell_sums_n0_n1():
    cells = prepare_group(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros((0, 2)), trim_per_end=0.1)
    sums = cell_sums(cells, None, 0.1)
    assert np.isnan(sums.score()).all() and sums.n.tolist() == [[0.0, 0.0]]
    cells = prepare_group(np.array([0]), np.array([2.0]), np.array([[50.0, np.nan]]), trim_per_end=0.3)
    sums = cell_sums(cells, None, 0.3)
    assert sums.score()[0, 0] == 50.0 and np.isnan(sums.score()[0, 1])


def test_trimmed_replicate_sums_match_brute_force():
    rng = np.random.default_rng(0)
    n = 60
    s = rng.choice([0.0, 55.0, 70.0, 100.0], size=(n, 3))
    s[rng.random((n, 3)) < 0.2] = np.nan
    w = rng.uniform(0.5, 2, n)
    cells = prepare_group(np.arange(n), w, s, trim_per_end=0.15)
    assert cells.equal_weight is None
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(25)]).astype(float)
    got = cell_sums(cells, counts, 0.15).score()
    for r in range(25):
        for u in range(3):
            rows = np.repeat(np.arange(n), counts[r].astype(int))
            rows = rows[~np.isnan(s[rows, u])]
            rows = rows[np.lexsort((rows, s[rows, u]))]
            k = int(np.floor(0.15 * len(rows)))
            keep = rows[k:len(rows) - k]
            want = np.sum(w[keep] * s[keep, u]) / np.sum(w[keep]) if len(keep) else np.nan
            assert got[r, u] == pytest.approx(want, abs=1e-9, nan_ok=True)


def test_combine_and_composite():
    v = np.array([[80.0, np.nan], [60.0, np.nan]])
    out = combine_groups(v, [0.75, 0.25])
    assert out[0] == pytest.approx(75.0) and np.isnan(out[1])
    C = composite(np.array([80.0, np.nan, np.nan]), np.array([[90.0], [70.0], [np.nan]]), 1.0, [0.3])
    assert C[0] == pytest.approx((80 + 27) / 1.3) and C[1] == pytest.approx(70.0) and np.isnan(C[2])


def test_array_api_runs_without_json():
    rng = np.random.default_rng(1)
    n = 300
    answers = rng.integers(0, 4, size=(n, 5, 1)).astype(np.int8)
    c = Campaign.from_arrays(option_points=[100, 70, 0, np.nan], item_weights=[1.0], unit_category=[0, 0, 1, 1, 1],
                             group_weights=[0.6, 0.4], batch_group=[0, 1], batch_issued=[400, -1],
                             ballot_batch=rng.integers(0, 2, n), answers=answers,
                             rules={"bootstrap": {"replicates": 30}})
    res = evaluate(c)
    doc = res.to_json()
    assert doc["format"] == "pingyi-results/1" and len(doc["units"]) == 5
    assert all(0 <= u["score"] <= 100 for u in doc["units"])
    assert [w["code"] for w in doc["warnings"]] == ["nonresponse_skipped"]


def _brute_trimmed(s, w, counts, p):
    n, U = s.shape
    out = np.full((counts.shape[0], U), np.nan)
    for r in range(counts.shape[0]):
        for u in range(U):
            rows = np.repeat(np.arange(n), counts[r].astype(int))
            rows = rows[~np.isnan(s[rows, u])]
            rows = rows[np.lexsort((rows, s[rows, u]))]
            k = int(np.floor(p * len(rows)))
            keep = rows[k:len(rows) - k]
            if len(keep):
                out[r, u] = np.sum(w[keep] * s[keep, u]) / np.sum(w[keep])
    return out


@pytest.mark.parametrize("equal", [False, True])
def test_trimmed_sums_with_bulk_window_and_fallback_are_exact(equal):
    from analysis.scores import bulk_size

    rng = np.random.default_rng(5)
    n = 3000
    s = rng.choice([0.0, 55.0, 70.0, 85.0, 100.0], size=(n, 2), p=[0.1, 0.2, 0.3, 0.2, 0.2])
    s[rng.random((n, 2)) < 0.1] = np.nan
    w = np.full(n, 1.7) if equal else rng.uniform(0.5, 2, n)
    cells = prepare_group(np.arange(n), w, s, trim_per_end=0.1)
    assert bulk_size(0.1, int((~np.isnan(s[:, 0])).sum())) > 0
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(6)]).astype(float)
    # Replicates far from a resample force the exact fallback: all draws on
    # the lowest-scored rows, or on a handful of rows.
    lowest = np.argsort(np.nan_to_num(s[:, 0], nan=1e9), kind="stable")[:300]
    skew = np.zeros(n)
    skew[lowest] = n / 300
    few = np.zeros(n)
    few[:7] = [n - 6, 1, 1, 1, 1, 1, 1]
    counts = np.vstack([counts, skew, few, np.ones(n)])
    got = cell_sums(cells, counts, 0.1).score()
    np.testing.assert_allclose(got, _brute_trimmed(s, w, counts, 0.1), rtol=1e-10, atol=1e-9)


def test_no_groups_and_no_units():
    res = run(make_bundle([], groups=(), batches=[]))
    assert res["groups"] == [] and unit(res, "u1")["class"] == "insufficient"
    res = run(make_bundle([], units=()))
    assert res["units"] == [] and res["groups"][0]["valid"] == 0


def test_evaluate_leaves_the_campaign_untouched():
    doc = make_bundle([ballot("a", "g1b", {"u1": "B"})], rules={"trim_per_end": 0.4, "min_valid_per_unit": 0})
    from analysis import from_document

    c = from_document(doc)
    before = c.answers.copy()
    evaluate(c)
    np.testing.assert_array_equal(c.answers, before)
    assert evaluate(c).to_json() == evaluate(c).to_json()
