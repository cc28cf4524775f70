"""Helpers of the API's tests (no tests here): keys for a role, the header, finalizing."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from survey.api import keys
from survey.extensions import db
from survey.models import Campaign, User
from survey.results import signoff
from tests.factories import make_user

ROLES = ("admin", "organizer", "committee", "liaison", "auditor")


def key_for(role: str, *, username: str | None = None, unit_code: str | None = None) -> str:
    """A new account of `role` (a liaison of unit u1 by default) and a key issued to it."""
    user = make_user(role, username=username, unit_code=unit_code or ("u1" if role == "liaison" else None))
    _row, key = keys.issue(user, f"{role} 测试密钥")
    db.session.commit()
    return key


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def finalize(code: str = "t2026") -> None:
    """The committee member ``committee`` approves and finalizes the campaign (the quorum: every member)."""
    campaign = db.session.scalar(select(Campaign).where(Campaign.code == code))
    member = db.session.scalar(select(User).where(User.username == "committee"))
    signoff.approve(campaign, member)
    signoff.finalize(campaign, dt.date(2026, 12, 1), member)
    db.session.commit()
