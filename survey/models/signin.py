"""Failed sign-ins, kept in the app's own database so that the limits hold
across workers and nodes (survey/accounts/throttle.py)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from survey.clock import utcnow
from survey.models.base import Model


class SignInFailure(Model):
    """One failed sign-in, counted under a key: the account and address
    together, or the address alone. Keys are SHA-256 digests: the table holds
    no user name or address in the clear, and rows older than the longest
    window are deleted as new ones come."""

    __tablename__ = "sign_in_failure"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
