"""A window's QR poster (知情评议, issue #14, Done when): the form of a QR
batch made for one unit shows that unit only, fits a 390 × 844 phone without
scrolling for one item set, and submits."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from survey.distribution import services
from survey.extensions import db
from survey.models import Answer
from tests.factories import make_campaign

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def test_window_form_shows_one_unit_fits_the_phone_and_submits(app, live_server, browser) -> None:
    with app.test_request_context():
        campaign, _tokens = make_campaign(invitations=0, units=5, items=1)
        window = campaign.units[2]
        batch = services.create_batch(campaign, campaign.groups[1], "qr", code="win3")
        services.set_batch_units(batch, [window.id])
        db.session.commit()
        public_code, name, window_id = batch.public_code, window.name, window.id
        others = [u.name for u in campaign.units if u.id != window_id]
    context = browser.new_context(locale="zh-CN", **PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server}/q/{public_code}")
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    assert not any(other in page.content() for other in others)
    # One unit, one item set: the whole form, its submit button included, on one screen.
    assert page.evaluate("document.documentElement.scrollHeight") <= 844
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    button = page.get_by_role("button", name="提交评议")
    box = button.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 844
    card = page.locator(".card", has=page.get_by_role("heading", name=name, exact=True))
    card.locator("fieldset").first.get_by_label("基本满意", exact=True).check()
    button.click()
    page.get_by_role("button", name="确认提交").click()
    expect(page.get_by_test_id("receipt")).to_be_visible()
    with app.app_context():
        assert set(db.session.scalars(select(Answer.campaign_unit_id))) == {window_id}
    context.close()
