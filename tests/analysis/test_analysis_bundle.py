"""Reading and validating campaign bundles (SCORING.md section 1) and the rules they carry."""

import copy
import json

import numpy as np
import pytest
from analysis_testkit import ballot, case_bytes, make_bundle

from analysis import (
    DEFAULT_RULES,
    BundleError,
    BundleProblem,
    Campaign,
    effective_rules,
    from_document,
    loads_bundle,
    parse_instant_us,
    validate_bundle,
)


def tiny():
    return json.loads(case_bytes("tiny"))


def paths(doc):
    return [p.path for p in validate_bundle(doc)]


def test_valid_case_loads_with_order_kept():
    doc = loads_bundle(case_bytes("tiny"))
    assert list(doc)[:3] == ["format", "campaign", "scale"]
    assert [u["code"] for u in doc["units"]] == ["u1", "u2", "u3", "u4"]
    assert validate_bundle(doc) == []


def test_loads_accepts_str_and_bytes_with_bom():
    text = case_bytes("tiny").decode("utf-8")
    assert loads_bundle(text) == loads_bundle(b"\xef\xbb\xbf" + text.encode("utf-8"))


def test_invalid_json_reports_line_and_column():
    with pytest.raises(BundleError) as info:
        loads_bundle('{\n  "format": "pingyi-campaign/1",\n  "x": ]\n}')
    (p,) = info.value.problems
    assert p.path == "$"
    assert "3" in p.reason and "3" in p.reason_en


def test_duplicate_unit_answer_is_reported_at_its_path():
    text = case_bytes("tiny").decode("utf-8")
    # c05 answers u1 twice.
    target = '{"id":"c05","batch":"c1","submitted_at":"2026-11-02T13:00:00+08:00","attributes":{"district":"西区"},"answers":{'
    assert target in text
    text = text.replace(target, target + '"u1":{"overall":"S"},')
    with pytest.raises(BundleError) as info:
        loads_bundle(text)
    assert [p.path for p in info.value.problems] == ["ballots[4].answers.u1"]


def test_duplicate_item_answer_and_top_level_key():
    text = case_bytes("tiny").decode("utf-8")
    text = text.replace('"answers":{"u1":{"overall":"S","attitude":"S"}', '"answers":{"u1":{"overall":"S","overall":"B","attitude":"S"}', 1)
    text = text.replace('{"format":"pingyi-campaign/1",', '{"format":"pingyi-campaign/1","format":"pingyi-campaign/1",', 1)
    with pytest.raises(BundleError) as info:
        loads_bundle(text)
    assert [p.path for p in info.value.problems] == ["format", "ballots[0].answers.u1.overall"]


def test_error_json_shape():
    err = BundleError([BundleProblem("ballots[3].answers.u99", "未知单位 u99", "unknown unit u99")])
    assert err.to_json() == {"format": "pingyi-errors/1", "errors": [
        {"path": "ballots[3].answers.u99", "reason": "未知单位 u99", "reason_en": "unknown unit u99"}]}
    assert isinstance(err, ValueError)
    assert "ballots[3].answers.u99" in str(err)


@pytest.mark.parametrize("mutate, expected_paths", [
    (lambda d: d["units"][0].update(category="nope"), ["units[0].category"]),
    (lambda d: d["units"].append(dict(d["units"][0])), ["units[4].code"]),
    (lambda d: d["items"][1].update(weight=-1), ["items[1].weight"]),
    (lambda d: d["items"][1].update(weight="1"), ["items[1].weight"]),
    (lambda d: d["scale"].append(dict(d["scale"][0])), ["scale[4].code"]),
    (lambda d: d["categories"].append(dict(d["categories"][0])), ["categories[2].code"]),
    (lambda d: d["groups"][0].update(weight=0), ["groups[0].weight"]),
    (lambda d: d["batches"][0].update(group="zz"), ["batches[0].group"]),
    (lambda d: d["batches"][0].update(channel="fax"), ["batches[0].channel"]),
    (lambda d: d["batches"][1].update(issued=-3), ["batches[1].issued"]),
    (lambda d: d["batches"][1].update(issued=2.5), ["batches[1].issued"]),
    (lambda d: d["batches"][1].update(issued="10"), ["batches[1].issued"]),
    (lambda d: d["batches"].append(dict(d["batches"][0])), ["batches[3].code"]),
    (lambda d: d["ballots"][3]["answers"]["u1"].update(speed="S"), ["ballots[3].answers.u1.speed"]),
    (lambda d: d["ballots"][3]["answers"]["u1"].update(overall="Q"), ["ballots[3].answers.u1.overall"]),
    (lambda d: d["ballots"][3]["answers"]["u1"].update(overall=1), ["ballots[3].answers.u1.overall"]),
    (lambda d: d["ballots"][3].pop("submitted_at"), ["ballots[3].submitted_at"]),
    (lambda d: d["ballots"][3].update(submitted_at="yesterday"), ["ballots[3].submitted_at"]),
    (lambda d: d["ballots"][3].update(duration_s="fast"), ["ballots[3].duration_s"]),
    (lambda d: d["ballots"][3].update(id=5), ["ballots[3].id"]),
    (lambda d: d["ballots"][5].update(id="c01"), ["ballots[5].id"]),
    (lambda d: d["objective_scores"].append(dict(d["objective_scores"][0])), ["objective_scores[3]"]),
    (lambda d: d["objective_scores"][0].update(unit="zz"), ["objective_scores[0].unit"]),
    (lambda d: d["objective_scores"][0].update(score="90"), ["objective_scores[0].score"]),
    (lambda d: d["vetoes"][0].update(unit="zz"), ["vetoes[0].unit"]),
    (lambda d: d["rules"].update(overall_item="zz"), ["rules.overall_item"]),
    (lambda d: d["rules"].update(exclude_flags=["duplicate", "robot"]), ["rules.exclude_flags[1]"]),
    (lambda d: d["rules"].update(trim_per_end=0.5), ["rules.trim_per_end"]),
    (lambda d: d["rules"].update(trim_per_end=-0.1), ["rules.trim_per_end"]),
    (lambda d: d["rules"].update(min_valid_per_unit="8"), ["rules.min_valid_per_unit"]),
    (lambda d: d["rules"].update(nonresponse_adjust=1), ["rules.nonresponse_adjust"]),
    (lambda d: d["rules"].update(bottom={"n": 0, "below": 75}), ["rules.bottom.n"]),
    (lambda d: d["rules"].update(unknown_rule=1), ["rules.unknown_rule"]),
    (lambda d: d["margins"].update(zz={"district": {"东区": 1}}), ["margins.zz"]),
    (lambda d: d["margins"]["client"]["district"].update(东区=-1), ["margins.client.district.东区"]),
    (lambda d: d.update(format="pingyi-campaign/2"), ["format"]),
])
def test_each_problem_is_reported_at_its_path(mutate, expected_paths):
    doc = tiny()
    mutate(doc)
    assert paths(doc) == expected_paths


def test_every_problem_is_listed_not_just_the_first():
    doc = tiny()
    doc["groups"][1]["weight"] = 0
    doc["ballots"][2]["answers"]["u1"]["overall"] = "X"
    doc["ballots"][20]["batch"] = "nope"
    doc["ballots"][21]["answers"]["u77"] = {"overall": "S"}
    assert paths(doc) == ["groups[1].weight", "ballots[2].answers.u1.overall", "ballots[20].batch",
                          "ballots[21].answers.u77"]


def test_more_returned_than_issued_counts_blank_ballots_too():
    doc = tiny()
    doc["batches"][0]["issued"] = 10  # c1 returned 11, one of them blank
    assert paths(doc) == ["batches[0].issued"]
    doc["batches"][0]["issued"] = 11
    assert paths(doc) == []


def test_wrong_types_everywhere_do_not_crash():
    for bad in (None, [], "x", 3):
        for key in ("campaign", "scale", "items", "units", "groups", "batches", "ballots", "rules", "margins"):
            doc = tiny()
            doc[key] = bad
            if (bad is None and key in ("rules", "margins")) or (bad == [] and key != "items"):
                paths(doc)  # an empty list can be valid; it must not crash
                continue
            assert paths(doc), (key, bad)
    assert paths([]) == ["$"]


def test_effective_rules_layers():
    r = effective_rules({"thresholds": {"satisfied": 90}, "bootstrap": {"seed": 5}, "bottom": {"n": 1, "below": 75}},
                        {"thresholds": {"basic": 50}, "weight_cap": None})
    assert r["thresholds"] == {"satisfied": 90, "basic": 50}
    assert r["bootstrap"] == {"replicates": 1000, "seed": 5}
    assert r["bottom"] == {"n": 1, "below": 75}
    assert r["weight_cap"] is None
    assert r["min_valid_per_unit"] == 8
    assert effective_rules(None) == DEFAULT_RULES
    assert effective_rules(None) is not DEFAULT_RULES


def test_effective_rules_refuses_bad_override():
    with pytest.raises(BundleError) as info:
        effective_rules({}, {"trim_per_end": 0.7})
    assert info.value.problems[0].path == "rules.trim_per_end"


def test_default_rules_are_section_8():
    assert DEFAULT_RULES == {
        "ballot_share": 1.0, "objective_components": {},
        "thresholds": {"satisfied": 85, "basic": 60},
        "max_dissatisfied_share": None, "bottom": None,
        "min_valid_per_unit": 8, "trim_per_end": 0.0,
        "nonresponse_adjust": True, "weight_cap": 5,
        "exclude_flags": ["duplicate"], "burst_limit": 20,
        "overall_item": None,
        "bootstrap": {"replicates": 1000, "seed": 20261123}}


def test_instants():
    assert parse_instant_us("2026-11-02T09:00:00+08:00") == parse_instant_us("2026-11-02T01:00:00+00:00")
    assert parse_instant_us("2026-11-02T09:00:00") == parse_instant_us("2026-11-02T01:00:00Z")
    with pytest.raises(ValueError):
        parse_instant_us("2026-13-02T09:00:00")


def test_from_document_arrays():
    c = from_document(loads_bundle(case_bytes("tiny")))
    assert c.answers.shape == (28, 4, 2)
    assert c.answers.dtype == np.int8
    assert c.batch_issued.tolist() == [12, 10, -1]
    assert c.veto.tolist() == [False, True, False, False]
    assert c.objective_components == ("work",)
    assert np.isnan(c.objective[2, 0])
    assert c.rules["trim_per_end"] == 0.1
    (m,) = c.margins
    assert m.categories == ("东区", "西区") and m.codes[:3].tolist() == [0, 0, 0]
    # 不了解 kept as an answer: c08 answered u3 overall U.
    assert c.option_codes[c.answers[7, 2, 0]] == "U"


def test_margin_values_compare_as_json_values():
    doc = make_bundle([ballot("a", "g1b", {"u1": "S"}, attributes={"k": 1}),
                       ballot("b", "g1b", {"u1": "S"}, attributes={"k": "1"}),
                       ballot("c", "g1b", {"u1": "S"}, attributes={"k": None}),
                       ballot("d", "g1b", {"u1": "S"}, attributes={"k": 1.0})],
                      margins={"g1": {"k": {"1": 0.5, "2": 0.5}}})
    c = from_document(doc)
    assert c.margins[0].codes.tolist() == [-2, 0, -1, -2]


def test_from_arrays_checks_shapes():
    with pytest.raises(ValueError, match="units"):
        Campaign.from_arrays(option_points=[100, 0], item_weights=[1], unit_category=[0, 0, 0], group_weights=[1],
                             batch_group=[0], batch_issued=[-1], ballot_batch=[0], answers=np.zeros((1, 2, 1), dtype=np.int8))
    with pytest.raises(ValueError, match="group weights"):
        Campaign.from_arrays(option_points=[100, 0], item_weights=[1], unit_category=[0], group_weights=[0],
                             batch_group=[0], batch_issued=[-1], ballot_batch=[0], answers=np.zeros((1, 1, 1), dtype=np.int8))


def test_from_document_refuses_invalid():
    doc = tiny()
    doc["units"][0]["category"] = "nope"
    with pytest.raises(BundleError):
        from_document(doc)
    # The bundle given is not modified.
    doc2 = tiny()
    before = copy.deepcopy(doc2)
    from_document(doc2)
    assert doc2 == before
