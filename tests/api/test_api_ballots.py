"""The anonymised ballots through the API: the rows of the raw ballot export
(the same columns and cells as its CSV), page by page, for the roles of the
results page's download."""
from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select

from survey.extensions import db
from survey.models import Campaign
from survey.results import ballot_export
from tests.api.apikit import bearer, finalize

API = "/api/v1"


def _get(client: Any, path: str, key: str, status: int = 200) -> Any:
    response = client.get(API + path, headers=bearer(key))
    assert response.status_code == status, (path, response.get_json())
    return response.get_json()


def _pages(client: Any, key: str, limit: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every ballot, page by page, and each page."""
    rows, pages, cursor = [], [], None
    while True:
        page = _get(client, f"/campaigns/t2026/ballots?limit={limit}" + (f"&cursor={cursor}" if cursor else ""), key)
        rows += page["items"]
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return rows, pages


def _as_csv(value: Any) -> str:
    """A JSON cell as the CSV export writes it."""
    if value is None:
        return ""
    if isinstance(value, str) and value.endswith("+08:00"):  # ISO 8601 in Beijing time; the CSV's wall clock
        return value[:-6].replace("T", " ")
    return str(value)


def test_the_ballots_are_the_exports_rows_page_by_page(app, client, role_keys, monkeypatch) -> None:
    monkeypatch.setattr(ballot_export, "CHUNK", 4)  # pages that cross the export's chunks
    with app.app_context():
        finalize()
        campaign = db.session.scalar(select(Campaign).where(Campaign.code == "t2026"))
        out = io.StringIO()
        ballot_export.write_csv(ballot_export.BallotTable(campaign), out)
    header, *expected = list(csv.reader(io.StringIO(out.getvalue().lstrip("\ufeff"))))
    rows, pages = _pages(client, role_keys["auditor"], limit=3)
    assert len(pages) == 5 and all(p["ballots"] == 15 and p["pseudonyms"] == "final" for p in pages)
    assert [c["name"] for c in pages[0]["columns"]] == header
    assert [list(r) for r in rows] == [header] * 15
    assert [[_as_csv(v) for v in r.values()] for r in rows] == expected
    # What the columns say of the cells.
    columns = {c["name"]: c for c in pages[0]["columns"]}
    assert columns["group"]["kind"] == "code" and columns["group"]["categories"] == ["client", "expert"]
    assert {r["group"] for r in rows} == {"client", "expert"}
    assert {r["flag_speeder"] for r in rows} == {0} and columns["flag_speeder"]["kind"] == "flag"
    assert rows[0]["submitted_at"].endswith("+08:00") and columns["submitted_at"]["kind"] == "time"
    assert {r["u3_i0"] for r in rows} == {"D"} and {r["u3_i0_label"] for r in rows} == {"不满意"}
    assert sum(r["u3_comment"] is not None for r in rows) == 15
    # One page of everything, and beyond the end: nothing more.
    assert _get(client, "/campaigns/t2026/ballots?limit=1000", role_keys["committee"])["items"] == rows
    assert _get(client, "/campaigns/t2026/ballots?cursor=o15", role_keys["committee"])["items"] == []


def test_before_finalization_pseudonyms_are_per_request_and_who_may_read(app, client, role_keys) -> None:
    page = _get(client, "/campaigns/t2026/ballots", role_keys["organizer"])
    assert (page["pseudonyms"], page["ballots"], len(page["items"]), page["limit"]) == ("per_request", 15, 15, 200)
    assert _get(client, "/campaigns/t2026/ballots", role_keys["admin"])["ballots"] == 15  # the admin reads
    assert _get(client, "/campaigns/t2026/ballots", role_keys["liaison"], 403)["code"] == "forbidden"
    errors = _get(client, "/campaigns/t2026/ballots?limit=1001", role_keys["committee"], 400)["errors"]
    assert [e["path"] for e in errors] == ["query.limit"]
    # Nothing that leads to a person: the export's columns, no evaluator, invitation or attribute.
    assert not any(name.startswith(("evaluator", "invitation", "token", "attr")) for name in page["items"][0])
