"""Campaigns and what they are made of: organisation records reused across
years (categories, units, evaluator groups) and each campaign's own scale,
items, weights, margins, objective scores and vetoes."""
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
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.clock import utcnow
from survey.models.base import Model, code_checks
from survey.models.lifecycle import STATUS_CHECK, CampaignState, Status

if TYPE_CHECKING:
    from survey.models.distribution import Batch

#: The smallest and the default k of the roster attributes' k rule (Campaign.attribute_k).
ATTRIBUTE_K_MIN = 5
ATTRIBUTE_K_DEFAULT = 5
#: Where the value of a raked variable comes from (MarginVariable.supply):
#: a question on the form, or a column of the roster import.
MARGIN_SUPPLIES = ("question", "roster")
#: A campaign's kinds (Campaign.kind): the annual campaign and the 平时考核 round.
KIND_ANNUAL, KIND_ROUND = "annual", "round"

# --- organisation records: one row per real-world thing, across campaigns ---


class Category(Model):
    """A kind of unit (行政执法类, 社会服务类…); units are ranked within it."""

    __tablename__ = "category"
    __table_args__ = (
        *code_checks(),
        CheckConstraint("length(label) <= 200", name="label_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200))


class Unit(Model):
    """A government unit (被评议单位); its history spans campaigns."""

    __tablename__ = "unit"
    __table_args__ = (
        *code_checks(),
        CheckConstraint("length(name) <= 200", name="name_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    #: The current name; a campaign keeps the name the unit had then.
    name: Mapped[str] = mapped_column(String(200))


class EvaluatorGroup(Model):
    """An evaluator group (评议主体): 人大代表, 企业代表, 服务对象…"""

    __tablename__ = "evaluator_group"
    __table_args__ = (
        *code_checks(),
        CheckConstraint("length(label) <= 200", name="label_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200))


# --- the campaign ---


class Campaign(Model):
    __tablename__ = "campaign"
    __table_args__ = (
        CheckConstraint(STATUS_CHECK, name="status"),
        CheckConstraint("return_target > 0 AND return_target <= 1", name="return_target"),
        CheckConstraint(
            "max_dissatisfied_share_per_ballot IS NULL OR "
            "(max_dissatisfied_share_per_ballot >= 0 AND max_dissatisfied_share_per_ballot <= 1)",
            name="max_dissatisfied_share_per_ballot"),
        *code_checks(),
        CheckConstraint("length(name) <= 200", name="name_length"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year"),
        CheckConstraint("opens_at IS NULL OR (opens_at >= '2000-01-01' AND opens_at < '2101-01-01')", name="opens_at_year"),
        CheckConstraint("closes_at IS NULL OR (closes_at >= '2000-01-01' AND closes_at < '2101-01-01')", name="closes_at_year"),
        CheckConstraint("quorum IS NULL OR quorum >= 1", name="quorum"),
        CheckConstraint(f"attribute_k >= {ATTRIBUTE_K_MIN} AND attribute_k <= 10000000", name="attribute_k"),
        CheckConstraint("period_start IS NULL OR period_end IS NULL OR period_start <= period_end", name="period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    year: Mapped[int] = mapped_column(Integer)
    #: In an anonymous campaign no column links a ballot to its invitation.
    anonymous: Mapped[bool] = mapped_column(default=True)
    #: Read and changed only through `state` (survey/models/lifecycle.py).
    status: Mapped[str] = mapped_column(String(16), default=Status.DRAFT.value)
    #: The return rate (回收率) the office aims at.
    return_target: Mapped[float] = mapped_column(Float, default=0.9)
    opens_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closes_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: The scoring rules as the campaign states them (SCORING.md section 8),
    #: only the keys that differ from the defaults, in their given order.
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: At most this share of the units on one ballot may be marked 不满意
    #: (e.g. 0.6); null for no cap. A unit counts when its overall item gets
    #: the scale's lowest-scored option.
    max_dissatisfied_share_per_ballot: Mapped[float | None] = mapped_column(Float)
    #: Where true, a unit given the lowest-scored option needs a comment.
    comment_required_for_dissatisfied: Mapped[bool | None] = mapped_column(Boolean)
    #: Evaluators may leave a unit unanswered (all its items): stored as no
    #: answer, not as 不了解 (docs/sessions.md). False: every unit on the form is answered.
    allow_unanswered: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The approvals needed to finalize, fixed when the campaign closes (截止):
    #: the committee's setting, else the active committee members then
    #: (survey/results/signoff.py ``fix_quorum``); null before.
    quorum: Mapped[int | None] = mapped_column(Integer)
    #: The k of the roster attributes an anonymous ballot may carry: a value
    #: (a combination of values) reaches a ballot only where at least k
    #: evaluators of its batch share it (survey/ballots/attributes.py).
    attribute_k: Mapped[int] = mapped_column(Integer, default=ATTRIBUTE_K_DEFAULT,
                                             server_default=str(ATTRIBUTE_K_DEFAULT))
    #: A campaign set up to try the system out (测试活动): never the default
    #: source to copy from, and archived or deleted before it opens
    #: (survey/models/lifecycle.py ``archive``, ``discard``).
    is_test: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The demo campaign (``flask demo``): never the default source to copy from.
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: When a test campaign was archived (hidden from the campaign list); null: not archived.
    archived_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: The assessment period (考核期): a register case or a departmental score
    #: dated within it belongs to this campaign (survey/register/services.py).
    period_start: Mapped[dt.date | None] = mapped_column(Date)
    period_end: Mapped[dt.date | None] = mapped_column(Date)
    #: The day the register's inputs close (Beijing time), if before 截止;
    #: what is verified later goes to the next campaign.
    inputs_cutoff: Mapped[dt.date | None] = mapped_column(Date)
    #: "annual" (年度评议) or "round" (平时考核 轮次, docs/rounds.md): a round has its own
    #: lifecycle (survey/models/lifecycle.py) and is left out of every annual query.
    kind: Mapped[str] = mapped_column(String(16), default=KIND_ANNUAL, server_default=KIND_ANNUAL)
    #: A round's day: it counts for the annual campaign whose assessment period contains it.
    held_on: Mapped[dt.date | None] = mapped_column(Date)

    scale: Mapped[list[ScaleOption]] = relationship(
        back_populates="campaign", order_by="ScaleOption.position", cascade="all, delete-orphan"
    )
    items: Mapped[list[Item]] = relationship(
        back_populates="campaign", order_by="Item.position", cascade="all, delete-orphan"
    )
    categories: Mapped[list[CampaignCategory]] = relationship(
        back_populates="campaign", order_by="CampaignCategory.position", cascade="all, delete-orphan"
    )
    units: Mapped[list[CampaignUnit]] = relationship(
        back_populates="campaign", order_by="CampaignUnit.position", cascade="all, delete-orphan"
    )
    groups: Mapped[list[CampaignGroup]] = relationship(
        back_populates="campaign", order_by="CampaignGroup.position", cascade="all, delete-orphan"
    )
    batches: Mapped[list[Batch]] = relationship(
        back_populates="campaign", order_by="Batch.position", cascade="all, delete-orphan"
    )

    @property
    def state(self) -> CampaignState:
        """What the campaign's status allows, and its transitions."""
        return CampaignState(self)


class ScaleOption(Model):
    """An answer option (满意 / 基本满意 / 不满意 / 不了解) with its points."""

    __tablename__ = "scale_option"
    __table_args__ = (
        UniqueConstraint("campaign_id", "code"),
        CheckConstraint("points IS NULL OR (points >= 0 AND points <= 100)", name="points"),
        *code_checks(32),
        CheckConstraint("length(label) <= 100", name="label_length"),
        CheckConstraint("label_en IS NULL OR length(label_en) <= 100", name="label_en_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(100))
    #: The label shown to an evaluator who switched to English (null: the Chinese one).
    label_en: Mapped[str | None] = mapped_column(String(100))
    #: Null marks a non-scored option (不了解, 弃权): it never enters a denominator.
    points: Mapped[float | None] = mapped_column(Float)
    campaign: Mapped[Campaign] = relationship(back_populates="scale")


class Item(Model):
    """A question (评议指标) asked about each unit."""

    __tablename__ = "item"
    __table_args__ = (
        UniqueConstraint("campaign_id", "code"),
        CheckConstraint("weight > 0", name="weight"),
        *code_checks(),
        CheckConstraint("length(label) <= 200", name="label_length"),
        CheckConstraint("weight <= 1000", name="weight_max"),
        CheckConstraint("label_en IS NULL OR length(label_en) <= 200", name="label_en_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    #: The label shown to an evaluator who switched to English (null: the Chinese one).
    label_en: Mapped[str | None] = mapped_column(String(200))
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    #: What the item asks about, shown under its label on the form (null: nothing; at most 500 characters).
    help: Mapped[str | None] = mapped_column(Text)
    #: The help text shown to an evaluator who switched to English (null: the Chinese one).
    help_en: Mapped[str | None] = mapped_column(Text)
    campaign: Mapped[Campaign] = relationship(back_populates="items")


class CampaignCategory(Model):
    __tablename__ = "campaign_category"
    __table_args__ = (
        UniqueConstraint("campaign_id", "category_id"),
        CheckConstraint("length(label) <= 200", name="label_length"),
        CheckConstraint("label_en IS NULL OR length(label_en) <= 200", name="label_en_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"))
    position: Mapped[int] = mapped_column(Integer)
    #: The label the category had in this campaign.
    label: Mapped[str] = mapped_column(String(200))
    #: Its English label on the ballot (null: the Chinese one).
    label_en: Mapped[str | None] = mapped_column(String(200))
    campaign: Mapped[Campaign] = relationship(back_populates="categories")
    category: Mapped[Category] = relationship()

    @property
    def code(self) -> str:
        return self.category.code


class CampaignUnit(Model):
    """A unit taking part in a campaign, in one of the campaign's categories."""

    __tablename__ = "campaign_unit"
    __table_args__ = (
        UniqueConstraint("campaign_id", "unit_id"),
        CheckConstraint("length(name) <= 200", name="name_length"),
        CheckConstraint("name_en IS NULL OR length(name_en) <= 200", name="name_en_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    campaign_category_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_category.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    #: The name the unit had in this campaign.
    name: Mapped[str] = mapped_column(String(200))
    #: Its English name on the ballot (null: the Chinese one).
    name_en: Mapped[str | None] = mapped_column(String(200))
    campaign: Mapped[Campaign] = relationship(back_populates="units")
    unit: Mapped[Unit] = relationship()
    category: Mapped[CampaignCategory] = relationship()

    @property
    def code(self) -> str:
        return self.unit.code


class CampaignGroup(Model):
    """An evaluator group in a campaign, with its weight and quota."""

    __tablename__ = "campaign_group"
    __table_args__ = (
        UniqueConstraint("campaign_id", "group_id"),
        CheckConstraint("weight > 0", name="weight"),
        CheckConstraint("quota IS NULL OR quota >= 0", name="quota"),
        CheckConstraint("length(label) <= 200", name="label_length"),
        CheckConstraint("weight <= 1000", name="weight_max"),
        CheckConstraint("quota IS NULL OR quota <= 10000000", name="quota_max"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("evaluator_group.id"))
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(200))
    #: 权重: need not sum to 1 over groups; normalised where used.
    weight: Mapped[float] = mapped_column(Float)
    #: How many forms the office plans to hand to this group (名额).
    quota: Mapped[int | None] = mapped_column(Integer)
    campaign: Mapped[Campaign] = relationship(back_populates="groups")
    group: Mapped[EvaluatorGroup] = relationship()
    margins: Mapped[list[MarginTarget]] = relationship(
        back_populates="campaign_group",
        order_by="(MarginTarget.variable_position, MarginTarget.position)",
        cascade="all, delete-orphan",
    )
    margin_variables: Mapped[list[MarginVariable]] = relationship(
        back_populates="campaign_group", order_by="MarginVariable.position", cascade="all, delete-orphan",
    )

    @property
    def code(self) -> str:
        return self.group.code


class GroupUnit(Model):
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


class MarginVariable(Model):
    """A variable a group's weights are raked on (SCORING.md section 4): how the
    ballot gets its value and where the population proportions come from. Its
    categories and proportions are the group's MarginTarget rows of the same
    ``variable``, in the same order (``position`` = their ``variable_position``)."""

    __tablename__ = "margin_variable"
    __table_args__ = (
        UniqueConstraint("campaign_group_id", "variable"),
        CheckConstraint("supply IN ('question', 'roster')", name="supply"),
        CheckConstraint("length(variable) BETWEEN 1 AND 64", name="variable_length"),
        CheckConstraint("length(label) <= 200", name="label_length"),
        CheckConstraint("label_en IS NULL OR length(label_en) <= 200", name="label_en_length"),
        CheckConstraint("source IS NULL OR length(source) <= 200", name="source_length"),
        CheckConstraint("fallback IS NULL OR length(fallback) <= 200", name="fallback_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_group_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_group.id", ondelete="CASCADE"), index=True)
    #: Raking runs through the variables in this order.
    position: Mapped[int] = mapped_column(Integer)
    #: The attribute's name on ballots (and, for a roster variable, the roster's column heading).
    variable: Mapped[str] = mapped_column(String(64))
    #: The question the form asks (for a roster variable: how pages name it).
    label: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str | None] = mapped_column(String(200))
    #: Where the proportions come from (统计年鉴 2025, 第七次人口普查 …).
    source: Mapped[str | None] = mapped_column(String(200))
    #: The category a roster value held back by the k rule (or not among the
    #: categories) falls into, e.g. 其他; null: such an evaluator's ballot
    #: carries no value for the variable.
    fallback: Mapped[str | None] = mapped_column(String(200))
    #: "question" (asked on every form of the group, required) or "roster".
    supply: Mapped[str] = mapped_column(String(16), default="question")
    campaign_group: Mapped[CampaignGroup] = relationship(back_populates="margin_variables")

    @property
    def asked(self) -> bool:
        return self.supply == "question"


class MarginTarget(Model):
    """One population proportion a group's weights are raked to."""

    __tablename__ = "margin_target"
    __table_args__ = (
        UniqueConstraint("campaign_group_id", "variable", "category"),
        CheckConstraint("proportion >= 0", name="proportion"),
        CheckConstraint("length(variable) <= 64", name="variable_length"),
        CheckConstraint("length(category) <= 200", name="category_length"),
        CheckConstraint("proportion <= 1", name="proportion_max"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_group_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_group.id", ondelete="CASCADE")
    )
    #: Order of the raked variables (raking runs in this order).
    variable_position: Mapped[int] = mapped_column(Integer)
    variable: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(200))
    proportion: Mapped[float] = mapped_column(Float)
    campaign_group: Mapped[CampaignGroup] = relationship(back_populates="margins")


class ObjectiveScore(Model):
    """A score from an assessment (工作考核 …), not from ballots."""

    __tablename__ = "objective_score"
    __table_args__ = (
        UniqueConstraint("campaign_unit_id", "component"),
        CheckConstraint("score >= 0 AND score <= 100", name="score"),
        CheckConstraint("length(component) <= 64", name="component_length"),
        CheckConstraint("full_marks IS NULL OR full_marks > 0", name="full_marks"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_unit_id: Mapped[int] = mapped_column(ForeignKey("campaign_unit.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    component: Mapped[str] = mapped_column(String(64))
    #: What the analysis uses: 100 × raw / full_marks, clipped to [0, 100].
    score: Mapped[float] = mapped_column(Float)
    #: The score as the assessing department gave it, on its own scale (null: on 0–100, as ``score``).
    raw: Mapped[float | None] = mapped_column(Float)
    full_marks: Mapped[float | None] = mapped_column(Float)
    #: What the score rests on (考核文件, 记录), shown beside it.
    evidence: Mapped[str | None] = mapped_column(Text)
    #: The day of the assessment, within the campaign's assessment period where it has one.
    assessed_on: Mapped[dt.date | None] = mapped_column(Date)
    campaign_unit: Mapped[CampaignUnit] = relationship()


class Veto(Model):
    """一票否决: a serious event that makes a unit 不满意."""

    __tablename__ = "veto"
    __table_args__ = (
        CheckConstraint("length(reason) <= 2000", name="reason_length"),
        CheckConstraint("evidence IS NULL OR length(evidence) <= 2000", name="evidence_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_unit_id: Mapped[int] = mapped_column(ForeignKey("campaign_unit.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    #: Where the evidence is (document number, file reference).
    evidence: Mapped[str | None] = mapped_column(Text)
    campaign_unit: Mapped[CampaignUnit] = relationship()
