"""Taking ballots through /b/<token>: one ballot per token whatever the
timing, retries recognised, and nothing linking a ballot to its evaluator in
an anonymous campaign."""
from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, inspect, select

from survey.ballots import drafts, submission
from survey.extensions import db
from survey.models import Answer, Ballot, BallotDraft, Campaign, Comment, Invitation
from tests.factories import make_campaign


def form_fields(html: str) -> dict[str, str]:
    """The hidden fields and, for every radio group, its first option."""
    fields: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and value:
            fields.setdefault(name.group(1), value.group(1))
    return fields


def ballot_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Ballot.id))) or 0


@pytest.fixture
def tokens(app: Flask) -> list[str]:
    with app.app_context():
        return make_campaign(invitations=3, items=2)[1]


def test_submit_shows_receipt_and_stores_ballot(app, client, tokens) -> None:
    page = client.get(f"/b/{tokens[0]}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "市第1局" in html and "不了解" in html
    fields = form_fields(html)
    comment_field = re.search(r'<textarea[^>]*name="(c_\d+)"', html).group(1)
    fields[comment_field] = "窗口服务很好"
    done = client.post(f"/b/{tokens[0]}", data=fields)
    assert done.status_code == 200
    receipt = re.search(r'data-testid="receipt">([^<]+)<', done.get_data(as_text=True)).group(1)
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", receipt)
    with app.app_context():
        ballot = db.session.scalar(select(Ballot))
        assert len(ballot.answers) == 3 * 2
        assert ballot.duration_s is not None and ballot.source == "127.0.0.1"
        assert [c.text for c in db.session.scalars(select(Comment))] == ["窗口服务很好"]
        # SQLite marks invitations used later, several at once (submission.flush_used).
        assert marked_used() == 1


def marked_used() -> int:
    """Invitations marked used, after marking the pending ones (SQLite)."""
    submission.flush_used()
    return db.session.scalar(select(func.count(Invitation.id)).where(Invitation.used.is_(True))) or 0


def test_retry_of_same_form_gets_same_receipt(app, client, tokens) -> None:
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    first = client.post(f"/b/{tokens[0]}", data=fields).get_data(as_text=True)
    again = client.post(f"/b/{tokens[0]}", data=fields)
    assert again.status_code == 200
    pick = lambda html: re.search(r'data-testid="receipt">([^<]+)<', html).group(1)  # noqa: E731
    assert pick(again.get_data(as_text=True)) == pick(first)
    assert ballot_count(app) == 1


def test_different_second_ballot_refused(app, client, tokens) -> None:
    tab1 = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    tab2 = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    assert client.post(f"/b/{tokens[0]}", data=tab1).status_code == 200
    refused = client.post(f"/b/{tokens[0]}", data=tab2)
    assert refused.status_code == 409
    assert "只能提交一次" in refused.get_data(as_text=True)
    # The same receipt with other answers is not a retry either.
    changed = dict(tab1)
    key = next(k for k in changed if k.startswith("a_"))
    changed[key] = str(int(changed[key]) + 1)
    assert client.post(f"/b/{tokens[0]}", data=changed).status_code == 409
    assert ballot_count(app) == 1
    assert "只能提交一次" in client.get(f"/b/{tokens[0]}").get_data(as_text=True)


def test_incomplete_form_is_shown_again_with_errors(app, client, tokens) -> None:
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    del fields[next(k for k in fields if k.startswith("a_"))]
    answer = client.post(f"/b/{tokens[0]}", data=fields)
    assert answer.status_code == 422
    assert "请为“市第1局”的“总体评价”选择一项" in answer.get_data(as_text=True)
    assert ballot_count(app) == 0


@pytest.mark.parametrize("same_form", [True, False], ids=["double-click", "two-tabs"])
def test_concurrent_submissions_of_one_token_give_one_ballot(app, tokens, same_form) -> None:
    n = 8
    client = app.test_client()
    forms = [form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True)) for _ in range(n)]
    if same_form:
        forms = [forms[0]] * n
    barrier = threading.Barrier(n)
    statuses: list[int] = []

    def post(fields: dict[str, str]) -> None:
        c = app.test_client()
        barrier.wait()
        statuses.append(c.post(f"/b/{tokens[0]}", data=fields).status_code)

    threads = [threading.Thread(target=post, args=(f,)) for f in forms]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ballot_count(app) == 1
    with app.app_context():  # and the answers of that one ballot only, once
        answered = sum(1 for k, v in forms[0].items() if k.startswith("a_") and v)
        assert db.session.scalar(select(func.count(Answer.id))) == answered > 0
    if same_form:
        assert statuses == [200] * n
    else:
        assert sorted(statuses) == [200] + [409] * (n - 1)


def test_unknown_token_says_nothing_about_existence(client, tokens) -> None:
    unknown = client.get("/b/" + "x" * 24)
    assert unknown.status_code == 404
    assert "链接无效" in unknown.get_data(as_text=True)


def test_closed_campaign_refuses(app, client, tokens) -> None:
    with app.app_context():
        db.session.scalar(select(Campaign)).status = "closed"
        db.session.commit()
    assert client.get(f"/b/{tokens[0]}").status_code == 410


def test_own_unit_not_offered(app, client) -> None:
    with app.app_context():
        _, tokens = make_campaign(invitations=1, own_unit="u2")
    html = client.get(f"/b/{tokens[0]}").get_data(as_text=True)
    assert "市第1局" in html and "市第2局" not in html


def test_tokens_stored_only_as_hashes(app, tokens) -> None:
    with app.app_context():
        stored = [bytes(h) for h in db.session.scalars(select(Invitation.token_hash))]
    assert all(len(h) == 32 for h in stored)
    for token in tokens:
        assert len(token) >= 22  # >= 128 bits of base64
        assert token.encode() not in stored


def test_anonymity_schema_has_no_path_from_ballot_to_evaluator(app) -> None:
    """The only foreign key out of a ballot towards a person is invitation_id,
    which stays null in anonymous campaigns; invitations record no time of use."""
    with app.app_context():
        insp = inspect(db.engine)
        ballot_fks = {fk["referred_table"] for fk in insp.get_foreign_keys("ballot")}
        assert ballot_fks == {"campaign", "batch", "invitation"}
        answer_fks = {fk["referred_table"] for fk in insp.get_foreign_keys("answer")}
        assert "evaluator" not in answer_fks and "invitation" not in answer_fks
        invitation_cols = {c["name"] for c in insp.get_columns("invitation")}
        assert not {"used_at", "submitted_at", "ballot_id"} & invitation_cols


def test_anonymity_in_the_data(app, client) -> None:
    with app.app_context():
        _, tokens = make_campaign(invitations=4)
    for token in tokens[:3]:
        fields = form_fields(client.get(f"/b/{token}").get_data(as_text=True))
        assert client.post(f"/b/{token}", data=fields).status_code == 200
    with app.app_context():
        ballots = db.session.scalars(select(Ballot)).all()
        assert len(ballots) == 3
        assert all(b.invitation_id is None and b.attributes is None for b in ballots)
        assert marked_used() == 3
        used = db.session.scalars(select(Invitation).where(Invitation.used.is_(True))).all()
        # Invitation rows carry nothing written at use time but the flag.
        assert {inv.created_at < min(b.submitted_at for b in ballots) for inv in used} == {True}


def test_named_campaign_links_ballot_to_invitation(app, client) -> None:
    with app.app_context():
        _, tokens = make_campaign(anonymous=False, invitations=1)
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    assert client.post(f"/b/{tokens[0]}", data=fields).status_code == 200
    with app.app_context():
        ballot = db.session.scalar(select(Ballot))
        assert ballot.invitation_id is not None
        assert ballot.attributes == {"district": "东区"}


# --- drafts, summary, explicit submit ---


def option_ids(app: Flask) -> dict[str, int]:
    """Scale option ids by label (满意, 基本满意, 不满意, 不了解)."""
    with app.app_context():
        return {o.label: o.id for o in db.session.scalar(select(Campaign)).scale}


def answer_names(fields: dict[str, str]) -> list[str]:
    return sorted((k for k in fields if k.startswith("a_")), key=lambda k: [int(x) for x in k[2:].split("_")])


def test_draft_is_kept_and_resumed(app, client, tokens) -> None:
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    names = answer_names(fields)
    partial = {k: v for k, v in fields.items() if not k.startswith("a_")}
    partial[names[0]] = fields[names[0]]
    partial["action"] = "save"
    saved = client.post(f"/b/{tokens[0]}", data=partial)
    assert saved.status_code == 303
    with app.app_context():
        campaign_id = db.session.scalar(select(Campaign.id))
        draft = drafts.find_draft(campaign_id, token=tokens[0])
        assert draft is not None and {f"{u}_{i}": o for u, by in draft.answers.items() for i, o in by.items()} \
            == {names[0][2:]: int(fields[names[0]])}
    # A new visit (another tab, the next day) finds the answer checked.
    html = client.get(f"/b/{tokens[0]}").get_data(as_text=True)
    assert "已恢复您上次保存的答案" in html
    checked = re.findall(r'<input checked[^>]*name="([^"]+)"|<input[^>]*name="([^"]+)"[^>]*checked', html)
    assert [a or b for a, b in checked] == [names[0]]
    assert "已完成 <span data-answered>0</span> / 3 个单位" in html
    assert ballot_count(app) == 0


def test_autosave_endpoint_answers_json(app, client, tokens) -> None:
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    names = answer_names(fields)
    partial = {k: v for k, v in fields.items() if not k.startswith("a_") or k in names[:2]}
    answer = client.post(f"/b/{tokens[0]}/draft", data=partial)
    assert answer.status_code == 200
    assert answer.get_json() == {"saved": True, "answered": 1, "total": 3}


def test_review_shows_summary_before_submit(app, client, tokens) -> None:
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    review = client.post(f"/b/{tokens[0]}", data={**fields, "action": "review"})
    assert review.status_code == 200
    html = review.get_data(as_text=True)
    assert "请确认您的评议" in html and "确认提交" in html and "满意 6" in html
    assert ballot_count(app) == 0
    confirm = form_fields(html)
    assert {k: v for k, v in confirm.items() if k.startswith("a_")} == \
        {k: v for k, v in fields.items() if k.startswith("a_")}
    done = client.post(f"/b/{tokens[0]}", data={**confirm, "action": "submit"})
    assert done.status_code == 200 and 'data-testid="receipt"' in done.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(BallotDraft.id))) == 0
    assert ballot_count(app) == 1


def test_review_of_incomplete_form_lists_what_and_where(app, client, tokens) -> None:
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    missing = answer_names(fields)[-1]
    del fields[missing]
    answer = client.post(f"/b/{tokens[0]}", data={**fields, "action": "review"})
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    unit_id = missing.split("_")[1]
    assert f'<a href="#unit-{unit_id}">请为“市第3局”的“服务态度”选择一项</a>' in html
    # What was answered is kept as a draft all the same.
    with app.app_context():
        draft = drafts.find_draft(db.session.scalar(select(Campaign.id)), token=tokens[0])
        assert draft is not None and sum(len(by) for by in draft.answers.values()) == 5


def test_value_not_on_the_scale_refused(app, client, tokens) -> None:
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    fields[answer_names(fields)[0]] = "999999"
    assert client.post(f"/b/{tokens[0]}", data=fields).status_code == 422
    assert ballot_count(app) == 0


def test_no_draft_survives_into_a_taken_ballot(app, client, tokens) -> None:
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    assert client.post(f"/b/{tokens[0]}", data=fields).status_code == 200
    # A tab left open autosaves after the ballot was taken: nothing is kept.
    late = client.post(f"/b/{tokens[0]}/draft", data=fields)
    assert late.status_code == 409 and late.get_json()["reason"] == "submitted"
    assert client.post(f"/b/{tokens[0]}", data={**fields, "action": "save"}).status_code == 409
    with app.app_context():
        assert db.session.scalar(select(func.count(BallotDraft.id))) == 0


# --- the campaign's rules ---


def set_rules(app: Flask, *, cap: float | None = None, comment: bool | None = None) -> None:
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        campaign.max_dissatisfied_share_per_ballot = cap
        campaign.comment_required_for_dissatisfied = comment
        db.session.commit()


def test_own_unit_attempt_refused(app, client) -> None:
    with app.app_context():
        campaign, tokens = make_campaign(invitations=1, own_unit="u2")
        own = next(cu.id for cu in campaign.units if cu.code == "u2")
        item = campaign.items[0].id
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    fields[f"a_{own}_{item}"] = str(option_ids(app)["满意"])
    answer = client.post(f"/b/{tokens[0]}", data=fields)
    assert answer.status_code == 422
    assert "您不能评议本单位“市第2局”" in answer.get_data(as_text=True)
    assert ballot_count(app) == 0


@pytest.mark.parametrize("n_bad,status", [(3, 200), (4, 422)])
def test_dissatisfied_cap(app, client, n_bad, status) -> None:
    with app.app_context():
        _, tokens = make_campaign(invitations=1, units=5)
    set_rules(app, cap=0.6)
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    assert "每票最多对 3 个单位的“总体评价”选择“不满意”" in client.get(f"/b/{tokens[0]}").get_data(as_text=True)
    for name in answer_names(fields)[:n_bad]:
        fields[name] = str(option_ids(app)["不满意"])
    answer = client.post(f"/b/{tokens[0]}", data=fields)
    assert answer.status_code == status
    if status == 422:
        assert "您对 4 个单位的“总体评价”选择了“不满意”，本次评议每票最多 3 个（不超过参评单位的 60%）" \
            in answer.get_data(as_text=True)
    assert ballot_count(app) == (1 if status == 200 else 0)


def test_comment_required_with_dissatisfied(app, client, tokens) -> None:
    set_rules(app, comment=True)
    html = client.get(f"/b/{tokens[0]}").get_data(as_text=True)
    fields = form_fields(html)
    name = answer_names(fields)[0]
    fields[name] = str(option_ids(app)["不满意"])
    answer = client.post(f"/b/{tokens[0]}", data=fields)
    assert answer.status_code == 422
    assert "您对“市第1局”选择了“不满意”，请在该单位的意见建议栏写明原因。" in answer.get_data(as_text=True)
    fields[f"c_{name.split('_')[1]}"] = "办事拖拉"
    assert client.post(f"/b/{tokens[0]}", data=fields).status_code == 200
    assert ballot_count(app) == 1


@pytest.mark.parametrize("change,status,text", [
    ({"status": "draft"}, 403, "尚未开始"),
    ({"status": "finalized"}, 410, "已结束"),
    ({"closes_at": "past"}, 410, "已过期"),
    ({"opens_at": "future"}, 403, "尚未开始"),
])
def test_closed_and_expired_links_say_so(app, client, tokens, change, status, text) -> None:
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for key, value in change.items():
            value = {"past": now - dt.timedelta(minutes=1), "future": now + dt.timedelta(days=1)}.get(value, value)
            setattr(campaign, key, value)
        db.session.commit()
    page = client.get(f"/b/{tokens[0]}")
    assert page.status_code == status and text in page.get_data(as_text=True)
    late = client.post(f"/b/{tokens[0]}", data=fields)
    assert late.status_code == status and text in late.get_data(as_text=True)
    assert ballot_count(app) == 0


def test_batch_closing_time_applies(app, client, tokens) -> None:
    with app.app_context():
        batch = db.session.scalar(select(Campaign)).batches[0]
        batch.closes_at = dt.datetime(2020, 1, 1)
        db.session.commit()
    assert client.get(f"/b/{tokens[0]}").status_code == 410


# --- receipts ---


def receipt_of(html: str) -> str:
    return re.search(r'data-testid="receipt">([^<]+)<', html).group(1)


def test_receipt_check_confirms_without_revealing_choices(app, client, tokens) -> None:
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    receipt = receipt_of(client.post(f"/b/{tokens[0]}", data=fields).get_data(as_text=True))
    found = client.post("/receipt", data={"code": receipt.lower().replace("-", " ")})
    html = found.get_data(as_text=True)
    assert found.status_code == 200 and "已收到并计入“t2026 测试评议”" in html and receipt in html
    assert not [label for label in ("满意", "不了解") if label in html]  # no choice shown
    other = "0000-0000-0000-0000" if receipt != "0000-0000-0000-0000" else "1111-1111-1111-1111"
    missing = client.post("/receipt", data={"code": other})
    assert missing.status_code == 200 and "没有找到回执码" in missing.get_data(as_text=True)
    bad = client.post("/receipt", data={"code": "12345"})
    assert bad.status_code == 422 and "回执码应为 16 位字母和数字" in bad.get_data(as_text=True)


# --- the language switch ---


def test_english_switch_is_remembered(app, client, tokens) -> None:
    chinese = client.get(f"/b/{tokens[0]}").get_data(as_text=True)
    assert '<html lang="zh-CN">' in chinese and "提交评议" in chinese and "Submit" not in chinese
    english = client.get(f"/b/{tokens[0]}?lang=en")
    html = english.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert ">Submit<" in html and "Dissatisfied" in html and "提交评议" not in html
    assert "pingyi_lang=en" in english.headers["Set-Cookie"]
    # The choice sticks for the next pages, error messages included.
    fields = form_fields(html)
    del fields[answer_names(fields)[0]]
    refused = client.post(f"/b/{tokens[0]}", data=fields).get_data(as_text=True)
    assert "Please choose an answer for “Overall” of “市第1局”" in refused
    assert "中文" in refused
    assert "提交评议" in client.get(f"/b/{tokens[0]}?lang=zh").get_data(as_text=True)


# --- the open channel (QR posters, public) ---


def open_batch(app: Flask) -> tuple[str, str]:
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        batch = next(b for b in campaign.batches if b.is_open_batch)
        batch.public_code = "QR7"
        db.session.commit()
        return f"/p/{campaign.code}/{batch.code}", "/q/QR7"


def test_open_channel_form_takes_ballots_and_retries(app, client, tokens) -> None:
    url, qr = open_batch(app)
    assert client.get(qr).headers["Location"].endswith(url)
    fields = form_fields(client.get(url).get_data(as_text=True))
    fields.pop("own_unit", None)
    # The response was lost (so was the device cookie it set; the browser
    # keeps the session of the form's page, which its receipt is bound to):
    # the same form sent again gets the same receipt, and no second ballot.
    lost = app.test_client()
    lost.set_cookie("session", client.get_cookie("session").value)
    first = lost.post(url, data=fields)
    assert first.status_code == 200
    again = client.post(url, data=fields)
    assert receipt_of(again.get_data(as_text=True)) == receipt_of(first.get_data(as_text=True))
    person = app.test_client()  # another person at the same poster
    other = form_fields(person.get(url).get_data(as_text=True))
    other.pop("own_unit", None)
    assert person.post(url, data=other).status_code == 200
    assert ballot_count(app) == 2
    with app.app_context():
        assert {b.batch.channel for b in db.session.scalars(select(Ballot))} == {"public"}


def test_open_channel_draft_resumes_in_the_same_browser_only(app, client, tokens) -> None:
    url, _ = open_batch(app)
    fields = form_fields(client.get(url).get_data(as_text=True))
    name = answer_names(fields)[0]
    assert client.post(url, data={"csrf_token": "", name: fields[name], "action": "save",
                                  "started": fields["started"]}).status_code == 303
    assert "已恢复您上次保存的答案" in client.get(url).get_data(as_text=True)
    assert "已恢复您上次保存的答案" not in app.test_client().get(url).get_data(as_text=True)


def test_open_channel_declared_own_unit_may_not_be_rated(app, client, tokens) -> None:
    url, _ = open_batch(app)
    html = client.get(url).get_data(as_text=True)
    fields = form_fields(html)
    own = answer_names(fields)[0].split("_")[1]
    fields["own_unit"] = own
    answer = client.post(url, data=fields)
    assert answer.status_code == 422 and "您不能评议本单位“市第1局”" in answer.get_data(as_text=True)
    for name in [n for n in fields if n.startswith(f"a_{own}_")]:
        del fields[name]
    assert client.post(url, data=fields).status_code == 200
    with app.app_context():
        ballot = db.session.scalar(select(Ballot))
        assert str(int(own)) not in {str(a.campaign_unit_id) for a in ballot.answers}


def test_unknown_open_batch_is_404(client, tokens) -> None:
    assert client.get("/p/t2026/e1").status_code == 404  # a personal-link batch has no open form
    assert client.get("/q/NOPE").status_code == 404


# --- pseudonymised sources at finalization ---


def _net(source: str) -> str:
    import ipaddress

    address = ipaddress.ip_address(source)
    return str(ipaddress.ip_network(f"{source}/{24 if address.version == 4 else 64}", strict=False))


def test_pseudonyms_keep_equality_and_networks() -> None:
    import ipaddress
    import random

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from survey.ballots.pseudonyms import pseudonymise

    v4 = st.builds(lambda a, b: f"192.0.{a}.{b}", st.integers(0, 3), st.integers(0, 255))
    v6 = st.builds(lambda a, b: f"2001:db8:0:{a:x}::{b:x}", st.integers(0, 3), st.integers(0, 2**16 - 1))
    sources = st.lists(st.one_of(v4, v6, st.sampled_from(["kiosk-1", "kiosk-2", None])), max_size=60)

    @settings(max_examples=200, deadline=None)
    @given(sources, st.integers(0, 2**32))
    def check(original: list[str | None], seed: int) -> None:
        pseudo = pseudonymise(original, random.Random(seed))
        assert len(pseudo) == len(original)
        for a, pa in zip(original, pseudo, strict=True):
            assert (a is None) == (pa is None)
            if a is None:
                continue
            is_ip = a[0].isdigit()
            if is_ip:
                address = ipaddress.ip_address(pa)
                assert address in ipaddress.ip_network("10.0.0.0/8" if address.version == 4 else "fd00::/8")
                assert address.version == ipaddress.ip_address(a).version
            else:
                assert pa.startswith("anon-")
            for b, pb in zip(original, pseudo, strict=True):
                if b is None:
                    continue
                assert (a == b) == (pa == pb)
                if is_ip and b[0].isdigit():
                    assert (_net(a) == _net(b)) == (_net(pa) == _net(pb))

    check()


def test_pseudonyms_do_not_leak_the_address() -> None:
    import random

    from survey.ballots.pseudonyms import pseudonymise

    one = pseudonymise(["203.0.113.7", "203.0.113.8"], random.Random(1))
    two = pseudonymise(["198.51.100.7", "198.51.100.8"], random.Random(1))
    # The pseudonyms depend on the random draw only, not on the addresses.
    assert one == two
    assert pseudonymise(["203.0.113.7"], random.Random(2)) != pseudonymise(["203.0.113.7"], random.Random(3))


SOURCES = ["203.0.113.10", "203.0.113.10", "203.0.113.99", "198.51.100.4", "2001:db8:1:2::5"]


def _submit_campaign(app: Flask, client, *, n_unsubmitted: int = 1) -> tuple[list[str], str]:
    """Five evaluators fill in, keep drafts and submit, from various addresses;
    one more only starts. Returns the tokens and the unsubmitted draft's comment."""
    with app.app_context():
        _, tokens = make_campaign(invitations=len(SOURCES) + n_unsubmitted, units=3)
    order = [3, 0, 4, 1, 2]  # not the order the invitations were made in
    for k in order:
        token, env = tokens[k], {"REMOTE_ADDR": SOURCES[k]}
        html = client.get(f"/b/{token}", environ_base=env).get_data(as_text=True)
        fields = form_fields(html)
        unit = answer_names(fields)[0].split("_")[1]
        saved = client.post(f"/b/{token}", data={**fields, f"c_{unit}": f"草稿痕迹{k}号", "action": "save"},
                            environ_base=env)
        assert saved.status_code == 303
        done = client.post(f"/b/{token}", data={**fields, f"c_{unit}": f"终稿意见{k}号"}, environ_base=env)
        assert done.status_code == 200
    leftover = "未提交的草稿意见"
    fields = form_fields(client.get(f"/b/{tokens[-1]}").get_data(as_text=True))
    unit = answer_names(fields)[0].split("_")[1]
    assert client.post(f"/b/{tokens[-1]}", data={**fields, f"c_{unit}": leftover, "action": "save"}).status_code == 303
    return tokens, leftover


def _all_rows() -> dict[str, list[dict[str, object]]]:
    """Every row of every table, as the database has it."""
    from sqlalchemy import MetaData, text

    meta = MetaData()
    meta.reflect(bind=db.engine)
    with db.engine.connect() as conn:
        return {name: [dict(r._mapping) for r in conn.execute(text(f'SELECT * FROM "{name}"'))]
                for name in meta.tables}


def _contains(value: object, needle: str) -> bool:
    import json

    if value is None:
        return False
    if isinstance(value, (bytes, memoryview)):
        blob = bytes(value)
        return needle.encode() in blob or json.dumps(needle).strip('"').encode() in blob
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return needle in text or json.dumps(needle).strip('"') in text


def test_anonymity_promise_over_the_database(app, client) -> None:
    """After a campaign of submissions, nothing in the database ties a ballot
    to an invitation, an evaluator or a token; the invitations carry no time
    of use; drafts leave no trace; and the finalization's pseudonyms keep the
    flags and results the same."""
    from analysis.evaluate import evaluate_document
    from survey.ballots.pseudonyms import pseudonymise_sources
    from survey.bundles import export_bundle
    from survey.models import Evaluator

    tokens, leftover = _submit_campaign(app, client)
    with app.app_context():
        rows = _all_rows()
        campaign = db.session.scalar(select(Campaign))
        # 1. Ballots, answers and comments: no link to an invitation or a person.
        assert len(rows["ballot"]) == 5
        # (JSON null reads back as "null" through plain SQL on SQLite.)
        assert all(b["invitation_id"] is None and b["attributes"] in (None, "null") for b in rows["ballot"])
        person_columns = {c["name"] for t in ("ballot", "answer", "comment")
                          for c in inspect(db.engine).get_columns(t)} & {
            "evaluator_id", "token", "token_hash", "email", "phone", "name", "user_id"}
        assert person_columns == set()
        # 2. No token, in the clear, anywhere.
        for table, table_rows in rows.items():
            for row in table_rows:
                for value in row.values():
                    assert not any(_contains(value, t) for t in tokens), table
        # 3. Drafts: only the one never submitted; the submitted ones left nothing.
        assert len(rows["ballot_draft"]) == 1 and "invitation_id" not in rows["ballot_draft"][0]
        for table, table_rows in rows.items():
            for row in table_rows:
                assert not any(_contains(v, "草稿痕迹") for v in row.values()), table
        # 4. The invitations record that they were used, never when: each row
        #    differs from a fresh one's columns only in `used`, and no column
        #    holds a time after the campaign started taking ballots.
        first = min(b["submitted_at"] for b in rows["ballot"])
        first = first if not isinstance(first, str) else dt.datetime.fromisoformat(first)
        for inv in rows["invitation"]:
            for key, value in inv.items():
                if isinstance(value, str) and key.endswith("_at"):
                    value = dt.datetime.fromisoformat(value)
                if hasattr(value, "year") and hasattr(value, "hour"):
                    assert value < first, key
        assert sum(bool(inv["used"]) for inv in rows["invitation"]) + len(submission.pending_invitations()) == 5
        # 5. Evaluator rows are untouched by voting.
        assert len(rows["evaluator"]) == len(tokens)
        assert db.session.scalar(select(func.count(Evaluator.id))) == len(tokens)

        results_before = evaluate_document(export_bundle(campaign)).to_json()
        pseudonymise_sources(campaign)
        db.session.commit()
        db.session.expire_all()
        ballots = db.session.scalars(select(Ballot).order_by(Ballot.id)).all()
        assert not {b.source for b in ballots} & set(SOURCES)
        results_after = evaluate_document(export_bundle(campaign)).to_json()
        assert results_after == results_before
        # The leftover draft goes at finalization.
        assert db.session.scalar(select(func.count(BallotDraft.id))) == 0
        if db.engine.dialect.name == "postgresql":
            from sqlalchemy import text

            # One transaction rewrote every ballot and invitation row: their
            # transaction ids no longer pair a ballot with its invitation.
            xmins = set(db.session.scalars(text("SELECT xmin::text FROM ballot UNION SELECT xmin::text FROM invitation")))
            assert len(xmins) == 1
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        # 6. Not even the file's free pages keep a draft: SQLite's secure_delete.
        import sqlite3

        path = app.config["SQLALCHEMY_DATABASE_URI"][len("sqlite:///"):]
        with app.app_context():
            db.engine.dispose()
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        raw = Path(path).read_bytes()
        for needle in ("草稿痕迹", leftover, *tokens):
            assert not _contains(raw, needle), needle


def test_source_pairs_survive_pseudonymisation(app, client) -> None:
    from survey.ballots.pseudonyms import pseudonymise_sources

    _submit_campaign(app, client)
    with app.app_context():
        before = [b.source for b in db.session.scalars(select(Ballot).order_by(Ballot.id))]
        assert pseudonymise_sources(db.session.scalar(select(Campaign))) == 5
        db.session.commit()
        after = [b.source for b in db.session.scalars(select(Ballot).order_by(Ballot.id))]
    for a, pa in zip(before, after, strict=True):
        for b, pb in zip(before, after, strict=True):
            assert (a == b) == (pa == pb)
            assert (_net(a) == _net(b)) == (_net(pa) == _net(pb))


def test_access_log_lines_never_hold_a_token() -> None:
    from survey.logs import redact

    token = "AbC-12_xyzAbC-12_xyzAbC1"
    for line in (f'"GET /b/{token} HTTP/1.1" 200', f'"POST /b/{token}/draft HTTP/1.1" 200',
                 f'"GET /b/{token}?lang=en HTTP/1.1" 200', f'"http://127.0.0.1:5000/b/{token}"'):
        assert token not in redact(line) and "/b/[token]" in redact(line)


def test_every_evaluator_message_has_an_english_translation() -> None:
    """Each string the evaluator's pages pass through _() is in the English catalogue."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[2]
    files = [("python", p) for p in (root / "survey/ballots").glob("*.py")] + \
        [("jinja2", p) for p in [*(root / "templates/ballots").glob("*.html"), root / "templates/404.html"]]
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    found = {message for method, path in files
             for _, message, _, _ in extract_from_file(method, str(path), keywords=keywords)}
    assert "提交评议" in found and len(found) > 50
    with open(root / "survey/translations/en/LC_MESSAGES/messages.po", "rb") as po:
        catalogue = read_po(po)
    untranslated = sorted(m for m in found if isinstance(m, str) and not (catalogue.get(m) and catalogue.get(m).string))
    assert untranslated == []


def test_bench_floor_route_is_off_unless_the_bench_asks(app, client) -> None:
    assert "bench_floor" not in app.blueprints
    assert client.post("/bench/floor", data={"a": "1"}).status_code == 404
