"""The evaluator's first page from its skeleton (issue #15): the fast render
of the form (survey/ballots/pages.py) is the full WTForms template's render
of the same request (same receipt, signed start, CSRF token and draft), for
personal links and the open channel, in Chinese and English, with markup
planted in every label and comment; an edit of what the page shows is seen
on the next request, whatever was cached."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from survey.ballots import drafts, pages, routes
from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import Campaign, CampaignCategory, CampaignUnit, Evaluator, Invitation, ScaleOption
from survey.tokens import hash_token, new_token
from tests.factories import bundle
from tests.survey.test_margins import raked

SCRIPT = "<script>alert(1)</script>"
#: Markup, a template expression, and what a skeleton's marker looks like (without its random word).
PLANTED = SCRIPT + '"><img src=x onerror=alert(1)>{{7*7}}\ue000:receipt\ue001'
RECEIPT = "ABCDEFGHJKMNPQRS"


class _Tokens(HTMLParser):
    """A page as tags (attributes sorted) and text (whitespace collapsed)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[tuple[Any, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(("<", tag, tuple(sorted(attrs, key=lambda a: (a[0], a[1] or "")))))

    def handle_endtag(self, tag: str) -> None:
        self.out.append(("</", tag))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.out.append(("text", " ".join(data.split())))


def normalised(html: str) -> list[tuple[Any, ...]]:
    parser = _Tokens()
    parser.feed(html)
    parser.close()
    return parser.out


def checked(html: str) -> set[tuple[str, str]]:
    """The (field, value) of every checked radio option."""
    out = set()
    for kind, *rest in normalised(html):
        if kind == "<" and rest[0] == "input":
            attrs = dict(rest[1])
            if attrs.get("type") == "radio" and "checked" in attrs:
                out.add((attrs["name"], attrs["value"]))
    return out


def _campaign(app: Flask, *, margins: bool = False) -> tuple[int, list[str]]:
    """An open campaign with markup planted in its name and every label; three
    personal links in e1, the first evaluator working in u1."""
    with app.app_context():
        doc = bundle(units=5, items=2, **(raked() if margins else {}))
        doc["campaign"]["name"] = PLANTED
        for key, name in (("units", "name"), ("items", "label"), ("scale", "label"), ("categories", "label")):
            for k, record in enumerate(doc[key]):
                record[name] = f"{k}{PLANTED}"
        doc.setdefault("extensions", {})["labels_en"] = {
            key: {r["code"]: f"en{k}{PLANTED}" for k, r in enumerate(doc[key])}
            for key in ("scale", "items", "categories", "units")}
        campaign = import_bundle(doc, status="open")
        batch = next(b for b in campaign.batches if b.code == "e1")
        own = next(cu.unit_id for cu in campaign.units if cu.code == "u1")
        tokens = []
        for k in range(3):
            token = new_token()
            evaluator = Evaluator(group=batch.group.group, name=f"评议员{k}", own_unit_id=own if k == 0 else None,
                                  attributes={})
            db.session.add(Invitation(campaign_id=campaign.id, batch=batch, evaluator=evaluator,
                                      token_hash=hash_token(token)))
            tokens.append(token)
        db.session.commit()
        return campaign.id, tokens


def _save_draft(b: routes.FormContext, *, every: int = 2, margin: bool = True) -> drafts.Draft:
    """A draft answering every `every`-th option of the form, with planted comments."""
    q = b.questionnaire
    answers = {u.id: {i.id: q.scale[(k + n) % len(q.scale)].id for n, i in enumerate(q.items)}
               for k, u in enumerate(b.form_units) if k % every == 0}
    comments = {u.id: f"意见{k}\n{PLANTED}</textarea>" for k, u in enumerate(b.form_units) if k % every == 1}
    margins = {question.id: question.options[-1].id for question in q.margins} if margin else {}
    assert drafts.save_draft(b.batch, answers, comments, invitation=b.invitation, key=b.draft_key, token=b.token,
                             margins=margins)
    draft = b.draft()
    assert draft is not None and draft.answers == answers
    return draft


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_fast_page_is_the_full_templates_render_of_the_same_request(app: Flask, lang: str) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    _campaign_id, tokens = _campaign(app, margins=True)
    for token in tokens[:2]:  # the first evaluator's own unit is not on their form
        with app.test_request_context(f"/b/{token}?lang={lang}"):
            b = routes._personal(token)
            found = routes._link_form(token)
            assert found is not None
            shown, no_draft = found
            # The fast read shows what the full path's objects show.
            assert no_draft is None and shown == b.shown() and shown.draft_url == b.draft_url
            other = pages.Fresh("ZZZZZZZZZZZZZZZZ", "other-mac", routes._sign_started(None), resumed=True)
            first = pages.form_page(shown, other)  # the skeleton is cut from this request's render
            draft = _save_draft(b)
            found = routes._link_form(token)
            assert found is not None and found[1] == draft
            fresh = pages.Fresh.of(RECEIPT, "the-mac", routes._sign_started(draft.started_at), draft)
            full = pages.full_form_page(shown, fresh)
            fast = pages.form_page(shown, fresh)  # a skeleton made for another request, filled for this one
            assert normalised(fast) == normalised(full)
            assert fast == full  # not only equal once normalised: the same bytes
            assert normalised(first) == normalised(pages.full_form_page(shown, other))
            # What is filled in is really there.
            expected = {(f"a_{u}_{i}", str(o)) for u, by in draft.answers.items() for i, o in by.items()}
            expected |= {(f"m_{q}", str(o)) for q, o in draft.margins.items()}
            assert expected and checked(fast) == expected and checked(first) == set()
            assert RECEIPT in fast and "the-mac" in fast and 'data-testid="resumed"' in fast
            assert fast.count('value="' + fresh.started + '"') == 1
            assert re.search(r'name="csrf_token" type="hidden" value="[^"]+"', fast)
            assert SCRIPT not in fast and "&lt;script&gt;alert(1)" in fast and "\ue001&lt;/textarea&gt;" in fast
            assert "\ue000" in fast  # the planted look-alike marker, shown as the text it is


def test_the_open_channel_form_through_the_client(app: Flask, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """GET of the open form, with a draft restored: the fast page and the full
    one (templates reloading makes every page full) are the same page."""
    _campaign(app)
    monkeypatch.setattr(routes, "new_receipt", lambda: RECEIPT)
    url = "/p/t2026/p1"
    page = client.get(url).get_data(as_text=True)
    fields = {m[0]: m[1] for m in re.findall(r'name="(receipt|receipt_mac|started)"[^>]*value="([^"]*)"', page)}
    options: dict[str, str] = {}
    for name, value in re.findall(r'name="(a_\d+_\d+)" type="radio" value="(\d+)"', page):
        options.setdefault(name, value)
    answers = sorted(options.items())[::2]
    comment = re.findall(r'<textarea [^>]*name="(c_\d+)"', page)[1]
    saved = client.post(url, data={**fields, **dict(answers), comment: PLANTED, "action": "save"})
    assert saved.status_code == 303
    with_flash = client.get(url).get_data(as_text=True)  # the message "已保存": rendered in full
    fast = client.get(url).get_data(as_text=True)
    app.jinja_env.auto_reload = True
    try:
        full = client.get(url).get_data(as_text=True)
    finally:
        app.jinja_env.auto_reload = False
    assert 'data-testid="resumed"' in fast and checked(fast) == set(answers) and checked(with_flash) == set(answers)
    assert normalised(fast) == normalised(full) and fast == full


def test_the_personal_form_through_the_client(app: Flask, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    campaign_id, tokens = _campaign(app)
    monkeypatch.setattr(routes, "new_receipt", lambda: RECEIPT)
    url = f"/b/{tokens[1]}"
    with app.test_request_context(url):
        draft = _save_draft(routes._personal(tokens[1]), every=3)
    for lang in ("zh", "en"):
        client.set_cookie("pingyi_lang", lang)
        fast = client.get(url).get_data(as_text=True)
        app.jinja_env.auto_reload = True
        try:
            full = client.get(url).get_data(as_text=True)
        finally:
            app.jinja_env.auto_reload = False
        assert normalised(fast) == normalised(full) and fast == full
        assert len(checked(fast)) == sum(len(by) for by in draft.answers.values()) > 0
        assert ("en1&lt;script&gt;" in fast) == (lang == "en") and "1&lt;script&gt;alert(1)" in fast


def test_an_edit_is_seen_on_the_next_request(app: Flask, client: Any) -> None:
    """The skeletons are keyed by what the page shows as read on each request:
    an edit made anywhere (another node, here a plain UPDATE) shows at once."""
    campaign_id, tokens = _campaign(app)
    url = f"/b/{tokens[1]}"

    def page() -> str:
        response = client.get(url)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    assert "市政新名称" not in page()
    edits = [
        update(CampaignUnit).where(CampaignUnit.campaign_id == campaign_id, CampaignUnit.position == 1)
        .values(name="市政新名称一"),
        update(CampaignCategory).where(CampaignCategory.campaign_id == campaign_id).values(label="市政新名称二"),
        update(ScaleOption).where(ScaleOption.campaign_id == campaign_id, ScaleOption.code == "S")
        .values(label="市政新名称三"),
        update(Campaign).where(Campaign.id == campaign_id).values(name="市政新名称四"),
        update(Campaign).where(Campaign.id == campaign_id).values(comment_required_for_dissatisfied=True),
    ]
    for k, edit in enumerate(edits[:4], start=1):
        with app.app_context():
            db.session.execute(edit)
            db.session.commit()
        assert f"市政新名称{'一二三四'[k - 1]}" in page()
    assert "请在意见建议栏写明原因" not in page()
    with app.app_context():
        db.session.execute(edits[4])
        db.session.commit()
    assert "请在意见建议栏写明原因" in page()


def test_a_skeleton_refuses_what_it_cannot_cut() -> None:
    markers = pages.Markers()
    page = f'<p>{markers["receipt"]}</p><input id="a-0" name="a" type="radio" value="1">'
    skeleton = pages.Skeleton.cut(page, markers, ["receipt"])
    assert skeleton.fill({"receipt": "<x>"}, {("a", "1")}, {}) == \
        '<p>&lt;x&gt;</p><input checked id="a-0" name="a" type="radio" value="1">'
    assert skeleton.fill({"receipt": "r"}, set(), {}) == '<p>r</p><input id="a-0" name="a" type="radio" value="1">'
    with pytest.raises(pages.NotCuttable):
        pages.Skeleton.cut(page, markers, ["started"])
    with pytest.raises(pages.NotCuttable):
        pages.Skeleton.cut('<input checked id="a-0" name="a" type="radio" value="1">', markers, [])
    forged = pages.Markers()
    assert pages.Skeleton.cut(f"<p>{forged['receipt']}</p>", markers, ["receipt"]).slots == ()


def test_a_page_that_cannot_be_cut_is_rendered_in_full(app: Flask, client: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _campaign_id, tokens = _campaign(app)

    tries: list[int] = []

    def refuse(*_args: Any) -> pages.Skeleton:
        tries.append(1)
        raise pages.NotCuttable("a template this code does not know")

    monkeypatch.setattr(pages, "_skeleton", refuse)
    for _ in range(3):
        response = client.get(f"/b/{tokens[1]}")
        assert response.status_code == 200 and 'id="ballot-form"' in response.get_data(as_text=True)
    # Tried (and logged) once, not on every request.
    assert len(tries) == 1
