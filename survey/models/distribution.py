"""Distribution: the roster of evaluators, the batches forms go out in, and
the invitations (personal links) that admit one ballot each."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.extensions import db
from survey.models.campaign import utcnow

if TYPE_CHECKING:
    from survey.models.campaign import Campaign, CampaignGroup, EvaluatorGroup, Unit

CHANNELS = ("online", "email", "sms", "paper", "qr", "public")
#: Channels without a count of forms handed out (SCORING.md: open batches).
OPEN_CHANNELS = ("public", "qr")


class Batch(db.Model):
    """Forms handed out together, to one group, through one channel."""

    __tablename__ = "batch"
    __table_args__ = (
        UniqueConstraint("campaign_id", "code"),
        CheckConstraint(
            "channel IN ('online', 'email', 'sms', 'paper', 'qr', 'public')", name="channel"
        ),
        CheckConstraint("issued IS NULL OR issued >= 0", name="issued"),
        CheckConstraint("closes_at IS NULL OR opens_at IS NULL OR closes_at >= opens_at", name="period"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    campaign_group_id: Mapped[int] = mapped_column(ForeignKey("campaign_group.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    #: Forms handed out (发放); null for an open batch (public channel, QR poster).
    issued: Mapped[int | None] = mapped_column(Integer)
    opens_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closes_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    campaign: Mapped[Campaign] = relationship(back_populates="batches")
    group: Mapped[CampaignGroup] = relationship()

    @property
    def is_open_batch(self) -> bool:
        return self.issued is None


class Evaluator(db.Model):
    """A person on the roster (评议代表)."""

    __tablename__ = "evaluator"
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("evaluator_group.id"))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    organisation: Mapped[str | None] = mapped_column(String(200))
    #: Raking and reporting attributes, e.g. {"district": "东区", "sector": "制造业"}.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The unit the evaluator works for, which they may not rate.
    own_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    group: Mapped[EvaluatorGroup] = relationship()
    own_unit: Mapped[Unit | None] = relationship()


class Invitation(db.Model):
    """One personal link (or paper form) admitting exactly one ballot.

    The token itself is never stored: only its SHA-256, so a copy of the
    database lets nobody vote. In an anonymous campaign the invitation records
    *that* it was used, never when, and no ballot column points back to it.
    """

    __tablename__ = "invitation"
    __table_args__ = (
        UniqueConstraint("campaign_id", "evaluator_id"),
        UniqueConstraint("campaign_id", "serial"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"), index=True)
    #: Null for forms handed out rather than addressed (anonymous paper forms).
    evaluator_id: Mapped[int | None] = mapped_column(ForeignKey("evaluator.id"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    #: Printed serial number of a paper form.
    serial: Mapped[str | None] = mapped_column(String(32))
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    batch: Mapped[Batch] = relationship()
    evaluator: Mapped[Evaluator | None] = relationship()
