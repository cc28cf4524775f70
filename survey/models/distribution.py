"""Distribution: the roster of evaluators, the batches forms go out in, and
the invitations (personal links) that admit one ballot each."""
from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.clock import utcnow
from survey.models.base import Model, code_checks

if TYPE_CHECKING:
    from survey.models.campaign import Campaign, CampaignGroup, EvaluatorGroup, Unit

CHANNELS = ("online", "email", "sms", "paper", "qr", "public")
#: How each channel reads in the interface.
CHANNEL_LABELS = {"online": "在线", "email": "电子邮件", "sms": "短信", "paper": "纸质", "qr": "二维码海报",
                  "public": "公开渠道"}
#: Channels without a count of forms handed out (SCORING.md: open batches).
OPEN_CHANNELS = ("public", "qr")


def _default_public_code(context: Any) -> str | None:
    parameters = context.get_current_parameters()
    if parameters.get("issued") is not None or parameters.get("channel") not in OPEN_CHANNELS:
        return None  # (an open paper batch, newspaper coupons, has no public address either)
    return secrets.token_urlsafe(6)


class Batch(Model):
    """Forms handed out together, to one group, through one channel."""

    __tablename__ = "batch"
    __table_args__ = (
        UniqueConstraint("campaign_id", "code"),
        CheckConstraint(
            "channel IN ('online', 'email', 'sms', 'paper', 'qr', 'public')", name="channel"
        ),
        CheckConstraint("issued IS NULL OR issued >= 0", name="issued"),
        CheckConstraint("closes_at IS NULL OR opens_at IS NULL OR closes_at >= opens_at", name="period"),
        *code_checks(),
        CheckConstraint("issued IS NULL OR issued <= 10000000", name="issued_max"),
        CheckConstraint("opens_at IS NULL OR (opens_at >= '2000-01-01' AND opens_at < '2101-01-01')", name="opens_at_year"),
        CheckConstraint("closes_at IS NULL OR (closes_at >= '2000-01-01' AND closes_at < '2101-01-01')", name="closes_at_year"),
        CheckConstraint("ip_cap IS NULL OR (ip_cap >= 0 AND ip_cap <= 10000000)", name="ip_cap"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    campaign_group_id: Mapped[int] = mapped_column(ForeignKey("campaign_group.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    #: Forms handed out (发放); null for an open batch (public channel, QR poster).
    issued: Mapped[int | None] = mapped_column(Integer)
    opens_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closes_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: The code of an open batch's public address /q/<public_code> (QR poster);
    #: drawn when an open batch is inserted, null for batches with forms issued.
    public_code: Mapped[str | None] = mapped_column(String(32), unique=True,
                                                    default=_default_public_code)
    #: An open batch's cap of ballots from one address in 24 hours (0: none);
    #: null: the PINGYI_PUBLIC_IP_CAP setting's.
    ip_cap: Mapped[int | None] = mapped_column(Integer)
    #: What the k rule released of the roster attributes, decided when the
    #: batch was issued (survey/ballots/attributes.py ``Release.summary``):
    #: k, the batch's evaluators and per raked roster variable the values
    #: released and how many were held back; null where nothing was decided.
    attribute_release: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    campaign: Mapped[Campaign] = relationship(back_populates="batches")
    group: Mapped[CampaignGroup] = relationship()

    @property
    def is_open_batch(self) -> bool:
        return self.issued is None


class Evaluator(Model):
    """A person on the roster (评议代表)."""

    __tablename__ = "evaluator"
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("evaluator_group.id"))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    organisation: Mapped[str | None] = mapped_column(String(200))
    #: Raking and reporting attributes, e.g. {"district": "东区", "sector": "制造业"}.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The unit the evaluator works for, which they may not rate.
    own_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    #: The campaign whose roster import brought the person in (null: added otherwise);
    #: duplicates are checked within one campaign's roster.
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    group: Mapped[EvaluatorGroup] = relationship()
    own_unit: Mapped[Unit | None] = relationship()


class Invitation(Model):
    """One personal link (or paper form) admitting exactly one ballot.

    The token itself is never stored: only its SHA-256, so a copy of the
    database lets nobody vote. In an anonymous campaign the invitation records
    *that* it was used, never when, and no ballot column points back to it.
    """

    __tablename__ = "invitation"
    __table_args__ = (
        UniqueConstraint("campaign_id", "evaluator_id"),
        UniqueConstraint("campaign_id", "serial"),
        CheckConstraint(
            "delivery IS NULL OR delivery IN ('queued', 'sending', 'sent', 'failed', 'printed')",
            name="delivery",
        ),
        CheckConstraint("pending_kind IS NULL OR pending_kind IN ('invite', 'reminder')",
                        name="pending_kind"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"), index=True)
    #: Null for forms handed out rather than addressed (anonymous paper forms).
    evaluator_id: Mapped[int | None] = mapped_column(ForeignKey("evaluator.id"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    #: Printed serial number of a paper form.
    serial: Mapped[str | None] = mapped_column(String(32))
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: The clear token, kept only until it is delivered (e-mail or SMS sent,
    #: paper forms printed) and erased in the same step; null afterwards.
    pending_token: Mapped[str | None] = mapped_column(String(64))
    #: What the pending token is for: 'invite', or 'reminder' (a new token
    #: that replaces ``token_hash`` when the reminder is sent).
    pending_kind: Mapped[str | None] = mapped_column(String(16))
    #: Delivery through the system: null (handed out by hand), 'queued',
    #: 'sending' (claimed by a worker, outcome not yet recorded), 'sent',
    #: 'failed', or 'printed' (paper).
    delivery: Mapped[str | None] = mapped_column(String(16))
    send_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: The SMTP Message-ID or the SMS gateway's message id of the last send.
    message_id: Mapped[str | None] = mapped_column(String(255))
    reminders: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The roster attributes an anonymous campaign's ballot of this link
    #: carries: the raked roster variables' values after the batch's k rule
    #: (survey/ballots/attributes.py), decided when the batch was issued;
    #: null where none (a named campaign's ballot carries the evaluator's own).
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    batch: Mapped[Batch] = relationship()
    evaluator: Mapped[Evaluator | None] = relationship()


class PaperEntry(Model):
    """One clerk's keying of a returned paper form (双人录入: two per form).

    The ballot is created only when the two entries agree, or when an
    organizer has resolved their differences.
    """

    __tablename__ = "paper_entry"
    __table_args__ = (
        UniqueConstraint("invitation_id", "entry_no"),
        UniqueConstraint("invitation_id", "clerk_id"),
        CheckConstraint("entry_no IN (1, 2)", name="entry_no"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitation.id", ondelete="CASCADE"), index=True)
    #: First or second keying of the form.
    entry_no: Mapped[int] = mapped_column(Integer)
    clerk_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    #: {"<campaign_unit_id>": {"<item_id>": <scale_option_id> or null}}; null = left blank.
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The margin questions' answers: {"<margin_variable_id>": <margin_target_id> or null}.
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The form's comments, {"<campaign_unit_id>": text}: keyed once, on the
    #: second entry (docs/distribution.md), so null on the first.
    comments: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    invitation: Mapped[Invitation] = relationship()


#: The kinds and channels of a campaign's own message texts.
MESSAGE_KINDS = ("invite", "reminder")
MESSAGE_CHANNELS = ("email", "sms")


class MessageTemplate(Model):
    """A campaign's own wording of one kind of message on one channel (the
    invitation e-mail, the reminder SMS …), with fixed placeholders such as
    {姓名} and {链接} replaced as text when it is sent. Without a row the
    default wording is used."""

    __tablename__ = "message_template"
    __table_args__ = (
        UniqueConstraint("campaign_id", "kind", "channel"),
        CheckConstraint("kind IN ('invite', 'reminder')", name="kind"),
        CheckConstraint("channel IN ('email', 'sms')", name="channel"),
        CheckConstraint("subject IS NULL OR length(subject) <= 200", name="subject_length"),
        CheckConstraint("length(body) BETWEEN 1 AND 4000", name="body_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    #: The e-mail's subject (null for SMS).
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class ReminderSchedule(Model):
    """Reminders a batch sends by itself: from `days_before` days before its
    deadline, at most every `every_days` days, to those who have not answered.
    A ``remind_batch`` job queued for the next due time carries it out."""

    __tablename__ = "reminder_schedule"
    __table_args__ = (
        CheckConstraint("days_before > 0 AND days_before <= 365", name="days_before"),
        CheckConstraint("every_days > 0 AND every_days <= 365", name="every_days"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"), unique=True)
    days_before: Mapped[float] = mapped_column(Float)
    every_days: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    batch: Mapped[Batch] = relationship()


class ReplacedLink(Model):
    """A personal link replaced by a reminder's new one: its SHA-256 (as
    ``invitation.token_hash`` was), its batch (hence the channel) and the day
    (``clock.day_start``: the exact time would equal the invitation's ``sent_at``).
    Only whoever holds the old link can find the row (by its hash), and is
    told that a newer message replaced it; nothing else is kept."""

    __tablename__ = "replaced_link"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"), index=True)
    replaced_at: Mapped[dt.datetime] = mapped_column(DateTime)
    #: What replaced it: null for a reminder, 'resend' for an invitation the
    #: organizer sent again to one person (survey/distribution/services.py ``resend_invitation``).
    kind: Mapped[str | None] = mapped_column(String(16))
    batch: Mapped[Batch] = relationship()


class RosterUpload(Model):
    """A roster file refused for some of its rows, kept so that the organizer
    may import its valid rows (one transaction) and download the skipped ones
    (survey/roster/services.py). Deleted with its campaign and a day after it
    was uploaded; ``imported_at`` is set when its valid rows were imported."""

    __tablename__ = "roster_upload"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    #: The file's cells as read (row 1 the header), list of lists of text.
    table: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    imported_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
