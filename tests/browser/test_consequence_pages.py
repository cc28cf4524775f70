"""The pages of issue #13's consequences carried out, escalation rules, 回头看
and 先进 at 390 px: axe-core finds no serious or critical problem, nothing is
wider than the phone, and the committee records an execution through the
page's own form (its details opened, its proof typed)."""
from __future__ import annotations

import datetime as dt

from playwright.sync_api import expect
from sqlalchemy import select

from survey.extensions import db
from survey.models import Consequence, User
from survey.results import honours, queries, rectification, signoff
from tests.factories import browser_login, make_user
from tests.survey.test_results_support import make_committee_campaign

PAGES = ["consequences", "consequence-rules", "lookback", "honours"]


def test_consequence_pages_work_at_390_px(app, live_server, browser, axe) -> None:
    with app.test_request_context():
        campaign = make_committee_campaign()
        member = make_user("committee")
        honours.save_rule(campaign, {"top_k": 1, "stars": [{"min_score": 0, "stars": 3}], "public_stars": True},
                          member)
        signoff.approve(campaign, member)
        signoff.finalize(campaign, dt.date(2026, 12, 1), member)
        rectification.schedule_follow_up(campaign, queries.campaign_unit(campaign, "u3"), dt.date(2026, 1, 1), "检查窗口")
        target = next(c for c in rectification.consequences_of(campaign) if c.kind == "criticism_notice")
        target.due_on = dt.date(2026, 1, 2)  # long past: red
        db.session.commit()
        target_id = target.id
        db.session.remove()
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        browser_login(page, live_server, "committee")
        found = {}
        for name in PAGES:
            path = f"/results/t2026/{name}"
            assert page.goto(f"{live_server}{path}").status == 200, path
            for summary in page.locator("details summary").all()[:2]:
                summary.click()  # the forms, opened
            problems = axe(page)
            if problems:
                found[path] = problems
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= 400, (path, overflow)
        assert found == {}
        page.goto(f"{live_server}/results/t2026/consequences")
        card = page.locator(f"#consequence-{target_id}")
        expect(card.locator(".redmark")).to_have_count(1)
        card.locator("summary", has_text="登记落实情况").click()
        card.get_by_label("证明材料（文件名称、文号、收到的材料）").fill("市评议办通〔2027〕2 号")
        card.get_by_role("button", name="已执行").click()
        page.wait_for_load_state()
        expect(page.locator(f"#consequence-{target_id} .cleared")).to_have_count(1)
    finally:
        context.close()
    with app.app_context():
        row = db.session.get(Consequence, target_id)
        assert row.state == "executed" and row.proof == "市评议办通〔2027〕2 号"
        assert row.done_by_id == db.session.scalar(select(User.id).where(User.username == "committee"))
