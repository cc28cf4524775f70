"""SCORING.md section 5a: per-item figures, breakdowns by batch, channel and attribute, and the subset function.

The figures are checked against a plain re-implementation of the section
(one cell at a time, sorted and trimmed with Python lists) on random
bundles, the item intervals against that re-implementation run on the
bootstrap's own draws, and every key that existed before section 5a
against the results computed without it, to the last bit.
"""

from __future__ import annotations

import copy
import importlib
import json
import math

import numpy as np
import pytest
from analysis_testkit import VALID_CASES, ballot, case_bytes, make_bundle

from analysis import (
    Attribute,
    Campaign,
    attribute_key,
    breakdown,
    evaluate,
    evaluate_document,
    from_document,
    loads_bundle,
)
from analysis import breakdowns as breakdowns_module
from analysis.breakdowns import valid_rows_by_group
from analysis.evaluate import compute_weights
from analysis.flags import flag_ballots
from analysis.uncertainty import draw_replicate_counts

NEW_KEYS = ("items", "by_batch", "by_channel", "by_attribute")
# The module (the package's name `evaluate` is the function).
evaluate_module = importlib.import_module("analysis.evaluate")
OPTIONS = ("S", "B", "D", "U")
ITEMS = (("overall", 2.0), ("attitude", 1.0), ("efficiency", 0.3))
ATTR_VALUES = ("东区", "西区", 1, 2.5, True, False, "1", None)


# ---------------------------------------------------------------------------
# Random bundles


def random_bundle(seed: int) -> dict:
    """A valid bundle with several groups, closed and open batches, 1–3 items, attributes of every JSON kind."""
    rng = np.random.default_rng(seed)
    n_items = int(rng.integers(1, 4))
    units = tuple(f"u{i}" for i in range(int(rng.integers(1, 6))))
    n_groups = int(rng.integers(1, 4))
    groups = tuple((f"g{g}", float(rng.choice([0.25, 0.5, 1.0]))) for g in range(n_groups))
    batches = []
    for g in range(n_groups):
        for j in range(int(rng.integers(1, 3))):
            open_batch = rng.random() < 0.3
            channel = str(rng.choice(["public", "qr"] if open_batch else ["paper", "email", "online", "sms"]))
            batches.append({"code": f"g{g}k{j}", "group": f"g{g}", "channel": channel,
                            **({} if open_batch else {"issued": 0})})
    ballots = []
    n = int(rng.integers(0, 90))
    for i in range(n):
        k = int(rng.integers(0, len(batches)))
        answers: dict[str, dict[str, str]] = {}
        for u in units:
            if rng.random() < 0.75:
                per = {code: str(rng.choice(OPTIONS, p=[0.45, 0.3, 0.15, 0.1]))
                       for code, _ in ITEMS[:n_items] if rng.random() < 0.8}
                if per:
                    answers[u] = per
        b = {"id": f"{int(rng.integers(0, 10**6)):06d}-{i}", "batch": batches[k]["code"],
             "submitted_at": f"2026-11-02T10:{i // 60:02d}:{i % 60:02d}+08:00",
             "duration_s": float(rng.choice([30, 120, 240])), "answers": answers}
        if "issued" not in batches[k]:
            b["source"] = f"203.0.113.{int(rng.integers(1, 4))}"
        attrs = {}
        if rng.random() < 0.85:
            attrs["district"] = str(rng.choice(["东区", "西区"]))
        if rng.random() < 0.6:
            attrs["mixed"] = ATTR_VALUES[int(rng.integers(0, len(ATTR_VALUES)))]
        if rng.random() < 0.1:
            attrs["never"] = None
        if attrs:
            b["attributes"] = attrs
        ballots.append(b)
        if "source" in b and rng.random() < 0.15:
            # A duplicate (same group, source, answers and instant; the id decides which is earlier).
            dup = copy.deepcopy(b)
            dup["id"] = b["id"] + "d"
            ballots.append(dup)
    for bt in batches:
        if "issued" in bt:
            bt["issued"] = sum(b["batch"] == bt["code"] for b in ballots) + int(rng.integers(0, 5))
    margins = None
    if rng.random() < 0.4:
        margins = {"g0": {"district": {"东区": 0.4, "西区": 0.6}}}
    rules = {"min_valid_per_unit": int(rng.choice([0, 3, 8])),
             "trim_per_end": float(rng.choice([0.0, 0.1, 0.25])),
             "weight_cap": [None, 1.5, 5][int(rng.integers(0, 3))],
             "max_dissatisfied_share": [None, 0.3][int(rng.integers(0, 2))],
             "exclude_flags": ["duplicate"] if rng.random() < 0.8 else ["duplicate", "speeder"],
             "bootstrap": {"replicates": int(rng.choice([0, 7, 40])), "seed": int(rng.integers(0, 1000))}}
    return make_bundle(ballots, units=units, groups=groups, batches=batches, margins=margins, rules=rules,
                       items=ITEMS[:n_items], categories=("a", "b"))


SEEDS = range(24)


# ---------------------------------------------------------------------------
# A plain re-implementation of section 5a


def _cell_figures(entries, p):
    """entries: (s, id, w, option or None) per drawn ballot of one cell. Returns (n, S or None, {option: weight})."""
    n = len(entries)
    cell = sorted(entries, key=lambda e: (e[0], e[1]))
    k = math.floor(p * n)
    kept = cell[k:n - k]
    den = sum(e[2] for e in kept)
    score = sum(e[2] * e[0] for e in kept) / den if kept and den > 0 else None
    by_option: dict[str, float] = {}
    for e in entries:
        if e[3] is not None:
            by_option[e[3]] = by_option.get(e[3], 0.0) + e[2]
    return n, score, by_option


def _combine(values, gw):
    pairs = [(w, v) for w, v in zip(gw, values, strict=True) if v is not None]
    return sum(w * v for w, v in pairs) / sum(w for w, _ in pairs) if pairs else None


class Reference:
    """Section 5a one cell at a time, from the campaign's valid ballots and final weights."""

    def __init__(self, doc):
        c = from_document(doc)
        fl = flag_ballots(c)
        self.c, self.fl = c, fl
        self.weights = compute_weights(c, fl.valid)
        self.rows = valid_rows_by_group(c, fl.valid, fl.id_rank)
        self.p = float(c.rules["trim_per_end"])
        pts = c.option_points
        self.scored = [o for o in range(len(pts)) if not np.isnan(pts[o])]
        self.codes = [c.option_codes[o] for o in self.scored]

    def _entries(self, g, u, item, take, counts=None):
        c = self.c
        out = []
        for j, b in enumerate(self.rows[g]):
            if not take[b]:
                continue
            mult = 1 if counts is None else int(counts[j])
            if item is None:
                s = self.fl.scores[b, u]
                opt = c.answers[b, u, c.overall_item]
            else:
                opt = c.answers[b, u, item]
                s = c.option_points[opt] if opt >= 0 else np.nan
            if np.isnan(s):
                continue
            code = c.option_codes[opt] if opt >= 0 and opt in self.scored else None
            out += [(float(s), str(c.ballot_ids[b]), float(self.weights[b]), code)] * mult
        return out

    def figures(self, u, take, item=None, counts=None):
        """(n, S(u), shares or None, [S(u, g)]) on the ballots where `take` holds."""
        c = self.c
        n_total, scores, shares_g = 0, [], []
        for g in range(len(c.group_codes)):
            n, score, by_option = _cell_figures(self._entries(g, u, item, take, None if counts is None else counts[g]),
                                                self.p)
            n_total += n
            scores.append(score)
            total = sum(by_option.values())
            shares_g.append({o: by_option.get(o, 0.0) / total for o in self.codes} if total > 0 else None)
        gw = list(c.group_weights)
        shares = None
        if any(s is not None for s in shares_g):
            shares = {o: _combine([None if s is None else s[o] for s in shares_g], gw) for o in self.codes}
        return n_total, _combine(scores, gw), shares, scores

    def item_ci95(self, u, item):
        c = self.c
        R = int(c.rules["bootstrap"]["replicates"])
        sizes = [len(r) for r in self.rows]
        draws = draw_replicate_counts(np.random.default_rng(int(c.rules["bootstrap"]["seed"])), sizes, R)
        everyone = np.ones(c.n_ballots, dtype=bool)
        values = []
        for r in range(R):
            score = self.figures(u, everyone, item, [d[r] for d in draws])[1]
            if score is not None:
                values.append(score)
        return [float(x) for x in np.percentile(values, [2.5, 97.5])] if values else None


def assert_close(got, want, path="$"):
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), (path, got, want)
        for k in want:
            assert_close(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, (list, tuple)):
        assert isinstance(got, list) and len(got) == len(want), (path, got, want)
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            assert_close(a, b, f"{path}[{i}]")
    elif isinstance(want, float):
        assert isinstance(got, float) and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), (path, got, want)
    else:
        assert got == want, (path, got, want)


def subset_json(n, score, shares):
    return {"n": n, "score": score, "shares": shares}


@pytest.mark.parametrize("seed", SEEDS)
def test_figures_equal_the_plain_reimplementation(seed):
    check_against_reference(random_bundle(seed))


@pytest.mark.parametrize("max_bins", [1, 80])
@pytest.mark.parametrize("seed", [s for s in SEEDS if s % 2 == 1])
def test_figures_without_code_histograms_equal_the_plain_reimplementation(seed, max_bins, monkeypatch):
    # Histograms larger than MAX_BINS: those partitions' cells are built subset by subset
    # (1: every partition; 80: with one item, the partitions of at most two subsets still use histograms).
    monkeypatch.setattr(breakdowns_module, "MAX_BINS", max_bins)
    check_against_reference(random_bundle(seed))


def check_against_reference(doc):
    res = evaluate_document(doc).to_json()
    ref = Reference(doc)
    c = ref.c
    attrs = {}
    for b in doc["ballots"]:
        for name, value in (b.get("attributes") or {}).items():
            attrs.setdefault(name, {})
            if value is not None:
                attrs[name].setdefault(attribute_key(value), None)
    channels = list(dict.fromkeys(bt["channel"] for bt in doc["batches"]))
    batch_of = np.array([c.batch_codes.index(b["batch"]) for b in doc["ballots"]])
    for u, unit in enumerate(res["units"]):
        want_items = {}
        for i, code in enumerate(c.item_codes):
            n, score, shares, group_scores = ref.figures(u, np.ones(c.n_ballots, dtype=bool), i)
            want_items[code] = {"n": n, "score": score, "shares": shares,
                                "group_scores": dict(zip(c.group_codes, group_scores, strict=True)),
                                "ci95": unit["items"][code]["ci95"]}  # checked below
        assert_close(unit["items"], want_items)
        want_batch = {code: subset_json(*ref.figures(u, batch_of == k)[:3]) for k, code in enumerate(c.batch_codes)}
        assert_close(unit["by_batch"], want_batch)
        ch_of = np.array([channels.index(doc["batches"][k]["channel"]) for k in batch_of], dtype=int)
        assert_close(unit["by_channel"], {ch: subset_json(*ref.figures(u, ch_of == j)[:3])
                                          for j, ch in enumerate(channels)})
        want_attr = {}
        for name, values in attrs.items():
            keys = [attribute_key((b.get("attributes") or {}).get(name)) if (b.get("attributes") or {}).get(name)
                    is not None else None for b in doc["ballots"]]
            want_attr[name] = {v: subset_json(*ref.figures(u, np.array([k == v for k in keys], dtype=bool))[:3])
                               for v in values}
        assert_close(unit["by_attribute"], want_attr)


@pytest.mark.parametrize("seed", [s for s in SEEDS if random_bundle(s)["rules"]["bootstrap"]["replicates"]])
def test_item_intervals_use_the_bootstrap_draws(seed):
    doc = random_bundle(seed)
    res = evaluate_document(doc).to_json()
    ref = Reference(doc)
    for u, unit in enumerate(res["units"]):
        for i, code in enumerate(ref.c.item_codes):
            assert_close(unit["items"][code]["ci95"], ref.item_ci95(u, i))


# ---------------------------------------------------------------------------
# Every figure that existed before section 5a is unchanged, to the last bit


def _strip(doc):
    doc = copy.deepcopy(doc)
    for u in doc["units"]:
        for k in NEW_KEYS:
            del u[k]
    return doc


def _documents():
    docs = [(name, json.loads(case_bytes(name))) for name in VALID_CASES]
    return docs + [(f"random{seed}", random_bundle(seed)) for seed in SEEDS]


@pytest.mark.parametrize("name, doc", _documents(), ids=[n for n, _ in _documents()])
def test_previous_keys_are_bit_identical(name, doc):
    with_5a = evaluate_document(doc)
    without = evaluate_document(doc, details=False)
    plain = without.to_json()
    assert all(not set(NEW_KEYS) & set(u) for u in plain["units"])
    full = with_5a.to_json()
    assert all(set(NEW_KEYS) <= set(u) for u in full["units"])
    # Exact equality, floats included; json.dumps shows a difference in the last digit.
    assert json.dumps(_strip(full), sort_keys=True) == json.dumps(plain, sort_keys=True)
    assert _strip(full) == plain
    for a, b in [(with_5a.weights, without.weights), (with_5a.composite, without.composite),
                 (with_5a.classes, without.classes), (with_5a.bootstrap.ci95, without.bootstrap.ci95),
                 (with_5a.bootstrap.stability, without.bootstrap.stability)]:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("budget", [0, 40_000])
def test_item_cells_kept_or_drawn_again_give_the_same_figures(budget, monkeypatch):
    # Item cells that do not fit in memory beside the units' are summed in
    # later passes over the same draws (made again from the seed): nothing changes.
    doc = json.loads(case_bytes("small"))
    kept = evaluate_document(doc).to_json()
    monkeypatch.setattr(evaluate_module, "_CACHE_BYTES", budget)
    apart = []
    replicate_apart = breakdowns_module.ItemCells.replicate_apart

    def spy(self, draws, budget):
        apart.append(len(self._apart))
        replicate_apart(self, draws, budget)

    monkeypatch.setattr(breakdowns_module.ItemCells, "replicate_apart", spy)
    again = evaluate_document(doc).to_json()
    assert apart and apart[0] > 0  # some (budget 0: all) item cells were summed in later passes
    assert again == kept


# ---------------------------------------------------------------------------
# Listing, empty subsets, keys


def test_every_unit_lists_every_item_batch_channel_and_attribute_value():
    batches = [{"code": "k1", "group": "g1", "channel": "paper", "issued": 50},
               {"code": "k2", "group": "g1", "channel": "email", "issued": 50},
               {"code": "k3", "group": "g2", "channel": "paper", "issued": 50}]
    ballots = [ballot(f"b{i}", "k1", {"u1": {"overall": "S", "attitude": "B"}},
                      attributes={"age": 30 if i % 2 else 2.5, "vip": True, "note": None}) for i in range(4)]
    ballots += [ballot("c1", "k3", {"u1": {"overall": "B"}}, attributes={"age": "30", "district": "东区"}),
                ballot("blank", "k3", {"u2": {"overall": "U"}}, attributes={"district": "北区"})]
    doc = make_bundle(ballots, groups=(("g1", 0.5), ("g2", 0.5)), batches=batches,
                      items=(("overall", 1.0), ("attitude", 1.0)))
    res = evaluate_document(doc).to_json()
    empty = {"n": 0, "score": None, "shares": None}
    u1, u2 = res["units"]
    assert list(u1["by_batch"]) == ["k1", "k2", "k3"] and u1["by_batch"]["k2"] == empty
    assert list(u1["by_channel"]) == ["paper", "email"] and u1["by_channel"]["email"] == empty
    # Numbers and booleans by their JSON text; the string "30" and the number 30 share a key;
    # a null value is left out, and a name seen only with null lists no value.
    assert {k: list(v) for k, v in u1["by_attribute"].items()} == {
        "age": ["2.5", "30"], "vip": ["true"], "note": [], "district": ["东区", "北区"]}
    assert u1["by_attribute"]["age"]["30"]["n"] == 3  # b1, b3 and c1
    assert u1["by_attribute"]["district"]["北区"] == empty  # only a blank ballot has it
    assert u1["by_channel"]["paper"]["n"] == 5
    # u2 is rated by nobody: every entry exists, empty.
    assert all(v == empty for v in u2["by_batch"].values())
    assert u2["items"]["overall"] == {"n": 0, "score": None, "shares": None,
                                      "group_scores": {"g1": None, "g2": None}, "ci95": None}
    # attitude was answered by g1 only: g2's item score is null, the item's score is g1's.
    att = u1["items"]["attitude"]
    assert att["n"] == 4 and att["group_scores"] == {"g1": 70.0, "g2": None} and att["score"] == 70.0
    assert att["shares"] == {"S": 0.0, "B": 1.0, "D": 0.0}


def test_item_shares_count_only_the_items_scored_answers():
    # Two ballots: one gives attitude 不了解; the attitude cell is the other alone.
    ballots = [ballot("a", "g1b", {"u1": {"overall": "S", "attitude": "U"}}),
               ballot("b", "g1b", {"u1": {"overall": "D", "attitude": "B"}})]
    res = evaluate_document(make_bundle(ballots, items=(("overall", 1.0), ("attitude", 1.0)))).to_json()
    items = res["units"][0]["items"]
    assert items["attitude"]["n"] == 1 and items["attitude"]["score"] == 70.0
    assert items["attitude"]["shares"] == {"S": 0.0, "B": 1.0, "D": 0.0}
    assert items["overall"]["n"] == 2 and items["overall"]["score"] == 50.0
    assert items["overall"]["shares"] == {"S": 0.5, "B": 0.0, "D": 0.5}


def test_trimming_per_subset_uses_the_subsets_own_count():
    # Ten ballots in k1 and one in k2; p = 0.1 trims one at each end of k1's cell, nothing of k2's.
    batches = [{"code": "k1", "group": "g1", "channel": "paper", "issued": 20},
               {"code": "k2", "group": "g1", "channel": "paper", "issued": 20}]
    opts = ["D"] + ["B"] * 8 + ["S"]
    ballots = [ballot(f"b{i:02d}", "k1", {"u1": o}) for i, o in enumerate(opts)] + [ballot("z", "k2", {"u1": "D"})]
    rules = {"trim_per_end": 0.1, "nonresponse_adjust": False}
    res = evaluate_document(make_bundle(ballots, batches=batches, rules=rules)).to_json()
    u1 = res["units"][0]
    assert u1["by_batch"]["k1"]["score"] == 70.0 and u1["by_batch"]["k1"]["n"] == 10
    assert u1["by_batch"]["k2"]["score"] == 0.0
    # The whole cell has 11 ballots: one trimmed at each end (a D and the S).
    assert u1["group_scores"]["g1"] == pytest.approx((8 * 70 + 0) / 9)
    assert u1["by_channel"]["paper"]["score"] == u1["group_scores"]["g1"]
    assert u1["by_batch"]["k1"]["shares"] == {"S": 0.1, "B": 0.8, "D": 0.1}


def test_one_item_figures_are_the_units_own():
    for name in ("ties",):
        res = evaluate_document(loads_bundle(case_bytes(name))).to_json()
        for u in res["units"]:
            item = u["items"]["overall"]
            assert item["score"] == u["score_ballot"] and item["group_scores"] == u["group_scores"]
            assert item["shares"] == u["shares"] and item["n"] == u["n_valid"]


def test_item_interval_is_null_without_replicates():
    ballots = [ballot(f"b{i}", "g1b", {"u1": {"overall": "S", "attitude": "B"}}) for i in range(5)]
    doc = make_bundle(ballots, items=(("overall", 1.0), ("attitude", 1.0)),
                      rules={"bootstrap": {"replicates": 0, "seed": 1}})
    items = evaluate_document(doc).to_json()["units"][0]["items"]
    assert items["attitude"]["ci95"] is None and items["attitude"]["score"] == 70.0


def test_item_interval_exists_with_replicates():
    ballots = [ballot(f"b{i}", "g1b", {"u1": {"overall": "S", "attitude": "SBD"[i % 3]}}) for i in range(12)]
    doc = make_bundle(ballots, items=(("overall", 1.0), ("attitude", 1.0)),
                      rules={"bootstrap": {"replicates": 200, "seed": 1}})
    items = evaluate_document(doc).to_json()["units"][0]["items"]
    lo, hi = items["attitude"]["ci95"]
    assert 0.0 <= lo < items["attitude"]["score"] < hi <= 100.0
    assert items["overall"]["ci95"] == [100.0, 100.0]


# ---------------------------------------------------------------------------
# The subset function


def test_breakdown_of_batches_equals_by_batch_and_whole_groups():
    doc = json.loads(case_bytes("small"))
    campaign = from_document(doc)
    results = evaluate(campaign)
    out = results.to_json()
    one = breakdown(campaign, ["client-sms"], results=results)
    assert one.batches == ("client-sms",)
    for unit in out["units"]:
        assert one.units[unit["code"]].to_json() == unit["by_batch"]["client-sms"]
    # All of a group's batches: that group's figures (combined over the one group: w·x / w).
    both = breakdown(campaign, ["client-sms", "client-email", "client-sms"], results=results)
    assert both.batches == ("client-email", "client-sms")
    for unit in out["units"]:
        got = both.units[unit["code"]]
        assert got.score == pytest.approx(unit["group_scores"]["client"], abs=1e-12)
        assert got.shares == pytest.approx(unit["group_shares"]["client"], abs=1e-12)
        assert got.n == unit["explain"]["groups"]["client"]["n"]
    # Without the results, the flags and weights are computed again: the same figures.
    again = breakdown(campaign, ["client-email", "client-sms"])
    assert again.to_json() == both.to_json()


def test_breakdown_of_every_batch_is_the_unit_ballot_score():
    doc = json.loads(case_bytes("tiny"))
    campaign = from_document(doc)
    results = evaluate(campaign)
    whole = breakdown(campaign, campaign.batch_codes, results=results)
    for unit in results.to_json()["units"]:
        assert whole.units[unit["code"]].score == pytest.approx(unit["score_ballot"], abs=1e-12)
        assert whole.units[unit["code"]].n == unit["n_valid"]


def test_breakdown_of_no_batch_is_empty():
    campaign = from_document(json.loads(case_bytes("tiny")))
    got = breakdown(campaign, [])
    assert got.batches == ()
    assert all(f.to_json() == {"n": 0, "score": None, "shares": None} for f in got.units.values())


def test_breakdown_refuses_unknown_batches_and_foreign_results():
    campaign = from_document(json.loads(case_bytes("tiny")))
    with pytest.raises(ValueError, match="nope"):
        breakdown(campaign, ["c1", "nope"])
    other = evaluate_document(json.loads(case_bytes("ties")))
    with pytest.raises(ValueError, match="campaign"):
        breakdown(campaign, ["c1"], results=other)


# ---------------------------------------------------------------------------
# Campaigns from arrays


def test_campaign_from_arrays_with_channels_and_attributes():
    answers = np.array([[[0]], [[1]], [[2]], [[0]]], dtype=np.int8)
    attr = Attribute("district", ("东区", "西区"), np.array([0, 1, -1, 1]))
    c = Campaign.from_arrays(option_points=[100, 70, 0, np.nan], item_weights=[1.0], unit_category=[0],
                             group_weights=[1.0], batch_group=[0, 0], batch_issued=[10, 10],
                             ballot_batch=[0, 0, 1, 1], answers=answers, batch_channel=["paper", "sms"],
                             attributes=[attr], rules={"bootstrap": {"replicates": 5, "seed": 1}})
    u = evaluate(c).to_json()["units"][0]
    assert u["by_channel"] == {"paper": {"n": 2, "score": 85.0, "shares": {"o0": 0.5, "o1": 0.5, "o2": 0.0}},
                               "sms": {"n": 2, "score": 50.0, "shares": {"o0": 0.5, "o1": 0.0, "o2": 0.5}}}
    assert u["by_attribute"]["district"]["西区"]["score"] == 85.0
    assert u["by_attribute"]["district"]["东区"]["n"] == 1
    # Without channels or attributes the breakdowns by them are empty.
    bare = Campaign.from_arrays(option_points=[100, 70, 0, np.nan], item_weights=[1.0], unit_category=[0],
                                group_weights=[1.0], batch_group=[0], batch_issued=[10], ballot_batch=[0, 0, 0, 0],
                                answers=answers)
    u = evaluate(bare).to_json()["units"][0]
    assert u["by_channel"] == {} and u["by_attribute"] == {} and u["by_batch"]["k0"]["n"] == 4


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_channel": ["paper", "sms"]}, "batch_channel"),
    ({"attributes": [Attribute("a", ("x",), np.array([0, 0]))]}, "shape"),
    ({"attributes": [Attribute("a", ("x",), np.array([0, 1, 0]))]}, "out of range"),
    ({"attributes": [Attribute("a", ("x",), np.zeros(3, dtype=np.int64))] * 2}, "twice"),
])
def test_campaign_from_arrays_checks_channels_and_attributes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Campaign.from_arrays(option_points=[100, 0], item_weights=[1.0], unit_category=[0], group_weights=[1.0],
                             batch_group=[0], batch_issued=[10], ballot_batch=[0, 0, 0],
                             answers=np.zeros((3, 1, 1), dtype=np.int8), **kwargs)


def test_attribute_keys():
    assert [attribute_key(v) for v in ("东区", "1", 1, 2.5, True, False, [1, "a"], {"b": 1, "a": 2})] == [
        "东区", "1", "1", "2.5", "true", "false", '[1,"a"]', '{"a":2,"b":1}']


@pytest.mark.parametrize("name", ["small", "tiny"])
def test_overall_item_shares_are_section_5s_not_computed_again(name, monkeypatch):
    # The overall item's shares are the units' shares of section 5: the item
    # figures count the option weights of the other items only.
    doc = json.loads(case_bytes(name))
    want = evaluate_document(doc).to_json()
    calls = []
    option_weights = breakdowns_module.option_weights

    def spy(answers, *args):
        calls.append(answers.shape)
        return option_weights(answers, *args)

    monkeypatch.setattr(breakdowns_module, "option_weights", spy)
    got = evaluate_document(doc, details=True)
    n_items, G = len(doc["items"]), len(doc["groups"])
    assert len(calls) == (n_items - 1) * G
    assert got.to_json() == want
    c = from_document(doc)
    overall = c.item_codes[c.overall_item]
    assert all(u["items"][overall]["shares"] == u["shares"] for u in got.to_json()["units"])


def _many_items_basis(trim, items=7, values=0):
    """300 ballots, 40 units, `items` items, two groups, three batches; an attribute of `values` values."""
    rng = np.random.default_rng(5)
    n, units = 300, 40
    answers = rng.integers(-1, 4, size=(n, units, items)).astype(np.int8)
    weights = rng.integers(1, 4, size=n).astype(float)
    attributes = [Attribute("place", tuple(f"p{k}" for k in range(values)), rng.integers(-1, values, size=n))]
    c = Campaign.from_arrays(option_points=[100, 70, 0, np.nan], item_weights=[2.0] + [1.0] * (items - 1),
                             unit_category=[0] * units, group_weights=[1.0, 2.0], batch_group=[0, 0, 1],
                             batch_issued=[200, 200, 200], ballot_batch=rng.integers(0, 3, size=n),
                             answers=answers, batch_channel=["paper", "sms", "paper"],
                             attributes=attributes if values else (), rules={"trim_per_end": trim})
    basis = breakdowns_module.score_basis(c, flag_ballots(c).scores, weights,
                                          valid_rows_by_group(c, np.ones(n, dtype=bool), np.arange(n)))
    return c, basis


@pytest.mark.parametrize("trim", [0.0, 0.2])
def test_many_items_stay_on_the_histograms(trim, monkeypatch):
    # Seven items of a four-option scale combine into 5**7 answer codes, but
    # into few (s(b, u), overall option) pairs: the histograms count the
    # pairs, so no subset is built apart (which costs several times more).
    c, basis = _many_items_basis(trim)
    apart = []
    build_apart = breakdowns_module._group_partials_apart
    monkeypatch.setattr(breakdowns_module, "_group_partials_apart",
                        lambda *args: apart.append(args[1]) or build_apart(*args))
    got = breakdowns_module.breakdowns(basis)
    assert apart == []
    # The same figures as building every subset's cells with section 5's functions.
    monkeypatch.setattr(breakdowns_module, "MAX_BINS", 0)
    want = breakdowns_module.breakdowns(basis)
    assert len(apart) == len(c.group_codes)  # every group, all partitions
    for a, b in [(got.by_batch, want.by_batch), (got.by_channel, want.by_channel)]:
        np.testing.assert_array_equal(a.n, b.n)
        np.testing.assert_allclose(a.score, b.score, rtol=0, atol=1e-9)
        np.testing.assert_allclose(a.shares, b.shares, rtol=0, atol=1e-12)
        assert not np.isnan(a.score).all()


def test_code_table_is_built_once_for_all_groups(monkeypatch):
    # The scores of the answer combinations depend on the campaign only: one
    # table serves every group (with eight items it is 390,625 rows).
    doc = json.loads(case_bytes("small"))
    c = from_document(doc)
    assert len(c.group_codes) > 1 and len(c.item_codes) > 1
    fl = flag_ballots(c)
    basis = breakdowns_module.score_basis(c, fl.scores, compute_weights(c, fl.valid),
                                          valid_rows_by_group(c, fl.valid, fl.id_rank))
    want = breakdowns_module.breakdowns(basis)
    tables = []
    scores = breakdowns_module.ballot_unit_scores

    def spy(answers, *args):
        tables.append(answers.shape)
        return scores(answers, *args)

    monkeypatch.setattr(breakdowns_module, "ballot_unit_scores", spy)
    got = breakdowns_module.breakdowns(basis)
    assert len(tables) == 1
    np.testing.assert_array_equal(got.by_batch.score, want.by_batch.score)
    np.testing.assert_array_equal(got.by_channel.shares, want.by_channel.shares)


@pytest.mark.parametrize("trim", [0.0, 0.2])
def test_partitions_of_many_subsets_are_read_in_ranges(trim, monkeypatch):
    # A partition whose histogram would pass MAX_BINS is read in ranges of its
    # subsets (here at most 4 per range: the 3 batches in one, the 50 places
    # in 13), not subset by subset with prepare_group (60 s instead of 2 s for
    # 2,000 values at 200,000 ballots).
    c, basis = _many_items_basis(trim, items=3, values=50)
    table = breakdowns_module._code_table(c)
    monkeypatch.setattr(breakdowns_module, "MAX_BINS", 5 * len(c.unit_codes) * table.n_codes)
    apart = []
    build_apart = breakdowns_module._group_partials_apart
    monkeypatch.setattr(breakdowns_module, "_group_partials_apart",
                        lambda *args: apart.append(args[1]) or build_apart(*args))
    got = breakdowns_module.breakdowns(basis)
    assert apart == []
    monkeypatch.setattr(breakdowns_module, "MAX_BINS", 0)
    want = breakdowns_module.breakdowns(basis)
    assert apart
    pairs = [(got.by_batch, want.by_batch), (got.by_channel, want.by_channel),
             (got.by_attribute["place"], want.by_attribute["place"])]
    for a, b in pairs:
        np.testing.assert_array_equal(a.n, b.n)
        np.testing.assert_allclose(a.score, b.score, rtol=0, atol=1e-9)
        np.testing.assert_allclose(a.shares, b.shares, rtol=0, atol=1e-12)
    assert got.by_attribute["place"].n.sum() > 0 and not np.isnan(got.by_attribute["place"].score).all()
