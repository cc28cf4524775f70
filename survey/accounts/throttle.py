"""Sign-in throttling, not lockout: a lockout would let anyone lock a committee
member out by typing their name. Failures are counted per account and
address together (5 in 15 minutes) and per address alone (50 in an hour), in
the app's own database, so the limits hold across workers and nodes; over a
limit the sign-in is answered 429 before any password is checked. The
password hash runs exactly once for every other sign-in, whether the account
exists, is inactive or the password is wrong, so neither the time taken nor
the answer tells which user names exist."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from survey.clock import utcnow
from survey.extensions import db
from survey.models import SignInFailure, User


@dataclass(frozen=True)
class Limit:
    failures: int
    window: dt.timedelta


PER_ACCOUNT_AND_ADDRESS = Limit(5, dt.timedelta(minutes=15))
PER_ADDRESS = Limit(50, dt.timedelta(hours=1))
#: Checked against when there is no account to check: the same work as a real one.
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _keys(username: str, address: str) -> tuple[tuple[str, Limit], tuple[str, Limit]]:
    return ((_key("account", username.strip().casefold(), address), PER_ACCOUNT_AND_ADDRESS),
            (_key("address", address), PER_ADDRESS))


def throttled(username: str, address: str, now: dt.datetime | None = None) -> bool:
    """Whether this sign-in is over a limit (then no password is checked)."""
    now = now or utcnow()
    for key, limit in _keys(username, address):
        count = db.session.scalar(select(func.count(SignInFailure.id)).where(
            SignInFailure.key == key, SignInFailure.at > now - limit.window)) or 0
        if count >= limit.failures:
            return True
    return False


def record_failure(username: str, address: str, now: dt.datetime | None = None) -> None:
    """Count a failed sign-in under both keys, and forget failures past the longest window.
    The caller commits."""
    now = now or utcnow()
    longest = max(PER_ACCOUNT_AND_ADDRESS.window, PER_ADDRESS.window)
    db.session.execute(delete(SignInFailure).where(SignInFailure.at <= now - longest))
    db.session.add_all(SignInFailure(key=key, at=now) for key, _limit in _keys(username, address))


def forget_account_failures(username: str, address: str) -> None:
    """A successful sign-in clears its account's count at that address (not the address's)."""
    key = _keys(username, address)[0][0]
    db.session.execute(delete(SignInFailure).where(SignInFailure.key == key))


def authenticate(username: str, password: str) -> User | None:
    """The active account with this user name and password, or None; the
    password hash is computed exactly once whatever the outcome."""
    user: User | None = db.session.scalar(select(User).where(User.username == username.strip()))
    stored = user.password_hash if user is not None else _DUMMY_HASH
    matches = check_password_hash(stored, password)
    if user is None or not user.active or not matches:
        return None
    return user
