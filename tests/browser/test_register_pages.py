"""The pages of issue #13's register and departmental scores work at 390 px
for each role (case handler, liaison, organizer, assessing department):
axe-core finds no serious or critical problem and nothing but the scrolling
tables is wider than the phone's screen; a planted summary shows as text."""
from __future__ import annotations

import datetime as dt

from playwright.sync_api import expect
from sqlalchemy import select

from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import Unit
from survey.register import services
from tests.factories import browser_login, bundle, make_user

MARKUP = "<img src=x onerror=alert(1)>窗口推诿"


def test_register_pages_pass_axe_at_390_px(app, live_server, browser, axe) -> None:
    with app.test_request_context():
        campaign = import_bundle(bundle(), status="open")
        campaign.period_start, campaign.period_end = dt.date(2026, 1, 1), dt.date(2026, 12, 31)
        component = services.set_component(campaign, "complaints", "群众投诉", 100)
        services.set_rule(component, "complaint", "founded", 2)
        unit = db.session.scalar(select(Unit).where(Unit.code == "u1"))
        case = services.register_case(None, kind="complaint", source="12345", occurred_on=dt.date(2026, 3, 1),
                                      unit=unit, summary=MARKUP, complainant={"name": "王某"})
        services.accept(case)
        services.assign(case, dt.date(2099, 1, 1), dt.date(2026, 3, 2))
        db.session.commit()
        case_id = case.id
        for role in ("handler", "organizer", "assessor"):
            make_user(role)
        make_user("liaison", unit_code="u1")
        db.session.remove()
    pages = {"handler": ["/register", f"/register/{case_id}"], "liaison": ["/my/register"],
             "organizer": ["/results/t2026/register", "/register/gongshi"],
             "assessor": ["/assess", "/assess/t2026"]}
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    try:
        found = {}
        for role, paths in pages.items():
            browser_login(page, live_server, role)
            for path in paths:
                assert page.goto(f"{live_server}{path}").status == 200, path
                problems = axe(page)
                if problems:
                    found[f"{role} {path}"] = problems
                overflow = page.evaluate("document.documentElement.scrollWidth")
                assert overflow <= 400, (role, path, overflow)
            page.context.clear_cookies()
        assert found == {}
        browser_login(page, live_server, "handler")
        page.goto(f"{live_server}/register/{case_id}")
        assert MARKUP in page.get_by_test_id("case").inner_text()
        page.context.clear_cookies()
        # The assessing department enters its component on its own scale (1000 points) in the form.
        browser_login(page, live_server, "assessor")
        page.goto(f"{live_server}/assess/t2026")
        page.get_by_label("单位").select_option("u2")
        page.get_by_label("原始得分").fill("905")
        page.get_by_label("满分").fill("1000")
        page.get_by_label("依据（文件、考核记录）").fill("安全生产专项考核记录表")
        page.get_by_role("button", name="保存得分").click()
        row = page.get_by_test_id("scores").locator('tr[data-unit="u2"]')
        expect(row).to_contain_text("90.50")
        expect(row).to_contain_text("安全生产专项考核记录表")
        assert alerts == []
    finally:
        context.close()
