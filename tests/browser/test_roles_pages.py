"""axe-core finds no serious or critical problem on the pages of issue #11's
roles work at 390 px: the own password, the clerk's paper start page, the
accounts page with its reset and role forms, and the audit log with its filters."""
from __future__ import annotations

from survey import audit
from survey.bundles import import_bundle
from survey.extensions import db
from tests.factories import browser_login, bundle, make_user

PAGES = {"clerk": ["/paper", "/account/password"], "admin": ["/admin/users", "/account/password"],
         "auditor": ["/audit", "/account/password"]}


def test_roles_pages_pass_axe_at_390_px(app, live_server, browser, axe) -> None:
    with app.test_request_context():
        import_bundle(bundle(), status="open")
        for role in PAGES:
            make_user(role)
        audit.record("campaign.basics", "campaign:t2026", {"name": "旧名称"}, {"name": "新名称"})
        db.session.commit()
        db.session.remove()
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        found = {}
        for role, paths in PAGES.items():
            browser_login(page, live_server, role)
            for path in paths:
                assert page.goto(f"{live_server}{path}").status == 200, path
                if path == "/admin/users":
                    page.locator("details summary").first.click()  # the reset and role forms, opened
                problems = axe(page)
                if problems:
                    found[f"{role} {path}"] = problems
                # Nothing wider than the phone's screen but the scrolling tables.
                overflow = page.evaluate("document.documentElement.scrollWidth")
                assert overflow <= 400, (path, overflow)
            page.context.clear_cookies()
        assert found == {}
    finally:
        context.close()
