"""The conformance cases of SCORING.md, through the Python API and the command line."""

import json
import subprocess
import sys

import pytest
from analysis_testkit import (
    CONFORMANCE,
    INVALID_CASES,
    VALID_CASES,
    case_bytes,
    compare_results,
    expected,
    expected_extra,
)

from analysis import BundleError, evaluate_document, loads_bundle

ROOT = CONFORMANCE.parents[2]


@pytest.mark.parametrize("name", VALID_CASES)
def test_case_through_api(name):
    got = evaluate_document(loads_bundle(case_bytes(name))).to_json()
    assert compare_results(got, expected(name)) == []


@pytest.mark.parametrize("name", VALID_CASES)
def test_case_through_cli(name):
    proc = subprocess.run(
        [sys.executable, "-m", "analysis", "evaluate", str(CONFORMANCE / "cases" / f"{name}.json")],
        capture_output=True, cwd=ROOT, check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    got = json.loads(proc.stdout.decode("utf-8"))
    assert got["format"] == "pingyi-results/1"
    assert compare_results(got, expected(name)) == []


@pytest.mark.parametrize("name", VALID_CASES)
def test_section_5a_through_api(name):
    # extra/ holds the same results plus the per-item figures and breakdowns of §5a.
    got = evaluate_document(loads_bundle(case_bytes(name))).to_json()
    want = expected_extra(name)
    assert compare_results(got, want) == []
    # Every key of §5a is there for every unit (compare_results lets a missing key pass for null).
    for gu, wu in zip(got["units"], want["units"], strict=True):
        for key in ("items", "by_batch", "by_channel", "by_attribute"):
            assert set(gu[key]) == set(wu.get(key, {})), (gu["code"], key)


def test_section_5a_through_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "analysis", "evaluate", str(CONFORMANCE / "cases" / "small.json")],
        capture_output=True, cwd=ROOT, check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert compare_results(json.loads(proc.stdout.decode("utf-8")), expected_extra("small")) == []


@pytest.mark.parametrize("name", INVALID_CASES)
def test_refusal_through_api(name):
    with pytest.raises(BundleError) as info:
        loads_bundle(case_bytes(name))
    paths = {p.path for p in info.value.problems}
    for err in expected(name)["errors"]:
        assert err["path"] in paths
    doc = info.value.to_json()
    assert doc["format"] == "pingyi-errors/1"
    assert all(set(e) == {"path", "reason", "reason_en"} for e in doc["errors"])


@pytest.mark.parametrize("name", INVALID_CASES)
def test_refusal_through_cli(name):
    proc = subprocess.run(
        [sys.executable, "-m", "analysis", "evaluate", str(CONFORMANCE / "cases" / f"{name}.json")],
        capture_output=True, cwd=ROOT, check=False,
    )
    assert proc.returncode == 2
    got = json.loads(proc.stdout.decode("utf-8"))
    assert got["format"] == "pingyi-errors/1"
    paths = {e["path"] for e in got["errors"]}
    for err in expected(name)["errors"]:
        assert err["path"] in paths


def test_conformance_files_are_copies_of_the_shared_ones():
    # The copy must equal the office's folder exactly: every file of the
    # shared tree present and byte-identical here, and nothing here it lacks.
    shared = ROOT.parent / "shared" / "conformance"
    if not shared.exists():
        pytest.skip("no shared conformance folder on this machine")

    def tree(top):
        return {p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()}

    theirs, ours = tree(shared), tree(CONFORMANCE)
    assert theirs, f"{shared} holds no file"
    assert sorted(theirs - ours) == [], "missing from tests/data/conformance"
    assert sorted(ours - theirs) == [], "in tests/data/conformance but not in the shared folder"
    differ = sorted(f for f in theirs if (CONFORMANCE / f).read_bytes() != (shared / f).read_bytes())
    assert differ == [], "differ from the shared folder"


def test_cli_unreadable_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "analysis", "evaluate", str(tmp_path / "missing.json")],
                          capture_output=True, cwd=ROOT, check=False)
    assert proc.returncode == 2
    assert b"missing.json" in proc.stderr


def test_cli_invalid_json(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text('{"format": "pingyi-campaign/1",\n  "campaign": }', encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "analysis", "evaluate", str(f)],
                          capture_output=True, cwd=ROOT, check=False)
    assert proc.returncode == 2
    err = json.loads(proc.stdout)["errors"]
    assert err[0]["path"] == "$" and "2" in err[0]["reason_en"]


def test_cli_rules_override(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"thresholds": {"satisfied": 99}, "bootstrap": {"replicates": 10}}), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "analysis", "evaluate", str(CONFORMANCE / "cases" / "tiny.json"),
                           "--rules", str(rules)], capture_output=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    got = json.loads(proc.stdout)
    u1 = got["units"][0]
    assert u1["explain"]["distance"]["satisfied"] == pytest.approx(u1["score"] - 99)


@pytest.mark.parametrize("override, path", [({"trim_per_end": 0.5}, "rules.trim_per_end"),
                                            ({"overall_item": "nope"}, "rules.overall_item")])
def test_cli_bad_rules_override(tmp_path, override, path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(override), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "analysis", "evaluate", str(CONFORMANCE / "cases" / "tiny.json"),
                           "--rules", str(rules)], capture_output=True, cwd=ROOT, check=False)
    assert proc.returncode == 2, proc.stderr.decode()
    assert json.loads(proc.stdout)["errors"][0]["path"] == path


def test_cli_help():
    proc = subprocess.run([sys.executable, "-m", "analysis", "evaluate", "--help"],
                          capture_output=True, cwd=ROOT, check=False)
    assert proc.returncode == 0
    assert b"BUNDLE.json" in proc.stdout
