"""API keys: issued to an account, shown once and stored as their SHA-256,
noted when used, revoked; the CLI that issues, lists and revokes them; and
that a key, never a cookie, is what authenticates an API request."""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from sqlalchemy import select, text

from survey.api import keys
from survey.extensions import db
from survey.models import ApiKey, AuditEntry, User
from tests.api.apikit import bearer, key_for
from tests.factories import PASSWORD, login, make_user
from tests.survey.test_results_support import make_committee_campaign

CAMPAIGNS = "/api/v1/campaigns"


def _row(key: str) -> ApiKey:
    row = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == hashlib.sha256(key.encode()).digest()))
    assert row is not None
    return row


def test_a_key_is_shown_once_and_stored_as_its_sha256(ctx) -> None:
    user = make_user("committee")
    row, key = keys.issue(user, "  报表系统 ")
    db.session.commit()
    assert key.startswith("pyk_") and len(key) == 47 and key != keys.new_key()
    assert row.key_hash == hashlib.sha256(key.encode("utf-8")).digest()
    assert (row.name, row.hint, row.user_id) == ("报表系统", key[:8], user.id)
    # The key itself is in no column of the table.
    stored = db.session.execute(text("SELECT * FROM api_key")).one()
    assert all(key not in str(value) and key[8:] not in str(value) for value in stored)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "api_key.create"))
    assert entry is not None and entry.after == {"name": "报表系统", "hint": key[:8], "role": "committee"}


def test_a_key_needs_a_name_and_an_active_account(ctx) -> None:
    user = make_user("committee")
    with pytest.raises(keys.UserError):
        keys.issue(user, "   ")
    user.active = False
    with pytest.raises(keys.Conflict):
        keys.issue(user, "x")


@pytest.mark.parametrize("header", ["Bearer {key}", "bearer {key}", "  Bearer   {key}  "])
def test_a_bearer_key_acts_for_its_account(app, client, header: str) -> None:
    with app.app_context():
        key = key_for("committee")
    response = client.get(CAMPAIGNS, headers={"Authorization": header.format(key=key)})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"items": [], "limit": 50, "next_cursor": None}


def test_the_last_use_is_noted_at_most_once_a_minute(app, client) -> None:
    with app.app_context():
        key = key_for("committee")
        assert _row(key).last_used_at is None
    assert client.get(CAMPAIGNS, headers=bearer(key)).status_code == 200
    with app.app_context():
        first = _row(key).last_used_at
        assert first is not None
    assert client.get(CAMPAIGNS, headers=bearer(key)).status_code == 200
    with app.app_context():
        row = _row(key)
        assert row.last_used_at == first  # within the minute: not written again
        row.last_used_at = first - dt.timedelta(minutes=2)
        db.session.commit()
    assert client.get(CAMPAIGNS, headers=bearer(key)).status_code == 200
    with app.app_context():
        last = _row(key).last_used_at
        assert last is not None and last >= first


def _refused(response: Any, path: str = "header.Authorization") -> dict[str, Any]:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body: dict[str, Any] = response.get_json()
    assert body["format"] == "pingyi-errors/1" and body["code"] == "unauthorized"
    assert [e["path"] for e in body["errors"]] == [path]
    return body


def test_unknown_revoked_and_deactivated_keys_are_refused(app, client) -> None:
    with app.app_context():
        key = key_for("committee")
        other = key_for("organizer")
    assert client.get(CAMPAIGNS, headers=bearer(key)).status_code == 200
    body = _refused(client.get(CAMPAIGNS, headers=bearer(key[:-1] + ("A" if key[-1] != "A" else "B"))))
    assert "吊销" in body["errors"][0]["reason"] and "revoked" in body["errors"][0]["reason_en"]
    with app.app_context():
        keys.revoke(_row(key))
        db.session.commit()
        with pytest.raises(keys.Conflict):
            keys.revoke(_row(key))
    _refused(client.get(CAMPAIGNS, headers=bearer(key)))
    assert client.get(CAMPAIGNS, headers=bearer(other)).status_code == 200
    with app.app_context():
        db.session.scalar(select(User).where(User.username == "organizer")).active = False
        db.session.commit()
    _refused(client.get(CAMPAIGNS, headers=bearer(other)))


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Token pyk_x", "Bearer " + "x" * 500,
                                    "Bearer 评议"])
def test_requests_without_a_usable_key_get_401(app, client, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    body = _refused(client.get(CAMPAIGNS, headers=headers))
    assert body["errors"][0]["reason_en"]


def test_the_session_cookie_is_ignored_under_the_api(app, client) -> None:
    """A signed-in committee member's browser (session and remember-me
    cookies) gets nothing from the API without a key, and no cookie from it;
    with a liaison's key the request is the liaison's, whatever the cookies."""
    with app.app_context():
        make_committee_campaign()
        make_user("committee", username="wang")
        liaison_key = key_for("liaison")
    client.post("/login", data={"username": "wang", "password": PASSWORD, "remember": "y"})
    assert client.get_cookie("remember_token") is not None
    assert client.get("/results/t2026").status_code == 200  # the pages know the session
    response = client.get(CAMPAIGNS)
    _refused(response)
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    # The liaison's key: the campaign is not finalized, so the liaison sees nothing of it.
    response = client.get(CAMPAIGNS, headers=bearer(liaison_key))
    assert response.status_code == 200 and response.get_json()["items"] == []
    assert client.get("/api/v1/campaigns/t2026", headers=bearer(liaison_key)).status_code == 404
    assert "Set-Cookie" not in response.headers
    assert client.get("/results/t2026").status_code == 200  # the session itself is untouched


# --- the command line ---------------------------------------------------------------------


def _run(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["api-key", *args])


def test_cli_issues_a_key_to_an_account_and_prints_it_once(app, client) -> None:
    with app.app_context():
        make_user("auditor", username="shen")
    result = _run(app, "create", "--user", "shen", "--name", "年度审计")
    assert result.exit_code == 0, result.output + result.stderr
    key = result.stdout.strip()
    assert key.startswith("pyk_") and "\n" not in key
    assert "只显示这一次" in result.stderr
    assert client.get(CAMPAIGNS, headers=bearer(key)).status_code == 200
    listing = _run(app, "list")
    assert listing.exit_code == 0
    assert "年度审计" in listing.stdout and "shen" in listing.stdout and key[:8] in listing.stdout
    assert key not in listing.stdout and key[8:] not in listing.stdout


def test_cli_makes_a_service_account_on_a_fresh_instance(app, client) -> None:
    result = _run(app, "create", "--user", "reports", "--role", "organizer")
    assert result.exit_code == 0, result.output + result.stderr
    key = result.stdout.strip()
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "reports"))
        assert user is not None and user.role == "organizer" and user.active
        assert not user.check_password("") and not user.check_password("reports")
        assert _row(key).name == "API"
    assert client.get(CAMPAIGNS, headers=bearer(key)).status_code == 200
    assert login(client, "reports", "").status_code == 200  # the sign-in form again: no password works


@pytest.mark.parametrize(("args", "says"), [
    (("--user", "nobody"), "--role"),
    (("--user", "shen", "--role", "committee"), "已存在"),
    (("--user", "newbie", "--role", "liaison"), "单位"),
    (("--user", "newbie", "--role", "liaison", "--unit", "u404"), "u404"),
    (("--user", "shen", "--name", "x" * 101), "名称"),
])
def test_cli_refuses_what_it_cannot_do_and_writes_nothing(app, args: tuple[str, ...], says: str) -> None:
    with app.app_context():
        make_user("auditor", username="shen")
    result = _run(app, "create", *args)
    assert result.exit_code != 0
    assert says in result.stderr
    assert result.stdout == ""
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(ApiKey)) == 0
        assert db.session.scalar(select(User).where(User.username == "newbie")) is None


def test_cli_revokes_keys(app, client) -> None:
    with app.app_context():
        key = key_for("committee")
        key_id = _row(key).id
    assert client.get(CAMPAIGNS, headers=bearer(key)).status_code == 200
    missing = _run(app, "revoke", str(key_id), "999")
    assert missing.exit_code != 0 and "999" in missing.stderr
    assert client.get(CAMPAIGNS, headers=bearer(key)).status_code == 200  # all or nothing
    result = _run(app, "revoke", str(key_id))
    assert result.exit_code == 0, result.stderr
    _refused(client.get(CAMPAIGNS, headers=bearer(key)))
    listing = _run(app, "list", "--user", "committee")
    assert listing.stdout.splitlines()[1].split("\t")[-1] != "-"  # the revocation time
    again = _run(app, "revoke", str(key_id))
    assert again.exit_code != 0 and "已于" in again.stderr
