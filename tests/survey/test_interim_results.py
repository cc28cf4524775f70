"""Results while open (issue #11): campaign-wide results stay sealed until
截止 (pages, exports, API) unless the committee's settings allow an interim
view; then everything shown before 截止 says 中间结果，仅供内部参考."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from survey.campaigns import setup
from survey.extensions import db
from survey.models import AuditEntry, Campaign
from survey.results import queries, report
from tests.api.apikit import bearer, key_for
from tests.factories import login, make_user
from tests.survey.test_results_support import make_committee_campaign

pytestmark = pytest.mark.db

PAGES = ("/results/t2026/units/u1", "/results/t2026/quality", "/results/t2026/charts/ranking-law.svg",
         "/results/t2026/export.xlsx", "/results/t2026/report.pdf", "/results/t2026/results.json",
         "/results/t2026/ballots.csv", "/results/t2026/drafts/criticism.docx")
API = ("/api/v1/campaigns/t2026/results", "/api/v1/campaigns/t2026/units/u1/result",
       "/api/v1/campaigns/t2026/units/u1/items", "/api/v1/campaigns/t2026/ballots")


def _campaign() -> Campaign:
    db.session.expire_all()
    return db.session.scalar(select(Campaign).where(Campaign.code == "t2026"))


def test_results_are_sealed_while_open(client, ctx) -> None:
    make_committee_campaign(status="open")
    make_user("organizer")
    key = key_for("committee")
    login(client, "organizer")
    page = client.get("/results/t2026")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-testid="sealed"' in html
    assert "市第1局" not in html and 'data-class="' not in html  # no ranking, no class
    for url in PAGES:
        answer = client.get(url)
        assert answer.status_code == 409, url
        assert "封存至截止" in answer.get_data(as_text=True), url
    for url in API:
        answer = client.get(url, headers=bearer(key))
        assert answer.status_code == 409, url
        assert answer.get_json()["code"] == "conflict", url
    # The return board is not a result: it stays open.
    assert client.get("/campaigns/t2026/returns").status_code == 200


def test_an_interim_view_is_marked_everywhere(client, ctx) -> None:
    make_committee_campaign(status="open")
    make_user("organizer")
    key = key_for("committee")
    login(client, "committee")
    form = {"min_group_ballots": "5", "self_examination_days": "15", "public_detail": "classes",
            "interim_results": "y"}
    assert client.post("/results/t2026/settings", data=form).status_code == 302
    assert queries.settings_for(_campaign()).interim_results is True
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "outcome.settings")).all()[-1]
    assert entry.after["interim_results"] is True and entry.before["interim_results"] is False
    client.post("/logout")
    login(client, "organizer")
    html = client.get("/results/t2026").get_data(as_text=True)
    assert 'data-testid="interim"' in html and "中间结果，仅供内部参考" in html and "市第1局" in html
    for url in ("/results/t2026/units/u1", "/results/t2026/quality"):
        assert "中间结果，仅供内部参考" in client.get(url).get_data(as_text=True), url
    book = load_workbook(io.BytesIO(client.get("/results/t2026/export.xlsx").data))
    assert all("中间结果，仅供内部参考" in str(sheet.cell(1, 1).value) for sheet in book.worksheets)
    assert report.context(_campaign())["interim"] is True
    assert client.get("/results/t2026/report.pdf").data.startswith(b"%PDF")
    assert "interim" in client.get("/results/t2026/results.json").headers["Content-Disposition"]
    ballots = client.get("/results/t2026/ballots.csv")
    assert "interim" in ballots.headers["Content-Disposition"]
    ballots.close()
    answer = client.get("/api/v1/campaigns/t2026/results", headers=bearer(key))
    assert answer.status_code == 200 and answer.headers["Pingyi-Snapshot"] == "interim"
    for url in API[1:]:
        body = client.get(url, headers=bearer(key)).get_json()
        assert body["interim"] is True, url

    # After 截止 nothing is interim, and the results are open whatever the setting.
    setup.change_status(_campaign(), "closed")
    queries.settings_for(_campaign()).interim_results = False
    db.session.commit()
    html = client.get("/results/t2026").get_data(as_text=True)
    assert 'data-testid="interim"' not in html and 'data-testid="sealed"' not in html and "市第1局" in html
    book = load_workbook(io.BytesIO(client.get("/results/t2026/export.xlsx").data))
    assert "中间结果" not in str(book.worksheets[0].cell(1, 1).value)
    assert client.get("/api/v1/campaigns/t2026/results", headers=bearer(key)).headers["Pingyi-Snapshot"] \
        == "provisional"
    assert client.get(API[1], headers=bearer(key)).get_json()["interim"] is False
