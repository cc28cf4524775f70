"""Opinions from outside the ballots (座谈会、走访、接访、热线): entered by
staff, handed to a unit (交办) with a deadline like the register's cases,
answered by the unit's liaison, red (红字) when the deadline passes
unanswered. Whoever raised one reads the unit's answer by a lookup code
(stored as its SHA-256 only, like a personal link's token). Who raised it is
personal data, in a table of its own (``OpinionRaiser``)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.clock import utcnow
from survey.models.base import Model
from survey.models.campaign import Campaign, Unit

#: Where an opinion was heard, and how it reads.
OPINION_SOURCES = {"forum": "座谈会", "visit": "走访", "reception": "接访", "hotline": "热线"}
#: The steps: 登记 → 交办 → 单位答复 → 办结.
OPINION_STATUSES = {"registered": "已登记", "assigned": "已交办", "answered": "单位已答复", "closed": "已办结"}


def _in(column: str, values: dict[str, str]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Opinion(Model):
    """One opinion heard outside the ballots, about one unit."""

    __tablename__ = "opinion"
    __table_args__ = (
        UniqueConstraint("lookup_hash"),
        CheckConstraint(_in("source", OPINION_SOURCES), name="source"),
        CheckConstraint(_in("status", OPINION_STATUSES), name="status"),
        CheckConstraint("length(summary) <= 4000", name="summary_length"),
        CheckConstraint("answer IS NULL OR length(answer) <= 4000", name="answer_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    #: The opinion's number as pages name it (YJ2026-00012); not the lookup code.
    code: Mapped[str] = mapped_column(String(64), index=True)
    #: SHA-256 of the lookup code given to whoever raised it (the code itself is never stored).
    lookup_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    source: Mapped[str] = mapped_column(String(16))
    #: Which meeting, visit or call (座谈会名称, 热线工单号 …).
    source_detail: Mapped[str] = mapped_column(String(200))
    raised_on: Mapped[dt.date] = mapped_column(Date)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    summary: Mapped[str] = mapped_column(Text)
    #: Where it is (the column ``status``; ``step`` here, never taken for a campaign's status).
    step: Mapped[str] = mapped_column("status", String(16), default="registered")
    #: 交办: the unit's liaison answers by this day; past it unanswered, the opinion turns red.
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    assigned_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: 红字: set when the deadline passed unanswered; cleared (消红) by the answer.
    marked_red_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: The campaign whose assessment period contains ``raised_on`` (null: none).
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    unit: Mapped[Unit] = relationship()
    campaign: Mapped[Campaign | None] = relationship()

    @property
    def is_red(self) -> bool:
        return self.marked_red_at is not None and self.answered_at is None

    @property
    def was_cleared(self) -> bool:
        return self.marked_red_at is not None and self.answered_at is not None


class OpinionRaiser(Model):
    """Who raised an opinion: personal data, kept apart; read only by the
    opinion handler's and the organizer's pages and API, never exported,
    audited or shown on the public lookup."""

    __tablename__ = "opinion_raiser"
    __table_args__ = (UniqueConstraint("opinion_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    opinion_id: Mapped[int] = mapped_column(ForeignKey("opinion.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    contact: Mapped[str | None] = mapped_column(String(200))
