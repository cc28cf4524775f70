"""Rectification: comments go anonymised to their unit, liaisons answer them and
report, small groups stay anonymous, overdue items turn red and are cleared."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from survey.extensions import db
from survey.models import AuditEntry, CommentAnswer, Rectification
from survey.results import comments, queries, rectification, signoff, snapshots
from tests.factories import login, make_user
from tests.survey.test_results_support import make_committee_campaign

TODAY = dt.date(2026, 12, 1)


def _finalized(**kwargs):
    campaign = make_committee_campaign(**kwargs)
    committee = make_user("committee")
    signoff.approve(campaign, committee)
    signoff.finalize(campaign, TODAY, committee)
    db.session.commit()
    return campaign


def test_a_liaison_sees_only_their_own_unit(client, ctx):
    campaign = _finalized()
    make_user("liaison", username="l1", unit_code="u1")
    login(client, "l1")
    page = client.get(f"/my/{campaign.code}").get_data(as_text=True)
    assert "市第1局" in page and "窗口服务很好" in page
    assert "市第3局" not in page and "办事要跑好几趟" not in page
    # no way to name another unit: committee pages are closed, and u3's comments cannot be answered
    assert client.get(f"/results/{campaign.code}/units/u3").status_code == 403
    assert client.get(f"/results/{campaign.code}/rectification").status_code == 403
    u3_comment = comments.comments_of(campaign, queries.campaign_unit(campaign, "u3"))[0][0]
    response = client.post(f"/my/{campaign.code}/comments/{u3_comment.id}",
                           data={"kind": "explain", "text": "已解释"}, follow_redirects=True)
    assert "找不到该意见" in response.get_data(as_text=True)
    assert db.session.scalar(select(CommentAnswer.id)) is None


def test_small_groups_stay_anonymous(client, ctx):
    # 12 client ballots and 3 expert ballots rate u3, each with a comment.
    campaign = _finalized()
    make_user("liaison", unit_code="u3")
    login(client, "liaison")
    page = client.get(f"/my/{campaign.code}").get_data(as_text=True)
    assert 'data-group="client"' in page and 'data-group="expert"' not in page
    assert "另有 1 个评议主体票数较少" in page
    assert page.count('class="card comment"') == 12
    assert "expert 意见" not in page and "另有 3 条意见来自票数较少的评议主体" in page
    # anonymised: no ballot id, no time
    assert not re.search(r"(?<![\w.-])[09]\d{3}(?![\w.-])", page)  # ballot ids are 0001…, 9000…
    assert "2026-11-02" not in page and "11-02" not in page
    # with a threshold of 3 the expert group is shown as well
    queries.settings_for(campaign).min_group_ballots = 3
    db.session.commit()
    page = client.get(f"/my/{campaign.code}").get_data(as_text=True)
    assert 'data-group="expert"' in page and page.count('class="card comment"') == 15


def test_small_groups_are_pooled_when_the_pool_is_large_enough(ctx):
    campaign = _finalized(expert=3)
    settings = queries.settings_for(campaign)
    settings.min_group_ballots = 13  # client (12) and expert (3) are both small; together 15
    db.session.commit()
    cu = queries.campaign_unit(campaign, "u3")
    result = queries.unit_result(snapshots.results_for(campaign), "u3")
    view = comments.liaison_view(campaign, cu, result)
    assert view.shown_groups == [] and view.hidden_groups == 2
    assert len(view.comments) == 15 and {c["group"] for c in view.comments} == {"其他评议主体"}


def test_liaison_answers_comments_and_reports(client, ctx):
    campaign = _finalized()
    make_user("liaison", unit_code="u3")
    login(client, "liaison")
    comment = comments.liaison_view(
        campaign, queries.campaign_unit(campaign, "u3"),
        queries.unit_result(snapshots.results_for(campaign), "u3")).comments[0]
    client.post(f"/my/{campaign.code}/comments/{comment['id']}",
                data={"kind": "improve", "text": "已开通网上预约，减少群众跑腿"})
    client.post(f"/my/{campaign.code}/plan", data={"text": "一、压减办事材料；二、推行一次办结"})
    client.post(f"/my/{campaign.code}/report", data={"text": "已完成全部整改事项"})
    answer = db.session.scalar(select(CommentAnswer))
    assert (answer.comment_id, answer.kind) == (comment["id"], "improve")
    rect = rectification.rectification_of(queries.campaign_unit(campaign, "u3"))
    assert rect.plan.startswith("一、") and rect.report == "已完成全部整改事项"
    page = client.get(f"/my/{campaign.code}").get_data(as_text=True)
    assert "改进服务：已开通网上预约" in page
    actions = [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions[-3:] == ["comment.answer", "rectification.plan", "rectification.report"]


def test_overdue_items_turn_red_and_are_cleared_on_acceptance(client, ctx):
    campaign = _finalized()
    make_user("liaison", unit_code="u2")
    rect = rectification.rectification_of(queries.campaign_unit(campaign, "u2"))
    login(client, "committee")
    yesterday = dt.date.today() - dt.timedelta(days=1)
    client.post(f"/results/{campaign.code}/rectification/{rect.id}/due", data={"due_on": yesterday.isoformat()})
    page = client.get(f"/results/{campaign.code}/rectification").get_data(as_text=True)
    assert '<tr data-unit="u2" class="red">' in page and '<tr data-unit="u1" class="">' in page
    db.session.expire_all()
    assert db.session.get(Rectification, rect.id).is_red
    # acceptance needs a report
    response = client.post(f"/results/{campaign.code}/rectification/{rect.id}/accept", follow_redirects=True)
    assert "尚未提交整改报告" in response.get_data(as_text=True)
    client.post("/logout")
    login(client, "liaison")
    assert "红字（逾期）" in client.get(f"/my/{campaign.code}").get_data(as_text=True)
    client.post(f"/my/{campaign.code}/report", data={"text": "逾期提交的整改报告"})
    client.post("/logout")
    login(client, "committee")
    client.post(f"/results/{campaign.code}/rectification/{rect.id}/accept")
    page = client.get(f"/results/{campaign.code}/rectification").get_data(as_text=True)
    assert '<tr data-unit="u2" class="">' in page and "已消红" in page
    db.session.expire_all()
    rect = db.session.get(Rectification, rect.id)
    assert rect.was_cleared and not rect.is_red
    accept = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "rectification.accept"))
    assert accept.before == {"red": True} and accept.after["cleared"] is True


def test_follow_up_checks_can_be_scheduled(client, ctx):
    campaign = _finalized()
    login(client, "committee")
    client.post(f"/results/{campaign.code}/follow-ups",
                data={"unit": "u3", "scheduled_on": "2027-03-01", "note": "检查整改落实情况"})
    follow = rectification.follow_ups_of(campaign)
    assert [(f.campaign_unit.code, f.scheduled_on) for f in follow] == [("u3", dt.date(2027, 3, 1))]


def test_the_command_line_marks_overdue_items_red(app, ctx):
    campaign = _finalized()
    rect = rectification.rectification_of(queries.campaign_unit(campaign, "u1"))
    rect.due_on = dt.date.today() - dt.timedelta(days=2)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["results", "mark-overdue"])
    assert result.exit_code == 0 and "已标红 1 项" in result.output
    db.session.expire_all()
    assert db.session.get(Rectification, rect.id).is_red
    assert "已标红 0 项" in app.test_cli_runner().invoke(args=["results", "mark-overdue"]).output
