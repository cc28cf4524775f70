"""Making final results known: publication (公示, or internal only), the
public page's state on a given day, and the units' appeals (申诉/复核)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from survey import audit
from survey.clock import utcnow
from survey.extensions import db
from survey.models import Appeal, Campaign, CampaignUnit, User
from survey.results import ResultsError
from survey.results.i18n import gettext as _
from survey.results.queries import settings_for
from survey.results.signoff import override_class


def publish(campaign: Campaign, public: bool, start: dt.date | None, end: dt.date | None) -> None:
    if not campaign.state.is_finalized:
        raise ResultsError(_("只有已定稿的评议结果才能公示。"))
    if public and (start is None or end is None):
        raise ResultsError(_("公开公示须填写公示开始和结束日期。"))
    if public and start is not None and end is not None and end < start:
        raise ResultsError(_("公示结束日期不能早于开始日期。"))
    settings = settings_for(campaign)
    settings.public = public
    settings.public_from = start if public else None
    settings.public_until = end if public else None
    settings.published_at = utcnow()
    campaign.state.publish()
    audit.record("campaign.publish", f"campaign:{campaign.code}", {"status": "finalized"},
                 {"status": "published", "public": public, "from": start, "until": end})


def public_state(campaign: Campaign, today: dt.date) -> str:
    """``hidden`` (not public), ``before``, ``open`` or ``ended``."""
    settings = settings_for(campaign)
    if not campaign.state.is_published or not settings.public:
        return "hidden"
    if settings.public_from and today < settings.public_from:
        return "before"
    if settings.public_until and today > settings.public_until:
        return "ended"
    return "open"


def file_appeal(campaign: Campaign, cu: CampaignUnit, text: str, user: User) -> Appeal:
    if not campaign.state.is_frozen:
        raise ResultsError(_("结果定稿后才能提出申诉。"))
    appeal = Appeal(campaign_unit=cu, text=text.strip(), filed_by_id=user.id)
    db.session.add(appeal)
    audit.record("appeal.file", f"campaign:{campaign.code}/unit:{cu.code}", None, {"text": appeal.text})
    return appeal


def decide_appeal(campaign: Campaign, appeal: Appeal, decision: str, outcome: str, new_class: str | None,
                  user: User) -> None:
    if appeal.decision is not None:
        raise ResultsError(_("该申诉已有复核结论。"))
    appeal.decision = decision
    appeal.outcome = outcome.strip()
    appeal.decided_by_id = user.id
    appeal.decided_at = utcnow()
    if decision == "changed":
        if not new_class:
            raise ResultsError(_("变更评定须选择新的评定等次。"))
        override_class(campaign, appeal.campaign_unit, new_class, _("申诉复核：%(o)s", o=appeal.outcome), user)
    audit.record("appeal.decide", f"campaign:{campaign.code}/unit:{appeal.campaign_unit.code}", None,
                 {"decision": decision, "outcome": appeal.outcome, "new_class": new_class})


def appeals_of(campaign: Campaign, cu: CampaignUnit | None = None) -> list[Appeal]:
    q = select(Appeal).join(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id)
    if cu is not None:
        q = q.where(Appeal.campaign_unit_id == cu.id)
    return list(db.session.scalars(q.order_by(Appeal.filed_at)))
