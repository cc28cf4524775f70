"""Test ballots (测试票): what the organizer submits through the preview of the
real form before 开始评议, to try the form end to end.

They are kept in their own table (``test_ballot``), never in ``ballot``: the
bundle, the results, the exports, the return board and the API read only
``ballot``, so a test ballot cannot reach a figure. Only a draft campaign
takes them (``CampaignState.allows_test_ballots``), and opening the campaign
purges them (``purge``, called by the organizer's transition,
survey.campaigns.setup.change_status), with an audit entry of the count."""
from __future__ import annotations

from sqlalchemy import delete, func, select

from survey import audit
from survey.ballots.questionnaire import AnswerMap
from survey.extensions import db
from survey.models import Campaign, CampaignGroup, TestBallot, User
from survey.models.lifecycle import label
from survey.results.i18n import gettext as _


def _target(campaign: Campaign) -> str:
    return f"campaign:{campaign.code}"


def record(campaign: Campaign, group: CampaignGroup, answers: AnswerMap, comments: dict[int, str],
           margins: dict[int, int], user: User | None) -> TestBallot:
    """Keep a test ballot of the group's form (parsed and checked as a real one)."""
    campaign.state.require(campaign.state.allows_test_ballots,
                           _("评议活动%(status)s，不能再提交测试票：测试票只在开始评议前用于试填。",
                             status=label(campaign.status)))
    row = TestBallot(campaign_id=campaign.id, campaign_group_id=group.id, user_id=user.id if user else None,
                     content={"answers": {str(u): {str(i): o for i, o in by_item.items()}
                                          for u, by_item in answers.items()},
                              "comments": {str(u): t for u, t in comments.items()},
                              "margins": {str(q): o for q, o in margins.items()}})
    db.session.add(row)
    audit.record("test_ballot.submit", _target(campaign), None,
                 {"group": group.code, "units": len(answers)})
    return row


def of(campaign: Campaign) -> list[TestBallot]:
    """The campaign's test ballots, oldest first."""
    return list(db.session.scalars(select(TestBallot).where(TestBallot.campaign_id == campaign.id)
                                   .order_by(TestBallot.id)))


def count(campaign: Campaign) -> int:
    return int(db.session.scalar(select(func.count()).select_from(TestBallot)
                                 .where(TestBallot.campaign_id == campaign.id)) or 0)


def purge(campaign: Campaign) -> int:
    """Delete the campaign's test ballots (on 开始评议), with an audit entry of the count."""
    n = count(campaign)
    if n:
        db.session.execute(delete(TestBallot).where(TestBallot.campaign_id == campaign.id))
        audit.record("test_ballot.purge", _target(campaign), None, {"purged": n})
    return n
