"""The first vertical slice in a real browser: an evaluator opens a personal
link, rates every unit, submits, sees the thank-you page; the organizer sees
the ballot in the campaign's counts; the link then refuses a second ballot."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from survey.extensions import db
from tests.factories import browser_login, make_campaign, make_user


@pytest.mark.walk
def test_evaluator_link_to_counted_ballot(app, live_server, page) -> None:
    with app.app_context():
        campaign, tokens = make_campaign(units=4, invitations=2)
        make_user("organizer")
        units = [cu.name for cu in campaign.units]
        db.session.remove()

    page.goto(f"{live_server}/b/{tokens[0]}")
    expect(page.get_by_role("heading", level=1)).to_have_text("t2026 测试评议", use_inner_text=True)
    for heading in ("行政执法类", "社会服务类"):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    choices = ["满意", "基本满意", "不满意", "不了解"]
    for unit, choice in zip(units, choices, strict=True):
        page.locator(".card", has=page.get_by_role("heading", name=unit)).get_by_label(choice, exact=True).check()
    page.get_by_role("button", name="提交评议").click()
    # A summary first; the submit is explicit.
    page.get_by_role("button", name="确认提交").click()

    assert page.get_by_role("heading", level=1).inner_text().startswith("感谢您参加")
    receipt = page.get_by_test_id("receipt").inner_text()
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", receipt)

    page.goto(f"{live_server}/b/{tokens[0]}")
    expect(page.get_by_role("alert")).to_contain_text("只能提交一次", use_inner_text=True)

    browser_login(page, live_server, "organizer")
    page.goto(f"{live_server}/campaigns/t2026")
    expect(page.get_by_test_id("returned-total")).to_have_text("1", use_inner_text=True)
    expect(page.get_by_test_id("returned-e1")).to_have_text("1", use_inner_text=True)


def test_missing_answer_is_pointed_out(app, live_server, page) -> None:
    with app.app_context():
        campaign, tokens = make_campaign(units=2, invitations=1)
        first = campaign.units[0].name
        db.session.remove()
    page.goto(f"{live_server}/b/{tokens[0]}")
    page.locator(".card", has=page.get_by_role("heading", name=first)).get_by_label("满意", exact=True).check()
    page.get_by_role("button", name="提交评议").click()
    expect(page.get_by_test_id("problems")).to_contain_text("还有 1 处未填写", use_inner_text=True)
    # What was already chosen is kept.
    assert page.locator(".card", has=page.get_by_role("heading", name=first)).get_by_label("满意", exact=True).is_checked()
