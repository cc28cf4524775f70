"""Properties of the scoring that must hold for any campaign (hypothesis)."""

import copy
import math

from analysis_testkit import make_bundle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import evaluate_document, from_document
from analysis.evaluate import compute_weights
from analysis.flags import flag_ballots

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UNITS = ("u1", "u2", "u3", "u4")
OPTIONS = ("S", "B", "D", "U")


@st.composite
def bundles(draw, with_margins=True):
    n_groups = draw(st.integers(1, 3))
    groups = tuple((f"g{i}", draw(st.sampled_from([0.2, 0.25, 0.5, 1.0]))) for i in range(n_groups))
    batches = [{"code": f"g{i}b", "group": f"g{i}", "channel": "paper", "issued": 200} for i in range(n_groups)]
    n = draw(st.integers(0, 40))
    ballots = []
    for i in range(n):
        answers = {}
        for u in UNITS:
            if draw(st.booleans()):
                answers[u] = {"overall": draw(st.sampled_from(OPTIONS))}
                if draw(st.booleans()):
                    answers[u]["attitude"] = draw(st.sampled_from(OPTIONS))
        ballots.append({"id": f"{draw(st.integers(0, 10**6)):07d}-{i}", "batch": f"g{draw(st.integers(0, n_groups - 1))}b",
                        "submitted_at": f"2026-11-02T10:{i // 60:02d}:{i % 60:02d}+08:00",
                        "duration_s": draw(st.sampled_from([20, 100, 150, 300])),
                        "attributes": {"d": draw(st.sampled_from(["东", "西"]))}, "answers": answers})
    margins = {"g0": {"d": {"东": 0.4, "西": 0.6}}} if with_margins and draw(st.booleans()) else None
    rules = {"min_valid_per_unit": draw(st.sampled_from([0, 1, 3])),
             "trim_per_end": draw(st.sampled_from([0.0, 0.1, 0.25])),
             "weight_cap": draw(st.sampled_from([None, 1.5, 5])),
             "bottom": draw(st.sampled_from([None, {"n": 1, "below": 75}])),
             "max_dissatisfied_share": draw(st.sampled_from([None, 0.3])),
             "bootstrap": {"replicates": 15, "seed": 3}}
    return make_bundle(ballots, units=UNITS, groups=groups, batches=batches, margins=margins, rules=rules,
                       items=(("overall", 2.0), ("attitude", 1.0)), categories=("a", "b"))


def close(a, b, path="$"):
    """Results equal, floats to 1e-9 relative."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (path, a, b)
    else:
        assert a == b, (path, a, b)


def strip(doc):
    doc = copy.deepcopy(doc)
    doc.pop("warnings")
    return doc


@SETTINGS
@given(bundles(), st.randoms(use_true_random=False))
def test_permuting_ballots_changes_nothing(doc, rnd):
    before = evaluate_document(doc).to_json()
    shuffled = copy.deepcopy(doc)
    rnd.shuffle(shuffled["ballots"])
    after = evaluate_document(shuffled).to_json()
    close(strip(before), strip(after))


@SETTINGS
@given(bundles())
def test_scores_stay_in_range(doc):
    res = evaluate_document(doc).to_json()
    for u in res["units"]:
        for v in [u["score"], u["score_ballot"], *u["group_scores"].values(), *(u["ci95"] or [])]:
            assert v is None or -1e-9 <= v <= 100 + 1e-9
        for shares in [u["shares"], *u["group_shares"].values()]:
            if shares:
                assert all(-1e-12 <= x <= 1 + 1e-12 for x in shares.values())
                assert math.isclose(sum(shares.values()), 1.0, rel_tol=1e-9)


@SETTINGS
@given(bundles())
def test_group_totals_survive_raking_and_trimming(doc):
    c = from_document(doc)
    valid = flag_ballots(c).valid
    full = compute_weights(c, valid)
    plain = copy.deepcopy(doc)
    plain.pop("margins", None)
    plain["rules"]["weight_cap"] = None
    base = compute_weights(from_document(plain), valid)
    raked_groups = {m.group for m in c.margins}
    for g in range(len(c.group_codes)):
        rows = valid & (c.ballot_group == g)
        if g in raked_groups and not rows.any():
            continue
        assert math.isclose(full[rows].sum(), base[rows].sum(), rel_tol=1e-9, abs_tol=1e-9)


@SETTINGS
@given(bundles(with_margins=False), st.data())
def test_unknown_answer_on_personal_link_changes_no_score(doc, data):
    if not doc["ballots"]:
        return
    before = evaluate_document(doc).to_json()
    changed = copy.deepcopy(doc)
    b = changed["ballots"][data.draw(st.integers(0, len(doc["ballots"]) - 1))]
    missing = [(u, it) for u in UNITS for it in ("overall", "attitude") if it not in b["answers"].get(u, {})]
    if not missing:
        return
    u, it = data.draw(st.sampled_from(missing))
    b["answers"].setdefault(u, {})[it] = "U"
    after = evaluate_document(changed).to_json()
    for x, y in zip(before["units"], after["units"], strict=True):
        close({k: x[k] for k in ("score", "score_ballot", "group_scores", "class", "rank", "n_valid", "ci95", "stability")},
              {k: y[k] for k in ("score", "score_ballot", "group_scores", "class", "rank", "n_valid", "ci95", "stability")})


@SETTINGS
@given(bundles())
def test_doubling_group_weights_changes_nothing(doc):
    before = evaluate_document(doc).to_json()
    doubled = copy.deepcopy(doc)
    for g in doubled["groups"]:
        g["weight"] *= 2
    after = evaluate_document(doubled).to_json()
    for u in after["units"]:
        for g in u["explain"]["groups"].values():
            g["weight"] /= 2
    close(strip(before), strip(after))
