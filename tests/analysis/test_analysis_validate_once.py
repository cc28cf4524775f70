"""A bundle is validated once on the CLI path, and the per-record validators can be driven one record at a time."""

import json

import pytest
from analysis_testkit import CONFORMANCE, case_bytes

import analysis._validate as validate_module
from analysis import BundleError, evaluate_document, from_document, loads_bundle, validate_bundle
from analysis.__main__ import main
from analysis._validate import BundleContext, finish_ballots, validate_ballot, validate_batch


@pytest.fixture
def count_validations(monkeypatch):
    calls = []
    real = validate_module.validate_bundle

    def counting(doc):
        calls.append(1)
        return real(doc)

    monkeypatch.setattr(validate_module, "validate_bundle", counting)
    return calls


def test_cli_validates_the_bundle_once(count_validations, capsysbinary):
    path = CONFORMANCE / "cases" / "tiny.json"
    assert main(["evaluate", str(path)]) == 0
    assert json.loads(capsysbinary.readouterr().out)["format"] == "pingyi-results/1"
    assert len(count_validations) == 1


def test_cli_refusal_validates_once(count_validations, capsysbinary):
    path = CONFORMANCE / "cases" / "invalid_duplicate_id.json"
    assert main(["evaluate", str(path)]) == 2
    assert json.loads(capsysbinary.readouterr().out)["format"] == "pingyi-errors/1"
    assert len(count_validations) == 1


def test_validated_flag_skips_validation_only_when_asked(count_validations):
    doc = loads_bundle(case_bytes("tiny"))
    assert len(count_validations) == 1
    from_document(doc, validated=True)
    evaluate_document(doc, validated=True)
    assert len(count_validations) == 1
    from_document(doc)
    assert len(count_validations) == 2


def test_validated_document_still_checks_the_override():
    doc = loads_bundle(case_bytes("tiny"))
    with pytest.raises(BundleError) as info:
        from_document(doc, {"trim_per_end": 0.7}, validated=True)
    assert [p.path for p in info.value.problems] == ["rules.trim_per_end"]


def test_ballots_validated_one_at_a_time_as_a_whole_document():
    doc = json.loads(case_bytes("tiny"))
    doc["ballots"][3]["id"] = doc["ballots"][1]["id"]
    doc["ballots"][5]["answers"]["u99"] = {"overall": "S"}
    doc["batches"][0]["issued"] = 1
    whole = [p for p in validate_bundle(doc) if p.path.startswith(("ballots", "batches"))]
    ctx = BundleContext(groups={g["code"]: i for i, g in enumerate(doc["groups"])},
                        units={u["code"]: i for i, u in enumerate(doc["units"])},
                        items={it["code"]: i for i, it in enumerate(doc["items"])},
                        options={o["code"]: i for i, o in enumerate(doc["scale"])})
    streamed = []
    for i, batch in enumerate(doc["batches"]):
        streamed.extend(validate_batch(batch, i, ctx))
    for i, ballot in enumerate(iter(doc["ballots"])):
        streamed.extend(validate_ballot(ballot, i, ctx))
    streamed.extend(finish_ballots(ctx))
    assert streamed == whole
    assert {p.path for p in streamed} == {"ballots[3].id", "ballots[5].answers.u99", "batches[0].issued"}
