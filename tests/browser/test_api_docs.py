"""The API's browsable docs in Chromium: the vendored Swagger UI, started by
a static script under the app's Content-Security-Policy, draws every
operation of the OpenAPI document and reports no console error; with a key
given through its Authorize dialog, "Try it out" reaches the API."""
from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from survey.api.v1 import api
from survey.extensions import db
from tests.api.apikit import key_for
from tests.survey.test_results_support import make_committee_campaign

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_the_docs_page_draws_every_operation_and_calls_the_api(app, live_server, browser) -> None:
    with app.app_context():
        make_committee_campaign()
        key = key_for("organizer")
        db.session.remove()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{live_server}/api/v1/docs")
        page.locator(".opblock").first.wait_for()
        assert page.locator(".opblock").count() == len(api.operations)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert "/api/v1/campaigns/{code}/results" in [p.replace("\u200b", "") for p in paths]
        assert page.locator(".info .title").inner_text().startswith("评议 Pingyi API")
        # Authorize with the key, then try the campaign list.
        page.locator("button.authorize").first.click()
        page.locator(".modal-ux input").first.fill(key)
        page.locator(".modal-ux button.authorize").click()
        page.locator(".modal-ux button.close-modal").click()
        listing = page.locator("#operations-campaigns-campaigns")
        listing.locator(".opblock-summary").click()
        listing.locator("button.try-out__btn").click()
        listing.locator("button.execute").click()
        listing.locator(".live-responses-table tr.response .response-col_status").first.wait_for()
        expect(listing.locator(".live-responses-table tr.response .response-col_status").first).to_have_text("200", use_inner_text=True)
        expect(listing.locator(".live-responses-table tr.response .response-col_description").first).to_contain_text("t2026", use_inner_text=True)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
        context.close()
    assert errors == []
