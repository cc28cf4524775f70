"""The ballot pages on narrow phones (issue #11, "English"): at 390 and 320
CSS px, in Chinese and in English, the form, the summary (its table of
answers) and the thank-you page are no wider than the screen, and the
submit buttons are visible and not covered by anything."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import Evaluator, Invitation
from survey.tokens import hash_token, new_token
from tests.factories import ENGLISH, bundle

ARTIFACTS = Path(__file__).parent.parent.parent / "test-artifacts"
#: Long English unit names, as a real campaign has them.
UNITS_EN = ["Municipal Bureau of Housing and Urban-Rural Development",
            "Municipal Administration for Market Regulation",
            "Human Resources and Social Security Bureau",
            "Municipal Public Security Bureau Traffic Police Detachment"]
#: A comment without a space to break at (a pasted address).
LONG_COMMENT = "办事窗口" * 12 + "https://example.cn/" + "a" * 60


def _campaign(app: Flask) -> str:
    """An open campaign of four units and three items, in both languages; one link."""
    with app.app_context():
        doc = bundle(units=4, items=3, extensions={"labels_en": {
            "scale": {"S": ENGLISH["满意"], "B": ENGLISH["基本满意"], "D": ENGLISH["不满意"], "U": ENGLISH["不了解"]},
            "items": {"i0": ENGLISH["总体评价"], "i1": ENGLISH["服务态度"], "i2": ENGLISH["办事效率"]},
            "categories": {"law": ENGLISH["行政执法类"], "svc": ENGLISH["社会服务类"]},
            "units": {f"u{k + 1}": name for k, name in enumerate(UNITS_EN)}}})
        campaign = import_bundle(doc, status="open")
        batch = next(b for b in campaign.batches if b.code == "e1")
        token = new_token()
        db.session.add(Invitation(campaign_id=campaign.id, batch=batch, token_hash=hash_token(token),
                                  evaluator=Evaluator(group=batch.group.group, name="评议员", attributes={})))
        db.session.commit()
        db.session.remove()
        return token


def fits(page: Any, width: int, name: str) -> None:
    """Nothing wider than the screen (the layout viewport is the device's: a
    page wider than it would scroll sideways). The page is kept in test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"narrow-{name}.png"), full_page=True)
    sizes = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert sizes[2] == width and max(sizes[:2]) <= width, f"{page.url}: scrollWidth {sizes[:2]} > {width}"


def reachable(page: Any, button: Any) -> None:
    """The button, scrolled to, is visible and is what a tap at its centre hits."""
    button.scroll_into_view_if_needed()
    assert button.is_visible()
    box = button.bounding_box()
    assert box is not None and box["width"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]
    hit = button.evaluate("(b, p) => { const e = document.elementFromPoint(p[0], p[1]); return e === b || b.contains(e); }",
                          [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    assert hit, f"{page.url}: something covers the button"


@pytest.mark.parametrize("width", [390, 320])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_ballot_pages_fit_a_narrow_phone(app: Flask, live_server: str, browser: Any, width: int,
                                             lang: str) -> None:
    token = _campaign(app)
    context = browser.new_context(locale="zh-CN" if lang == "zh" else "en-US", is_mobile=True, has_touch=True,
                                  device_scale_factor=2, viewport={"width": width, "height": 700})
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{live_server}/b/{token}?lang={lang}")
        assert page.evaluate("document.documentElement.lang") == ("en" if lang == "en" else "zh-CN")
        fits(page, width, f"{lang}-{width}-form")
        review = page.get_by_test_id("review")
        reachable(page, review)
        for fieldset in page.locator("fieldset[data-item]").all():
            fieldset.locator("input[type=radio]").nth(1).check()
        page.locator("textarea").first.fill(LONG_COMMENT)
        review.click()
        page.get_by_test_id("confirm").wait_for()
        assert page.locator("table.summary").count() >= 2 and LONG_COMMENT in page.content()
        fits(page, width, f"{lang}-{width}-review")
        reachable(page, page.get_by_test_id("confirm"))
        reachable(page, page.get_by_test_id("edit"))
        page.get_by_test_id("confirm").click()
        page.get_by_test_id("receipt").wait_for()
        fits(page, width, f"{lang}-{width}-thanks")
    finally:
        context.close()
