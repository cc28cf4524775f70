"""Sign-in throttling (survey/accounts/throttle.py): limits per account and
address and per address, kept in the database; one password hash per sign-in."""
from __future__ import annotations

import datetime as dt

import pytest

from survey.accounts import throttle
from survey.extensions import db
from tests.factories import PASSWORD, make_user

NOW = dt.datetime(2026, 11, 26, 8, 0)


def _fail(times: int, username: str = "committee", address: str = "10.0.0.1",
          at: dt.datetime = NOW) -> None:
    for _ in range(times):
        throttle.record_failure(username, address, at)
    db.session.commit()


def test_five_failures_per_account_and_address_in_fifteen_minutes(app) -> None:
    with app.app_context():
        _fail(4)
        assert not throttle.throttled("committee", "10.0.0.1", NOW)
        _fail(1)
        assert throttle.throttled("committee", "10.0.0.1", NOW)
        assert throttle.throttled("Committee ", "10.0.0.1", NOW)  # the same account, typed otherwise
        # Not a lockout: the member signs in from elsewhere, and here again after the window.
        assert not throttle.throttled("committee", "10.0.0.2", NOW)
        assert not throttle.throttled("committee", "10.0.0.1", NOW + dt.timedelta(minutes=15, seconds=1))


def test_fifty_failures_per_address_in_an_hour(app) -> None:
    with app.app_context():
        for k in range(49):
            _fail(1, username=f"guess{k}")
        assert not throttle.throttled("someone", "10.0.0.1", NOW)
        _fail(1, username="guess49")
        assert throttle.throttled("someone", "10.0.0.1", NOW)
        assert not throttle.throttled("someone", "10.0.0.1", NOW + dt.timedelta(hours=1, seconds=1))


def test_old_failures_are_deleted_and_no_name_or_address_is_stored(app) -> None:
    with app.app_context():
        _fail(3, at=NOW - dt.timedelta(hours=2))
        _fail(1)
        rows = db.session.scalars(db.select(throttle.SignInFailure)).all()
        assert len(rows) == 2 and all(r.at == NOW for r in rows)
        assert all("committee" not in r.key and "10.0.0.1" not in r.key for r in rows)


@pytest.mark.parametrize(("username", "password", "active", "signs_in"), [
    ("nobody", PASSWORD, True, False), ("committee", PASSWORD, False, False),
    ("committee", "wrong", True, False), ("committee", PASSWORD, True, True)])
def test_the_password_hash_runs_exactly_once(app, monkeypatch, username: str, password: str, active: bool,
                                             signs_in: bool) -> None:
    with app.app_context():
        user = make_user("committee")
        user.active = active
        db.session.commit()
        calls: list[str] = []
        real = throttle.check_password_hash

        def counted(stored: str, given: str) -> bool:
            calls.append(stored)
            return real(stored, given)

        monkeypatch.setattr(throttle, "check_password_hash", counted)
        assert (throttle.authenticate(username, password) is not None) is signs_in
        assert len(calls) == 1


def test_the_sign_in_page_answers_429_after_five_failures_and_checks_no_password(app, client, monkeypatch) -> None:
    with app.app_context():
        make_user("committee")
    for _ in range(5):
        response = client.post("/login", data={"username": "committee", "password": "wrong"})
        assert response.status_code == 200 and "用户名或密码不正确" in response.get_data(as_text=True)
    calls: list[str] = []
    monkeypatch.setattr(throttle, "check_password_hash", lambda stored, given: calls.append(given) or True)
    response = client.post("/login", data={"username": "committee", "password": PASSWORD})
    assert response.status_code == 429 and "登录失败次数过多" in response.get_data(as_text=True)
    assert calls == []  # no hash was computed for a throttled sign-in
    # Another account from the same address is not locked by these failures.
    with app.app_context():
        make_user("organizer")
    monkeypatch.undo()
    assert client.post("/login", data={"username": "organizer", "password": PASSWORD}).status_code == 302
