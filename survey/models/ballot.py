"""Ballots, their answers and comments, the drafts evaluators keep while
filling the form, and the campaign's ballot rules."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.clock import utcnow
from survey.models.base import Model

if TYPE_CHECKING:
    from survey.models.campaign import CampaignUnit, Item, ScaleOption
    from survey.models.distribution import Batch


class Ballot(Model):
    """One returned form.

    It keeps its own time, duration and source for the data-quality checks
    of SCORING.md section 3. ``invitation_id`` is set only in campaigns that
    are not anonymous; in an anonymous one nothing on the ballot leads back to
    the invitation or the evaluator.
    """

    __tablename__ = "ballot"
    __table_args__ = (
        # The newest ballot of a batch (the results' fingerprint, every results request) from the
        # index alone: SQLite's index on batch_id holds the rowid anyway; PostgreSQL's needs the id.
        Index("ix_ballot_batch_id", "batch_id", "id"),
        UniqueConstraint("campaign_id", "public_id"),
        # One ballot per invitation (where the ballot may name it at all).
        UniqueConstraint("invitation_id"),
        UniqueConstraint("campaign_id", "receipt_hash"),
        CheckConstraint("duration_s IS NULL OR duration_s >= 0", name="duration"),
        CheckConstraint(
            "utc_offset_min IS NULL OR (utc_offset_min > -1440 AND utc_offset_min < 1440)",
            name="utc_offset",
        ),
        CheckConstraint("length(public_id) BETWEEN 1 AND 64", name="public_id_length"),
        CheckConstraint("source IS NULL OR length(source) <= 64", name="source_length"),
        CheckConstraint("submitted_at >= '2000-01-01' AND submitted_at < '2101-01-01'", name="submitted_at_year"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"))
    #: The ballot id of the bundle (SCORING.md: a string, ordered as a string).
    public_id: Mapped[str] = mapped_column(String(64))
    #: Bundle order, kept so an export gives the ballots back in their order;
    #: null for ballots submitted here, which follow in submission order.
    position: Mapped[int | None] = mapped_column(Integer)
    #: The instant, in UTC.
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime)
    #: The UTC offset it was stated in (minutes), null where none was given.
    utc_offset_min: Mapped[int | None] = mapped_column(Integer)
    duration_s: Mapped[float | None] = mapped_column(Float)
    #: The submitting IP address, kept only for the data-quality checks.
    source: Mapped[str | None] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: SHA-256 of the receipt code shown to the evaluator.
    receipt_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("invitation.id"))
    batch: Mapped[Batch] = relationship()
    answers: Mapped[list[Answer]] = relationship(
        back_populates="ballot", order_by="Answer.position", cascade="all, delete-orphan"
    )
    comments: Mapped[list[Comment]] = relationship(
        back_populates="ballot", cascade="all, delete-orphan"
    )


class Answer(Model):
    """The option a ballot gives one item of one unit."""

    __tablename__ = "answer"
    __table_args__ = (UniqueConstraint("ballot_id", "campaign_unit_id", "item_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballot.id", ondelete="CASCADE"), index=True)
    campaign_unit_id: Mapped[int] = mapped_column(ForeignKey("campaign_unit.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"))
    option_id: Mapped[int] = mapped_column(ForeignKey("scale_option.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    ballot: Mapped[Ballot] = relationship(back_populates="answers")
    campaign_unit: Mapped[CampaignUnit] = relationship()
    item: Mapped[Item] = relationship()
    option: Mapped[ScaleOption] = relationship()


class Comment(Model):
    """What an evaluator wrote about a unit; goes (anonymised) to the unit."""

    __tablename__ = "comment"
    __table_args__ = (
        UniqueConstraint("ballot_id", "campaign_unit_id"),
        CheckConstraint("length(text) <= 2000", name="text_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballot.id", ondelete="CASCADE"), index=True)
    campaign_unit_id: Mapped[int] = mapped_column(ForeignKey("campaign_unit.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    ballot: Mapped[Ballot] = relationship(back_populates="comments")
    campaign_unit: Mapped[CampaignUnit] = relationship()


class BallotDraft(Model):
    """The answers an evaluator has given so far, kept until the ballot is taken.

    Nothing in the row is readable without the evaluator's own secret: the
    answers, comments and the time filling began are sealed (AES-GCM) under
    a key derived from the personal link's token (open channel: the random
    key in the browser's session), which the server holds only while it
    answers a request. The row is found by ``key_hash``, an HMAC of that
    secret under the app's key; it never names the invitation, so deleting
    it in the ballot's transaction does not either (survey.ballots.drafts).
    """

    __tablename__ = "ballot_draft"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    #: HMAC(app key, "draft" | token or open-channel key).
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    #: nonce (12 bytes) | AES-GCM ciphertext of {"answers", "comments", "started_at"}.
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class BallotClaim(Model):
    """A personal link's (or paper form's) one ballot, on SQLite.

    Inserted in the transaction that inserts the ballot; its unique key
    makes the ballot exactly-once (a second insert fails), without touching
    the invitation in that transaction. ``claim_hash`` is an HMAC under the
    app's key of the link's token, which is stored nowhere (paper forms: of
    the invitation id), so a copy of the files cannot tell whose claim a row
    is. ``pending`` holds the invitation id sealed under the app's key until
    the invitation is marked used, in a later commit that marks several at
    once (survey.ballots.submission.flush_used). A table without rowid, so
    the rows' order is their keys' (random), not their insertion's.
    """

    __tablename__ = "ballot_claim"
    __table_args__ = {"sqlite_with_rowid": False}
    claim_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    #: nonce | AES-GCM(app key, invitation id) until flushed; null afterwards.
    pending: Mapped[bytes | None] = mapped_column(LargeBinary)


class TestBallot(Model):
    """A test ballot (测试票): one the organizer submitted through the preview of
    the real form before 开始评议. Kept apart from ``ballot``, so that no
    figure, bundle, export, return rate or API answer can count it; purged
    when the campaign opens (survey.campaigns.preview.purge_test_ballots)."""

    __tablename__ = "test_ballot"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    campaign_group_id: Mapped[int] = mapped_column(ForeignKey("campaign_group.id", ondelete="CASCADE"))
    #: {"answers": {unit id: {item id: option id}}, "comments": {unit id: text}, "margins": {question id: option id}}
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
