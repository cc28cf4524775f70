"""The committee's sign-off: approvals and the quorum, class overrides, the
settings, and finalization (the results, bundle and rules frozen).

Only committee members approve and finalize (an admin manages accounts and
reads). The quorum is fixed when the campaign closes (``fix_quorum``) and
stored on it; an approval counts where its author was a committee member when
approving, whatever becomes of the account. After finalization the final
snapshot and the class overrides change only by a decided appeal
(``survey.results.publication.decide_appeal``), which adds a new version."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import joinedload

from survey import audit, webhooks
from survey.ballots.pseudonyms import pseudonymise_sources
from survey.clock import utcnow
from survey.database import prepared
from survey.errors import Forbidden
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
from survey.results.frozen import BundleSink
from survey.results.i18n import gettext as _
from survey.results.queries import overrides_of, settings_for, unit_result, units_of
from survey.results.rectification import generate_consequences
from survey.results.snapshots import (
    canonical_json,
    compute,
    current_snapshot,
    queue_drawing,
    results_for,
    stored_values,
)

#: The one role that approves, finalizes, publishes and decides appeals.
COMMITTEE = "committee"


def require_committee(user: User, message: str) -> None:
    """Refuse (403) anyone but a committee member, admins included."""
    if user.role != COMMITTEE:
        raise Forbidden(message)


def _members_quorum(campaign: Campaign, settings: OutcomeSettings | None = None) -> int:
    """The quorum as it would be fixed now: the setting, else the active committee members (at least 1)."""
    q = (settings or settings_for(campaign)).quorum
    if q is not None:
        return q
    return max(1, db.session.scalar(_active_members()) or 0)


@prepared
def _active_members() -> Select[int]:
    return select(func.count(User.id)).where(User.role == COMMITTEE, User.active.is_(True))


def fix_quorum(campaign: Campaign) -> int:
    """At 截止 (the organizer's transition or the deadline): store the quorum on
    the campaign; later changes of accounts or settings leave it as it is."""
    campaign.quorum = _members_quorum(campaign)
    return campaign.quorum


def quorum(campaign: Campaign, settings: OutcomeSettings | None = None) -> int:
    """Approvals needed: the number fixed when the campaign closed; for a
    campaign that has not closed (or was imported closed), the setting, else
    every active committee member."""
    if campaign.quorum is not None:
        return campaign.quorum
    return _members_quorum(campaign, settings)


@prepared
def _approvals_of() -> Select[Approval]:
    return (select(Approval).where(Approval.campaign_id == bindparam("campaign_id"))
            .options(joinedload(Approval.user)).order_by(Approval.approved_at))


def approvals_of(campaign: Campaign) -> list[Approval]:
    """The campaign's approvals in order, with their users (the page names them)."""
    return list(db.session.scalars(_approvals_of(), {"campaign_id": campaign.id}))


def counts(approval: Approval, results_sha256: str) -> bool:
    """Whether an approval counts toward the quorum: given by a committee member
    (when approving) to these results. The account's later state does not matter."""
    return approval.role == COMMITTEE and approval.results_sha256 == results_sha256


def valid_approvals(campaign: Campaign) -> list[Approval]:
    """Approvals of the results as they stand now (a change of rules voids the older ones)."""
    sha = current_snapshot(campaign).results_sha256
    return [a for a in approvals_of(campaign) if counts(a, sha)]


def _require_closed(campaign: Campaign, message: str) -> None:
    if not campaign.state.is_closed:
        raise ResultsError(message)


def approve(campaign: Campaign, user: User) -> Approval:
    require_committee(user, _("只有评议领导小组成员才能审定评议结果。"))
    _require_closed(campaign, _("只有已截止、尚未定稿的评议活动才能审定。"))
    campaign.state.require_annual()  # a round is ranked and published by the organizer (survey/rounds/)
    sha = current_snapshot(campaign).results_sha256
    approval = db.session.scalar(select(Approval).where(Approval.campaign_id == campaign.id,
                                                        Approval.user_id == user.id))
    before = None
    if approval is None:
        approval = Approval(campaign_id=campaign.id, user_id=user.id, role=user.role, results_sha256=sha)
        db.session.add(approval)
    else:
        before = {"results_sha256": approval.results_sha256}
        approval.results_sha256 = sha
        approval.role = user.role
        approval.approved_at = utcnow()
    audit.record("results.approve", f"campaign:{campaign.code}", before, {"results_sha256": sha})
    return approval


def overrides_record(campaign: Campaign) -> str:
    """The class overrides in force, as a final snapshot stores them (``overrides_json``)."""
    return canonical_json([{"unit": o.campaign_unit.unit.code, "computed_class": o.computed_class,
                            "new_class": o.new_class, "reason": o.reason} for o in overrides_of(campaign)])


def override_class(campaign: Campaign, cu: CampaignUnit, new_class: str, reason: str,
                   user: User) -> ClassOverride | None:
    """Set a unit's class by hand, with the reason, while the committee reviews
    (截止, before 定稿); back to the computed class, the override goes (None).
    The audit log keeps each change. After 定稿 only a decided appeal changes a class."""
    require_committee(user, _("只有评议领导小组成员才能调整评定等次。"))
    if campaign.state.is_frozen:
        raise ResultsError(_("评议结果定稿后不能再调整评定等次；如有异议，只能通过申诉复核变更。"))
    if not campaign.state.results_ready:
        raise ResultsError(_("评议截止后才能调整评定等次。"))
    return set_override(campaign, cu, new_class, reason, user)


def set_override(campaign: Campaign, cu: CampaignUnit, new_class: str, reason: str,
                 user: User) -> ClassOverride | None:
    """The change itself (``override_class``, or a decided appeal after 定稿)."""
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
    ``rectification_due``, ``consequences``, ``interim_results``: whether the
    results are shown before 截止, as 中间结果), with an audit entry."""
    s = settings_for(campaign)
    if campaign.state.results_ready and values["quorum"] != s.quorum:
        raise ResultsError(_("评议已截止，定稿所需审定人数已固定为 %(q)d 人，不能再修改。", q=quorum(campaign, s)))
    known = ("quorum", "min_group_ballots", "rectification_due", "consequences", "interim_results")
    names: list[str] = [n for n in known if n in values]
    before = {name: getattr(s, name) for name in names}
    for name in names:
        setattr(s, name, values[name])
    audit.record("outcome.settings", f"campaign:{campaign.code}", before, {name: getattr(s, name) for name in names})


def finalize(campaign: Campaign, today: dt.date, user: User) -> ResultSnapshot:
    """Freeze ballots, rules and results: store the exact bundle and results with
    their SHA-256, the quorum and the class overrides (final version 1),
    generate the consequences and the rectification items."""
    require_committee(user, _("只有评议领导小组成员才能定稿。"))
    _require_closed(campaign, _("只有已截止、尚未定稿的评议活动才能定稿。"))
    if campaign.quorum is None:  # closed without the transition (an imported campaign): fixed now
        fix_quorum(campaign)
    # The results approved: the quorum counts approvals of them, and what is frozen must be them.
    approved = current_snapshot(campaign).results_sha256
    need, have = quorum(campaign), sum(counts(a, approved) for a in approvals_of(campaign))
    if have < need:
        raise ResultsError(_("审定人数不足：需要 %(need)d 人，已有 %(have)d 人。", need=need, have=have))
    # First, so that the stored bundle holds pseudonyms too (docs/anonymity.md);
    # no flag or figure changes with it.
    pseudonymise_sources(campaign)
    sink = BundleSink(keep=True)
    try:
        bundle_sha256, results = compute(campaign, sink=sink)
        chunks = sink.store(campaign.id)  # the frozen store (survey.results.frozen)
    finally:
        sink.close()
    values = stored_values(campaign, bundle_sha256, results)
    if values["results_sha256"] != approved:
        # What is frozen must be what the committee approved, to the byte (the
        # sign-off counts approvals by this SHA-256). Recomputed differently (a
        # change meanwhile, or arithmetic that differs between machines), nothing
        # is frozen: the caller rolls back, and the pages show the results again.
        raise ResultsError(_("定稿时重新计算的结果与审定的结果不一致，未定稿。请刷新结果页面核对后重新审定；"
                             "如再次出现，请联系系统管理员。"))
    snap = ResultSnapshot(campaign_id=campaign.id, kind="final", version=1, bundle_chunks=chunks,
                          quorum=need, overrides_json=overrides_record(campaign), **values)
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
                  "results_sha256": snap.results_sha256, "quorum": need, "approvals": have,
                  "consequences": len(made)})
    webhooks.emit_campaign("campaign.finalized", campaign, version=1, results_sha256=snap.results_sha256)
    return snap
