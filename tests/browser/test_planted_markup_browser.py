"""Planted markup on the ballot in Chromium (Trust, item 2): a category, unit,
item and option label holding <script> and an onerror image is shown as
text, in Chinese and in English, and nothing of it runs."""
from __future__ import annotations

from flask import Flask
from playwright.sync_api import expect

from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import Evaluator, Invitation
from survey.tokens import hash_token, new_token
from tests.factories import bundle

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
MARKUP = SCRIPT + IMG + "{{7*7}}" + r"市$\frac$局"


def _planted(app: Flask) -> str:
    """An open campaign whose every label holds the markup (English labels too); one link's token."""
    doc = bundle("m2026", units=2, items=2)
    doc["campaign"]["name"] = "评议" + MARKUP
    for key, field in (("scale", "label"), ("items", "label"), ("categories", "label"), ("units", "name")):
        for k, record in enumerate(doc[key]):
            record[field] = f"{k}{MARKUP}"
    doc["extensions"] = {"labels_en": {key: {r["code"]: f"en{k}{MARKUP}" for k, r in enumerate(doc[key])}
                                       for key in ("scale", "items", "categories", "units")}}
    with app.app_context():
        campaign = import_bundle(doc, status="open")
        batch = campaign.batches[0]
        token = new_token()
        db.session.add(Invitation(campaign_id=campaign.id, batch=batch, token_hash=hash_token(token),
                                  evaluator=Evaluator(group=batch.group.group, name=MARKUP, email="m@example.cn")))
        db.session.commit()
        db.session.remove()
    return token


def test_planted_labels_are_text_and_never_run(app, live_server, new_page) -> None:
    token = _planted(app)
    page = new_page()
    dialogs: list[str] = []
    messages: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: messages.append(m.text))
    for lang, prefix in (("zh", ""), ("en", "en")):
        page.goto(f"{live_server}/b/{token}?lang={lang}")
        page.wait_for_load_state("load")
        text = page.locator("main, body").first.inner_text()
        # Every label is shown as typed, the markup and the expression included.
        for k in range(2):
            assert f"{prefix}{k}{MARKUP}" in text, (lang, k)
        expect(page.locator("img[src='x']")).to_have_count(0)
        assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0
        expect(page.get_by_text(f"{prefix}0{MARKUP}", exact=True).first).to_be_visible()
        # Submitted blank: the problems name the labels, as text too.
        page.get_by_role("button", name="提交评议" if lang == "zh" else "Submit", exact=True).click()
        page.wait_for_load_state("load")
    assert dialogs == []
    assert not [m for m in messages if "alert" in m or m in ("1", "2")]
    assert page.evaluate("typeof window.__pwned") == "undefined"
