"""Preview and test mode (issue #11): the organizer sees the real form of a
group (framed, phone and desktop) before opening, submits test ballots that
are marked as test and count nowhere, and 开始评议 purges them with an audit
entry of the count."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from survey.bundles import export_bundle
from survey.extensions import db
from survey.models import AuditEntry, Ballot, Campaign, CampaignGroup
from survey.models import TestBallot as StoredTestBallot
from tests.factories import login, make_campaign, make_user
from tests.survey.test_ballots import form_fields

pytestmark = pytest.mark.db

PLANT = '<img src=x onerror="alert(1)">'


def _names(html: str) -> set[str]:
    """The answer, comment and margin fields a form posts."""
    return set(re.findall(r'name="([acm]_[0-9_]+)"', html))


def _campaign() -> Campaign:
    return db.session.scalar(select(Campaign).where(Campaign.code == "t2026"))


def _tests() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(StoredTestBallot)) or 0


def test_preview_shows_the_real_form_and_test_ballots_count_nowhere(app, client, ctx) -> None:
    campaign, tokens = make_campaign(status="draft", items=2)
    group = db.session.scalar(select(CampaignGroup).where(CampaignGroup.campaign_id == campaign.id))
    group.label = "服务对象" + PLANT
    db.session.commit()
    make_user("organizer")
    login(client, "organizer")
    page = client.get("/campaigns/t2026/preview").get_data(as_text=True)
    assert 'data-testid="phone-frame"' in page and 'data-testid="desktop-frame"' in page
    assert PLANT not in page and "&lt;img src=x" in page
    assert page.count("/campaigns/t2026/preview/client/form?channel=personal") == 3  # two frames, one link
    framed = client.get("/campaigns/t2026/preview/client/form?channel=personal")
    assert framed.status_code == 200
    # Only this site may frame it; every other page still refuses framing.
    assert "frame-ancestors 'self'" in framed.headers["Content-Security-Policy"]
    assert framed.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert client.get("/campaigns/t2026/preview").headers["X-Frame-Options"] == "DENY"
    html = framed.get_data(as_text=True)
    assert 'id="ballot-form"' in html and "市第1局" in html and "own_unit" not in html
    assert "own_unit" in client.get("/campaigns/t2026/preview/client/form?channel=open").get_data(as_text=True)
    preview_fields = _names(html)
    assert len([n for n in preview_fields if n.startswith("a_")]) == 3 * 2

    board_before = client.get("/api/campaigns/t2026/returns").get_json()
    bundle_before = export_bundle(_campaign())
    # An incomplete test ballot is refused as a real one would be.
    refused = client.post("/campaigns/t2026/preview/client/form?channel=personal", data={"action": "submit"})
    assert refused.status_code == 422 and _tests() == 0
    fields = form_fields(html)
    fields = {k: v for k, v in fields.items() if k.startswith("a_")}
    fields[next(n for n in preview_fields if n.startswith("c_"))] = "测试意见" + PLANT
    review = client.post("/campaigns/t2026/preview/client/form?channel=personal", data={**fields, "action": "review"})
    assert review.status_code == 200 and _tests() == 0
    done = client.post("/campaigns/t2026/preview/client/form?channel=personal", data={**fields, "action": "submit"})
    assert done.status_code == 200 and 'data-testid="test-recorded"' in done.get_data(as_text=True)
    assert "frame-ancestors 'self'" in done.headers["Content-Security-Policy"]
    assert _tests() == 1
    stored = db.session.scalar(select(StoredTestBallot))
    assert len(stored.content["answers"]) == 3 and list(stored.content["comments"].values()) == ["测试意见" + PLANT]
    page = client.get("/campaigns/t2026/preview").get_data(as_text=True)
    assert "共 1 张测试票" in page and 'class="test-mark"' in page and "测试意见" not in page

    # A test ballot is no ballot: not in the bundle, the return board, the API or any count.
    assert db.session.scalar(select(func.count(Ballot.id))) == 0
    assert export_bundle(_campaign()) == bundle_before
    assert client.get("/api/campaigns/t2026/returns").get_json() == board_before

    # The real form of the same group posts the same fields.
    client.post("/campaigns/t2026/status", data={"target": "open", "confirmed": "1"})
    db.session.expire_all()
    assert _campaign().state.is_open, [e.after for e in db.session.scalars(select(AuditEntry))]
    assert _names(client.get(f"/b/{tokens[0]}").get_data(as_text=True)) == preview_fields
    # 开始评议 purged the test ballots, with an audit entry of the count.
    assert _tests() == 0
    purge = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "test_ballot.purge"))
    assert purge.after == {"purged": 1} and purge.target == "campaign:t2026"
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "test_ballot.submit")).after["group"] \
        == "client"
    # Once open no test ballot is taken.
    late = client.post("/campaigns/t2026/preview/client/form?channel=personal", data={**fields, "action": "submit"})
    assert late.status_code == 409 and "不能再提交测试票" in late.get_data(as_text=True) and _tests() == 0
    assert "不能再提交测试票" in client.get("/campaigns/t2026/preview").get_data(as_text=True)


def test_the_preview_draft_keeps_nothing(client, ctx) -> None:
    make_campaign(status="draft")
    make_user("organizer")
    login(client, "organizer")
    answer = client.post("/campaigns/t2026/preview/client/draft?channel=personal", data={})
    assert answer.status_code == 200 and json.loads(answer.data)["total"] == 3
    assert client.get("/campaigns/t2026/preview/nope/form").status_code == 404
    assert client.get("/campaigns/t2026/preview?channel=bogus").status_code == 404


def test_only_the_organizer_previews(client, ctx) -> None:
    make_campaign(status="draft")
    make_user("committee")
    login(client, "committee")
    assert client.get("/campaigns/t2026/preview").status_code == 403
    assert client.post("/campaigns/t2026/preview/client/form", data={"action": "submit"}).status_code == 403
    assert _tests() == 0
