"""平时考核 rounds (docs/rounds.md): an annual campaign's 平时 component, and
the composites of the published rounds that count for it.

A round is a campaign of kind ``round`` (``Campaign.kind``): a short
questionnaire to a standing panel, evaluated by ``analysis`` with its own
rules. When the organizer publishes it, its units' composites are written
here for the annual campaign whose assessment period contains the round's
day (``Campaign.held_on``); the 平时 component of a unit is their mean
(survey/rounds/services.py ``rollup_values``)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.models.base import Model
from survey.models.campaign import Campaign, CampaignUnit


class RoundComponent(Model):
    """The annual campaign's 平时 component: its code (``pingshi``) and label
    (平时考核). Its weight is the rules' ``objective_components`` entry, like
    any objective component's; its value is derived, never entered."""

    __tablename__ = "round_component"
    __table_args__ = (
        CheckConstraint("length(code) BETWEEN 1 AND 64", name="code_length"),
        CheckConstraint("length(label) <= 200", name="label_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), unique=True)
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))


class RoundScore(Model):
    """A published round's composite for one unit of the annual campaign it
    counts for (null: the round gave the unit no composite). Kept by value:
    the round itself may live in another database (a bundle's import)."""

    __tablename__ = "round_score"
    __table_args__ = (
        UniqueConstraint("campaign_unit_id", "round_code"),
        CheckConstraint("composite IS NULL OR (composite >= 0 AND composite <= 100)", name="composite"),
        CheckConstraint("length(round_code) BETWEEN 1 AND 64", name="round_code_length"),
        CheckConstraint("length(round_name) <= 200", name="round_name_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    #: The annual campaign the round counts for.
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    campaign_unit_id: Mapped[int] = mapped_column(ForeignKey("campaign_unit.id", ondelete="CASCADE"))
    #: The round, where it is in this database.
    round_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id", ondelete="SET NULL"))
    round_code: Mapped[str] = mapped_column(String(64))
    round_name: Mapped[str] = mapped_column(String(200))
    held_on: Mapped[dt.date] = mapped_column(Date)
    composite: Mapped[float | None] = mapped_column(Float)
    campaign_unit: Mapped[CampaignUnit] = relationship()
    campaign: Mapped[Campaign] = relationship(foreign_keys=[campaign_id])
