"""Which units each evaluator group of a campaign rates (absent rows: all units)."""
from __future__ import annotations

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.extensions import db
from survey.models.campaign import CampaignGroup, CampaignUnit


class GroupUnit(db.Model):
    """One unit a group rates. A group with no rows rates every unit of the
    campaign; with rows, exactly those (e.g. 服务对象 rate only the units they dealt with)."""

    __tablename__ = "campaign_group_unit"
    __table_args__ = (UniqueConstraint("campaign_group_id", "campaign_unit_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_group_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_group.id", ondelete="CASCADE"), index=True)
    campaign_unit_id: Mapped[int] = mapped_column(ForeignKey("campaign_unit.id", ondelete="CASCADE"))
    campaign_group: Mapped[CampaignGroup] = relationship()
    campaign_unit: Mapped[CampaignUnit] = relationship()
