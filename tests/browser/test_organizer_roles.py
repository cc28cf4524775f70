"""Role checks in the browser: a visitor who is not signed in lands on the sign-in
page and comes back to the setup page after signing in; a committee member sees the
board but is refused the setup pages; a liaison is refused both."""
from __future__ import annotations

from playwright.sync_api import expect

from survey.extensions import db
from tests.factories import PASSWORD, browser_login, make_campaign, make_user


def test_sign_in_then_back_to_the_setup_page(app, live_server, page) -> None:
    with app.app_context():
        make_campaign(status="draft")
        make_user("organizer")
        db.session.remove()
    page.goto(f"{live_server}/campaigns/t2026/setup/rules")
    assert "/login" in page.url
    page.get_by_label("用户名").fill("organizer")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/campaigns/t2026/setup/rules")
    expect(page.get_by_role("heading", name="计分规则")).to_be_visible()  # waits for the page to load


def test_committee_sees_the_board_not_the_setup(app, live_server, page) -> None:
    with app.app_context():
        make_campaign(status="open")
        make_user("committee")
        make_user("liaison", unit_code="u1")
        db.session.remove()
    browser_login(page, live_server, "committee")
    assert page.goto(f"{live_server}/campaigns/t2026/returns").status == 200
    expect(page.get_by_test_id("total-returned")).to_have_text("0", use_inner_text=True)
    for path in ("/campaigns/new", "/campaigns/t2026/setup", "/campaigns/t2026/setup/groups",
                 "/campaigns/t2026/roster"):
        assert page.goto(f"{live_server}{path}").status == 403, path
    # The index offers no setup links to a committee member.
    page.goto(f"{live_server}/")
    expect(page.get_by_role("link", name="新建评议活动")).to_have_count(0)
    page.get_by_role("button", name="退出").click()
    browser_login(page, live_server, "liaison")
    assert page.goto(f"{live_server}/campaigns/t2026/returns").status == 403
    assert page.goto(f"{live_server}/campaigns/t2026/setup").status == 403
