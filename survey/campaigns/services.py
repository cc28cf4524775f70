"""Campaign figures the overview pages show."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from flask_babel import gettext as _

from survey.extensions import db
from survey.models.distribution import CHANNEL_LABELS
from survey.models import Ballot, Campaign, Invitation


@dataclass(frozen=True)
class ReturnRow:
    code: str
    label: str
    issued: int | None
    returned: int

    @property
    def rate(self) -> float | None:
        if not self.issued:
            return None
        return self.returned / self.issued


@dataclass(frozen=True)
class ReturnFigures:
    batches: list[ReturnRow]
    groups: list[ReturnRow]
    total: ReturnRow
    invitations: int
    invitations_used: int


def return_figures(campaign: Campaign) -> ReturnFigures:
    """Issued and returned per batch, per group and in all (two aggregate queries)."""
    returned = dict(db.session.execute(
        select(Ballot.batch_id, func.count(Ballot.id))
        .where(Ballot.campaign_id == campaign.id).group_by(Ballot.batch_id)
    ).all())
    inv_total, inv_used = db.session.execute(
        select(func.count(Invitation.id), func.count(Invitation.id).filter(Invitation.used.is_(True)))
        .where(Invitation.campaign_id == campaign.id)
    ).one()
    batches = [
        ReturnRow(b.code, f"{b.group.label} · {_(CHANNEL_LABELS[b.channel])}", b.issued, returned.get(b.id, 0))
        for b in campaign.batches
    ]
    groups = []
    for g in campaign.groups:
        mine = [b for b in campaign.batches if b.campaign_group_id == g.id]
        issued = None if any(b.issued is None for b in mine) else sum(b.issued or 0 for b in mine)
        groups.append(ReturnRow(g.code, g.label, issued, sum(returned.get(b.id, 0) for b in mine)))
    all_issued = None if any(b.issued is None for b in campaign.batches) else sum(
        b.issued or 0 for b in campaign.batches)
    total = ReturnRow(campaign.code, campaign.name, all_issued, sum(returned.values()))
    return ReturnFigures(batches, groups, total, inv_total, inv_used)


def all_campaigns() -> list[Campaign]:
    return list(db.session.scalars(select(Campaign).order_by(Campaign.year.desc(), Campaign.code)))

