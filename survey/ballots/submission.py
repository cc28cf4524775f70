"""Taking a ballot: exactly one ballot per personal link whatever the timing,
the one ballot writer (personal links, the open channel, paper entry, the
demo), and receipts.

PostgreSQL: the invitation's ``used`` flag is claimed by one conditional
UPDATE in the one statement that inserts the ballot (kill -9 safe: one
statement, one transaction). The database serialises concurrent claims (a
row lock), so of two concurrent submissions exactly one changes the row.
The same statement deletes the link's draft and a paper form's keyed
entries. The server's WAL and the rows' xmin show the pairing: see
docs/anonymity.md.

SQLite: the ballot's transaction never writes the invitation. It inserts a
``ballot_claim`` row whose unique key is an HMAC of the link's token (stored
nowhere) beside the ballot: of two concurrent submissions the second insert
fails (SQLite's single writer), and a crash loses both or neither. The claim
carries the invitation id sealed under the app's key; ``flush_used`` marks
the invitations used later, in one commit for at least
PINGYI_USED_FLUSH_SIZE claims at once, so that no commit in the -wal file
names both an invitation and its ballot, then truncates the -wal file.

Either way, the loser of a claim looks for a ballot carrying its receipt
hash: the same form sent again (a retry, a double click) finds it and gets
the same receipt; anything else is refused.
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from flask import current_app
from sqlalchemy import bindparam, delete, exists, insert, literal, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from survey.ballots import sealing
from survey.ballots.attributes import ballot_attributes
from survey.ballots.drafts import draft_key_hash, draft_owner
from survey.ballots.eligibility import LinkView
from survey.ballots.questionnaire import AnswerMap
from survey.clock import beijing_date, utcnow
from survey.database import checkpoint_wal, one_writer
from survey.extensions import db
from survey.models import (
    Answer,
    Ballot,
    BallotClaim,
    BallotDraft,
    Batch,
    Campaign,
    Comment,
    Invitation,
    PaperEntry,
)
from survey.models.base import table_of
from survey.tokens import hash_receipt


class AlreadySubmitted(Exception):
    """The token has been used for a different ballot."""


class ReceiptInUse(Exception):
    """The receipt is already another ballot's in the campaign; nothing was
    written (the link stays unused). The routes issue and sign every
    receipt, so this takes a forged signature or a bug: the evaluator gets
    the form again with a new receipt, never a 500."""


def _is_receipt_clash(error: IntegrityError) -> bool:
    """The unique (campaign, receipt hash) refused the ballot (SQLite names the
    column, PostgreSQL the constraint uq_ballot_campaign_id_receipt_hash)."""
    return "receipt_hash" in str(error.orig)


@dataclass(frozen=True)
class Submission:
    receipt: str
    #: False where this was a retry of a ballot already taken.
    created: bool


@dataclass(frozen=True)
class NewBallot:
    """The rows of one ballot, as write_ballot() inserts them."""

    campaign_id: int
    batch_id: int
    answers: AnswerMap
    comments: Mapping[int, str]
    receipt_hash: bytes
    duration_s: float | None
    source: str | None
    #: The raked variables' values (survey/ballots/attributes.py): the margin
    #: answers, and the evaluator's attributes (a named campaign) or what the
    #: batch's k rule released of them (an anonymous one).
    attributes: dict[str, Any] | None = None
    #: The invitation it is kept with (never for an anonymous campaign).
    invitation_id: int | None = None
    #: Now, unless given (the demo's past ballots).
    submitted_at: dt.datetime | None = None
    #: Random, unless given.
    public_id: str | None = None

    def answer_rows(self) -> list[tuple[int, int, int]]:
        """(campaign unit, item, option) in the order of their positions."""
        return [(u, i, o) for u, by_item in self.answers.items() for i, o in by_item.items()]

    def comment_rows(self) -> list[tuple[int, str]]:
        return [(unit_id, text.strip()) for unit_id, text in self.comments.items() if text.strip()]


def invitation_ballot(invitation_id: int, batch_id: int, campaign_id: int, answers: AnswerMap,
                      comments: Mapping[int, str], *, anonymous: bool, attributes: dict[str, Any] | None,
                      released: dict[str, Any] | None, answered: Mapping[str, str] | None,
                      receipt: str, duration_s: float | None, source: str | None) -> NewBallot:
    """A personal link's ballot: kept with its invitation and the evaluator's
    attributes unless the campaign is anonymous, where it carries only what
    its batch's k rule released (``released``); the margin answers (``answered``) either way."""
    return NewBallot(campaign_id, batch_id, answers, comments, hash_receipt(receipt), duration_s, source,
                     attributes=ballot_attributes(anonymous=anonymous, evaluator=attributes, released=released,
                                                  answered=answered),
                     invitation_id=None if anonymous else invitation_id)


# --- the one writer ---

#: The statements of the hottest path, built once: a statement made per call
#: costs more in SQLAlchemy's construction and cache-key work than SQLite
#: takes to run it.
_DELETE_DRAFT = delete(table_of(BallotDraft)).where(BallotDraft.__table__.c.key_hash == bindparam("draft_owner"))
#: SQLite's claim: inserts nothing where the invitation is already marked
#: used (before migration 0013, or by the demo), fails on the unique key
#: where the claim exists.
_INSERT_CLAIM = insert(table_of(BallotClaim)).from_select(
    ["claim_hash", "campaign_id", "pending"],
    select(bindparam("claim_hash"), bindparam("campaign_id"), bindparam("pending"))
    .where(~exists().where(Invitation.__table__.c.id == bindparam("invitation_id"),
                           Invitation.__table__.c.used.is_(True))))
_DELETE_PAPER_ENTRIES = delete(table_of(PaperEntry)).where(
    PaperEntry.__table__.c.invitation_id == bindparam("invitation_id"))
_INSERT_BALLOT = insert(table_of(Ballot)).returning(Ballot.__table__.c.id)
_INSERT_ANSWERS = insert(table_of(Answer))
_INSERT_COMMENTS = insert(table_of(Comment))


def write_ballot(connection: Connection, ballot: NewBallot) -> int:
    """Insert the ballot, its answers and comments in the caller's transaction
    (Core statements: a ballot is written once and never edited, so the
    ORM's unit of work would only cost time on the hottest path); returns its id."""
    ballot_id = connection.execute(_INSERT_BALLOT, {
        "campaign_id": ballot.campaign_id, "batch_id": ballot.batch_id,
        "public_id": ballot.public_id or secrets.token_hex(8), "position": None,
        "submitted_at": ballot.submitted_at or utcnow(), "utc_offset_min": 480,
        "duration_s": ballot.duration_s, "source": ballot.source, "attributes": ballot.attributes,
        "receipt_hash": ballot.receipt_hash, "invitation_id": ballot.invitation_id,
    }).scalar_one()
    assert isinstance(ballot_id, int)
    answers = [{"ballot_id": ballot_id, "campaign_unit_id": u, "item_id": i, "option_id": o, "position": p}
               for p, (u, i, o) in enumerate(ballot.answer_rows())]
    if answers:
        connection.execute(_INSERT_ANSWERS, answers)
    comments = [{"ballot_id": ballot_id, "campaign_unit_id": u, "text": t} for u, t in ballot.comment_rows()]
    if comments:
        connection.execute(_INSERT_COMMENTS, comments)
    return ballot_id


#: _claim_and_write as one PostgreSQL statement (write_ballot's rows, in the
#: same order): data-modifying WITH queries all run, in order of dependency,
#: each exactly once; every insert reads the claim, so where the claim
#: changes no row nothing at all is written.
_CLAIM_AND_INSERT_PG = sql_text("""
WITH claim AS (
    UPDATE invitation SET used = true WHERE id = :invitation_id AND used = false RETURNING id
), dropped AS (
    DELETE FROM ballot_draft WHERE key_hash = :draft_owner AND EXISTS (SELECT 1 FROM claim)
), keyed AS (
    DELETE FROM paper_entry WHERE invitation_id IN (SELECT id FROM claim)
), new_ballot AS (
    INSERT INTO ballot (campaign_id, batch_id, public_id, position, submitted_at, utc_offset_min, duration_s,
                        source, attributes, receipt_hash, invitation_id)
    SELECT :campaign_id, :batch_id, :public_id, NULL, :submitted_at, 480, :duration_s, :source,
           CAST(:attributes AS JSON), :receipt_hash, :ballot_invitation_id FROM claim
    RETURNING id
), new_answers AS (
    INSERT INTO answer (ballot_id, campaign_unit_id, item_id, option_id, position)
    SELECT new_ballot.id, a.unit_id, a.item_id, a.option_id, a.position
    FROM new_ballot, unnest(CAST(:units AS INTEGER[]), CAST(:items AS INTEGER[]), CAST(:options AS INTEGER[]),
                            CAST(:positions AS INTEGER[])) AS a(unit_id, item_id, option_id, position)
), new_comments AS (
    INSERT INTO comment (ballot_id, campaign_unit_id, text)
    SELECT new_ballot.id, c.unit_id, c.text
    FROM new_ballot, unnest(CAST(:comment_units AS INTEGER[]), CAST(:comment_texts AS TEXT[])) AS c(unit_id, text)
)
SELECT count(*) FROM new_ballot
""")


@dataclass(frozen=True)
class Claim:
    """Who claims: the invitation, the claim's key, the draft to delete."""

    invitation_id: int
    claim_hash: bytes
    draft_owner: bytes | None
    paper: bool


def claim_hash(invitation: Invitation | LinkView, token: str | None) -> bytes:
    """The claim's key: HMAC(app key, token) for a personal link, which no
    copy of the files can compute (the token is stored nowhere). A paper
    form's ballot is keyed by a clerk who has no token: its claim is keyed
    by the invitation id, whether it comes through the clerks or the printed
    link, so that the two ways in share one claim."""
    if _is_paper(invitation):
        return sealing.keyed_hash("claim paper", str(_invitation_id(invitation)))
    if not token:
        raise ValueError("a personal link's claim is keyed by its token")
    return sealing.keyed_hash("claim link", token)


def _invitation_id(invitation: Invitation | LinkView) -> int:
    return invitation.invitation_id if isinstance(invitation, LinkView) else invitation.id


def _is_paper(invitation: Invitation | LinkView) -> bool:
    if isinstance(invitation, LinkView):
        return invitation.channel == "paper"
    return invitation.batch.channel == "paper"


def claim_of(invitation: Invitation | LinkView, token: str | None) -> Claim:
    paper = _is_paper(invitation)
    return Claim(_invitation_id(invitation), claim_hash(invitation, token),
                 None if paper or not token else draft_owner(token=token), paper)


def _pending_key() -> bytes:
    return sealing.app_sealing_key("pending used mark")


def _seal_pending(invitation_id: int) -> bytes:
    return sealing.seal(_pending_key(), str(invitation_id).encode("ascii"), b"pending")


def _claim_and_write(connection: Connection, claim: Claim, ballot: NewBallot) -> bool:
    """In the caller's write transaction: claim the invitation, delete its
    draft (and a paper form's keyed entries) and write the ballot. False
    where the claim failed; the caller rolls back.

    PostgreSQL: one statement, whose conditional UPDATE of the invitation is
    the claim. SQLite: the insert of the claim's row, which names no
    invitation; the invitation is marked later (flush_used)."""
    invitation_id = claim.invitation_id
    if connection.dialect.name == "postgresql":
        flat, texts = ballot.answer_rows(), ballot.comment_rows()
        attributes = ballot.attributes
        return bool(connection.execute(_CLAIM_AND_INSERT_PG, {
            "invitation_id": invitation_id, "draft_owner": claim.draft_owner,
            "campaign_id": ballot.campaign_id, "batch_id": ballot.batch_id,
            "public_id": ballot.public_id or secrets.token_hex(8), "submitted_at": ballot.submitted_at or utcnow(),
            "duration_s": ballot.duration_s, "source": ballot.source,
            "attributes": None if attributes is None else json.dumps(attributes, ensure_ascii=False),
            "receipt_hash": ballot.receipt_hash, "ballot_invitation_id": ballot.invitation_id,
            "units": [u for u, _i, _o in flat], "items": [i for _u, i, _o in flat],
            "options": [o for _u, _i, o in flat], "positions": list(range(len(flat))),
            "comment_units": [u for u, _t in texts], "comment_texts": [t for _u, t in texts],
        }).scalar_one() == 1)
    try:
        inserted = connection.execute(_INSERT_CLAIM, {
            "claim_hash": claim.claim_hash, "campaign_id": ballot.campaign_id,
            "pending": _seal_pending(invitation_id), "invitation_id": invitation_id}).rowcount
    except IntegrityError:
        return False  # claimed before
    if inserted != 1:
        return False  # marked used before claims existed
    if claim.paper:
        connection.execute(_DELETE_PAPER_ENTRIES, {"invitation_id": invitation_id})
    elif claim.draft_owner is not None:
        connection.execute(_DELETE_DRAFT, {"draft_owner": claim.draft_owner})
    write_ballot(connection, ballot)
    return True


def take(connection: Connection, invitation_id: int, ballot: NewBallot, *, claim: Claim | None = None) -> bool:
    """Claim the invitation and write its ballot on this connection (not the
    session's: Core only), and commit. False, with nothing written, where the
    claim failed (the token was used meanwhile); ReceiptInUse, with nothing
    written, where another ballot of the campaign has the receipt."""
    if claim is None or claim.invitation_id != invitation_id:
        raise ValueError("take() needs the invitation's claim (claim_of)")
    # On SQLite the claim must start a fresh write transaction (SQLite then
    # waits for the lock instead of failing on a stale snapshot). PostgreSQL
    # needs no fresh one (under READ COMMITTED the claim sees the latest
    # committed row and locks it), and a commit there is a round trip.
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.commit()
    with one_writer():
        try:
            taken = _claim_and_write(connection, claim, ballot)
        except IntegrityError as error:
            connection.rollback()  # the claim too: the link stays unused
            if _is_receipt_clash(error):
                raise ReceiptInUse() from None
            raise
        if taken:
            connection.commit()
        else:
            connection.rollback()
    if taken and sqlite:
        _count_claim(connection)
        if claim.paper:
            # The keyed entries named the form beside the same answers until
            # this commit: wipe the -wal file now rather than at the next flush.
            checkpoint_wal(connection)
    return taken


# --- marking invitations used (SQLite) ---

def flush_size() -> int:
    return max(1, int(current_app.config["PINGYI_USED_FLUSH_SIZE"]))


def _count_claim(connection: Connection) -> None:
    """After a claim's commit: every flush_size() claims of this process (this
    app), mark the pending invitations used if at least flush_size() are
    pending (other processes' claims count too)."""
    counter: list[int] = current_app.extensions.setdefault("pingyi.claims_since_check", [0])
    counter[0] += 1
    if counter[0] < flush_size():
        return
    if flush_used(connection, minimum=flush_size()):
        counter[0] = 0
    else:
        counter[0] = flush_size() - 1  # look again at the next claim


def flush_used(connection: Connection | None = None, *, minimum: int = 1,
               campaign_id: int | None = None) -> int:
    """Mark used, in one commit, the invitations of all pending claims (of one
    campaign, if given) where there are at least ``minimum``; then wipe the
    -wal file (checkpoint_wal) unless PINGYI_WAL_TRUNCATE is off. Returns how
    many were marked. On its own connection where none is given; never on
    PostgreSQL, where the claim marks the invitation."""
    if connection is None:
        with db.engine.connect() as own:
            return flush_used(own, minimum=minimum, campaign_id=campaign_id)
    if connection.dialect.name != "sqlite":
        return 0
    claims = table_of(BallotClaim)
    where: list[ColumnElement[bool]] = [claims.c.pending.is_not(None)]
    if campaign_id is not None:
        where.append(claims.c.campaign_id == campaign_id)
    connection.commit()
    with one_writer():
        # A write first: it takes SQLite's write lock, so the read below sees
        # every claim committed before and none can come between.
        connection.execute(update(claims).where(literal(False)).values(pending=None))
        rows = connection.execute(select(claims.c.claim_hash, claims.c.pending).where(*where)).all()
        if len(rows) < minimum or not rows:
            connection.rollback()
            return 0
        ids = _open_pending(row.pending for row in rows)
        connection.execute(update(table_of(Invitation)).where(table_of(Invitation).c.id.in_(ids))
                           .values(used=True))
        connection.execute(update(claims).where(claims.c.claim_hash.in_([row.claim_hash for row in rows]))
                           .values(pending=None))
        connection.commit()
    if current_app.config["PINGYI_WAL_TRUNCATE"]:
        checkpoint_wal(connection)
    return len(rows)


def _open_pending(sealed: Any) -> list[int]:
    key, ids = _pending_key(), []
    for value in sealed:
        try:
            ids.append(int(sealing.unseal(key, value, b"pending")))
        except InvalidTag:
            continue  # sealed under another SECRET_KEY: its link marks it when visited
    return ids


def pending_invitations(campaign_id: int | None = None) -> set[int]:
    """The invitations whose ballot is taken but not yet marked used (SQLite),
    read without writing: for whatever must treat them as used before the
    next flush (reminders: a new token for a voter would admit a second
    ballot)."""
    if db.session.get_bind().dialect.name != "sqlite":
        return set()
    query = select(BallotClaim.pending).where(BallotClaim.pending.is_not(None))
    if campaign_id is not None:
        query = query.where(BallotClaim.campaign_id == campaign_id)
    return set(_open_pending(db.session.scalars(query)))


def mark_pending_in_session(campaign_id: int) -> set[int]:
    """In the session's transaction (the committee's finalization, which
    rewrites every invitation row of the campaign anyway): the campaign's
    pending claims' invitations, their marks cleared. The caller marks them
    used in that same transaction."""
    if db.session.get_bind().dialect.name != "sqlite":
        return set()
    ids = pending_invitations(campaign_id)
    db.session.execute(update(BallotClaim).where(BallotClaim.campaign_id == campaign_id,
                                                 BallotClaim.pending.is_not(None))
                       .values(pending=None).execution_options(synchronize_session=False))
    return ids


_CLAIMED = select(exists().where(BallotClaim.claim_hash == bindparam("claim")))


def taken(invitation: Invitation | LinkView, token: str | None, connection: Connection | None = None) -> bool:
    """This invitation's ballot is taken: marked used, or claimed (SQLite);
    read on ``connection``, by default the session's."""
    if invitation.used:
        return True
    connection = connection or db.session.connection()
    if connection.dialect.name != "sqlite":
        return False
    return bool(connection.scalar(_CLAIMED, {"claim": claim_hash(invitation, token)}))


# --- the ways in ---


def take_link(connection: Connection, link: LinkView, answers: AnswerMap, comments: dict[int, str], *,
              receipt: str, duration_s: float | None, source: str | None,
              answered: Mapping[str, str] | None = None) -> bool:
    """The fast path's submission (routes._submit_fast), on the connection that
    read the link. True: taken and committed; False: nothing written, and the
    caller takes the full path, which tells a retry from a second ballot."""
    return take(connection, link.invitation_id, invitation_ballot(
        link.invitation_id, link.batch_id, link.campaign_id, answers, comments, anonymous=link.anonymous,
        attributes=link.attributes, released=link.released, answered=answered, receipt=receipt,
        duration_s=duration_s, source=source),
        claim=claim_of(link, link.token))


def submit(invitation: Invitation, answers: AnswerMap, comments: dict[int, str], *,
           receipt: str, duration_s: float | None, source: str | None, token: str | None = None,
           answered: Mapping[str, str] | None = None) -> Submission:
    """Record the ballot of this invitation (a personal link's full path, with
    its token; a paper form, without) and commit the session first, or
    recognise a retry.

    Raises AlreadySubmitted where the token has been used for another ballot.
    """
    campaign: Campaign = invitation.batch.campaign
    ballot = invitation_ballot(
        invitation.id, invitation.batch_id, campaign.id, answers, comments, anonymous=campaign.anonymous,
        attributes=invitation.evaluator.attributes if invitation.evaluator is not None else None,
        released=invitation.attributes, answered=answered, receipt=receipt, duration_s=duration_s, source=source)
    invitation_id = invitation.id
    claim = claim_of(invitation, token)
    db.session.commit()
    with db.engine.connect() as connection:
        if take(connection, invitation_id, ballot, claim=claim):
            return Submission(receipt=receipt, created=True)
    return _retry_or_refuse(ballot, receipt)


def submit_open(batch: Batch, answers: AnswerMap, comments: dict[int, str], *, receipt: str,
                draft_key: str | None, duration_s: float | None, source: str | None,
                answered: Mapping[str, str] | None = None) -> Submission:
    """Record a ballot of an open-channel form and commit. A form holds one
    random receipt, so the same form sent again finds its ballot by the
    receipt's hash (unique per campaign) instead of adding a second one."""
    ballot = NewBallot(batch.campaign_id, batch.id, answers, comments, hash_receipt(receipt), duration_s, source,
                       attributes=ballot_attributes(anonymous=True, evaluator=None, released=None,
                                                    answered=answered))
    db.session.commit()
    with one_writer():
        try:
            # Write first (no read before it in the transaction; see take()):
            # the unique receipt hash refuses a second copy of the same form.
            write_ballot(db.session.connection(), ballot)
            if draft_key:
                db.session.execute(delete(BallotDraft).where(BallotDraft.key_hash == draft_key_hash(draft_key)))
            db.session.commit()
            return Submission(receipt=receipt, created=True)
        except IntegrityError:
            db.session.rollback()
    return _retry_or_refuse(ballot, receipt)


def _retry_or_refuse(ballot: NewBallot, receipt: str) -> Submission:
    """The ballot was not taken: the same form sent again finds its ballot by
    the receipt's hash; anything else raises AlreadySubmitted."""
    existing = db.session.scalar(select(Ballot).where(
        Ballot.campaign_id == ballot.campaign_id, Ballot.receipt_hash == ballot.receipt_hash))
    if existing is not None and existing.batch_id == ballot.batch_id and _same(existing, ballot):
        return Submission(receipt=receipt, created=False)
    raise AlreadySubmitted()


def _same(stored: Ballot, sent: NewBallot) -> bool:
    answers = {(a.campaign_unit_id, a.item_id): a.option_id for a in stored.answers}
    comments = {c.campaign_unit_id: c.text for c in stored.comments}
    return (answers == {(u, i): o for u, i, o in sent.answer_rows()} and comments == dict(sent.comment_rows())
            and (stored.attributes or None) == (sent.attributes or None))


def duration_since(started: float | None) -> float | None:
    if started is None:
        return None
    seconds = dt.datetime.now(dt.UTC).timestamp() - started
    return round(seconds, 1) if 0 <= seconds < 7 * 24 * 3600 else None


# --- receipts ---


@dataclass(frozen=True)
class ReceiptCheck:
    """What a receipt code may tell: that a ballot was counted, and where."""

    campaign_name: str
    submitted_on: dt.date


def check_receipt(code: str) -> ReceiptCheck | None:
    """The ballot behind a receipt code, or None; never how it voted."""
    row = db.session.execute(
        select(Campaign.name, Ballot.submitted_at).join(Campaign, Ballot.campaign_id == Campaign.id)
        .where(Ballot.receipt_hash == hash_receipt(code))
        .order_by(Ballot.id).limit(1)
    ).first()
    if row is None:
        return None
    # The day in Beijing time: the hour would narrow the ballot down needlessly.
    return ReceiptCheck(row.name, beijing_date(row.submitted_at))
