"""On the spot (现场测评, issue #14): a batch's units on the form, and
sessions held in a room, each with the batches of the groups present.

Everything stays inside SCORING.md: a session is setup data (the bundle's
``extensions.sessions``); its ballots are its batches' ballots, and a batch
still has one group."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.clock import utcnow
from survey.models.base import Model, code_checks

if TYPE_CHECKING:
    from survey.models.campaign import Campaign, CampaignUnit
    from survey.models.distribution import Batch


class BatchUnit(Model):
    """One unit on a batch's form. A batch without rows shows its group's
    units (all, where the group names none); with rows, those of them that
    the group rates (a session's units, a window poster's one unit)."""

    __tablename__ = "batch_unit"
    __table_args__ = (UniqueConstraint("batch_id", "campaign_unit_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"), index=True)
    campaign_unit_id: Mapped[int] = mapped_column(ForeignKey("campaign_unit.id", ondelete="CASCADE"))
    campaign_unit: Mapped[CampaignUnit] = relationship()


class FieldSession(Model):
    """A 现场测评 session: a room, a time, the units it covers and the groups
    present (one batch each, ``SessionBatch``)."""

    __tablename__ = "field_session"
    __table_args__ = (
        UniqueConstraint("campaign_id", "code"),
        *code_checks(24),
        CheckConstraint("length(name) BETWEEN 1 AND 200", name="name_length"),
        CheckConstraint("place IS NULL OR length(place) <= 200", name="place_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    code: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(200))
    place: Mapped[str | None] = mapped_column(String(200))
    #: When it is planned (naive UTC); its batches open then unless opened from the page.
    starts_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: 当场公布: the projector page shows the session's tally once it is closed.
    announce: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    campaign: Mapped[Campaign] = relationship()
    units: Mapped[list[SessionUnit]] = relationship(
        order_by="SessionUnit.position", cascade="all, delete-orphan")
    batches: Mapped[list[SessionBatch]] = relationship(
        order_by="SessionBatch.position", cascade="all, delete-orphan")


class SessionUnit(Model):
    """A unit a session covers (its batches' forms show these)."""

    __tablename__ = "field_session_unit"
    __table_args__ = (UniqueConstraint("session_id", "campaign_unit_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("field_session.id", ondelete="CASCADE"), index=True)
    campaign_unit_id: Mapped[int] = mapped_column(ForeignKey("campaign_unit.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    campaign_unit: Mapped[CampaignUnit] = relationship()


class SessionBatch(Model):
    """A group present at a session: its batch (one per group) and how many
    of it are expected in the room."""

    __tablename__ = "field_session_batch"
    __table_args__ = (
        CheckConstraint("expected >= 0 AND expected <= 100000", name="expected"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("field_session.id", ondelete="CASCADE"), index=True)
    #: A batch belongs to at most one session.
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    expected: Mapped[int] = mapped_column(Integer, default=0)
    batch: Mapped[Batch] = relationship()
