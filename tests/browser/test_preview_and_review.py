"""In Chromium at 390 px (issue #11): the organizer previews the real form of a
group in its phone frame and submits a test ballot through it, which counts
nowhere; the committee reads a unit's plan and sends it back with a comment.
Both pages fit the phone's width and pass axe."""
from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Ballot, Rectification
from survey.models import TestBallot as StoredTestBallot
from survey.results import queries, rectification
from tests.factories import browser_login, make_campaign, make_user
from tests.survey.test_outcome_rectification import _finalized

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_preview_and_a_test_ballot_at_390_px(app, live_server, browser, axe) -> None:
    with app.app_context():
        campaign, _tokens = make_campaign(status="draft", units=3)
        units, name = [cu.name for cu in campaign.units], campaign.name
        make_user("organizer")
        db.session.remove()
    context = browser.new_context(locale="zh-CN", **PHONE)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []  # a policy violation (framing, script) or any script error, in either frame
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        browser_login(page, live_server, "organizer")
        page.goto(f"{live_server}/campaigns/t2026/setup")
        page.get_by_role("link", name="预览与测试").click()
        expect(page.get_by_role("heading", name="预览与测试")).to_be_visible()
        assert _fits(page)
        phone = page.get_by_test_id("phone-frame")
        assert phone.bounding_box()["width"] <= 390
        expect(page.get_by_test_id("desktop-frame")).to_have_count(1)
        assert axe(page) == []
        form = page.frame_locator('[data-testid="phone-frame"]')
        expect(form.get_by_role("heading", level=1)).to_have_text(name)
        for unit in units:
            card = form.locator(".card", has=form.get_by_role("heading", name=unit, exact=True))
            card.locator("fieldset").first.get_by_label("满意", exact=True).check()
        form.get_by_role("button", name="提交评议").click()
        expect(form.get_by_role("heading", level=1)).to_have_text("请确认您的评议")
        form.get_by_role("button", name="确认提交").click()
        expect(form.get_by_test_id("test-recorded")).to_be_visible()
        assert errors == []
        page.reload()
        expect(page.get_by_test_id("test-count")).to_contain_text("共 1 张测试票")
        expect(page.locator(".test-mark")).to_have_text("测试")
        assert _fits(page)
    finally:
        context.close()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StoredTestBallot)) == 1
        assert db.session.scalar(select(func.count(Ballot.id))) == 0
        db.session.remove()


def test_committee_returns_a_plan_at_390_px(app, live_server, browser, axe) -> None:
    with app.app_context():
        campaign = _finalized()
        rect = rectification.rectification_of(queries.campaign_unit(campaign, "u3"))
        rect.plan = "一、压减办事材料；二、推行一次办结"
        db.session.commit()
        rect_id = rect.id
        db.session.remove()
    context = browser.new_context(locale="zh-CN", **PHONE)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        browser_login(page, live_server, "committee")
        page.goto(f"{live_server}/results/t2026/rectification")
        page.get_by_role("link", name="审核 市第3局").click()
        expect(page.get_by_test_id("plan")).to_have_text("一、压减办事材料；二、推行一次办结")
        assert _fits(page)
        assert axe(page) == []
        page.get_by_label("退回意见（必填，单位联络员可见）").fill("请写明完成时限")
        page.get_by_role("button", name="退回修改").click()
        expect(page.get_by_test_id("review-state")).to_have_text("已退回修改")
        expect(page.get_by_test_id("review-comment")).to_contain_text("请写明完成时限")
        expect(page.get_by_test_id("waiting")).to_be_visible()
        assert _fits(page)
    finally:
        context.close()
    with app.app_context():
        assert db.session.get(Rectification, rect_id).is_returned
        db.session.remove()
