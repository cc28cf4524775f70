"""The supervision register (督查登记: 投诉, 信访, 热线, 电子监察, 明查暗访) and
what it gives a campaign: cases with their workflow, evidence attachments,
the complainants (personal data, in a table of their own), each campaign's
derived components and their deduction rules, and the monthly 公示."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.clock import utcnow
from survey.models.base import Model, code_checks
from survey.models.campaign import Campaign, Unit
from survey.models.outcome import Rectification

#: The kinds of case and how they read.
CASE_KINDS = {"complaint": "投诉", "petition": "信访", "hotline": "行风热线", "e_supervision": "电子监察",
              "inspection": "明查暗访"}
#: The verdicts of 核实.
VERDICTS = {"founded": "属实", "partly": "部分属实", "unfounded": "不属实"}
#: The workflow's steps, in order: 登记 → 受理 (or 不予受理) → 交办 → 单位答复 → 核实 → 办结.
CASE_STATUSES = {"registered": "已登记", "accepted": "已受理", "rejected": "不予受理", "assigned": "已交办",
                 "replied": "单位已答复", "verified": "已核实", "closed": "已办结"}


def _in(column: str, values: Iterable[str]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class SupervisionCase(Model):
    """One case of the register. Its campaign is fixed when it is verified
    (核实): the campaign whose assessment period contains its date and whose
    inputs are still open, else the next one (survey/register/services.py)."""

    __tablename__ = "supervision_case"
    __table_args__ = (
        CheckConstraint(_in("kind", CASE_KINDS), name="kind"),
        CheckConstraint(_in("status", CASE_STATUSES), name="status"),
        CheckConstraint("verdict IS NULL OR " + _in("verdict", VERDICTS), name="verdict"),
        CheckConstraint("points IS NULL OR (points >= 0 AND points <= 1000)", name="points"),
        CheckConstraint("length(summary) <= 4000", name="summary_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    #: The case's number as pages, the 公示 and bundles name it (DC2026-00012).
    code: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: Where it came from (12345 热线 工单号, 信访件编号, 暗访组 …).
    source: Mapped[str] = mapped_column(String(200))
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    summary: Mapped[str] = mapped_column(Text)
    #: 明查暗访: the place or window, and the points the finding deducts (else the rule's).
    place: Mapped[str | None] = mapped_column(String(200))
    points: Mapped[float | None] = mapped_column(Float)
    #: Where the case is in its workflow (the column ``status``; named ``step`` here so that it is
    #: never taken for a campaign's status, which only survey/models/lifecycle.py compares).
    step: Mapped[str] = mapped_column("status", String(16), default="registered")
    reject_reason: Mapped[str | None] = mapped_column(Text)
    #: 交办: the unit's liaison answers by this day; past it and not replied, the case turns red.
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    assigned_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    verdict: Mapped[str | None] = mapped_column(String(16))
    verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: 红字: set when the reply's deadline passed without a reply; cleared (消红) by the reply.
    marked_red_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: The campaign the verdict counts for (set at 核实; null: none took it).
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    #: The rectification (整改) it is linked to, for an inspection finding.
    rectification_id: Mapped[int | None] = mapped_column(ForeignKey("rectification.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    unit: Mapped[Unit] = relationship()
    campaign: Mapped[Campaign | None] = relationship()
    rectification: Mapped[Rectification | None] = relationship()
    attachments: Mapped[list[CaseAttachment]] = relationship(
        back_populates="case", order_by="CaseAttachment.id", cascade="all, delete-orphan")

    @property
    def is_red(self) -> bool:
        return self.marked_red_at is not None and self.replied_at is None

    @property
    def was_cleared(self) -> bool:
        return self.marked_red_at is not None and self.replied_at is not None


class CaseAttachment(Model):
    """Evidence of a case (a photo of the window, a scanned letter)."""

    __tablename__ = "case_attachment"
    __table_args__ = (CheckConstraint("length(filename) <= 200", name="filename_length"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("supervision_case.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    case: Mapped[SupervisionCase] = relationship(back_populates="attachments")


class Complainant(Model):
    """Who raised a case: personal data, kept apart from the case and from
    ballots; read only by the case handler (never exported, audited or
    served to another role)."""

    __tablename__ = "complainant"
    __table_args__ = (UniqueConstraint("case_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("supervision_case.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    contact: Mapped[str | None] = mapped_column(String(200))


class RegisterComponent(Model):
    """An objective component a campaign derives from the register: its
    per-unit value is max(0, base − Σ deductions) / base × 100."""

    __tablename__ = "register_component"
    __table_args__ = (
        UniqueConstraint("campaign_id", "code"),
        *code_checks(),
        CheckConstraint("base > 0 AND base <= 100000", name="base"),
        CheckConstraint("length(label) <= 200", name="label_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    base: Mapped[float] = mapped_column(Float, default=100.0)
    campaign: Mapped[Campaign] = relationship()
    rules: Mapped[list[DeductionRule]] = relationship(
        back_populates="component", order_by="DeductionRule.id", cascade="all, delete-orphan")


class DeductionRule(Model):
    """Cases of a kind with a verdict deduct points from a component (属实投诉 −2)."""

    __tablename__ = "deduction_rule"
    __table_args__ = (
        UniqueConstraint("component_id", "kind", "verdict"),
        CheckConstraint(_in("kind", CASE_KINDS), name="kind"),
        CheckConstraint(_in("verdict", VERDICTS), name="verdict"),
        CheckConstraint("points >= 0 AND points <= 100000", name="points"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("register_component.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(16))
    points: Mapped[float] = mapped_column(Float)
    component: Mapped[RegisterComponent] = relationship(back_populates="rules")


class RegisterPublication(Model):
    """A month's 公示 of the register: counts of cases by unit and verdict, as published."""

    __tablename__ = "register_publication"
    __table_args__ = (UniqueConstraint("month"), CheckConstraint("length(month) = 7", name="month"))
    id: Mapped[int] = mapped_column(primary_key=True)
    #: YYYY-MM.
    month: Mapped[str] = mapped_column(String(7))
    #: [{"unit": code, "name": …, "total": n, "founded": n, "partly": n, "unfounded": n, "open": n}]
    counts: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    published_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
