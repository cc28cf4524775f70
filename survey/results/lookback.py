"""回头看: a scheduled review of a unit's rectification (scheduled by
``rectification.schedule_follow_up``) and what it found. Recording the
findings closes the review and does one of three things to the unit's
rectification:

- ``closed`` (整改到位，销号): the rectification was accepted, and stays so;
  the review confirms it (a rectification not yet accepted cannot be closed
  by a review: the committee accepts the report first);
- ``reopened`` (整改不到位，重新整改): the acceptance is withdrawn and the
  rectification runs again to a new deadline; its red mark is cleared so that
  the new deadline can mark it again (the earlier mark stays in the audit
  log); like a report returned for revision (退回修改) the findings are the
  review's comment on the liaison's page, and the unit reports anew;
- ``noted`` (仅记录): the findings are kept, the rectification is left as it is.

Each step leaves an audit entry. These functions stand beside the
committee's review of reports (``rectification.accept_rectification``) and
do not change it."""
from __future__ import annotations

import datetime as dt

from survey import audit
from survey.clock import utcnow
from survey.extensions import db
from survey.models import Campaign, FollowUp, Rectification, User
from survey.models.outcome import FOLLOW_UP_OUTCOMES
from survey.results import ResultsError
from survey.results.i18n import gettext as _
from survey.results.rectification import follow_ups_of, rectification_of
from survey.results.signoff import require_committee


def _target(f: FollowUp) -> str:
    cu = f.campaign_unit
    return f"campaign:{cu.campaign.code}/unit:{cu.code}/follow_up:{f.id}"


def record_findings(campaign: Campaign, follow_up: FollowUp, findings: str, outcome: str, user: User,
                    today: dt.date, new_due: dt.date | None = None) -> Rectification | None:
    """Record a review's findings and what they do to the unit's
    rectification (see the module's docstring). Returns the rectification."""
    require_committee(user, _("只有评议领导小组成员才能记录回头看的结果。"))
    campaign.state.require(campaign.state.allows_carrying_out, _("结果定稿后才能开展回头看。"))
    if follow_up.done_at is not None:
        raise ResultsError(_("这次回头看已记录结果。"))
    if outcome not in FOLLOW_UP_OUTCOMES:
        raise ResultsError(_("未知的回头看结论 %(o)s", o=outcome))
    findings = findings.strip()
    if not findings:
        raise ResultsError(_("请填写回头看发现的情况。"))
    rect = rectification_of(follow_up.campaign_unit)
    before_rect = None
    if outcome in ("closed", "reopened"):
        if rect is None:
            raise ResultsError(_("该单位没有整改事项，只能记录情况。"))
        before_rect = {"accepted": rect.accepted_at is not None, "due_on": rect.due_on,
                       "red": rect.marked_red_at is not None}
    if outcome == "closed" and rect is not None and rect.accepted_at is None:
        raise ResultsError(_("整改尚未验收，不能销号：请先验收整改报告，或选择“重新整改”。"))
    if outcome == "reopened" and rect is not None:
        if new_due is None or new_due <= today:
            raise ResultsError(_("重新整改须定一个今天以后的截止日期。"))
        rect.accepted_at = None
        rect.accepted_by_id = None
        rect.marked_red_at = None
        rect.due_on = new_due
        # as the committee's 退回修改 (rectification.return_rectification): the liaison
        # reads the findings as the review's comment and submits anew
        rect.returned_at = utcnow()
        rect.returned_by_id = user.id
        rect.review_comment = findings
    follow_up.findings = findings
    follow_up.outcome = outcome
    follow_up.new_due = new_due if outcome == "reopened" else None
    follow_up.done_at = utcnow()
    follow_up.done_by_id = user.id
    audit.record("follow_up.findings", _target(follow_up), before_rect,
                 {"findings": findings, "outcome": outcome, "new_due": follow_up.new_due})
    return rect


def reviews_of(campaign: Campaign) -> list[FollowUp]:
    """The campaign's reviews, by date."""
    return follow_ups_of(campaign)


def due_reviews(campaign: Campaign, today: dt.date) -> list[FollowUp]:
    """Reviews whose day has come and whose findings are not recorded yet."""
    return [f for f in follow_ups_of(campaign) if f.done_at is None and f.scheduled_on <= today]


def review_or_none(campaign: Campaign, follow_up_id: int) -> FollowUp | None:
    row = db.session.get(FollowUp, follow_up_id)
    if row is None or row.campaign_unit.campaign_id != campaign.id:
        return None
    return row
