"""Bundle import and export: every valid conformance case loads, every
invalid one is refused with its listed paths and nothing written, and
export(import(x)) gives back x in the same order."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from analysis import BundleError
from survey.bundles import export_bundle, format_instant, import_bundle_text, parse_instant
from survey.extensions import db
from survey.models import Answer, Ballot, Campaign, Unit

CONFORMANCE = Path(__file__).parent.parent / "data" / "conformance"
VALID = sorted(p for p in (CONFORMANCE / "cases").glob("*.json") if not p.name.startswith("invalid_"))
INVALID = sorted((CONFORMANCE / "cases").glob("invalid_*.json"))


def _counts() -> tuple[int, int, int, int]:
    return tuple(db.session.scalar(select(func.count()).select_from(m))  # type: ignore[return-value]
                 for m in (Campaign, Unit, Ballot, Answer))


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_case_round_trips(ctx, path: Path) -> None:
    original = json.loads(path.read_text(encoding="utf-8"))
    campaign = import_bundle_text(path.read_bytes())
    db.session.commit()
    db.session.expire_all()
    exported = export_bundle(db.session.get(Campaign, campaign.id))
    assert exported == original
    # Order is content: same keys in the same order, lists in the same order.
    assert json.dumps(exported, ensure_ascii=False) == json.dumps(original, ensure_ascii=False) or \
        _same_order(exported, original)
    assert [b["id"] for b in exported["ballots"]] == [b["id"] for b in original["ballots"]]


def _same_order(a: object, b: object) -> bool:
    """Equal with dict keys and list items in the same order (ints and floats alike)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same_order(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_order(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_case_refused_whole(ctx, path: Path) -> None:
    expected = json.loads((CONFORMANCE / "expected" / f"{path.stem}.errors.json").read_text())
    before = _counts()
    with pytest.raises(BundleError) as caught:
        import_bundle_text(path.read_bytes())
    db.session.rollback()
    paths = {p.path for p in caught.value.problems}
    for error in expected["errors"]:
        assert error["path"] in paths
    assert all(p.reason and p.reason_en for p in caught.value.problems)
    assert _counts() == before


def test_second_import_of_same_code_refused(ctx) -> None:
    path = CONFORMANCE / "cases" / "tiny.json"
    import_bundle_text(path.read_bytes())
    db.session.commit()
    before = _counts()
    with pytest.raises(BundleError) as caught:
        import_bundle_text(path.read_bytes())
    db.session.rollback()
    assert [p.path for p in caught.value.problems] == ["campaign.code"]
    assert _counts() == before


def test_units_are_organisation_records_shared_across_campaigns(ctx) -> None:
    tiny = json.loads((CONFORMANCE / "cases" / "tiny.json").read_text(encoding="utf-8"))
    import_bundle_text(json.dumps(tiny))
    tiny["campaign"]["code"] = "tiny-next-year"
    tiny["units"][0]["name"] = "市市场监督管理局（更名后）"
    import_bundle_text(json.dumps(tiny))
    db.session.commit()
    unit = db.session.scalar(select(Unit).where(Unit.code == tiny["units"][0]["code"]))
    assert unit is not None
    names = sorted(db.session.scalars(
        select(Campaign.code).where(Campaign.units.any(unit_id=unit.id))))
    assert names == ["tiny", "tiny-next-year"]
    first = db.session.scalar(select(Campaign).where(Campaign.code == "tiny"))
    assert export_bundle(first)["units"][0]["name"] == "市市场监管局"


@pytest.mark.parametrize("text,instant,offset", [
    ("2026-11-02T09:15:00+08:00", "2026-11-02 01:15:00", 480),
    ("2026-11-02T01:15:00+00:00", "2026-11-02 01:15:00", 0),
    ("2026-11-02T09:15:00", "2026-11-02 01:15:00", None),  # Beijing time by default
])
def test_instants_keep_their_offset(text: str, instant: str, offset: int | None) -> None:
    value, minutes = parse_instant(text)
    assert str(value) == instant and minutes == offset
    assert format_instant(value, minutes) == text
