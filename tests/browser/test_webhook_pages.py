"""The admin's webhook pages in Chromium against a real HTTP receiver on the
loopback: the admin reaches them from the menu, registers an endpoint (its
secret shown once on the answer), sends a test event from the endpoint's
page, which the web process's worker thread delivers, signed with that
secret, and sees it in the delivery log; switches the endpoint off; markup
in its description renders as text; and the pages pass axe."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from survey import webhooks
from tests.api.test_webhooks import Receiver
from tests.factories import browser_login, make_user


def test_the_admin_registers_an_endpoint_and_sees_its_test_delivery(app, live_server, browser, axe) -> None:
    app.config.update(PINGYI_JOBS_THREAD=True)
    with app.app_context():
        make_user("admin")
    receiver = Receiver()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        browser_login(page, live_server, "admin")
        page.get_by_role("link", name="Webhook 推送").click()
        expect(page.get_by_role("heading", name="Webhook 推送")).to_be_visible()
        page.get_by_label("接收地址（URL）").fill(receiver.url)
        page.get_by_label("说明（接收的系统）").fill('<img src=x onerror="alert(1)">档案系统')
        page.get_by_label(re.compile(r"^campaign\.finalized")).check()
        page.get_by_role("button", name="登记").click()
        # The endpoint's page, with the secret to hand over; a reload registers nothing more.
        expect(page.get_by_role("heading", name=receiver.url)).to_be_visible()
        secret = page.get_by_test_id("created-secret").locator("code").inner_text()
        assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}", secret)
        page.reload()
        assert axe(page) == []
        page.get_by_role("link", name="Webhook 推送").last.click()
        rows = page.get_by_test_id("webhooks").locator("tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text('<img src=x onerror="alert(1)">档案系统')  # as text, not an element
        expect(page.locator("table img")).to_have_count(0)
        assert axe(page) == []

        page.get_by_role("link", name=receiver.url).click()
        expect(page.get_by_test_id("created-secret")).to_have_count(0)  # opened on the first visit only
        page.get_by_role("button", name="发送测试事件").click()
        expect(page.get_by_text("已排队发送测试事件")).to_be_visible()
        delivered = page.locator('tr[data-state="delivered"]')
        for _ in range(40):  # the worker thread sends it; the log shows it on the next load
            if delivered.count():
                break
            page.wait_for_timeout(250)
            page.reload()
        expect(delivered).to_have_count(1)
        expect(delivered.locator(".response-code")).to_have_text("200")
        assert len(receiver.requests) == 1
        sent = receiver.requests[0]
        assert sent["headers"]["Pingyi-Event"] == "ping"
        assert webhooks.verify(secret, sent["headers"]["Pingyi-Signature"], sent["body"])
        assert axe(page) == []

        page.get_by_role("button", name="停用").click()
        expect(page.get_by_test_id("endpoint-state")).to_have_text("已停用")
        expect(page.get_by_role("button", name="发送测试事件")).to_have_count(0)
    finally:
        context.close()
        receiver.close()
    assert dialogs == []
