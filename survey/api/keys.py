"""API keys: issuing one to a staff account (shown once, stored as its
SHA-256), revoking it, and finding the account a request's key acts for.

A key is ``pyk_`` and 43 URL-safe characters (256 random bits). Its entropy
is its protection, so the stored SHA-256 (survey/tokens.py ``hash_token``,
as for personal links) is enough: a copy of the database holds no usable
key. The account's role and unit decide what a key may read, at every
request: deactivating the account stops its keys."""
from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select, update

from survey import audit
from survey.clock import utcnow
from survey.errors import Conflict, UserError
from survey.extensions import db
from survey.models import ApiKey, Unit, User
from survey.models.account import ROLES
from survey.tokens import hash_token

KEY_PREFIX = "pyk_"
KEY_BYTES = 32
#: A key's hint: the prefix and the first four random characters.
HINT_LENGTH = len(KEY_PREFIX) + 4
#: The longest Authorization value looked at (a key is 47 characters).
MAX_KEY_LENGTH = 128
#: How often a key's last use is written: at most once a minute, so that a
#: busy client does not make every request a write.
TOUCH_EVERY = dt.timedelta(minutes=1)
NAME_LENGTH = 100


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def issue(user: User, name: str) -> tuple[ApiKey, str]:
    """A new key for `user`: the row (added to the session) and the key, which is never stored."""
    name = name.strip()
    if not 1 <= len(name) <= NAME_LENGTH:
        raise UserError(f"密钥名称须为 1 到 {NAME_LENGTH} 个字符 (the key's name: 1 to {NAME_LENGTH} characters)")
    if not user.active:
        raise Conflict(f"账号 {user.username} 已停用，不能签发密钥 (account {user.username} is deactivated)")
    key = new_key()
    row = ApiKey(user=user, name=name, hint=key[:HINT_LENGTH], key_hash=hash_token(key))
    db.session.add(row)
    db.session.flush()
    audit.record("api_key.create", f"user:{user.username}/api_key:{row.id}", None,
                 {"name": name, "hint": row.hint, "role": user.role})
    return row, key


def revoke(row: ApiKey) -> None:
    if row.revoked_at is not None:
        raise Conflict(f"密钥 {row.id} 已于 {row.revoked_at:%Y-%m-%d %H:%M} (UTC) 吊销 (already revoked)")
    row.revoked_at = utcnow()
    audit.record("api_key.revoke", f"user:{row.user.username}/api_key:{row.id}", {"revoked": False},
                 {"revoked": True})


def keys(username: str | None = None) -> list[ApiKey]:
    """Every key (or one account's), the oldest first, revoked ones included."""
    q = select(ApiKey).join(User).order_by(ApiKey.id)
    if username is not None:
        q = q.where(User.username == username)
    return list(db.session.scalars(q))


def service_account(username: str, role: str, unit_code: str | None) -> User:
    """A staff account made for a program (no one knows its password: it cannot
    sign in to the pages), so that a fresh instance can be given a key."""
    if role not in ROLES:
        raise UserError(f"未知角色 {role} (unknown role)")
    unit = None
    if unit_code:
        unit = db.session.scalar(select(Unit).where(Unit.code == unit_code))
        if unit is None:
            raise UserError(f"没有代码为 {unit_code} 的单位 (no unit {unit_code})")
    if (role == "liaison") != (unit is not None):
        raise UserError("单位联络员必须指定单位，其他角色不能指定 (a liaison needs a unit, nobody else)")
    if role == "assessor":
        raise UserError("专项考核部门的服务账号请先用 flask user create --component 建立 "
                        "(create an assessor with `flask user create --component` first)")
    user = User(username=username, display_name=f"{username}（API）", role=role, unit=unit)
    user.set_password(secrets.token_urlsafe(32))
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", f"user:{username}", None, {"role": role, "unit": unit_code, "service": True})
    return user


# --- requests ----------------------------------------------------------------------------


def bearer(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer KEY`` header (None where there is none)."""
    if not authorization:
        return None
    scheme, _space, key = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    key = key.strip()
    return key or None


def user_for_key(key: str) -> User | None:
    """The active account a key acts for, or None (unknown, revoked, or its
    account deactivated). Notes the key's use, at most once a minute."""
    if len(key) > MAX_KEY_LENGTH or not key.isascii():
        return None
    row = db.session.execute(
        select(ApiKey.id, ApiKey.last_used_at, User).join(User, ApiKey.user_id == User.id)
        .where(ApiKey.key_hash == hash_token(key), ApiKey.revoked_at.is_(None))).one_or_none()
    if row is None or not row.User.active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        # Committed at once (nothing else is in the session yet, before the view runs).
        db.session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
        db.session.commit()
    user: User = row.User
    return user
