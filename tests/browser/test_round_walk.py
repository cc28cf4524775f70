"""The organizer's walk through a 平时考核 round (docs/rounds.md): create a
round with the new-campaign form (copying the latest round by default), see it
marked in the list, then a closed round's ranking page, its XLSX, publishing,
and the annual campaign's 平时 page showing the round's composites."""
from __future__ import annotations

from playwright.sync_api import expect

from survey.extensions import db
from survey.rounds import services as rounds
from tests.factories import browser_login, make_user
from tests.survey.test_rounds import _annual, _round


def test_organizer_round_walk(app, live_server, browser) -> None:
    with app.app_context():
        _annual()
        _round("r1", "2027-03-31", {"u1": "S", "u2": "B"})
        db.session.commit()
        make_user("organizer")
        db.session.remove()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        browser_login(page, live_server, "organizer")
        page.goto(f"{live_server}/")
        page.get_by_role("link", name="新建平时考核轮次").click()
        page.get_by_label("活动代码").fill("w02")
        page.get_by_label("活动名称").fill("第2周窗口服务")
        page.get_by_label("年度", exact=True).fill("2027")
        page.get_by_label("考核日期").fill("2027-04-07")
        assert page.get_by_label("复制以往活动").input_value() == "r1"  # the latest round by default
        page.get_by_role("button", name="创建").click()
        page.get_by_test_id("round-mark").wait_for()
        expect(page.get_by_test_id("round-mark")).to_contain_text("平时考核轮次", use_inner_text=True)

        page.goto(f"{live_server}/rounds/r1")
        expect(page.get_by_test_id("ranking-law").locator("tr[data-unit=u1] td").nth(2)).to_have_text("100.00", use_inner_text=True)
        with page.expect_download() as download:
            page.get_by_test_id("ranking-xlsx").click()
        assert download.value.suggested_filename == "r1-ranking.xlsx"
        page.get_by_role("button", name="发布排名").click()
        page.get_by_text("已发布本轮排名").wait_for()
        expect(page.get_by_test_id("round-status")).to_have_text("已公示", use_inner_text=True)

        page.goto(f"{live_server}/campaigns/y2027/pingshi")
        row = page.get_by_test_id("rollup").locator("tr[data-unit=u2]")
        expect(row.locator("td").last).to_have_text("70.00", use_inner_text=True)
    finally:
        context.close()
    with app.app_context():
        assert [r.code for r in rounds.rounds()] == ["w02", "r1"]
