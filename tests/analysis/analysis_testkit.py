"""Shared helpers of the analysis tests: the conformance data and a small bundle builder."""

from __future__ import annotations

import copy
import json
import pathlib

DATA = pathlib.Path(__file__).resolve().parents[1] / "data"
CONFORMANCE = DATA / "conformance"
VALID_CASES = ("tiny", "ties", "small")
INVALID_CASES = ("invalid_duplicate_id", "invalid_returned_gt_issued", "invalid_unknown_unit",
                 "invalid_zero_group_weight")

DETERMINISTIC_TOL = 1e-6
CI_TOL = 1.0
STABILITY_TOL = 0.05


def case_bytes(name: str) -> bytes:
    return (CONFORMANCE / "cases" / f"{name}.json").read_bytes()


def expected(name: str) -> dict:
    suffix = ".errors.json" if name.startswith("invalid_") else ".json"
    return json.loads((CONFORMANCE / "expected" / f"{name}{suffix}").read_text(encoding="utf-8"))


def expected_extra(name: str) -> dict:
    """The expected results with the keys of SCORING.md section 5a (``extra/``)."""
    return json.loads((CONFORMANCE / "extra" / f"{name}.json").read_text(encoding="utf-8"))


def warning_keys(warnings) -> list:
    return sorted((w["code"], w.get("group"), w.get("unit"), w.get("component")) for w in warnings)


def compare_results(got: dict, want: dict) -> list[str]:
    """Differences between results documents under the conformance README's tolerances."""
    problems: list[str] = []

    def walk(a, b, path):
        if path.endswith(".warnings") or path.endswith(".message"):
            return
        if isinstance(b, dict):
            if a is None and not b:
                return
            if not isinstance(a, dict):
                problems.append(f"{path}: got {a!r}, want an object")
                return
            for k, v in b.items():
                walk(a.get(k), v, f"{path}.{k}")
        elif isinstance(b, list):
            if not isinstance(a, list) or len(a) != len(b):
                problems.append(f"{path}: got {a!r}, want {b!r}")
                return
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{path}[{i}]")
        elif isinstance(b, bool) or isinstance(a, bool):
            if path.endswith(".borderline"):
                return  # checked against the expected stability below
            if a != b:
                problems.append(f"{path}: got {a!r}, want {b!r}")
        elif isinstance(b, (int, float)) and not isinstance(b, bool) and b is not None:
            if a is None:
                problems.append(f"{path}: got null, want {b!r}")
                return
            tol = CI_TOL if ".ci95" in path else STABILITY_TOL if path.endswith(".stability") else DETERMINISTIC_TOL
            if abs(a - b) > tol:
                problems.append(f"{path}: got {a!r}, want {b!r}")
        else:
            if a != b:
                problems.append(f"{path}: got {a!r}, want {b!r}")

    walk(got, want, "$")
    for gu, wu in zip(got.get("units", []), want.get("units", []), strict=False):
        st = wu.get("stability")
        if st is not None and abs(st - 0.95) > 0.05 and gu.get("borderline") != wu.get("borderline"):
            problems.append(f"$.units[{gu.get('code')}].borderline: got {gu.get('borderline')}, want {wu.get('borderline')}")
    if warning_keys(got.get("warnings", [])) != warning_keys(want.get("warnings", [])):
        problems.append(f"warnings: got {warning_keys(got.get('warnings', []))}, want {warning_keys(want.get('warnings', []))}")
    return problems


SCALE = [
    {"code": "S", "label": "满意", "points": 100},
    {"code": "B", "label": "基本满意", "points": 70},
    {"code": "D", "label": "不满意", "points": 0},
    {"code": "U", "label": "不了解", "points": None},
]


def make_bundle(ballots, *, units=("u1", "u2"), groups=(("g1", 1.0),), batches=None, items=(("overall", 1.0),),
                margins=None, rules=None, objective_scores=None, vetoes=None, categories=("cat",)) -> dict:
    """A small valid bundle; ballots are dicts with at least id, batch and answers."""
    if batches is None:
        batches = [{"code": f"{g}b", "group": g, "channel": "paper", "issued": 1000} for g, _ in groups]
    full = []
    for i, b in enumerate(ballots):
        b = copy.deepcopy(b)
        b.setdefault("submitted_at", f"2026-11-02T{8 + (i // 3600) % 12:02d}:{(i // 60) % 60:02d}:{i % 60:02d}+08:00")
        full.append(b)
    doc = {
        "format": "pingyi-campaign/1",
        "campaign": {"code": "t", "name": "测试", "anonymous": True},
        "scale": copy.deepcopy(SCALE),
        "items": [{"code": c, "label": c, "weight": w} for c, w in items],
        "categories": [{"code": c, "label": c} for c in categories],
        "units": [{"code": u, "name": u, "category": categories[i % len(categories)]} for i, u in enumerate(units)],
        "groups": [{"code": g, "label": g, "weight": w} for g, w in groups],
        "batches": batches,
        "ballots": full,
    }
    if margins is not None:
        doc["margins"] = margins
    if objective_scores is not None:
        doc["objective_scores"] = objective_scores
    if vetoes is not None:
        doc["vetoes"] = vetoes
    doc["rules"] = {"bootstrap": {"replicates": 20, "seed": 1}, **(rules or {})}
    return doc


def ballot(bid, batch, answers, **extra) -> dict:
    """A ballot; `answers` maps unit -> option code (overall item) or unit -> {item: option}."""
    ans = {u: (v if isinstance(v, dict) else {"overall": v}) for u, v in answers.items()}
    return {"id": bid, "batch": batch, "answers": ans, **extra}
