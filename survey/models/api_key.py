"""API keys: how a program reads the JSON API (/api/v1/) on behalf of a staff account."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.clock import utcnow
from survey.models.account import User
from survey.models.base import Model


class ApiKey(Model):
    """A key issued to a staff account (a person's, or a service account made
    for it). A request with the key acts as that account: its role and, for a
    liaison, its unit decide what the key may read (survey/policy.py), so a
    change of the account's role or its deactivation applies to its keys at
    once. The key itself is shown once, when it is made; only its SHA-256 is
    kept (it carries 256 random bits: a fast hash is the right one, as for
    personal links in survey/tokens.py)."""

    __tablename__ = "api_key"
    __table_args__ = (
        CheckConstraint("length(name) BETWEEN 1 AND 100", name="name_length"),
        CheckConstraint("length(hint) <= 16", name="hint_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: What the key is for ("报表系统", "nightly export"), shown in listings.
    name: Mapped[str] = mapped_column(String(100))
    #: The key's first characters (``pyk_`` and four random ones), to tell keys apart in a listing.
    hint: Mapped[str] = mapped_column(String(16))
    #: SHA-256 of the key; never the key.
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: When a request last used the key (to the minute: the app writes it at most once a minute).
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: Set once: a revoked key is refused from then on, and stays listed.
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    user: Mapped[User] = relationship()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
