"""Pages offer only what the campaign's state allows and say why the rest is
closed (issue #11), and a past deadline is refused when it is saved."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from survey.clock import to_beijing, utcnow
from survey.extensions import db
from survey.models import Campaign
from tests.factories import login, make_user
from tests.survey.test_signoff_trust import _closed_by_organizer, _finalized

BASE = {"code": "c2027", "name": "2027年度作风评议", "year": "2027", "return_target": "90", "copy_from": ""}


def _local(instant: dt.datetime) -> str:
    return to_beijing(instant).strftime("%Y-%m-%dT%H:%M")


def _campaign(code: str) -> Campaign | None:
    db.session.expire_all()
    return db.session.scalar(select(Campaign).where(Campaign.code == code))


def test_a_new_campaign_with_a_past_deadline_is_refused(ctx, client) -> None:
    make_user("organizer")
    login(client, "organizer")
    past = _local(utcnow() - dt.timedelta(hours=2))
    answer = client.post("/campaigns/new", data={**BASE, "closes_at": past})
    assert answer.status_code == 400 and "已过，请填写以后的时间" in answer.text
    assert _campaign("c2027") is None
    ahead = _local(utcnow() + dt.timedelta(days=3))
    assert client.post("/campaigns/new", data={**BASE, "closes_at": ahead}).status_code == 302


def test_the_basics_refuse_a_new_past_deadline_but_keep_a_stored_one(ctx, client) -> None:
    make_user("organizer")
    login(client, "organizer")
    assert client.post("/campaigns/new", data=BASE).status_code == 302
    past = _local(utcnow() - dt.timedelta(days=1))
    answer = client.post("/campaigns/c2027/setup", data={**BASE, "closes_at": past})
    assert "已过，请填写以后的时间" in answer.text
    assert _campaign("c2027").closes_at is None
    # A deadline that passed while stored does not stop the rest of the form being saved.
    campaign = _campaign("c2027")
    campaign.closes_at = (utcnow() - dt.timedelta(days=1)).replace(second=0, microsecond=0)
    db.session.commit()
    kept = _local(campaign.closes_at)
    answer = client.post("/campaigns/c2027/setup", data={**BASE, "name": "改过的名称", "closes_at": kept})
    assert answer.status_code == 302, answer.text
    assert _campaign("c2027").name == "改过的名称"


def test_a_published_campaign_offers_no_save(ctx, client) -> None:
    campaign = _finalized(client, "wang", publish=True)
    make_user("organizer")
    login(client, "organizer")
    page = client.get(f"/campaigns/{campaign.code}/setup").get_data(as_text=True)
    assert "基本信息不能再修改" in page and "已公示" in page
    assert ">保存<" not in page
    rules = client.get(f"/campaigns/{campaign.code}/setup/rules").get_data(as_text=True)
    assert "计分规则不能再修改" in rules and "保存计分规则" not in rules


def test_finalize_is_offered_only_with_the_quorum(ctx, client) -> None:
    campaign = _closed_by_organizer("wang", "li")
    login(client, "wang")
    client.post(f"/results/{campaign.code}/approve")
    page = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    assert f"/results/{campaign.code}/finalize" not in page
    assert "还需 1 名领导小组成员审定当前结果，方可定稿" in page
    assert f"/results/{campaign.code}/override" in page
    client.post("/logout")
    login(client, "li")
    client.post(f"/results/{campaign.code}/approve")
    page = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    assert f"/results/{campaign.code}/finalize" in page and "方可定稿" not in page


def test_the_override_form_goes_at_finalize(ctx, client) -> None:
    campaign = _finalized(client, "wang")
    login(client, "wang")
    page = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    assert f"/results/{campaign.code}/override" not in page
    assert "评定等次不能再调整" in page and f"/results/{campaign.code}/finalize" not in page
