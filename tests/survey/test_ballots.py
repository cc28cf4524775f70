"""Taking ballots through /b/<token>: one ballot per token whatever the
timing, retries recognised, and nothing linking a ballot to its evaluator in
an anonymous campaign."""
from __future__ import annotations

import re
import threading

import pytest
from flask import Flask
from sqlalchemy import func, inspect, select

from survey.extensions import db
from survey.models import Ballot, Campaign, Comment, Invitation
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
        assert db.session.scalar(select(Invitation.used).where(Invitation.used.is_(True)))


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
        used = db.session.scalars(select(Invitation).where(Invitation.used.is_(True))).all()
        assert len(used) == 3
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
