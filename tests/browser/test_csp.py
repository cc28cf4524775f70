"""Under the Content-Security-Policy (no inline script) every page's own
script still runs and Chromium reports no violation: the ballot form's
script, the batch page's progress and the print buttons; and no other console
error either."""
from __future__ import annotations

from survey.distribution import services
from survey.extensions import db
from tests.factories import browser_login, make_campaign, make_user


def test_pages_run_their_scripts_without_a_policy_violation(app, live_server, browser) -> None:
    with app.app_context():
        campaign, tokens = make_campaign(invitations=1)
        services.create_batch(campaign, campaign.groups[0], "paper", count=2, code="paper9")
        db.session.commit()
        make_user("organizer")
        db.session.remove()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if message.type == "error" else None)  # a policy violation or any other script error
    try:
        page.goto(f"{live_server}/b/{tokens[0]}")
        # ballot.js ran: its live counter counts the first answered unit.
        page.locator("#ballot-form input[type=radio]").first.check()
        page.wait_for_function("document.querySelector('[data-answered]').textContent === '1'")
        browser_login(page, live_server, "organizer")
        page.goto(f"{live_server}/distribution/t2026/batches/paper9")
        page.goto(f"{live_server}/distribution/t2026/batches/paper9/print")
        page.evaluate("window.print = () => { document.body.dataset.printed = 'yes'; }")
        page.locator("[data-print]").first.click()
        assert page.evaluate("document.body.dataset.printed") == "yes"  # staff.js wired the button
    finally:
        context.close()
    assert violations == []
