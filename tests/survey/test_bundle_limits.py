"""Trust issue item 11: every reproduced defect of bundle import is refused
(exit 2, a JSON path, no traceback, nothing written) by the application's
CLI and by ``python -m analysis evaluate``; the database's CHECKs guard the
same limits; and a property-based fuzz of bundle import never gets anything
but an import or a BundleError, a refusal writing nothing."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import DataError, IntegrityError

from analysis import BundleError
from survey.bundles import LIMITS, import_bundle_text
from survey.extensions import db
from survey.models import Answer, Ballot, Batch, Campaign, CampaignUnit, Category, Item, Unit, Veto

ROOT = Path(__file__).parent.parent.parent
TINY = json.loads((ROOT / "tests" / "data" / "conformance" / "cases" / "tiny.json").read_text("utf-8"))
TABLES = (Campaign, Unit, Category, CampaignUnit, Item, Batch, Ballot, Answer, Veto)


def _counts() -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(m)) or 0 for m in TABLES)


def _edit(change: Callable[[dict[str, Any]], None]) -> str:
    doc = copy.deepcopy(TINY)
    change(doc)
    return json.dumps(doc, ensure_ascii=False)


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


def _deep(doc_text: str, depth: int) -> str:
    return doc_text[:-1] + ', "extensions": ' + "[" * depth + "]" * depth + "}"


#: name → (bundle text, a path the refusal must name); each one a reproduced defect.
DEFECTS: dict[str, tuple[str, str]] = {
    "integer 10**30": (_edit(_set(["batches", 0, "issued"], 10**30)), "batches[0].issued"),
    "100,000-deep nesting": (_deep(json.dumps(TINY, ensure_ascii=False), 100_000), "extensions"),
    "lone surrogate": (_edit(_set(["units", 0, "name"], "\ud800")).replace("\ud800", "\\ud800"), "units[0].name"),
    "group weights 1e308": (_edit(lambda d: [g.__setitem__("weight", 1e308) for g in d["groups"]]),
                            "groups[0].weight"),
    "NUL in a unit name": (_edit(_set(["units", 0, "name"], "市\x00局")), "units[0].name"),
    "5 MB campaign name": (_edit(_set(["campaign", "name"], "评" * 5_000_000)), "campaign.name"),
    "code ../../etc": (_edit(_set(["campaign", "code"], "../../etc")), "campaign.code"),
    "year 9999": (_edit(_set(["ballots", 0, "submitted_at"], "9999-11-02T09:15:00+08:00")),
                  "ballots[0].submitted_at"),
}
#: What the analysis itself refuses (implementation limits); the rest SCORING.md accepts.
ANALYSIS_REFUSES = {"integer 10**30", "100,000-deep nesting", "lone surrogate", "group weights 1e308"}


@pytest.mark.parametrize("name", list(DEFECTS))
def test_cli_import_refuses_defect(app, tmp_path: Path, name: str) -> None:
    text, path = DEFECTS[name]
    bundle = tmp_path / "bundle.json"
    bundle.write_text(text, encoding="utf-8", errors="surrogatepass")
    with app.app_context():
        before = _counts()
    result = app.test_cli_runner().invoke(args=["campaign", "import", "--json-errors", str(bundle)])
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    paths = [e["path"] for e in report["errors"]]
    assert any(p.startswith(path) for p in paths), paths
    assert all(e["reason"] and e["reason_en"] for e in report["errors"])
    with app.app_context():
        assert _counts() == before


@pytest.mark.parametrize("name", sorted(ANALYSIS_REFUSES))
def test_analysis_cli_refuses_what_it_cannot_represent(tmp_path: Path, name: str) -> None:
    text, path = DEFECTS[name]
    bundle = tmp_path / "bundle.json"
    bundle.write_text(text, encoding="utf-8", errors="surrogatepass")
    run = subprocess.run([sys.executable, "-m", "analysis", "evaluate", str(bundle)], capture_output=True,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 2, run.stderr.decode()
    assert b"Traceback" not in run.stderr
    report = json.loads(run.stdout)
    assert report["format"] == "pingyi-errors/1"
    assert any(e["path"].startswith(path) for e in report["errors"]), report


@pytest.mark.parametrize("name", sorted(set(DEFECTS) - ANALYSIS_REFUSES))
def test_analysis_cli_still_accepts_what_scoring_accepts(tmp_path: Path, name: str) -> None:
    """A NUL, a long name, any code and any year are the application's limits, not SCORING.md's."""
    text, _ = DEFECTS[name]
    if name == "5 MB campaign name":
        text = _edit(_set(["campaign", "name"], "评" * 5000))
    bundle = tmp_path / "bundle.json"
    bundle.write_text(text, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "analysis", "evaluate", str(bundle)], capture_output=True,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stdout[:500]


def test_limits_table_is_documented() -> None:
    assert LIMITS["campaign.name"].max_len == 200
    assert LIMITS["batches[].code"].max_len == 24 and LIMITS["batches[].code"].code
    assert all(limit.zh for limit in LIMITS.values())


# --- the database's CHECKs -------------------------------------------------------------------

BAD_ROWS: dict[str, Callable[[], object]] = {
    "unit code characters": lambda: Unit(code="../../etc", name="x"),
    "unit code empty": lambda: Unit(code="", name="x"),
    "unit name length": lambda: Unit(code="u-long", name="x" * 201),
    "category label length": lambda: Category(code="c-long", label="x" * 201),
    "campaign year": lambda: Campaign(code="y9999", name="x", year=9999),
    "campaign code characters": lambda: Campaign(code="a b", name="x", year=2026),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_database_refuses_beyond_limits(ctx, case: str) -> None:
    # PostgreSQL's varchar(n) refuses an over-long string itself (DataError); SQLite needs the CHECK.
    with pytest.raises((IntegrityError, DataError)):
        db.session.add(BAD_ROWS[case]())
        db.session.flush()
    db.session.rollback()


def test_migration_created_the_checks(ctx) -> None:
    names = {c["name"] for c in inspect(db.engine).get_check_constraints("unit")}
    assert {"ck_unit_code_length", "ck_unit_code_chars", "ck_unit_name_length"} <= names


# --- fuzzing ---------------------------------------------------------------------------------

_WEIRD_TEXT = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", "../../etc", "a b", "\x00", "\x1b[31m", "\ud800", "NaN", "Infinity", "-0", "1e308",
                     "9999-01-01T00:00:00", "0001-01-01T00:00:00", "2026-11-02T09:15:00+14:00"]),
    st.integers(min_value=1, max_value=3).map(lambda k: "长" * (10 ** (k + 1) // 2)),
)
_SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**30, -(10**30), 2**63, 2**63 - 1, 0, -1, 10**7 + 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 5e-324, 0.0, 1000.0, 1000.5]),
    _WEIRD_TEXT,
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)), max_leaves=6)


def _nodes(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _nodes(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _nodes(v, (*path, i))
    return out


_PATHS = _nodes(TINY)[1:]


def _mutate(doc: dict[str, Any], path: tuple[Any, ...], action: str, value: Any) -> str:
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    last = path[-1]
    if action == "delete" and isinstance(node, dict):
        del node[last]
    elif action == "deep":
        node[last] = json.loads("[" * 40 + "]" * 40)
        return json.dumps(doc, ensure_ascii=False).replace("[" * 40 + "]" * 40,
                                                           "[" * 200 + "]" * 200, 1)
    else:
        node[last] = value
    return json.dumps(doc, ensure_ascii=True)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutations=st.lists(st.tuples(st.sampled_from(_PATHS), st.sampled_from(["replace", "replace", "delete", "deep"]),
                                    _VALUES), min_size=1, max_size=3),
       code=st.integers(min_value=0, max_value=10**6))
def test_fuzz_import_is_all_or_nothing(app, mutations: list[tuple[tuple[Any, ...], str, Any]], code: int) -> None:
    """A mutated valid bundle imports or is refused with BundleError, and a refusal writes nothing."""
    doc = copy.deepcopy(TINY)
    doc["campaign"]["code"] = f"fz{code}"
    text = json.dumps(doc)
    for path, action, value in mutations:
        try:
            text = _mutate(json.loads(text), path, action, value)
        except (KeyError, IndexError, TypeError):
            continue  # the path no longer exists after an earlier mutation
    with app.app_context():
        before = _counts()
        try:
            import_bundle_text(text.encode("utf-8", "surrogatepass"))
            db.session.commit()
        except BundleError as exc:
            db.session.rollback()
            assert exc.problems and all(p.path and p.reason and p.reason_en for p in exc.problems)
            assert _counts() == before
        finally:
            db.session.rollback()
            # Leave no campaign behind for the next example (codes are drawn, and may repeat).
            for campaign in db.session.scalars(select(Campaign)).all():
                db.session.delete(campaign)
            db.session.commit()
            db.session.remove()
