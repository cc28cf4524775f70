"""axe-core (WCAG 2.1 A/AA) finds no serious or critical problem on the organizer's pages."""
from __future__ import annotations

from survey.bundles import import_bundle
from survey.extensions import db
from tests.factories import browser_login, bundle, make_user

PAGES = ["/", "/campaigns/new", "/campaigns/t2026/setup", "/campaigns/t2026/setup/units",
         "/campaigns/t2026/setup/groups", "/campaigns/t2026/setup/questionnaire", "/campaigns/t2026/setup/rules",
         "/campaigns/t2026/roster", "/campaigns/t2026/returns", "/campaigns/t2026/returns/e1/unanswered",
         "/admin/users", "/admin/webhooks"]


def test_organizer_pages_pass_axe(app, live_server, browser, axe) -> None:
    with app.app_context():
        ballots = [{"id": f"b{k}", "batch": "e1", "submitted_at": f"2026-11-0{k + 1}T09:00:00+08:00",
                    "answers": {"u1": {"i0": "S"}}} for k in range(3)]
        import_bundle(bundle(ballots=ballots), status="open")
        db.session.commit()
        make_user("admin")
        db.session.remove()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        browser_login(page, live_server, "admin")
        found = {}
        for path in PAGES:
            assert page.goto(f"{live_server}{path}").status == 200, path
            problems = axe(page)
            if problems:
                found[path] = problems
        assert found == {}
    finally:
        context.close()
