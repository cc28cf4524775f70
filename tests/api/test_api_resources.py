"""The first resources give the figures the pages give (the same services),
page through lists, answer errors as pingyi-errors/1, and show a liaison's
key only what the liaison's pages show."""
from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import select

from survey.api.schemas import ErrorDocument
from survey.bundles import import_bundle
from survey.campaigns import board
from survey.extensions import db
from survey.models import Campaign, ResultSnapshot, Unit
from survey.results import queries, snapshots
from tests.api.apikit import bearer, finalize, key_for
from tests.factories import bundle, login

API = "/api/v1"


def _get(client: Any, path: str, key: str | None, status: int = 200) -> Any:
    response = client.get(API + path, headers=bearer(key))
    assert response.status_code == status, (path, response.get_json())
    return response.get_json()


def _error(client: Any, path: str, key: str | None, status: int, code: str) -> list[dict[str, str]]:
    body = _get(client, path, key, status)
    ErrorDocument.model_validate(body)
    assert body["format"] == "pingyi-errors/1" and body["code"] == code
    errors: list[dict[str, str]] = body["errors"]
    assert all(e["reason"] and e["reason_en"] for e in errors)
    return errors


def _campaign(code: str = "t2026") -> Campaign:
    campaign = db.session.scalar(select(Campaign).where(Campaign.code == code))
    assert campaign is not None
    return campaign


def test_campaigns_are_listed_and_described(app, client, role_keys) -> None:
    listing = _get(client, "/campaigns", role_keys["committee"])
    assert [c["code"] for c in listing["items"]] == ["t2026"] and listing["next_cursor"] is None
    summary = listing["items"][0]
    assert (summary["status"], summary["status_label"], summary["year"]) == ("closed", "已截止", 2026)
    detail = _get(client, "/campaigns/t2026", role_keys["auditor"])
    assert {k: detail[k] for k in summary} == summary
    assert [c["code"] for c in detail["categories"]] == ["law", "svc"]
    assert [(o["code"], o["points"]) for o in detail["scale"]] == [("S", 100), ("B", 70), ("D", 0), ("U", None)]
    assert [(g["code"], g["weight"]) for g in detail["groups"]] == [("client", 0.6), ("expert", 0.4)]


def test_lists_page_with_limit_and_cursor(app, client, role_keys) -> None:
    with app.app_context():
        for year, code in ((2024, "a2024"), (2025, "b2025"), (2025, "a2025"), (2023, "z2023")):
            doc = bundle(code)
            doc["campaign"]["name"] = f"{year} 评议"
            campaign = import_bundle(doc, status="closed")
            campaign.year = year
        _campaign().year = 2026
        db.session.commit()
    key = role_keys["organizer"]
    whole = [c["code"] for c in _get(client, "/campaigns", key)["items"]]
    assert whole == ["t2026", "a2025", "b2025", "a2024", "z2023"]  # the latest year first, then by code
    seen, cursor, pages = [], None, 0
    while True:
        page = _get(client, "/campaigns?limit=2" + (f"&cursor={cursor}" if cursor else ""), key)
        assert page["limit"] == 2 and len(page["items"]) <= 2
        seen += [c["code"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (whole, 3)
    units = _get(client, "/campaigns/t2026/units?limit=1", key)
    assert [u["code"] for u in units["items"]] == ["u1"]
    assert [u["code"] for u in _get(client, f"/campaigns/t2026/units?cursor={units['next_cursor']}", key)["items"]] \
        == ["u2", "u3"]


@pytest.mark.parametrize(("query", "where"), [
    ("limit=0", ["query.limit"]), ("limit=201", ["query.limit"]), ("limit=ten", ["query.limit"]),
    ("cursor=abc", ["query.cursor"]), ("limit=-1&cursor=o", ["query.limit", "query.cursor"]),
])
def test_a_bad_paging_parameter_is_a_400_naming_it(app, client, role_keys, query: str, where: list[str]) -> None:
    errors = _error(client, f"/campaigns?{query}", role_keys["committee"], 400, "bad_request")
    assert [e["path"] for e in errors] == where
    assert all(e["reason"].startswith("查询参数") for e in errors)


def test_errors_are_pingyi_errors_with_a_code(app, client, role_keys) -> None:
    key = role_keys["committee"]
    assert [e["path"] for e in _error(client, "/campaigns/nothing", key, 404, "not_found")] == ["$"]
    _error(client, "/campaigns/t2026/units/u99/result", key, 404, "not_found")
    _error(client, "/no-such-thing", key, 404, "not_found")
    _error(client, "/campaigns", None, 401, "unauthorized")
    _error(client, "/campaigns/t2026/results", role_keys["liaison"], 403, "forbidden")
    response = client.post(API + "/campaigns", headers=bearer(key))
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert response.get_json()["code"] == "method_not_allowed"
    # Outside /api/v1/ the pages keep their own error pages.
    assert client.get("/nothing-here").mimetype == "text/html"


def test_return_figures_are_the_boards(app, client, role_keys) -> None:
    key = role_keys["organizer"]
    groups = _get(client, "/campaigns/t2026/groups", key)["items"]
    batches = _get(client, "/campaigns/t2026/batches", key)["items"]
    units = _get(client, "/campaigns/t2026/units", key)["items"]
    with app.app_context():
        figures = board.return_board(_campaign())
        for rows, api_rows in ((figures.groups, groups), (figures.batches, batches), (figures.units, units)):
            assert [r.code for r in rows] == [a["code"] for a in api_rows]
            for row, api_row in zip(rows, api_rows, strict=True):
                assert api_row["returns"] == {"issued": row.issued, "returned": row.returned, "valid": row.valid,
                                              "rate": row.rate, "valid_rate": row.valid_rate,
                                              "below_target": row.below_target}
    assert groups[0]["returns"] == {"issued": 20, "returned": 12, "valid": 12, "rate": 0.6, "valid_rate": 0.6,
                                    "below_target": True}
    assert [(b["code"], b["group"], b["channel"]) for b in batches] == [("e1", "client", "email"),
                                                                       ("p1", "expert", "public")]
    assert batches[1]["returns"]["issued"] is None and batches[1]["returns"]["rate"] is None


def test_results_are_the_stored_snapshot_byte_for_byte(app, client, role_keys) -> None:
    response = client.get(API + "/campaigns/t2026/results", headers=bearer(role_keys["committee"]))
    assert response.status_code == 200 and response.headers["Pingyi-Snapshot"] == "provisional"
    with app.app_context():
        snap = db.session.scalar(select(ResultSnapshot).where(ResultSnapshot.kind == "cache"))
        assert response.get_data(as_text=True) == snap.results_json
        assert response.headers["ETag"] == f'"{snap.results_sha256}"'
    assert hashlib.sha256(response.get_data()).hexdigest() == snap.results_sha256
    assert json.loads(response.get_data())["format"] == "pingyi-results/1"
    # The committee's export of the same results is the same text.
    login(client, "committee")
    assert client.get("/results/t2026/results.json").get_data() == response.get_data()
    with app.app_context():
        finalize()
        final = snapshots.final_snapshot(_campaign())
        assert final is not None
    response = client.get(API + "/campaigns/t2026/results", headers=bearer(role_keys["auditor"]))
    assert response.headers["Pingyi-Snapshot"] == "final; version=1"
    assert response.get_data(as_text=True) == final.results_json


def test_a_units_result_is_the_pages(app, client, role_keys) -> None:
    result = _get(client, "/campaigns/t2026/units/u3/result", role_keys["committee"])
    with app.app_context():
        expected = queries.unit_result(snapshots.results_for(_campaign()), "u3")
    assert (result["computed_class"], result["final_class"], result["final_class_label"]) == (
        "dissatisfied", "dissatisfied", "不满意")
    assert (result["score"], result["rank"], result["final"]) == (expected["score"], expected["rank"], False)
    assert [(g["code"], g["n"]) for g in result["groups"]] == [("client", 12), ("expert", 3)]
    assert result["hidden_groups"] == 0


# --- a liaison's key: the liaison's pages, no more ------------------------------------------


def test_a_liaisons_key_sees_nothing_before_the_results_are_final(app, client, role_keys) -> None:
    key = role_keys["liaison"]
    assert _get(client, "/campaigns", key)["items"] == []
    for path in ("/campaigns/t2026", "/campaigns/t2026/units", "/campaigns/t2026/units/u1/result"):
        _error(client, path, key, 404, "not_found")
    for path in ("/campaigns/t2026/groups", "/campaigns/t2026/batches", "/campaigns/t2026/results"):
        _error(client, path, key, 403, "forbidden")
    login(client, "liaison")
    assert client.get("/my/t2026").status_code == 404  # as on the page


def test_a_liaisons_key_sees_its_own_unit_once_final(app, client, role_keys) -> None:
    with app.app_context():
        finalize()
        db.session.add(Unit(code="u99", name="别的单位"))
        db.session.commit()
        stranger = key_for("liaison", username="other", unit_code="u99")
    key = role_keys["liaison"]
    assert [c["code"] for c in _get(client, "/campaigns", key)["items"]] == ["t2026"]
    assert _get(client, "/campaigns/t2026", key)["status"] == "finalized"
    units = _get(client, "/campaigns/t2026/units", key)["items"]
    assert [(u["code"], u["returns"]) for u in units] == [("u1", None)]
    mine = _get(client, "/campaigns/t2026/units/u1/result", key)
    # As the liaison's page shows it: the expert group (3 ballots, below the minimum of 5) is not listed.
    assert [g["code"] for g in mine["groups"]] == ["client"] and mine["hidden_groups"] == 1
    assert (mine["final"], mine["final_class"]) == (True, "satisfied")
    login(client, "liaison")
    page = client.get("/my/t2026").get_data(as_text=True)
    assert 'data-group="client"' in page and 'data-group="expert"' not in page
    for path in ("/campaigns/t2026/units/u2/result", "/campaigns/t2026/units/u3/result"):
        _error(client, path, key, 404, "not_found")
    for path in ("/campaigns/t2026/groups", "/campaigns/t2026/results"):
        _error(client, path, key, 403, "forbidden")
    # A liaison whose unit is not rated in the campaign sees nothing of it.
    assert _get(client, "/campaigns", stranger)["items"] == []
    _error(client, "/campaigns/t2026", stranger, 404, "not_found")
    _error(client, "/campaigns/t2026/units/u1/result", stranger, 404, "not_found")
    # The committee still sees every group.
    full = _get(client, "/campaigns/t2026/units/u1/result", role_keys["committee"])
    assert [g["code"] for g in full["groups"]] == ["client", "expert"]


def test_an_errors_reason_is_chinese_whatever_the_language_asked(app, client, role_keys) -> None:
    """pingyi-errors/1 carries both languages: `reason` stays Chinese where the
    request asks for English (?lang=en, the language cookie of the pages)."""
    client.set_cookie("pingyi_lang", "en")
    errors = _error(client, "/campaigns/nothing?lang=en", role_keys["committee"], 404, "not_found")
    assert (errors[0]["reason"], errors[0]["reason_en"]) == ("没有找到所请求的内容", "not found")
    errors = _error(client, "/campaigns?lang=en", "pyk_unknown", 401, "unauthorized")
    assert errors[0]["reason"] == "API 密钥无效、已吊销，或其账号已停用"
    # The pages do speak English there.
    assert _("没有找到所请求的内容", app) == "Not found"


def _(text: str, app: Any) -> str:
    from flask_babel import force_locale, gettext

    with app.test_request_context(), force_locale("en"):
        return str(gettext(text))
