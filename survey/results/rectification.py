"""What follows the final results: the consequences generated at
finalization, each unit's rectification (整改: plan, report, deadline, red
mark, acceptance) and the committee's follow-up checks (回头看)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from survey import audit, webhooks
from survey.clock import utcnow
from survey.extensions import db
from survey.models import (
    AuditEntry,
    Campaign,
    CampaignUnit,
    Comment,
    CommentAnswer,
    Consequence,
    FollowUp,
    Rectification,
    User,
)
from survey.results import ResultsError
from survey.results.comments import answers_of, comments_of
from survey.results.i18n import gettext as _
from survey.results.queries import consequence_rules, final_classes, rows_of, settings_for, units_of


def _target(campaign: Campaign, cu: CampaignUnit) -> str:
    """The audit target of a campaign's unit."""
    return f"campaign:{campaign.code}/unit:{cu.code}"


# --- consequences ---------------------------------------------------------------


def generate_consequences(campaign: Campaign, results: dict[str, Any], today: dt.date,
                          only: CampaignUnit | None = None) -> list[Consequence]:
    """The consequences of the units' final classes (of one unit, given
    ``only``), then those of the escalation rules they meet
    (``survey.results.escalation``; one live consequence of a kind per unit:
    a rule's kind the class already gave is not made twice). Each gets the
    owner and deadline the rules set for its kind (``carrying.defaults_for``)."""
    from survey.results import carrying, escalation

    config = consequence_rules(settings_for(campaign))
    classes = final_classes(campaign, results)
    rules = escalation.rules_of(config)
    made: list[Consequence] = []

    def add(cu: CampaignUnit, kind: str, text: str, due: dt.date | None = None, rule: str | None = None) -> None:
        if any(c.campaign_unit is cu and c.kind == kind for c in made):
            return
        owner, default_due = carrying.defaults_for(config, kind, today)
        row = Consequence(campaign_unit=cu, kind=kind, text=text, due_on=due or default_due, owner=owner,
                          state="pending", rule=rule)
        db.session.add(row)
        made.append(row)

    for cu in units_of(campaign):
        if only is not None and cu.id != only.id:
            continue
        cls = classes.get(cu.code)
        name = cu.name
        if cls == "basically_satisfied" and config.get("self_examination"):
            due = today + dt.timedelta(days=int(config["self_examination_days"]))
            add(cu, "self_examination", _("%(name)s 在%(campaign)s中被评为“基本满意”，请于 %(due)s 前向评议领导小组"
                                          "提交书面检查。", name=name, campaign=campaign.name, due=due.isoformat()), due)
        if cls == "dissatisfied":
            if config.get("criticism_notice"):
                add(cu, "criticism_notice", _("关于对%(name)s予以通报批评的通报（草稿）：在%(campaign)s中，%(name)s"
                                              "被评为“不满意”单位，现予以通报批评，责令其认真整改。",
                                              name=name, campaign=campaign.name))
            if config.get("media_list"):
                add(cu, "media_list", _("%(name)s 列入媒体公布的“不满意”单位名单。", name=name))
            if config.get("bonus_linkage"):
                add(cu, "bonus_linkage", _("%(name)s 年度评议结果为“不满意”，按规定与年度绩效考核奖金挂钩，请财务部门"
                                           "核减。", name=name))
            if config.get("leader_handling"):
                add(cu, "leader_handling", _("对%(name)s主要负责人进行%(how)s。", name=name,
                                             how=config["leader_handling"]))
        if cu.code not in classes:
            continue
        for rule, n in escalation.escalations(campaign, cu, results, classes, rules):
            add(cu, rule.consequence, escalation.consequence_text(rule, cu, n), rule=rule.key)
    return made


def consequences_of(campaign: Campaign, cu: CampaignUnit | None = None, *,
                    cancelled: bool = True) -> list[Consequence]:
    """The campaign's consequences (one unit's, given ``cu``), by unit; the
    cancelled ones too unless ``cancelled`` is false."""
    rows = rows_of(campaign, Consequence, CampaignUnit.position, Consequence.id)
    return [c for c in rows if (cu is None or c.campaign_unit_id == cu.id)
            and (cancelled or c.cancelled_at is None)]


def regenerate_consequences(campaign: Campaign, cu: CampaignUnit, results: dict[str, Any], today: dt.date,
                            note: str) -> list[Consequence]:
    """A unit's class changed (a decided appeal): its live consequences are
    cancelled with ``note`` (kept, for the record) and generated anew for its
    new class."""
    cancelled = consequences_of(campaign, cu, cancelled=False)
    now = utcnow()
    for row in cancelled:
        row.cancelled_at = now
        row.note = note
    db.session.flush()  # one live consequence of a kind: the old ones step aside first
    made = generate_consequences(campaign, results, today, only=cu)
    audit.record("consequence.regenerate", _target(campaign, cu), {"cancelled": [c.kind for c in cancelled]},
                 {"made": [c.kind for c in made], "note": note})
    return made


# --- rectification --------------------------------------------------------------


def rectification_of(cu: CampaignUnit) -> Rectification | None:
    return db.session.scalar(select(Rectification).where(Rectification.campaign_unit_id == cu.id))


def rectifications_of(campaign: Campaign) -> list[Rectification]:
    return rows_of(campaign, Rectification, CampaignUnit.position)


def submit_rectification(campaign: Campaign, cu: CampaignUnit, part: str, text: str) -> Rectification:
    rect = rectification_of(cu)
    if rect is None:
        raise ResultsError(_("结果定稿后才能提交整改方案和报告。"))
    if rect.accepted_at is not None:
        raise ResultsError(_("整改已验收，不能再修改。"))
    before = {part: getattr(rect, part)}
    now = utcnow()
    if rect.returned_at is not None and now <= rect.returned_at:  # a resubmission comes after the return
        now = rect.returned_at + dt.timedelta(microseconds=1)
    resubmitted = rect.is_returned
    setattr(rect, part, text.strip())
    setattr(rect, f"{part}_at", now)
    audit.record(f"rectification.{part}", _target(campaign, cu), before,
                 {part: text.strip(), **({"resubmitted": True} if resubmitted else {})})
    return rect


def set_due(campaign: Campaign, rect: Rectification, due: dt.date) -> None:
    before = {"due_on": rect.due_on}
    rect.due_on = due
    audit.record("rectification.due", _target(campaign, rect.campaign_unit), before, {"due_on": due})


def mark_overdue(campaign: Campaign, today: dt.date) -> list[Rectification]:
    """红字: rectifications past their deadline and not accepted are marked red."""
    marked = []
    for rect in rectifications_of(campaign):
        if rect.due_on < today and rect.accepted_at is None and rect.marked_red_at is None:
            rect.marked_red_at = utcnow()
            marked.append(rect)
            audit.record("rectification.mark_red", _target(campaign, rect.campaign_unit),
                         None, {"due_on": rect.due_on, "today": today})
            webhooks.emit_overdue(campaign, rect)
    return marked


def accept_rectification(campaign: Campaign, rect: Rectification, user: User, comment: str = "") -> None:
    """The committee accepts the report, with an optional comment the liaison
    reads; a red mark is cleared (消红)."""
    if not rect.report:
        raise ResultsError(_("单位尚未提交整改报告，不能验收。"))
    if rect.accepted_at is not None:
        raise ResultsError(_("整改已验收。"))
    if rect.is_returned:
        raise ResultsError(_("整改已退回修改，单位重新提交后才能验收。"))
    rect.accepted_at = utcnow()
    rect.accepted_by_id = user.id
    rect.review_comment = comment.strip() or None
    audit.record("rectification.accept", _target(campaign, rect.campaign_unit),
                 {"red": rect.marked_red_at is not None},
                 {"accepted": True, "cleared": rect.marked_red_at is not None, "comment": rect.review_comment})


def return_rectification(campaign: Campaign, rect: Rectification, user: User, comment: str) -> None:
    """退回修改: the committee sends the plan or report back with a comment
    the liaison reads; the unit revises and resubmits (``submit_rectification``),
    after which the committee may accept it or send it back again."""
    comment = comment.strip()
    if not comment:
        raise ResultsError(_("退回修改必须写明意见，单位据此修改。"))
    if rect.accepted_at is not None:
        raise ResultsError(_("整改已验收，不能再退回。"))
    if not rect.plan and not rect.report:
        raise ResultsError(_("单位尚未提交整改方案或报告，无可退回。"))
    if rect.is_returned:
        raise ResultsError(_("整改已退回修改，等待单位重新提交。"))
    before = {"review_comment": rect.review_comment}
    rect.returned_at = utcnow()
    rect.returned_by_id = user.id
    rect.review_comment = comment
    audit.record("rectification.return", _target(campaign, rect.campaign_unit), before,
                 {"returned": True, "comment": comment})


def answers_of_unit(campaign: Campaign, cu: CampaignUnit) -> list[tuple[Comment, str, CommentAnswer | None]]:
    """The unit's comments (as the committee's unit page lists them), each with
    its group and the unit's answer, if any: what the committee reads beside
    the plan and the report."""
    received = comments_of(campaign, cu)
    answers = answers_of([c.id for c, _gcode in received])
    return [(c, gcode, answers.get(c.id)) for c, gcode in received]


#: The audit actions that make up a rectification's review, shown on its page.
REVIEW_ACTIONS = ("rectification.plan", "rectification.report", "rectification.due", "rectification.mark_red",
                  "rectification.return", "rectification.accept")


def review_history(campaign: Campaign, rect: Rectification) -> list[AuditEntry]:
    """The rectification's submissions and reviews, oldest first (from the audit log)."""
    return list(db.session.scalars(
        select(AuditEntry).where(AuditEntry.target == _target(campaign, rect.campaign_unit),
                                 AuditEntry.action.in_(REVIEW_ACTIONS)).order_by(AuditEntry.id)))


# --- follow-up checks -------------------------------------------------------------


def schedule_follow_up(campaign: Campaign, cu: CampaignUnit, on: dt.date, note: str) -> FollowUp:
    row = FollowUp(campaign_unit=cu, scheduled_on=on, note=note.strip() or None)
    db.session.add(row)
    audit.record("follow_up.schedule", _target(campaign, cu), None, {"scheduled_on": on, "note": note})
    return row


def follow_ups_of(campaign: Campaign) -> list[FollowUp]:
    return rows_of(campaign, FollowUp, FollowUp.scheduled_on)
