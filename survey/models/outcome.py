"""What follows the ballots: result snapshots, the committee's sign-off and
overrides, publication, consequences, comment answers, rectification,
appeals and follow-up checks; and the rule that a finalized campaign is frozen."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    delete,
    event,
    false,
    inspect,
    text,
)
from sqlalchemy.orm import InstanceState, Mapped, Session, mapped_column, relationship, scoped_session

from survey.clock import utcnow
from survey.errors import Conflict
from survey.extensions import Base, db
from survey.models.account import User
from survey.models.ballot import Answer, Ballot, Comment
from survey.models.campaign import (
    Campaign,
    CampaignGroup,
    CampaignUnit,
    Item,
    MarginTarget,
    ObjectiveScore,
    ScaleOption,
    Veto,
)
from survey.models.lifecycle import is_frozen_status

CLASSES = ("satisfied", "basically_satisfied", "dissatisfied", "insufficient")
#: How each class reads (passed through the translation function).
CLASS_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意",
                "insufficient": "数据不足"}
CONSEQUENCE_KINDS = ("self_examination", "criticism_notice", "media_list", "bonus_linkage",
                     "leader_handling", "organizational_handling")
CONSEQUENCE_LABELS = {"self_examination": "书面检查", "criticism_notice": "通报批评",
                      "media_list": "媒体公布名单", "bonus_linkage": "绩效奖金挂钩（财务）",
                      "leader_handling": "领导干部处理", "organizational_handling": "组织处理"}
ANSWER_KINDS = ("explain", "coordinate", "improve")
ANSWER_LABELS = {"explain": "解释说明", "coordinate": "协调解决", "improve": "改进服务"}
APPEAL_DECISIONS = ("upheld", "changed", "rejected")
APPEAL_LABELS = {"upheld": "维持原评定", "changed": "变更评定", "rejected": "不予受理"}
#: The default consequences a campaign generates at finalization.
DEFAULT_CONSEQUENCES: dict[str, Any] = {
    "self_examination": True, "self_examination_days": 15,
    "criticism_notice": True, "media_list": True, "bonus_linkage": True,
    "leader_handling": "诫勉谈话", "escalate_bottom_two_years": True,
}
#: How a consequence is carried out (待办 → 已执行 / 已收到): a document the
#: office receives (书面检查) is 已收到, anything the office or another body
#: does is 已执行.
CONSEQUENCE_STATES = ("pending", "executed", "received")
CONSEQUENCE_STATE_LABELS = {"pending": "待办", "executed": "已执行", "received": "已收到"}
#: The state a kind of consequence reaches when it is carried out.
DONE_STATE = {"self_examination": "received", "criticism_notice": "executed", "media_list": "executed",
              "bonus_linkage": "executed", "leader_handling": "executed", "organizational_handling": "executed"}
#: What a 回头看 found about the unit's rectification.
FOLLOW_UP_OUTCOMES = ("closed", "reopened", "noted")
FOLLOW_UP_LABELS = {"closed": "整改到位，销号", "reopened": "整改不到位，重新整改", "noted": "仅记录"}
HONOUR_DECISIONS = ("awarded", "declined")
HONOUR_LABELS = {"awarded": "授予先进", "declined": "不授予"}


if TYPE_CHECKING:
    # What mypy can read of flask_sqlalchemy's model class: the declarative base it extends.
    Model = Base
else:
    Model = db.Model


class FrozenCampaignError(Conflict):
    """Raised when something tries to change a finalized campaign's inputs."""


class ResultSnapshot(Model):
    """Computed results of a campaign: a cache (kind ``cache``, version 0,
    recomputed when the campaign's data change) or the frozen record of
    finalization (kind ``final``, with the exact bundle it was computed from,
    the quorum and the class overrides). Final snapshots are never changed:
    version 1 is made at finalization, and each appeal decided with a change
    of class adds the next version; the pages show the latest."""

    __tablename__ = "result_snapshot"
    __table_args__ = (
        UniqueConstraint("campaign_id", "kind", "version"),
        CheckConstraint("kind IN ('cache', 'final')", name="kind"),
        CheckConstraint("kind = 'cache' OR bundle_json IS NOT NULL OR bundle_chunks IS NOT NULL",
                        name="final_has_bundle"),
        CheckConstraint("(kind = 'cache' AND version = 0) OR (kind = 'final' AND version >= 1)", name="version"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    #: 0 for the cache; 1, 2, … for the versions of the final record.
    version: Mapped[int] = mapped_column(Integer, default=0)
    #: A cheap digest of what the results depend on (rules, latest rows), to
    #: tell without exporting the bundle whether a cache is still current.
    fingerprint: Mapped[str] = mapped_column(String(64))
    #: SHA-256 (hex) of the UTF-8 bundle JSON the results were computed from.
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    #: The bundle JSON text itself, inline: final snapshots stored before issue
    #: #15's frozen store (still read; ``survey.results.frozen``).
    bundle_json: Mapped[str | None] = mapped_column(Text, deferred=True)
    #: A final snapshot's bundle in the frozen store: its number of
    #: ``BundleChunk`` rows (the gzip-compressed text, any size).
    bundle_chunks: Mapped[int | None] = mapped_column(Integer)
    #: The pingyi-results/1 JSON text (with ``explain``).
    results_json: Mapped[str] = mapped_column(Text)
    results_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: A final snapshot's quorum: the campaign's, fixed when it closed.
    quorum: Mapped[int | None] = mapped_column(Integer)
    #: A final snapshot's class overrides, as canonical JSON: a list of
    #: ``{"unit", "computed_class", "new_class", "reason"}`` in unit order.
    overrides_json: Mapped[str | None] = mapped_column(Text)
    #: Why a later version was made (the appeal decided, the class changed).
    note: Mapped[str | None] = mapped_column(Text)


class BundleChunk(Model):
    """A piece of a frozen bundle (``survey.results.frozen``): the final
    snapshot's bundle text, gzip-compressed, cut in pieces of at most
    ``frozen.CHUNK_BYTES`` so that a bundle of any size fits the database
    (one PostgreSQL field or SQLite value would not hold a 1,000,000-ballot
    bundle) and travels in its backups. Keyed by the text's SHA-256: the
    versions of a final snapshot share the pieces."""

    __tablename__ = "bundle_chunk"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True)
    bundle_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ResultArtifact(Model):
    """Something drawn from a snapshot's results and kept beside it, so that a
    process that has not drawn it yet reads it instead of drawing it again: a
    chart's PNG or SVG bytes, a rendered results table. ``key`` is a digest of
    everything it is drawn from; rows whose snapshot was recomputed are pruned
    (``survey.results.artifacts``)."""

    __tablename__ = "result_artifact"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    #: The results (``ResultSnapshot.results_sha256``) it was drawn from.
    results_sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class OutcomeSettings(Model):
    """The committee's settings for one campaign's sign-off, publication,
    consequences and rectification."""

    __tablename__ = "outcome_settings"
    __table_args__ = (
        CheckConstraint("quorum IS NULL OR quorum >= 1", name="quorum"),
        CheckConstraint("min_group_ballots >= 1", name="min_group_ballots"),
        CheckConstraint("public_until IS NULL OR public_from IS NULL OR public_until >= public_from",
                        name="public_period"),
        CheckConstraint("public_office IS NULL OR length(public_office) <= 200", name="public_office_length"),
        CheckConstraint("public_contact IS NULL OR length(public_contact) <= 1000", name="public_contact_length"),
        CheckConstraint("appeal_how IS NULL OR length(appeal_how) <= 2000", name="appeal_how_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), unique=True)
    #: Approvals needed to finalize; null means every active committee account.
    quorum: Mapped[int | None] = mapped_column(Integer)
    #: A liaison sees a group's figures and comments for their unit only where
    #: the group has at least this many ballots for it.
    min_group_ballots: Mapped[int] = mapped_column(Integer, default=5)
    #: Which consequences finalization generates (see DEFAULT_CONSEQUENCES).
    consequences: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Rectification plans and reports are due by this day.
    rectification_due: Mapped[dt.date | None] = mapped_column(Date)
    #: False keeps the results internal: no public page.
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    public_from: Mapped[dt.date | None] = mapped_column(Date)
    public_until: Mapped[dt.date | None] = mapped_column(Date)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # What the public page (公示) shows (survey.results.publication.public_notice):
    #: Each unit's composite score and rank beside its class; false shows the classes only.
    public_scores: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The issuing office named on the page; null names the PINGYI_OFFICE_NAME setting.
    public_office: Mapped[str | None] = mapped_column(String(200))
    #: How the public reaches the office: phone, e-mail, address (free text).
    public_contact: Mapped[str | None] = mapped_column(Text)
    #: The last day to appeal; null: the last day of the public period.
    appeal_until: Mapped[dt.date | None] = mapped_column(Date)
    #: How to appeal (free text); null: the unit's liaison files it in this app.
    appeal_how: Mapped[str | None] = mapped_column(Text)
    #: While the campaign is open its results are sealed (survey.results.queries.sealed)
    #: unless this is set: then the staff see them, marked 中间结果，仅供内部参考.
    interim_results: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The positive tier (先进) and star bands: survey.results.honours.HonourRule.
    honours: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Approval(Model):
    """A committee member's approval of the results (审定). It counts toward
    the quorum where its author was a committee member when approving
    (``role``), whatever becomes of the account afterwards."""

    __tablename__ = "approval"
    __table_args__ = (UniqueConstraint("campaign_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    #: The approver's role when approving.
    role: Mapped[str] = mapped_column(String(16))
    #: SHA-256 of the results the member looked at when approving.
    results_sha256: Mapped[str] = mapped_column(String(64))
    approved_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    user: Mapped[User] = relationship()


class ClassOverride(Model):
    """A class changed by hand, shown beside the computed one with its reason."""

    __tablename__ = "class_override"
    __table_args__ = (
        UniqueConstraint("campaign_unit_id"),
        CheckConstraint("length(trim(reason)) > 0", name="reason"),
        CheckConstraint("new_class IN ('satisfied', 'basically_satisfied', 'dissatisfied', 'insufficient')",
                        name="new_class"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_unit_id: Mapped[int] = mapped_column(ForeignKey("campaign_unit.id", ondelete="CASCADE"))
    computed_class: Mapped[str] = mapped_column(String(24))
    new_class: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    campaign_unit: Mapped[CampaignUnit] = relationship()
    user: Mapped[User | None] = relationship()


class Consequence(Model):
    """A consequence generated at finalization (书面检查, 通报批评 …). Where an
    appeal changes the unit's class, its consequences are cancelled with a
    note (kept, never deleted) and generated anew for the new class."""

    __tablename__ = "consequence"
    __table_args__ = (
        # One live consequence of each kind per unit; cancelled ones are kept beside it.
        Index("uq_consequence_live_kind", "campaign_unit_id", "kind", unique=True,
              sqlite_where=text("cancelled_at IS NULL"), postgresql_where=text("cancelled_at IS NULL")),
        CheckConstraint("kind IN ('self_examination', 'criticism_notice', 'media_list', 'bonus_linkage', "
                        "'leader_handling', 'organizational_handling')", name="kind"),
        CheckConstraint("state IN ('pending', 'executed', 'received')", name="state"),
        CheckConstraint("(state = 'pending') = (done_at IS NULL)", name="done"),
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount"),
        CheckConstraint("percent IS NULL OR (percent >= 0 AND percent <= 100)", name="percent"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_unit_id: Mapped[int] = mapped_column(ForeignKey("campaign_unit.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    #: The drafted text (the notice, the record for finance, the handling).
    text: Mapped[str] = mapped_column(Text)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: Set where an appeal changed the unit's class; ``note`` says why.
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    note: Mapped[str | None] = mapped_column(Text)
    # Carried out (survey.results.carrying): who does it, its state and what proves it.
    #: Who carries it out (a department or a person, free text).
    owner: Mapped[str | None] = mapped_column(String(100))
    #: pending (待办), executed (已执行) or received (已收到): CONSEQUENCE_STATES.
    state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    #: The document that proves it: the inspection received, the notice's number …
    proof: Mapped[str | None] = mapped_column(Text)
    #: Bonus withheld: an amount in yuan and/or a percentage of the bonus.
    amount: Mapped[float | None] = mapped_column(Float)
    percent: Mapped[float | None] = mapped_column(Float)
    #: 组织处理: the head and the directly responsible staff, one per line, with what was done.
    persons: Mapped[str | None] = mapped_column(Text)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: Set when its deadline passed while it was still pending (红字); kept after it is done.
    marked_red_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: The escalation rule that made it (its key, ``survey.results.escalation``); null: the class rules.
    rule: Mapped[str | None] = mapped_column(String(100))
    campaign_unit: Mapped[CampaignUnit] = relationship()

    @property
    def is_done(self) -> bool:
        return self.state != "pending"

    def overdue(self, today: dt.date) -> bool:
        """Red: live, still pending and past its deadline."""
        return (self.cancelled_at is None and self.state == "pending" and self.due_on is not None
                and self.due_on < today)


class CommentAnswer(Model):
    """A unit's answer to one comment it received."""

    __tablename__ = "comment_answer"
    __table_args__ = (
        CheckConstraint("kind IN ('explain', 'coordinate', 'improve')", name="kind"),
        CheckConstraint("length(trim(text)) > 0", name="text"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comment.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: What the unit did about it.
    text: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    answered_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    comment: Mapped[Comment] = relationship()


class Rectification(Model):
    """A unit's rectification (整改): plan, report, deadline, red mark, acceptance."""

    __tablename__ = "rectification"
    __table_args__ = (UniqueConstraint("campaign_unit_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_unit_id: Mapped[int] = mapped_column(ForeignKey("campaign_unit.id", ondelete="CASCADE"))
    due_on: Mapped[dt.date] = mapped_column(Date)
    plan: Mapped[str | None] = mapped_column(Text)
    plan_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    report: Mapped[str | None] = mapped_column(Text)
    report_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: Set when the deadline passed without an accepted report (红字).
    marked_red_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: The committee accepted the report; a red mark is then cleared (消红).
    accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: The committee sent the plan or report back (退回修改); the unit revises and resubmits.
    returned_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    returned_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: The committee's last word on it (with 退回修改 or 验收), which the liaison reads.
    review_comment: Mapped[str | None] = mapped_column(Text)
    campaign_unit: Mapped[CampaignUnit] = relationship()

    @property
    def is_red(self) -> bool:
        return self.marked_red_at is not None and self.accepted_at is None

    @property
    def was_cleared(self) -> bool:
        return self.marked_red_at is not None and self.accepted_at is not None

    @property
    def last_submitted_at(self) -> dt.datetime | None:
        times = [t for t in (self.plan_at, self.report_at) if t is not None]
        return max(times) if times else None

    @property
    def is_returned(self) -> bool:
        """Sent back and not resubmitted since (退回修改)."""
        last = self.last_submitted_at
        return (self.accepted_at is None and self.returned_at is not None
                and (last is None or last <= self.returned_at))

    @property
    def review_state(self) -> str:
        """Where the review is (REVIEW_STATES); a red mark is shown beside it."""
        if self.accepted_at is not None:
            return "accepted"
        if self.is_returned:
            return "returned"
        if self.returned_at is not None:
            return "resubmitted"
        if self.report:
            return "report"
        if self.plan:
            return "plan"
        return "none"


#: How a rectification's review state reads (passed through the translation function).
REVIEW_STATES: dict[str, str] = {"none": "未提交", "plan": "已提交方案", "report": "待验收",
                                 "returned": "已退回修改", "resubmitted": "修改后重新提交", "accepted": "已验收"}


class Appeal(Model):
    """申诉 / 复核: a unit contests its result; the committee records the outcome."""

    __tablename__ = "appeal"
    __table_args__ = (
        CheckConstraint("decision IS NULL OR decision IN ('upheld', 'changed', 'rejected')", name="decision"),
        CheckConstraint("length(trim(text)) > 0", name="text"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_unit_id: Mapped[int] = mapped_column(ForeignKey("campaign_unit.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    filed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    filed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decision: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    campaign_unit: Mapped[CampaignUnit] = relationship()


class FollowUp(Model):
    """回头看: a later check of a unit's rectification."""

    __tablename__ = "follow_up"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_unit_id: Mapped[int] = mapped_column(ForeignKey("campaign_unit.id", ondelete="CASCADE"))
    scheduled_on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    findings: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: What the findings did to the unit's rectification (FOLLOW_UP_OUTCOMES), set with ``done_at``.
    outcome: Mapped[str | None] = mapped_column(String(16))
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: A reopened rectification's new deadline.
    new_due: Mapped[dt.date | None] = mapped_column(Date)
    campaign_unit: Mapped[CampaignUnit] = relationship()


class Honour(Model):
    """先进: the committee's decision on a candidate of the positive tier
    (``survey.results.honours``): awarded with its title and amount, or not."""

    __tablename__ = "honour"
    __table_args__ = (
        UniqueConstraint("campaign_unit_id"),
        CheckConstraint("decision IN ('awarded', 'declined')", name="decision"),
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount"),
        CheckConstraint("decision = 'awarded' OR amount IS NULL", name="declined_no_amount"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_unit_id: Mapped[int] = mapped_column(ForeignKey("campaign_unit.id", ondelete="CASCADE"))
    decision: Mapped[str] = mapped_column(String(16))
    #: The title awarded (先进单位, 群众满意窗口 …).
    title: Mapped[str | None] = mapped_column(String(100))
    #: The award in yuan.
    amount: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    campaign_unit: Mapped[CampaignUnit] = relationship()


# --- the freeze: nothing that feeds the results changes after finalization ---

#: ``session.info`` key set (``appeal_changes``) while a decided appeal changes
#: a finalized campaign's class overrides: the one change they allow.
APPEAL_CHANGE = "pingyi.appeal_change"


class appeal_changes:  # noqa: N801 (used as a context manager, like a function)
    """Let the class overrides of a finalized campaign change within the block
    (``survey.results.publication.decide_appeal``, which records a new final version)."""

    def __init__(self, session: Session | scoped_session[Any]) -> None:
        self.session = session

    def __enter__(self) -> None:
        self.session.info[APPEAL_CHANGE] = True

    def __exit__(self, *exc: object) -> None:
        self.session.info.pop(APPEAL_CHANGE, None)



def _campaign_id_of(obj: Any) -> int | None:
    if isinstance(obj, Ballot):
        return obj.campaign_id
    if isinstance(obj, Answer | Comment):
        ballot = obj.ballot if obj.ballot is not None else db.session.get(Ballot, obj.ballot_id)
        return ballot.campaign_id if ballot is not None else None
    if isinstance(obj, ObjectiveScore | Veto):
        unit = obj.campaign_unit if obj.campaign_unit is not None else db.session.get(
            CampaignUnit, obj.campaign_unit_id)
        return unit.campaign_id if unit is not None else None
    return None


def _committed_status(session: Session, campaign_id: int) -> str | None:
    from sqlalchemy import select

    return session.execute(select(Campaign.status).where(Campaign.id == campaign_id)).scalar()


@event.listens_for(Session, "before_flush")
def _refuse_frozen_changes(session: Session, flush_context: Any, instances: Any) -> None:
    statuses: dict[int, str | None] = {}
    stale: set[int] = set()
    with session.no_autoflush:
        for obj in list(session.new) + list(session.dirty) + list(session.deleted):
            if isinstance(obj, Campaign):
                state: InstanceState[Campaign] = inspect(obj)
                if obj in session.new or not session.is_modified(obj):
                    continue
                old_status = state.attrs.status.history.deleted
                was = old_status[0] if old_status else obj.status
                if is_frozen_status(was) and (state.attrs.rules.history.has_changes() or obj in session.deleted):
                    raise FrozenCampaignError("评议结果已定稿，不能再修改计分规则 (campaign is finalized)")
                continue
            if isinstance(obj, Item | ScaleOption | CampaignGroup | CampaignUnit | MarginTarget):
                # What the scoring reads besides the ballots: an edit that
                # keeps the fingerprint's counts and sums (moving weight
                # between two groups) must not leave the cached results.
                if obj in session.new or obj in session.deleted or session.is_modified(obj):
                    campaign_id = getattr(obj, "campaign_id", None)
                    if isinstance(obj, MarginTarget):
                        group = obj.campaign_group or session.get(CampaignGroup, obj.campaign_group_id)
                        campaign_id = group.campaign_id if group is not None else None
                    if campaign_id is not None:
                        stale.add(campaign_id)
                continue
            if isinstance(obj, ResultSnapshot):
                if obj.kind == "final" and obj not in session.new and (
                        obj in session.deleted or session.is_modified(obj)):
                    raise FrozenCampaignError("定稿快照不能修改或删除；申诉复核变更评定等次时另存新版本 "
                                              "(a final snapshot never changes)")
                continue
            if isinstance(obj, ClassOverride):
                if obj in session.dirty and not session.is_modified(obj):
                    continue
                unit = obj.campaign_unit if obj.campaign_unit is not None else session.get(
                    CampaignUnit, obj.campaign_unit_id)
                if unit is None:
                    continue
                if unit.campaign_id not in statuses:
                    statuses[unit.campaign_id] = _committed_status(session, unit.campaign_id)
                if is_frozen_status(statuses[unit.campaign_id]) and not session.info.get(APPEAL_CHANGE):
                    raise FrozenCampaignError("评议结果已定稿，评定等次只能通过申诉复核变更 "
                                              "(campaign is finalized)")
                continue
            if not isinstance(obj, Ballot | Answer | Comment | ObjectiveScore | Veto):
                continue
            if obj in session.dirty and not session.is_modified(obj):
                continue
            campaign_id = _campaign_id_of(obj)
            if campaign_id is None:
                continue
            if campaign_id not in statuses:
                statuses[campaign_id] = _committed_status(session, campaign_id)
            if is_frozen_status(statuses[campaign_id]):
                raise FrozenCampaignError("评议结果已定稿，不能再修改评议票、工作考核得分或一票否决 "
                                          "(campaign is finalized)")
            if isinstance(obj, Ballot | Answer | ObjectiveScore | Veto) and obj not in session.new:
                stale.add(campaign_id)
        if stale:
            # An edited or deleted ballot, score or veto, or a changed item,
            # option, group, unit or margin, may leave the fingerprint as it
            # was: the cached results go, and the next page recomputes them.
            session.execute(delete(ResultSnapshot).where(ResultSnapshot.campaign_id.in_(stale),
                                                         ResultSnapshot.kind == "cache"))
