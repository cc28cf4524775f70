"""The five data-quality flags and ballot states (SCORING.md sections 2 and 3), with their near misses."""

import numpy as np
import pytest
from analysis_testkit import ballot, make_bundle

from analysis import evaluate_document
from analysis.flags import flag_burst, flag_duplicate, flag_extreme_rater, flag_speeder, flag_straight_line

OPEN = [{"code": "pub", "group": "g1", "channel": "public"}, {"code": "mail", "group": "g1", "channel": "email", "issued": 100}]


def at(sec):
    return f"2026-11-02T10:{sec // 60:02d}:{sec % 60:02d}+08:00"


def flags_of(doc):
    res = evaluate_document(doc)
    ids = list(res.flags.flags)
    return res, {f: [str(b) for b in np.asarray([x["id"] for x in doc["ballots"]])[res.flags.flags[f]]] for f in ids}


def test_duplicate_window_and_conditions():
    same = {"u1": "S", "u2": "B"}
    ballots = [
        ballot("a", "pub", same, source="203.0.113.7", submitted_at=at(0)),
        ballot("b", "pub", same, source="203.0.113.7", submitted_at=at(600)),   # exactly 600 s: duplicate
        ballot("c", "pub", same, source="203.0.113.7", submitted_at=at(1201)),  # 601 s after b: not
        ballot("d", "pub", {"u1": "S", "u2": "D"}, source="203.0.113.7", submitted_at=at(1202)),  # other answers
        ballot("e", "pub", same, source="203.0.113.8", submitted_at=at(1203)),  # other source
        ballot("f", "mail", same, source="203.0.113.7", submitted_at=at(1204)),  # personal link
        ballot("g", "pub", same, submitted_at=at(1205)),                          # no source
        ballot("h", "pub", {"u2": "B", "u1": "S"}, source="203.0.113.7", submitted_at=at(1206)),  # key order aside
    ]
    _, fl = flags_of(make_bundle(ballots, batches=OPEN, rules={"exclude_flags": []}))
    assert fl["duplicate"] == ["b", "h"]


def test_duplicate_same_instant_orders_by_id_and_unknown_counts():
    ballots = [ballot("z", "pub", {"u1": "S", "u2": "U"}, source="x", submitted_at=at(5)),
               ballot("y", "pub", {"u1": "S", "u2": "U"}, source="x", submitted_at=at(5)),
               ballot("w", "pub", {"u1": "S"}, source="x", submitted_at=at(6))]  # 不了解 makes answers differ
    res, fl = flags_of(make_bundle(ballots, batches=OPEN))
    assert fl["duplicate"] == ["z"]
    assert res.to_json()["explain"]["excluded"] == [{"id": "z", "flags": ["duplicate"]}]


def test_duplicate_function_n0_n1():
    z = np.zeros(0, dtype=np.int64)
    assert flag_duplicate(z, z, z, z, z, np.zeros(0, bool)).shape == (0,)
    one = np.zeros(1, dtype=np.int64)
    assert flag_duplicate(one, one, one, one, one, np.ones(1, bool)).tolist() == [False]


def test_straight_line():
    pts = [100, 70, 0, np.nan]
    rows = np.array([
        [0, 0, 0, 0, 0, -1],   # 5 × S: flagged
        [0, 0, 0, 0, -1, -1],  # 4 × S: not
        [1, 1, 1, 1, 1, 1],    # 6 × B (middle): not
        [2, 2, 2, 3, 2, 2],    # 5 × D and a 不了解: flagged
        [0, 0, 0, 0, 0, 2],    # mixed: not
    ], dtype=np.int8)
    assert flag_straight_line(rows, pts).tolist() == [True, False, False, True, False]
    assert flag_straight_line(np.zeros((0, 6), np.int8), pts).tolist() == []


def test_speeder_needs_ten():
    d = np.array([100.0] * 9 + [20.0])
    g = np.zeros(10, dtype=np.int64)
    assert flag_speeder(g, d, 1).tolist() == [False] * 9 + [True]
    assert not flag_speeder(g[:9], np.r_[d[:8], 20.0], 1).any()
    # Exactly 0.3 × median is not strictly below.
    assert not flag_speeder(g, np.array([100.0] * 9 + [30.0]), 1).any()
    assert not flag_speeder(g, np.r_[np.full(9, np.nan), 1.0], 1).any()


def test_burst_limit_and_prefix():
    net = np.array([0] * 22 + [1])
    t = np.r_[np.arange(21) * 10_000_000, 700_000_000, 0].astype(np.int64)
    elig = np.ones(23, dtype=bool)
    # 21 in [0, 600 s] from the first: more than 20 → all 21 flagged; the one at 700 s is in a
    # window with 20 others only (from t=100 s: 11 .. 20 and itself) so it is not.
    out = flag_burst(net, t, elig, 20)
    assert out[:21].all() and not out[21] and not out[22]
    assert not flag_burst(net, t, elig, 21).any()
    assert not flag_burst(np.full(23, -1), t, elig, 0).any()


def test_burst_through_bundle_ignores_personal_links():
    ballots = [ballot(f"p{i:02d}", "pub", {"u1": "S" if i % 2 else "B"}, source=f"198.51.100.{i}", submitted_at=at(i))
               for i in range(21)]
    ballots += [ballot("m", "mail", {"u1": "S"}, source="198.51.100.99", submitted_at=at(30))]
    _, fl = flags_of(make_bundle(ballots, batches=OPEN))
    assert len(fl["burst"]) == 21 and "m" not in fl["burst"]
    ballots[0]["source"] = "not-an-ip"
    _, fl = flags_of(make_bundle(ballots, batches=OPEN))
    assert fl["burst"] == []


def test_extreme_rater():
    s = np.full((30, 3), 80.0)
    s[::2] = 70.0
    s[5] = 0.0
    out = flag_extreme_rater(s)
    assert out.tolist() == [i == 5 for i in range(30)]
    # MAD 0: never flagged.
    s = np.full((10, 2), 80.0)
    s[0] = 0.0
    assert not flag_extreme_rater(s).any()
    assert flag_extreme_rater(np.zeros((0, 2))).tolist() == []


def test_excluded_by_other_flags_and_blank_not_received():
    ballots = [ballot(f"a{i}", "mail", {"u1": "S", "u2": "S", "u3": "S", "u4": "S", "u5": "S"}) for i in range(3)]
    ballots += [ballot("x", "mail", {"u1": "U"})]
    res, fl = flags_of(make_bundle(ballots, units=("u1", "u2", "u3", "u4", "u5"), batches=OPEN,
                                   rules={"exclude_flags": ["straight_line"]}))
    doc = res.to_json()
    assert doc["ballots"]["blank"] == 1 and doc["ballots"]["excluded"] == 3 and doc["ballots"]["valid"] == 0
    assert fl["straight_line"] == ["a0", "a1", "a2"]


@pytest.mark.parametrize("seed", range(6))
def test_unit_scores_looked_up_in_a_table_are_those_computed_row_by_row(seed, monkeypatch):
    import analysis.flags as flags_module

    rng = np.random.default_rng(seed)
    n_options, n_items = int(rng.integers(1, 7)), int(rng.integers(2, 5))
    points = rng.choice([100.0, 70.0, 0.0, np.nan, 33.3, 1 / 3, 5.0], size=n_options)
    weights = rng.uniform(0.1, 3.0, size=n_items)
    answers = rng.integers(-1, n_options, size=(int(rng.integers(1, 3000)), 7, n_items)).astype(np.int8)
    got = flags_module.ballot_unit_scores(answers, points, weights)
    monkeypatch.setattr(flags_module, "_TABLE_MAX", 0)  # every row computed
    assert np.array_equal(got, flags_module.ballot_unit_scores(answers, points, weights), equal_nan=True)
