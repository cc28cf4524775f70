"""The committee's sign-off: approvals and the quorum, class overrides, the
settings, and finalization (the results, bundle and rules frozen)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from survey import audit
from survey.ballots.pseudonyms import pseudonymise_sources
from survey.clock import utcnow
from survey.extensions import db
from survey.models import (
    Approval,
    Campaign,
    CampaignUnit,
    ClassOverride,
    OutcomeSettings,
    Rectification,
    ResultSnapshot,
    User,
)
from survey.models.outcome import CLASSES
from survey.results import ResultsError
from survey.results.i18n import gettext as _
from survey.results.queries import settings_for, unit_result, units_of
from survey.results.rectification import generate_consequences
from survey.results.snapshots import compute, current_snapshot, queue_drawing, results_for, stored_values


def quorum(campaign: Campaign, settings: OutcomeSettings | None = None) -> int:
    """Approvals needed: the campaign's setting, or every active committee member."""
    q = (settings or settings_for(campaign)).quorum
    if q is not None:
        return q
    members = db.session.scalar(select(func.count(User.id)).where(User.role == "committee", User.active.is_(True)))
    return max(1, members or 0)


def approvals_of(campaign: Campaign) -> list[Approval]:
    """The campaign's approvals in order, with their users (the page names them)."""
    return list(db.session.scalars(select(Approval).where(Approval.campaign_id == campaign.id)
                                   .options(joinedload(Approval.user)).order_by(Approval.approved_at)))


def valid_approvals(campaign: Campaign) -> list[Approval]:
    """Approvals of the results as they stand now (a change of rules voids the older ones)."""
    sha = current_snapshot(campaign).results_sha256
    return [a for a in approvals_of(campaign) if a.results_sha256 == sha]


def _require_closed(campaign: Campaign, message: str) -> None:
    if not campaign.state.is_closed:
        raise ResultsError(message)


def approve(campaign: Campaign, user: User) -> Approval:
    _require_closed(campaign, _("只有已截止、尚未定稿的评议活动才能审定。"))
    sha = current_snapshot(campaign).results_sha256
    approval = db.session.scalar(select(Approval).where(Approval.campaign_id == campaign.id,
                                                        Approval.user_id == user.id))
    before = None
    if approval is None:
        approval = Approval(campaign_id=campaign.id, user_id=user.id, results_sha256=sha)
        db.session.add(approval)
    else:
        before = {"results_sha256": approval.results_sha256}
        approval.results_sha256 = sha
        approval.approved_at = utcnow()
    audit.record("results.approve", f"campaign:{campaign.code}", before, {"results_sha256": sha})
    return approval


def override_class(campaign: Campaign, cu: CampaignUnit, new_class: str, reason: str,
                   user: User) -> ClassOverride | None:
    """Set a unit's class by hand, with the reason; back to the computed class,
    the override goes (None). The audit log keeps each change."""
    if not campaign.state.results_ready:
        raise ResultsError(_("评议截止后才能调整评定等次。"))
    if new_class not in CLASSES:
        raise ResultsError(_("未知的评定等次 %(c)s", c=new_class))
    if not reason or not reason.strip():
        raise ResultsError(_("调整评定等次必须写明理由。"))
    computed = unit_result(results_for(campaign), cu.code)["class"]
    row = db.session.scalar(select(ClassOverride).where(ClassOverride.campaign_unit_id == cu.id))
    before = None if row is None else {"new_class": row.new_class, "reason": row.reason}
    target = f"campaign:{campaign.code}/unit:{cu.code}"
    if new_class == computed:
        if row is not None:
            db.session.delete(row)
        audit.record("class.override", target, before,
                     {"new_class": new_class, "reason": reason.strip(), "removed": True})
        return None
    if row is None:
        row = ClassOverride(campaign_unit=cu)
        db.session.add(row)
    row.computed_class = computed
    row.new_class = new_class
    row.reason = reason.strip()
    row.user_id = user.id
    row.created_at = utcnow()
    audit.record("class.override", target, before,
                 {"computed_class": computed, "new_class": new_class, "reason": row.reason})
    return row


def save_settings(campaign: Campaign, values: dict[str, Any]) -> None:
    """Change the committee's settings (``quorum``, ``min_group_ballots``,
    ``rectification_due``, ``consequences``), with an audit entry."""
    s = settings_for(campaign)
    names = ("quorum", "min_group_ballots", "rectification_due", "consequences")
    before = {name: getattr(s, name) for name in names}
    for name in names:
        setattr(s, name, values[name])
    audit.record("outcome.settings", f"campaign:{campaign.code}", before, {name: getattr(s, name) for name in names})


def finalize(campaign: Campaign, today: dt.date) -> ResultSnapshot:
    """Freeze ballots, rules and results: store the exact bundle and results with
    their SHA-256, generate the consequences and the rectification items."""
    _require_closed(campaign, _("只有已截止、尚未定稿的评议活动才能定稿。"))
    need, have = quorum(campaign), len(valid_approvals(campaign))
    if have < need:
        raise ResultsError(_("审定人数不足：需要 %(need)d 人，已有 %(have)d 人。", need=need, have=have))
    # First, so that the stored bundle holds pseudonyms too (docs/anonymity.md);
    # no flag or figure changes with it.
    pseudonymise_sources(campaign)
    bundle_text, results = compute(campaign)
    snap = ResultSnapshot(campaign_id=campaign.id, kind="final", bundle_json=bundle_text,
                          **stored_values(campaign, bundle_text, results))
    db.session.add(snap)
    campaign.state.finalize()
    db.session.flush()
    queue_drawing(campaign, snap)
    made = generate_consequences(campaign, results, today)
    due = settings_for(campaign).rectification_due or today + dt.timedelta(days=30)
    for cu in units_of(campaign):
        db.session.add(Rectification(campaign_unit=cu, due_on=due))
    audit.record("campaign.finalize", f"campaign:{campaign.code}", {"status": "closed"},
                 {"status": "finalized", "bundle_sha256": snap.bundle_sha256,
                  "results_sha256": snap.results_sha256, "consequences": len(made)})
    return snap
