"""Trust #5 and #13: the server issues every form's receipt, bound to its link
by a signature; a ballot without a receipt issued for its link, without a
valid signed start or malformed in any way is refused with a 4xx page in the
evaluator's language (never a 500) and writes nothing; a retry or a double
click still gets the same receipt page; the open channel's per-address cap
is on by default."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from survey import settings
from survey.ballots import routes
from survey.ballots.submission import pending_invitations
from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import Ballot, BallotDraft, Batch, Campaign, CampaignUnit, Invitation, Item, ScaleOption
from tests.factories import bundle, make_campaign
from tests.survey.test_ballots import answer_names, ballot_count, form_fields, open_batch

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def tokens(app: Flask) -> list[str]:
    with app.app_context():
        return make_campaign(invitations=3, items=2)[1]


def receipt_of(html: str) -> str:
    return re.search(r'data-testid="receipt">([^<]+)<', html).group(1)


def used_links(app: Flask) -> int:
    """Links whose ballot is taken: marked used, or claimed and waiting to be
    marked (SQLite marks invitations in batches: survey/ballots/submission.py)."""
    with app.app_context():
        marked = db.session.scalar(select(func.count()).where(Invitation.used.is_(True))) or 0
        return marked + len(pending_invitations())


def messages(html: str) -> str:
    """What the page tells the evaluator: the form's problems, or the error page's notice."""
    block = re.search(r'data-testid="problems">(.*?)</div>', html, re.S) or \
        re.search(r'<p class="notice"[^>]*>(.*?)</p>', html, re.S)
    assert block, html
    return re.sub(r"<[^>]+>", " ", block.group(1))


def assert_language(html: str, lang: str) -> None:
    """The page, and what it says about the refusal, are in the evaluator's language
    (names of units and items are the campaign's data, quoted as they are)."""
    said = messages(html)
    if lang == "en":
        assert '<html lang="en">' in html
        assert not CJK.search(re.sub(r"“[^”]*”", "", said)), said
    else:
        assert '<html lang="zh-CN">' in html
        assert CJK.search(said), said


def fast_path_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes, "_submit_fast", lambda token: None)


PATHS = ["fast", "full"]


# --- receipts: issued by the server, bound to their link ---


@pytest.mark.parametrize("path", PATHS)
def test_a_receipt_used_by_another_link_is_refused(app, client, tokens, path, monkeypatch) -> None:
    """Was a 500 (the unique receipt hash), and a client could choose its receipt."""
    if path == "full":
        fast_path_off(monkeypatch)
    first = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    assert client.post(f"/b/{tokens[0]}", data=first).status_code == 200
    second = form_fields(client.get(f"/b/{tokens[1]}").get_data(as_text=True))
    # The other link's receipt, with its own signature or with the other's.
    for mac in (second["receipt_mac"], first["receipt_mac"]):
        refused = client.post(f"/b/{tokens[1]}", data={**second, "receipt": first["receipt"], "receipt_mac": mac})
        assert refused.status_code == 400
        html = refused.get_data(as_text=True)
        assert "这份评议表已失效" in html and 'id="ballot-form"' in html
    assert ballot_count(app) == 1 and used_links(app) == 1
    # The page gave the form again with a receipt of its own: that one is taken.
    again = form_fields(html)
    assert again["receipt"] not in (first["receipt"], second["receipt"])
    done = client.post(f"/b/{tokens[1]}", data=again)
    assert done.status_code == 200
    assert receipt_of(done.get_data(as_text=True)).replace("-", "") == again["receipt"]
    assert ballot_count(app) == 2


@pytest.mark.parametrize("path", PATHS)
def test_a_receipt_the_server_did_not_issue_is_refused(app, client, tokens, path, monkeypatch) -> None:
    """A coercer's dictated receipt: without the server's signature it is never taken."""
    if path == "full":
        fast_path_off(monkeypatch)
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    dictated = "ABCDEFGHJKMNPQRS"
    for mac in (None, "", "forged", fields["receipt_mac"], "签名", "x" * 5000):
        data = {**fields, "receipt": dictated}
        if mac is None:
            del data["receipt_mac"]
        else:
            data["receipt_mac"] = mac
        assert client.post(f"/b/{tokens[0]}", data=data).status_code == 400
    for receipt in ("", "not a receipt", "é"):
        assert client.post(f"/b/{tokens[0]}", data={**fields, "receipt": receipt}).status_code == 400
    assert ballot_count(app) == 0 and used_links(app) == 0


def test_a_receipt_is_bound_to_the_secret_key(app, client, tokens) -> None:
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    app.config["SECRET_KEY"] = "another-secret"
    # The started field is signed with the old key too: re-sign it with the new one.
    with app.test_request_context():
        fields["started"] = routes._sign_started(None)
    assert client.post(f"/b/{tokens[0]}", data=fields).status_code == 400
    assert ballot_count(app) == 0


def test_a_receipt_clash_is_refused_without_writing(app, client, tokens, monkeypatch) -> None:
    """Were a valid signature ever given for a receipt in use (a bug, a leaked
    key), the unique receipt hash refuses it: 400, nothing written, the link unused."""
    first = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    assert client.post(f"/b/{tokens[0]}", data=first).status_code == 200
    monkeypatch.setattr(routes, "_receipt_bound", lambda *args: True)
    second = form_fields(client.get(f"/b/{tokens[1]}").get_data(as_text=True))
    refused = client.post(f"/b/{tokens[1]}", data={**second, "receipt": first["receipt"]})
    assert refused.status_code == 400 and "这份评议表已失效" in refused.get_data(as_text=True)
    assert ballot_count(app) == 1 and used_links(app) == 1


@pytest.mark.parametrize("path", PATHS)
def test_retry_and_double_click_get_the_same_receipt_page(app, client, tokens, path, monkeypatch) -> None:
    if path == "full":
        fast_path_off(monkeypatch)
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    first = client.post(f"/b/{tokens[0]}", data=fields)
    again = client.post(f"/b/{tokens[0]}", data=fields)
    assert first.status_code == again.status_code == 200
    assert receipt_of(again.get_data(as_text=True)) == receipt_of(first.get_data(as_text=True))
    # Another form of the same link (another tab) is the existing "already submitted".
    other = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    assert "只能提交一次" in client.get(f"/b/{tokens[0]}").get_data(as_text=True)
    assert "receipt_mac" not in other
    tab = form_fields(client.get(f"/b/{tokens[1]}").get_data(as_text=True))
    refused = client.post(f"/b/{tokens[0]}", data={**tab})
    assert refused.status_code == 409 and "只能提交一次" in refused.get_data(as_text=True)
    assert ballot_count(app) == 1


def test_open_channel_receipts_are_bound_to_the_browser(app, client, tokens) -> None:
    url, _ = open_batch(app)
    mine = form_fields(client.get(url).get_data(as_text=True))
    mine.pop("own_unit", None)
    first = client.post(url, data=mine)
    assert first.status_code == 200
    # Another browser (another session) posting that receipt gets the form again, not the receipt page.
    stranger = app.test_client()
    theirs = form_fields(stranger.get(url).get_data(as_text=True))
    theirs.pop("own_unit", None)
    for data in ({**theirs, "receipt": mine["receipt"]}, {**theirs, "receipt": mine["receipt"],
                                                         "receipt_mac": mine["receipt_mac"]}, mine):
        refused = stranger.post(url, data=data)
        assert refused.status_code == 400, data
        assert 'data-testid="receipt"' not in refused.get_data(as_text=True)
    assert ballot_count(app) == 1
    # The same browser sending its form again (a double click) gets its receipt page.
    again = app.test_client()
    again.set_cookie("session", client.get_cookie("session").value)
    assert receipt_of(again.post(url, data=mine).get_data(as_text=True)) == \
        receipt_of(first.get_data(as_text=True))
    assert ballot_count(app) == 1


def test_receipt_signature_is_never_stored(app, client, tokens) -> None:
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    assert client.post(f"/b/{tokens[0]}", data={**fields, "action": "save"}).status_code == 303
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    assert client.post(f"/b/{tokens[0]}", data=fields).status_code == 200
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///"):  # every byte of the database file (PostgreSQL: see test_ballots' promise)
        with app.app_context():
            db.engine.dispose()
        data = Path(uri.removeprefix("sqlite:///")).read_bytes()
        assert fields["receipt_mac"].encode() not in data and fields["receipt"].encode() not in data


# --- the signed start ---


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("started", [None, "", "1700000000", "1700000000.forged", "abc", "9" * 40])
def test_a_web_ballot_without_a_valid_signed_start_is_refused(app, client, tokens, path, started,
                                                              monkeypatch) -> None:
    """Was taken with duration_s = NULL, which no flag looks at."""
    if path == "full":
        fast_path_off(monkeypatch)
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    chosen = answer_names(fields)[0]
    fields[chosen] = str(int(fields[chosen]) + 1)  # an answer the page must keep
    if started is None:
        del fields["started"]
    else:
        fields["started"] = started
    refused = client.post(f"/b/{tokens[0]}", data=fields)
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "这份评议表已失效" in html and "您填写的答案已保留" in html
    assert re.search(rf'name="{chosen}"[^>]*value="{fields[chosen]}"[^>]*checked|checked[^>]*name="{chosen}"'
                     rf'[^>]*value="{fields[chosen]}"', html)
    assert ballot_count(app) == 0 and used_links(app) == 0
    # The form it gives is taken, with a duration.
    again = form_fields(html)
    again[chosen] = fields[chosen]
    assert client.post(f"/b/{tokens[0]}", data=again).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Ballot.duration_s)) is not None


def test_a_start_signed_too_long_ago_or_in_the_future_is_refused(app, client, tokens) -> None:
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    signer = routes.Signer(app.config["SECRET_KEY"], salt="ballot-started")
    for seconds in (1, 4_000_000_000):
        data = {**fields, "started": signer.sign(str(seconds)).decode()}
        assert client.post(f"/b/{tokens[0]}", data=data).status_code == 400
    assert ballot_count(app) == 0


def test_open_channel_ballot_without_a_signed_start_is_refused(app, client, tokens) -> None:
    url, _ = open_batch(app)
    fields = form_fields(client.get(url).get_data(as_text=True))
    fields.pop("own_unit", None)
    del fields["started"]
    refused = client.post(url, data=fields)
    assert refused.status_code == 400 and "这份评议表已失效" in refused.get_data(as_text=True)
    assert "pingyi_q" not in " ".join(refused.headers.getlist("Set-Cookie"))  # not a ballot: no device mark
    assert ballot_count(app) == 0


# --- malformed ballots: a 4xx page in the evaluator's language, never a 500 ---


def _other_campaign_ids(app: Flask) -> dict[str, int]:
    """A unit, an item and an option of another campaign."""
    with app.app_context():
        other = import_bundle(bundle("other2026"), status="open")
        ids = {"unit": other.units[0].id, "item": other.items[0].id, "option": other.scale[0].id}
        db.session.commit()
        return ids


MALFORMED = ["abc", "negative", "float", "huge option", "other campaign option", "other campaign unit",
             "other campaign item", "huge unit", "leading zero", "duplicated answer", "duplicated receipt",
             "overlong comment", "NUL in comment", "control in comment", "missing answers", "missing receipt",
             "missing started", "empty", "bad UTF-8", "bad action"]


def _malformed(case: str, fields: dict[str, str], other: dict[str, int]) -> MultiDict | bytes:
    names = answer_names(fields)
    a = names[0]
    unit, item = a.split("_")[1:]
    data = MultiDict(fields)
    changes: dict[str, str] = {
        "abc": {a: "abc"}, "negative": {a: "-1"}, "float": {a: "1.0"}, "huge option": {a: "9" * 30},
        "other campaign option": {a: str(other["option"])},
        "other campaign unit": {f"a_{other['unit']}_{item}": fields[a]},
        "other campaign item": {f"a_{unit}_{other['item']}": fields[a]},
        "huge unit": {f"a_{'9' * 30}_{item}": fields[a], f"c_{'9' * 30}": "x"},
        "leading zero": {f"a_0{unit}_{item}": fields[a]},
        "overlong comment": {f"c_{unit}": "长" * 2001},
        "NUL in comment": {f"c_{unit}": "好\x00"},
        "control in comment": {f"c_{unit}": "好\x1b[31m"},
        "bad action": {"action": "vote"},
    }.get(case, {})
    for name, value in changes.items():
        data[name] = value
    if case == "leading zero":
        del data[a]
    if case == "duplicated answer":
        data.add(a, str(int(fields[a]) + 1))
    if case == "duplicated receipt":
        data.add("receipt", "ABCDEFGHJKMNPQRS")
    if case == "missing answers":
        for name in names:
            del data[name]
    if case in ("missing receipt", "missing started"):
        del data[case.split()[1]]
    if case == "empty":
        return MultiDict()
    if case == "bad UTF-8":
        return b"&".join(f"{k}={v}".encode() for k, v in fields.items()) + f"&c_{unit}=".encode() + b"\xff\xfe"
    return data


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("case", MALFORMED)
@pytest.mark.parametrize("path", PATHS)
def test_malformed_personal_ballot_is_a_4xx_in_the_evaluators_language(app, client, tokens, case, lang, path,
                                                                       monkeypatch) -> None:
    other = _other_campaign_ids(app)
    if path == "full":
        fast_path_off(monkeypatch)
    if lang == "en":
        client.set_cookie("pingyi_lang", "en")
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    data = _malformed(case, fields, other)
    if isinstance(data, bytes):
        response = client.post(f"/b/{tokens[0]}", data=data, content_type="application/x-www-form-urlencoded")
    else:
        response = client.post(f"/b/{tokens[0]}", data=data)
    assert 400 <= response.status_code < 500, (case, response.status_code)
    assert_language(response.get_data(as_text=True), lang)
    assert ballot_count(app) == 0 and used_links(app) == 0


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("case", [*MALFORMED, "own unit abc", "own unit huge", "own unit other campaign"])
def test_malformed_open_channel_ballot_is_a_4xx_in_the_evaluators_language(app, client, tokens, case,
                                                                           lang) -> None:
    other = _other_campaign_ids(app)
    url, _ = open_batch(app)
    if lang == "en":
        client.set_cookie("pingyi_lang", "en")
    fields = form_fields(client.get(url).get_data(as_text=True))
    fields.pop("own_unit", None)
    if case.startswith("own unit"):
        data: MultiDict | bytes = MultiDict({**fields, "own_unit": {
            "abc": "abc", "huge": "9" * 30, "other campaign": str(other["unit"])}[case.split(" ", 2)[2]]})
    else:
        data = _malformed(case, fields, other)
    if isinstance(data, bytes):
        response = client.post(url, data=data, content_type="application/x-www-form-urlencoded")
    else:
        response = client.post(url, data=data)
    assert 400 <= response.status_code < 500, (case, response.status_code)
    assert_language(response.get_data(as_text=True), lang)
    assert ballot_count(app) == 0


@pytest.mark.parametrize("case", ["abc", "other campaign unit", "duplicated answer", "NUL in comment"])
def test_malformed_draft_and_review_are_refused_too(app, client, tokens, case) -> None:
    other = _other_campaign_ids(app)
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    data = _malformed(case, fields, other)
    review = MultiDict(data)
    review["action"] = "review"
    assert client.post(f"/b/{tokens[0]}", data=review).status_code == 422
    autosave = client.post(f"/b/{tokens[0]}/draft", data=data)
    assert autosave.status_code == 422 and autosave.get_json()["saved"] is False
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BallotDraft)) == 0


def test_english_refusal_says_so_in_english(app, client, tokens) -> None:
    client.set_cookie("pingyi_lang", "en")
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    stale = client.post(f"/b/{tokens[0]}", data={**fields, "started": "x"}).get_data(as_text=True)
    assert "This form is no longer valid" in stale and "这份评议表已失效" not in stale
    extra = client.post(f"/b/{tokens[0]}", data={**fields, "a_01_1": "1"}).get_data(as_text=True)
    assert "does not match this form" in extra


# --- the open channel's per-address cap ---


def test_address_cap_is_on_by_default_at_200(app) -> None:
    assert settings.BY_NAME["PINGYI_PUBLIC_IP_CAP"].default == 200
    assert app.config["PINGYI_PUBLIC_IP_CAP"] == 200
    row = next(line for line in (ROOT / "docs/deployment.md").read_text(encoding="utf-8").splitlines()
               if line.startswith("| `PINGYI_PUBLIC_IP_CAP`"))
    assert "| 200 |" in row


def test_a_batch_may_set_its_own_address_cap(app, tokens) -> None:
    with app.app_context():
        batch = next(b for b in db.session.scalar(select(Campaign)).batches if b.is_open_batch)
        assert batch.ip_cap is None  # the setting's
        batch.ip_cap = 500
        db.session.commit()
        assert db.session.get(Batch, batch.id).ip_cap == 500


def test_scale_unit_and_item_models_are_as_the_tests_assume(app, tokens) -> None:
    """The malformed cases above name other campaigns' ids: they must differ from this one's."""
    other = _other_campaign_ids(app)
    with app.app_context():
        campaign = db.session.scalar(select(Campaign).where(Campaign.code == "t2026"))
        assert other["unit"] not in {u.id for u in db.session.scalars(
            select(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id))}
        assert other["item"] not in {i.id for i in db.session.scalars(
            select(Item).where(Item.campaign_id == campaign.id))}
        assert other["option"] not in {o.id for o in db.session.scalars(
            select(ScaleOption).where(ScaleOption.campaign_id == campaign.id))}
