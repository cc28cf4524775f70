"""Issue #13's opinions from outside the ballots in the browser, at 390 px:
the handler enters an opinion through the page and hands it to the unit, the
unit's liaison answers it, and whoever raised it reads the answer on the
public page by the code the handler was shown; axe-core finds no serious or
critical problem on these pages and none is wider than the phone."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import Opinion
from tests.factories import browser_login, bundle, make_user

SUMMARY = "<img src=x onerror=alert(1)>座谈会反映窗口午休无人"


def test_staff_entry_liaison_answer_and_public_lookup(app, live_server, browser, axe) -> None:
    with app.test_request_context():
        campaign = import_bundle(bundle(), status="open")
        campaign.period_start, campaign.period_end = dt.date(2026, 1, 1), dt.date(2026, 12, 31)
        make_user("handler")
        make_user("liaison", unit_code="u1")
        db.session.commit()
        db.session.remove()
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(10_000)
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    found: dict[str, object] = {}

    def check(name: str) -> None:
        problems = axe(page)
        if problems:
            found[name] = problems
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= 400, (name, overflow)

    try:
        browser_login(page, live_server, "handler")
        page.goto(f"{live_server}/opinions")
        check("/opinions")
        form = page.get_by_test_id("new-opinion")
        form.locator("select[name=source]").select_option(label="座谈会")
        form.get_by_label("来源说明（座谈会名称、走访对象、热线工单号）").fill("东区社区座谈会")
        form.get_by_label("日期").fill("2026-03-10")
        form.get_by_label("意见摘要（将在公开查询页显示，请勿写入个人信息）").fill(SUMMARY)
        form.get_by_label("姓名").fill("李某某")
        form.get_by_role("button", name="登记").click()
        code_shown = page.get_by_test_id("lookup-code")
        code_shown.wait_for()
        code = code_shown.inner_text().strip()
        check("code")
        page.get_by_role("link", name="查看并办理这条意见").click()
        page.get_by_label("答复期限").wait_for()
        check("opinion")
        page.get_by_label("答复期限").fill("2099-01-01")
        page.get_by_role("button", name="交办单位联络员").click()
        page.get_by_text("已办理：已交办。").wait_for()
        assert SUMMARY in page.get_by_test_id("opinion").inner_text()
        context.clear_cookies()

        browser_login(page, live_server, "liaison")
        page.goto(f"{live_server}/my/opinions")
        check("/my/opinions")
        assert "李某某" not in page.content()
        page.get_by_label("答复", exact=True).fill("已安排午间轮岗，窗口不再空岗")
        page.get_by_role("button", name="提交答复").click()
        page.get_by_text("已提交答复。").wait_for()
        context.clear_cookies()

        page.goto(f"{live_server}/opinion")
        check("/opinion")
        page.get_by_label("查询码").fill(code.lower())
        page.get_by_role("button", name="查询").click()
        answer = page.get_by_test_id("lookup-answer")
        answer.wait_for()
        assert answer.inner_text() == "已安排午间轮岗，窗口不再空岗"
        assert SUMMARY in page.get_by_test_id("lookup-found").inner_text()
        assert "李某某" not in page.content() and "东区社区座谈会" not in page.content()
        check("/opinion found")
        assert found == {}
        assert alerts == []
    finally:
        context.close()
    with app.app_context():
        opinion = db.session.scalar(select(Opinion))
        assert opinion is not None and opinion.step == "answered" and opinion.campaign_id is not None
