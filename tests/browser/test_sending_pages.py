"""The sending pages on a 390 px phone: an SMS batch sent through the HTTP
gateway test server after its preview, counters that refresh without a
reload, the campaign's message texts, a reminder schedule, a confirmation
without JavaScript, and a return board with personal and open channels.
axe finds no serious or critical problem on any of them, and none is wider
than the screen."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from survey.bundles import import_bundle
from survey.clock import utcnow
from survey.distribution import services
from survey.extensions import db
from survey.models import Campaign
from tests.factories import browser_login, make_user
from tests.survey.test_board import _mixed_bundle
from tests.survey.test_distribution_support import setup_campaign

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture
def phone(browser):
    context = browser.new_context(locale="zh-CN", **PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_an_sms_batch_through_the_http_gateway_on_a_phone(app, live_server, phone, axe, sms_gateway) -> None:
    import datetime as dt

    app.config.update(sms_gateway.config(), PINGYI_PUBLIC_URL=live_server, PINGYI_JOBS_THREAD=True)
    with app.test_request_context():
        campaign = setup_campaign(evaluators=3, anonymous=False)
        campaign.closes_at = utcnow() + dt.timedelta(days=10)
        group = campaign.groups[0]
        services.create_batch(campaign, group, "sms", code="sms1",
                              evaluators=[e.id for e in services.eligible_evaluators(campaign, group, "sms")])
        db.session.commit()
        make_user("organizer")
    page = phone
    browser_login(page, live_server, "organizer")
    problems = {}

    # The campaign's own SMS text, with its placeholders.
    page.goto(f"{live_server}/distribution/t2026/messages")
    problems["messages"] = axe(page)
    assert fits(page)
    form = page.get_by_test_id("message-invite-sms")
    form.get_by_label("正文").fill("【市评议办】{姓名}您好，请评议：{链接}")
    form.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_contain_text("已保存消息内容")

    page.goto(f"{live_server}/distribution/t2026/batches/sms1")
    expect(page.get_by_test_id("gateway")).to_contain_text("HTTP 网关 127.0.0.1")
    problems["batch"] = axe(page)
    assert fits(page)
    page.get_by_role("button", name="发送待发消息…").click()
    expect(page.get_by_test_id("recipients")).to_contain_text("13900000002")
    expect(page.get_by_test_id("sample-text")).to_contain_text("【市评议办】（姓名）您好，请评议：")
    problems["preview"] = axe(page)
    assert fits(page)
    assert sms_gateway.requests == []
    page.get_by_role("button", name="确认发送 3 条").click()
    # The counters follow the job without a reload.
    expect(page.get_by_test_id("job-status")).to_contain_text("已全部发出", timeout=20_000)
    expect(page.get_by_test_id("delivery-sent")).to_have_text("3")
    expect(page.locator("#progress")).to_have_class(re.compile("tone-ok"))
    texts = sorted(r.json()["text"] for r in sms_gateway.requests)
    assert len(texts) == 3 and texts[0].startswith("【市评议办】代表0您好，请评议：")

    # Reminders scheduled from the batch page.
    page.get_by_label("截止前几天开始催办").fill("3")
    page.get_by_label("每隔几天催办一次").fill("2")
    page.get_by_role("button", name="保存定时催办").click()
    expect(page.get_by_test_id("schedule")).to_contain_text("截止前 3 天起，每 2 天")
    expect(page.get_by_test_id("schedule")).to_contain_text("下次：")
    problems["batch after"] = axe(page)
    assert fits(page)
    assert {k: v for k, v in problems.items() if v} == {}
    # Cancelled: the worker thread, asleep until the next reminder, wakes, finds nothing and stops.
    page.get_by_role("button", name="取消定时催办").click()
    expect(page.get_by_role("status")).to_contain_text("已取消本批次的定时催办")


def test_a_confirmation_without_javascript(app, live_server, browser) -> None:
    with app.test_request_context():
        campaign = setup_campaign()
        services.create_batch(campaign, campaign.groups[1], "paper", count=2, code="P")
        db.session.commit()
        make_user("organizer")
    context = browser.new_context(locale="zh-CN", java_script_enabled=False, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        browser_login(page, live_server, "organizer")
        page.goto(f"{live_server}/distribution/t2026/batches/P")
        page.get_by_role("button", name="确认已印制").click()
        expect(page.get_by_test_id("consequence")).to_contain_text("此操作不能撤销")
        # (axe needs JavaScript: the same page, as the send preview, is checked in the test above)
        expect(page.locator("dialog")).to_have_count(0)
        page.get_by_test_id("confirm").click()
        expect(page.get_by_role("status")).to_contain_text("系统中的明文链接已清除")
    finally:
        context.close()


def test_the_board_of_a_group_with_personal_and_open_channels(app, live_server, phone, axe) -> None:
    with app.app_context():
        import_bundle(_mixed_bundle(), status="open")
        db.session.commit()
        make_user("organizer")
        assert db.session.scalar(db.select(Campaign.code)) == "t2026"
    browser_login(phone, live_server, "organizer")
    phone.goto(f"{live_server}/campaigns/t2026/returns")
    expect(phone.get_by_test_id("groups-rate-client")).to_have_text("20.0%")
    expect(phone.get_by_test_id("groups-open-client")).to_have_text("3")
    expect(phone.get_by_test_id("groups-rate-expert")).to_have_text("50.0%（对名额）")
    assert axe(phone) == []
    assert fits(phone)
