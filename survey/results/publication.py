"""Making final results known: publication (公示, or internal only), what
the public page shows (the committee's options: scores and ranks or classes
only, the issuing office, a contact, the appeal deadline and how to appeal),
its state on a given day, and the units' appeals (申诉/复核)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from survey import audit, webhooks
from survey.clock import beijing_date, utcnow
from survey.clock import today as clock_today
from survey.extensions import db
from survey.models import Appeal, Campaign, CampaignUnit, OutcomeSettings, ResultSnapshot, User
from survey.models.outcome import APPEAL_DECISIONS, CLASS_LABELS, CLASSES, appeal_changes
from survey.results import ResultsError, carrying
from survey.results.i18n import gettext as _
from survey.results.queries import (
    CategoryView,
    final_class,
    override_of,
    ranking,
    settings_for,
    unit_list,
    unit_result,
)
from survey.results.rectification import regenerate_consequences
from survey.results.signoff import overrides_record, require_committee, set_override
from survey.results.snapshots import final_snapshot, parsed


def publish(campaign: Campaign, public: bool, start: dt.date | None, end: dt.date | None, user: User) -> None:
    require_committee(user, _("只有评议领导小组成员才能公示评议结果。"))
    campaign.state.require_annual()  # a round is published by the organizer (survey/rounds/)
    if not campaign.state.is_finalized:
        raise ResultsError(_("只有已定稿的评议结果才能公示。"))
    if public and (start is None or end is None):
        raise ResultsError(_("公开公示须填写公示开始和结束日期。"))
    if public and start is not None and end is not None and end < start:
        raise ResultsError(_("公示结束日期不能早于开始日期。"))
    settings = settings_for(campaign)
    if public and start is not None:
        _check_appeal_until(settings.appeal_until, start)
    settings.public = public
    settings.public_from = start if public else None
    settings.public_until = end if public else None
    settings.published_at = utcnow()
    campaign.state.publish()
    audit.record("campaign.publish", f"campaign:{campaign.code}", {"status": "finalized"},
                 {"status": "published", "public": public, "from": start, "until": end})
    webhooks.emit_campaign("campaign.published", campaign, public=public, public_from=start, public_until=end)


def public_state(campaign: Campaign, today: dt.date, settings: OutcomeSettings) -> str:
    """``hidden`` (not public), ``before``, ``open`` or ``ended`` (``settings``: ``settings_for(campaign)``)."""
    if not campaign.state.is_published or not settings.public:
        return "hidden"
    if settings.public_from and today < settings.public_from:
        return "before"
    if settings.public_until and today > settings.public_until:
        return "ended"
    return "open"


#: The committee's options for the public page, as OutcomeSettings names them.
PUBLIC_OPTIONS = ("public_scores", "public_office", "public_contact", "appeal_until", "appeal_how")


@dataclass(frozen=True)
class PublicNotice:
    """What the public page shows besides the classes."""

    #: Each unit's composite score and rank too (else the classes only).
    scores: bool
    #: The issuing office (发布单位).
    office: str
    #: How to reach the office (phone, e-mail, address), as the committee typed it.
    contact: str | None
    #: The last day to appeal: the committee's, else the last day of the public period.
    appeal_until: dt.date | None
    #: How to appeal, as the committee typed it; None: the page's default text.
    appeal_how: str | None
    #: The day of publication (Beijing), the date under the office's name.
    published_on: dt.date | None


def public_notice(s: OutcomeSettings) -> PublicNotice:
    """The notice of the committee's settings ``s`` (``settings_for``)."""
    return PublicNotice(scores=s.public_scores, office=s.public_office or current_app.config["PINGYI_OFFICE_NAME"],
                        contact=s.public_contact, appeal_until=s.appeal_until or s.public_until,
                        appeal_how=s.appeal_how,
                        published_on=beijing_date(s.published_at) if s.published_at is not None else None)


def _check_appeal_until(appeal_until: dt.date | None, public_from: dt.date | None) -> None:
    if appeal_until is not None and public_from is not None and appeal_until < public_from:
        raise ResultsError(_("申诉截止日期（%(a)s）不能早于公示开始日期（%(b)s）。", a=appeal_until, b=public_from))


def save_public_options(campaign: Campaign, values: dict[str, Any], user: User) -> None:
    """Set what the public page shows (``PUBLIC_OPTIONS``), with an audit entry.
    Text is stripped, and empty text means the default. They may change at any
    time, the public period included (a new telephone number, say)."""
    require_committee(user, _("只有评议领导小组成员才能设置公示内容。"))
    s = settings_for(campaign)
    clean = {name: (values[name].strip() or None) if isinstance(values[name], str) else values[name]
             for name in PUBLIC_OPTIONS}
    clean["public_scores"] = bool(clean["public_scores"])
    _check_appeal_until(clean["appeal_until"], s.public_from)
    before = {name: getattr(s, name) for name in PUBLIC_OPTIONS}
    if before == clean:
        return
    for name in PUBLIC_OPTIONS:
        setattr(s, name, clean[name])
    audit.record("publication.options", f"campaign:{campaign.code}", before, clean)


def public_views(campaign: Campaign, results: dict[str, Any], scores: bool) -> list[CategoryView]:
    """The public page's tables, per category: ranked where scores and ranks
    are shown; with classes only, by class and then in the campaign's order
    of units, so that the order does not tell the ranks either."""
    units = unit_list(campaign)
    views = ranking(campaign, results, units)
    if not scores:
        order = {u.code: k for k, u in enumerate(units)}
        for view in views:
            view.units.sort(key=lambda row: (CLASSES.index(row.final_class), order[row.code]))
    return views


def appeal_until(campaign: Campaign) -> dt.date | None:
    """The last day (Beijing) a unit may appeal, as the public page says it: the committee's
    date, else the last day of the public period; None: no deadline set."""
    return public_notice(settings_for(campaign)).appeal_until


def file_appeal(campaign: Campaign, cu: CampaignUnit, text: str, user: User) -> Appeal:
    if not campaign.state.is_frozen:
        raise ResultsError(_("结果定稿后才能提出申诉。"))
    until = appeal_until(campaign)
    if until is not None and clock_today() > until:
        raise ResultsError(_("申诉期已于 %(d)s（北京时间）结束，不能再提出申诉。", d=until.isoformat()))
    appeal = Appeal(campaign_unit=cu, text=text.strip(), filed_by_id=user.id)
    db.session.add(appeal)
    audit.record("appeal.file", f"campaign:{campaign.code}/unit:{cu.code}", None, {"text": appeal.text})
    webhooks.emit_appeal(campaign, cu, appeal)
    return appeal


def decide_appeal(campaign: Campaign, appeal: Appeal, decision: str, outcome: str, new_class: str | None,
                  user: User, today: dt.date | None = None) -> ResultSnapshot | None:
    """Record the committee's decision on an appeal. A change of the unit's
    class (``changed``) is the one change a finalized campaign takes: the
    override is recorded, a new version of the final snapshot is stored (the
    earlier ones are kept), and the unit's consequences are cancelled with a
    note and generated anew for its new class. Returns that new version."""
    require_committee(user, _("只有评议领导小组成员才能复核申诉。"))
    if not campaign.state.is_frozen:
        raise ResultsError(_("结果定稿后才能复核申诉。"))
    if appeal.decision is not None:
        raise ResultsError(_("该申诉已有复核结论。"))
    if decision not in APPEAL_DECISIONS:
        raise ResultsError(_("未知的复核结论 %(d)s", d=decision))
    appeal.decision = decision
    appeal.outcome = outcome.strip()
    appeal.decided_by_id = user.id
    appeal.decided_at = utcnow()
    version = None
    if decision == "changed":
        if not new_class:
            raise ResultsError(_("变更评定须选择新的评定等次。"))
        version = _change_class(campaign, appeal, new_class, user, today or clock_today())
    audit.record("appeal.decide", f"campaign:{campaign.code}/unit:{appeal.campaign_unit.code}", None,
                 {"decision": decision, "outcome": appeal.outcome, "new_class": new_class,
                  "version": version.version if version is not None else None})
    return version


def _change_class(campaign: Campaign, appeal: Appeal, new_class: str, user: User,
                  today: dt.date) -> ResultSnapshot:
    cu = appeal.campaign_unit
    latest = final_snapshot(campaign)
    if latest is None:
        raise ResultsError(_("结果定稿后才能复核申诉。"))
    results = parsed(latest)
    old_class = final_class(unit_result(results, cu.code), override_of(cu))
    if new_class == old_class:
        raise ResultsError(_("新的评定等次与现评定等次相同；如维持原评定，请选择“维持原评定”。"))
    with appeal_changes(db.session):
        set_override(campaign, cu, new_class, _("申诉复核：%(o)s", o=appeal.outcome), user)
        db.session.flush()
    note = _("申诉复核（申诉 #%(id)d）：%(unit)s 的评定等次由“%(a)s”变更为“%(b)s”。%(o)s",
             id=appeal.id, unit=cu.name, a=_(CLASS_LABELS[old_class]), b=_(CLASS_LABELS[new_class]),
             o=appeal.outcome)
    snap = ResultSnapshot(campaign_id=campaign.id, kind="final", version=latest.version + 1,
                          fingerprint=latest.fingerprint, bundle_sha256=latest.bundle_sha256,
                          bundle_json=latest.bundle_json, bundle_chunks=latest.bundle_chunks,
                          results_json=latest.results_json,
                          results_sha256=latest.results_sha256, quorum=latest.quorum,
                          overrides_json=overrides_record(campaign), note=note)
    db.session.add(snap)
    regenerate_consequences(campaign, cu, results, today, note)
    carrying.follow_appeal_in_later_years(campaign, cu.code, today, note)  # their escalation windows count it
    audit.record("results.version", f"campaign:{campaign.code}", {"version": latest.version},
                 {"version": snap.version, "unit": cu.code, "from": old_class, "to": new_class})
    return snap


def appeals_of(campaign: Campaign, cu: CampaignUnit | None = None) -> list[Appeal]:
    q = select(Appeal).join(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id)
    if cu is not None:
        q = q.where(Appeal.campaign_unit_id == cu.id)
    return list(db.session.scalars(q.order_by(Appeal.filed_at)))
