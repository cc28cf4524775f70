"""The committee reviews a unit's rectification (issue #11): it reads the plan,
the report and the unit's answers, accepts or sends it back (退回修改) with a
comment the liaison reads; the liaison revises and resubmits; each step is
in the audit log; planted markup stays text."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import AuditEntry, Rectification
from survey.results import comments, queries, rectification, snapshots
from tests.factories import login, make_user
from tests.survey.test_outcome_rectification import _finalized

pytestmark = pytest.mark.db

PLANT = '<script>alert("x")</script><b>粗</b>'


def _relogin(client, username: str) -> None:
    client.post("/logout")
    login(client, username)


def test_committee_reads_plan_and_answers_returns_and_accepts(client, ctx):
    campaign = _finalized()
    make_user("liaison", unit_code="u3")
    cu = queries.campaign_unit(campaign, "u3")
    rect = rectification.rectification_of(cu)
    code = campaign.code
    login(client, "liaison")
    comment = comments.liaison_view(campaign, cu, queries.unit_result(snapshots.results_for(campaign), "u3")
                                    ).comments[0]
    client.post(f"/my/{code}/comments/{comment['id']}", data={"kind": "improve", "text": "已开通网上预约" + PLANT})
    client.post(f"/my/{code}/plan", data={"text": "一、压减办事材料" + PLANT})

    _relogin(client, "committee")
    page = client.get(f"/results/{code}/rectification/{rect.id}").get_data(as_text=True)
    assert "一、压减办事材料" in page and "已开通网上预约" in page and "改进服务" in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "<b>粗</b>" not in page
    assert "已提交方案" in page
    # The list shows the plan's text too, not only "已提交".
    assert "一、压减办事材料" in client.get(f"/results/{code}/rectification").get_data(as_text=True)
    # No report yet: it cannot be accepted; 退回修改 needs a comment.
    refused = client.post(f"/results/{code}/rectification/{rect.id}/accept", data={"from": "review"},
                          follow_redirects=True).get_data(as_text=True)
    assert "尚未提交整改报告" in refused
    refused = client.post(f"/results/{code}/rectification/{rect.id}/return", data={"comment": "  "},
                          follow_redirects=True).get_data(as_text=True)
    assert "退回修改必须写明意见" in refused
    assert db.session.get(Rectification, rect.id).returned_at is None
    client.post(f"/results/{code}/rectification/{rect.id}/return",
                data={"comment": "方案缺少完成时限" + PLANT, "from": "review"})
    db.session.expire_all()
    rect = db.session.get(Rectification, rect.id)
    assert rect.is_returned and rect.review_state == "returned"
    assert "已退回修改" in client.get(f"/results/{code}/rectification").get_data(as_text=True)

    # The liaison reads the comment, revises and submits the report.
    _relogin(client, "liaison")
    page = client.get(f"/my/{code}").get_data(as_text=True)
    assert 'data-testid="returned"' in page and "方案缺少完成时限" in page and "<script>alert" not in page
    client.post(f"/my/{code}/plan", data={"text": "一、压减办事材料，12月底前完成"})
    client.post(f"/my/{code}/report", data={"text": "已完成全部整改事项"})
    db.session.expire_all()
    rect = db.session.get(Rectification, rect.id)
    assert not rect.is_returned and rect.review_state == "resubmitted"
    assert 'data-testid="resubmitted"' in client.get(f"/my/{code}").get_data(as_text=True)

    _relogin(client, "committee")
    client.post(f"/results/{code}/rectification/{rect.id}/accept", data={"comment": "整改到位", "from": "review"})
    db.session.expire_all()
    rect = db.session.get(Rectification, rect.id)
    assert rect.accepted_at is not None and rect.review_comment == "整改到位"
    page = client.get(f"/results/{code}/rectification/{rect.id}").get_data(as_text=True)
    assert "已验收" in page and "整改到位" in page and "退回修改</button>" not in page
    # Once accepted it can neither be returned nor changed.
    refused = client.post(f"/results/{code}/rectification/{rect.id}/return", data={"comment": "再改"},
                          follow_redirects=True).get_data(as_text=True)
    assert "整改已验收，不能再退回" in refused
    _relogin(client, "liaison")
    assert "整改到位" in client.get(f"/my/{code}").get_data(as_text=True)

    entries = list(db.session.scalars(select(AuditEntry).where(AuditEntry.target == f"campaign:{code}/unit:u3")
                                      .order_by(AuditEntry.id)))
    assert [e.action for e in entries if e.action.startswith("rectification.")] == [
        "rectification.plan", "rectification.return", "rectification.plan", "rectification.report",
        "rectification.accept"]
    returned = next(e for e in entries if e.action == "rectification.return")
    assert returned.after["comment"].startswith("方案缺少完成时限")
    plans = [e for e in entries if e.action == "rectification.plan"]
    assert "resubmitted" not in plans[0].after and plans[1].after["resubmitted"] is True


def test_only_the_committee_reviews(client, ctx):
    campaign = _finalized()
    cu = queries.campaign_unit(campaign, "u1")
    rect = rectification.rectification_of(cu)
    rect.plan = "方案"
    db.session.commit()
    make_user("organizer")
    make_user("liaison", unit_code="u1")
    login(client, "organizer")
    # The organizer reads the review page but has no review buttons, and may not return.
    page = client.get(f"/results/{campaign.code}/rectification/{rect.id}").get_data(as_text=True)
    assert "方案" in page and "退回修改</button>" not in page
    assert client.post(f"/results/{campaign.code}/rectification/{rect.id}/return",
                       data={"comment": "x"}).status_code == 403
    _relogin(client, "liaison")
    assert client.get(f"/results/{campaign.code}/rectification/{rect.id}").status_code == 403
    # Another campaign's id is not found.
    _relogin(client, "committee")
    assert client.get(f"/results/{campaign.code}/rectification/999999").status_code == 404
    db.session.expire_all()
    assert db.session.get(Rectification, rect.id).returned_at is None
