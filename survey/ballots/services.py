"""Taking a ballot: drafts while the evaluator fills the form, the campaign's
rules, exactly one ballot per token whatever the timing, receipts, and the
pseudonymisation of sources at finalization.

The invitation's ``used`` flag is claimed by one conditional UPDATE inside
the transaction that inserts the ballot. The database serialises concurrent
claims (PostgreSQL's row lock, SQLite's single writer), so of two concurrent
submissions exactly one sees its UPDATE change a row. The loser then looks
for a ballot carrying its receipt hash: the same form sent again (a retry, a
double click) finds it and gets the same receipt; anything else is refused.
The same transaction deletes the invitation's draft, so that once the ballot
exists no row ties it (or its answers) to the invitation.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import functools
import hashlib
import ipaddress
import json
import os
import random
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    Float,
    Integer,
    String,
    bindparam,
    cast,
    delete,
    event,
    insert,
    literal,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from survey.clock import utcnow
from survey.extensions import db
from survey.models import (
    Answer,
    Ballot,
    BallotDraft,
    Batch,
    Campaign,
    CampaignUnit,
    Comment,
    Evaluator,
    GroupUnit,
    Invitation,
    Item,
    ScaleOption,
)
from survey.models.lifecycle import CampaignState
from survey.tokens import hash_receipt, hash_token

#: answers[campaign_unit_id][item_id] = scale_option_id
AnswerMap = dict[int, dict[int, int]]


@event.listens_for(Engine, "connect")
def _sqlite_secure_delete(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite: overwrite deleted and updated content with zeros, so that a copy
    of the database file holds no trace of a draft once the ballot is taken."""
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA secure_delete=ON")


@contextmanager
def one_writer() -> Iterator[None]:
    """Hold an exclusive file lock beside an SQLite database file for the
    length of a write transaction (elsewhere: do nothing).

    SQLite admits one writer at a time anyway; its busy handler makes the
    others sleep and retry (1, 2, 5, 10… ms), which under a crowd of
    evaluators wastes more time than the writes take. Queued on a lock, the
    next writer starts the moment the last commits. Correctness never rests
    on it: writers that do not take it still wait for SQLite's own lock.
    """
    path = _writer_lock_path(db.engine.url)
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # One open file per holder: flock() excludes threads of one process too.
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@functools.lru_cache(maxsize=16)
def _writer_lock_path(url: URL) -> str | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database + ".writer-lock"


class AlreadySubmitted(Exception):
    """The token has been used for a different ballot."""


@dataclass(frozen=True)
class Submission:
    receipt: str
    #: False where this was a retry of a ballot already taken.
    created: bool


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a ballot, in words for the evaluator."""

    message: str
    #: The campaign unit it concerns (the page links to it); None for the ballot as a whole.
    unit_id: int | None = None


class BallotRefused(Exception):
    """The ballot breaks the campaign's rules; nothing was stored."""

    def __init__(self, problems: Sequence[Problem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)


# --- who may vote, and on what ---


def find_invitation(token: str) -> Invitation | None:
    """The invitation of a token, with what its form needs loaded in the same round."""
    return db.session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(token))
        .options(joinedload(Invitation.batch).joinedload(Batch.campaign), joinedload(Invitation.evaluator)))


def find_open_batch(campaign_code: str, batch_code: str) -> Batch | None:
    """The open-channel (QR poster, public) batch behind a public form address."""
    batch = db.session.scalar(
        select(Batch).join(Campaign).where(Campaign.code == campaign_code, Batch.code == batch_code))
    if batch is None or not batch.is_open_batch:
        return None
    return batch


def find_public_batch(public_code: str) -> Batch | None:
    """The open batch behind a QR poster's address /q/<public_code>."""
    batch = db.session.scalar(select(Batch).where(Batch.public_code == public_code))
    return batch if batch is not None and batch.is_open_batch else None


def units_for_batch(batch: Batch, own_unit_id: int | None = None) -> list[CampaignUnit]:
    """The units on a batch's form: those its group rates (all, where the
    campaign names none for the group), never the evaluator's own."""
    rated = set(db.session.scalars(
        select(GroupUnit.campaign_unit_id).where(GroupUnit.campaign_group_id == batch.campaign_group_id)))
    return [cu for cu in batch.campaign.units
            if cu.unit_id != own_unit_id and (not rated or cu.id in rated)]


def units_for(invitation: Invitation) -> list[CampaignUnit]:
    """The units this evaluator rates: their group's, but not their own."""
    own = invitation.evaluator.own_unit_id if invitation.evaluator else None
    return units_for_batch(invitation.batch, own)


# --- the submission's fast path: plain rows instead of ORM objects ---


@dataclass(frozen=True)
class UnitRow:
    """What the rules need of a campaign unit (duck-types CampaignUnit there)."""

    id: int
    unit_id: int
    name: str


@dataclass(frozen=True)
class ItemRow:
    id: int
    code: str
    label: str


@dataclass(frozen=True)
class OptionRow:
    id: int
    code: str
    label: str
    points: float | None
    position: int


@dataclass(frozen=True)
class Questionnaire:
    """A campaign's questionnaire as one group sees it, before the evaluator's
    own unit is taken out."""

    units: tuple[UnitRow, ...]
    items: tuple[ItemRow, ...]
    scale: tuple[OptionRow, ...]
    #: The units the group rates (all the campaign's when it names none).
    group_units: tuple[UnitRow, ...]
    #: Posted value -> scale option id.
    option_ids: dict[str, int]
    #: Answer field name (forms.answer_field) -> (campaign unit, item, unit) of the group's units.
    answer_fields: dict[str, tuple[int, int, int]]
    #: Comment field name (forms.comment_field) -> (campaign unit, unit).
    comment_fields: dict[str, tuple[int, int]]


@dataclass(frozen=True)
class LinkView:
    """A personal link with its batch and campaign, as one row; it stands in
    for Campaign (and Batch) in refusal_reason() and check_ballot()."""

    invitation_id: int
    used: bool
    batch_id: int
    campaign_id: int
    campaign_group_id: int
    name: str
    status: str
    opens_at: dt.datetime | None
    closes_at: dt.datetime | None
    batch_opens_at: dt.datetime | None
    batch_closes_at: dt.datetime | None
    anonymous: bool
    rules: dict[str, Any] | None
    max_dissatisfied_share_per_ballot: float | None
    comment_required_for_dissatisfied: bool | None
    own_unit_id: int | None
    attributes: dict[str, Any] | None
    questionnaire: Questionnaire

    @property
    def units(self) -> tuple[UnitRow, ...]:
        return self.questionnaire.units

    @property
    def items(self) -> tuple[ItemRow, ...]:
        return self.questionnaire.items

    @property
    def scale(self) -> tuple[OptionRow, ...]:
        return self.questionnaire.scale

    @property
    def batch(self) -> Any:
        return _BatchTimes(self.batch_opens_at, self.batch_closes_at)

    def units_on_form(self) -> list[UnitRow]:
        """units_for(): the group's units, never the evaluator's own."""
        return [u for u in self.questionnaire.group_units if u.unit_id != self.own_unit_id]


@dataclass(frozen=True)
class _BatchTimes:
    opens_at: dt.datetime | None
    closes_at: dt.datetime | None


def _link_statement():  # noqa: ANN202 (a SQLAlchemy Select)
    i, b, c = Invitation.__table__, Batch.__table__, Campaign.__table__
    e = Evaluator.__table__
    return (
        select(i.c.id, i.c.used, i.c.batch_id, b.c.campaign_id, b.c.campaign_group_id, c.c.name,
               c.c.status, c.c.opens_at, c.c.closes_at, b.c.opens_at, b.c.closes_at, c.c.anonymous,
               c.c.rules, c.c.max_dissatisfied_share_per_ballot, c.c.comment_required_for_dissatisfied,
               e.c.own_unit_id, e.c.attributes)
        .select_from(i.join(b, b.c.id == i.c.batch_id).join(c, c.c.id == b.c.campaign_id)
                     .outerjoin(e, e.c.id == i.c.evaluator_id))
        .where(i.c.token_hash == bindparam("token_hash"))
    )


def _structure_statement():  # noqa: ANN202 (a SQLAlchemy CompoundSelect)
    cu, it, so, gu = (CampaignUnit.__table__, Item.__table__, ScaleOption.__table__,
                      GroupUnit.__table__)
    no_int, no_text, no_real = cast(null(), Integer), cast(null(), String), cast(null(), Float)
    campaign_id, group_id = bindparam("campaign_id"), bindparam("group_id")
    return union_all(
        select(literal("u"), cu.c.id, cu.c.unit_id, cu.c.name, no_text, no_real, cu.c.position)
        .where(cu.c.campaign_id == campaign_id),
        select(literal("i"), it.c.id, no_int, it.c.label, it.c.code, no_real, it.c.position)
        .where(it.c.campaign_id == campaign_id),
        select(literal("s"), so.c.id, no_int, so.c.label, so.c.code, so.c.points, so.c.position)
        .where(so.c.campaign_id == campaign_id),
        select(literal("g"), gu.c.campaign_unit_id, no_int, no_text, no_text, no_real, literal(0))
        .where(gu.c.campaign_group_id == group_id),
    )


_LINK = _link_statement()
_STRUCTURE = _structure_statement()
#: Questionnaires by (campaign, group): the rows they were built from and the
#: result. Bounded (cleared when full).
_QUESTIONNAIRES: dict[tuple[int, int], tuple[tuple[Any, ...], Questionnaire]] = {}


def find_link(connection: Connection, token: str) -> LinkView | None:
    """A personal link with everything its submission needs, in two queries
    (the link with its batch, campaign and evaluator; the questionnaire), as
    plain rows: Core, without the ORM's per-row and per-statement work."""
    row = connection.execute(_LINK, {"token_hash": hash_token(token)}).first()
    if row is None:
        return None
    return LinkView(*row, questionnaire=questionnaire(connection, row[3], row[4]))


def questionnaire(connection: Connection, campaign_id: int, group_id: int) -> Questionnaire:
    """The campaign's units, items, scale and the units a group rates.

    The rows are read on every call, so an edit of the campaign is seen by
    the next request; only what is built from them is kept per process,
    keyed by the rows themselves (any change of a label, a position, a unit
    or a rated unit makes a new one).
    """
    rows = tuple(tuple(r) for r in connection.execute(
        _STRUCTURE, {"campaign_id": campaign_id, "group_id": group_id}))
    key = (campaign_id, group_id)
    cached = _QUESTIONNAIRES.get(key)
    if cached is not None and cached[0] == rows:
        return cached[1]
    by_kind: dict[str, list[tuple[Any, ...]]] = {"u": [], "i": [], "s": [], "g": []}
    for row in sorted(rows, key=lambda r: (r[0], r[6], r[1])):
        by_kind[row[0]].append(row)
    units = tuple(UnitRow(r[1], r[2], r[3]) for r in by_kind["u"])
    rated = {r[1] for r in by_kind["g"]}
    scale = tuple(OptionRow(r[1], r[4], r[3], r[5], r[6]) for r in by_kind["s"])
    items = tuple(ItemRow(r[1], r[4], r[3]) for r in by_kind["i"])
    group_units = tuple(u for u in units if not rated or u.id in rated)
    built = Questionnaire(
        units=units, items=items, scale=scale, group_units=group_units,
        option_ids={str(o.id): o.id for o in scale},
        # The names of forms.answer_field() and comment_field() (not imported: forms imports this).
        answer_fields={f"a_{u.id}_{i.id}": (u.id, i.id, u.unit_id) for u in group_units for i in items},
        comment_fields={f"c_{u.id}": (u.id, u.unit_id) for u in group_units},
    )
    if len(_QUESTIONNAIRES) >= 256:
        _QUESTIONNAIRES.clear()
    _QUESTIONNAIRES[key] = (rows, built)
    return built


def refusal_reason(campaign: Campaign, batch: Batch, now: dt.datetime | None = None) -> str | None:
    """Why this batch's forms are not taken now: "not_open", "closed",
    "expired" (past the closing time), or None when they are."""
    now = now or utcnow()
    state = CampaignState(campaign)
    if state.is_draft:
        return "not_open"
    if not state.is_open:
        return "closed"
    opens = [t for t in (campaign.opens_at, batch.opens_at) if t is not None]
    if any(now < t for t in opens):
        return "not_open"
    closes = [t for t in (campaign.closes_at, batch.closes_at) if t is not None]
    if any(now >= t for t in closes):
        return "expired"
    return None


def dissatisfied_option(campaign: Campaign) -> ScaleOption | None:
    """不满意: the scale's lowest-scored option (None for a scale with fewer than
    two scored options, where no option is the bad end)."""
    scored = [o for o in campaign.scale if o.points is not None]
    if len(scored) < 2:
        return None
    return min(scored, key=lambda o: (o.points, o.position))


def overall_item(campaign: Campaign) -> Item:
    """The item the 不满意 cap counts: rules.overall_item, else the first."""
    code = (campaign.rules or {}).get("overall_item")
    return next((i for i in campaign.items if i.code == code), campaign.items[0])


def dissatisfied_cap(campaign: Campaign, n_units: int) -> int | None:
    share = campaign.max_dissatisfied_share_per_ballot
    if share is None:
        return None
    # A small tolerance so that 0.6 × 5 counts as 3, not 2.999….
    return int(share * n_units + 1e-9)


# --- the campaign's rules ---


def check_ballot(campaign: Campaign, units: Sequence[CampaignUnit], answers: AnswerMap,
                 comments: dict[int, str], *, complete: bool = True,
                 foreign_unit_ids: Iterable[int] = ()) -> list[Problem]:
    """Every reason the ballot may not be taken, in the order of the form.

    ``foreign_unit_ids`` are campaign units the request answered although they
    are not on this evaluator's form (their own unit).
    """
    problems: list[Problem] = []
    by_id = {cu.id: cu for cu in campaign.units}
    for unit_id in sorted(set(foreign_unit_ids)):
        unit = by_id.get(unit_id)
        if unit is not None:
            problems.append(Problem(_("您不能评议本单位“%(unit)s”：评议代表不对自己所在单位打分。",
                                      unit=unit.name), None))
    if complete:
        for unit in units:
            for item in campaign.items:
                if item.id not in answers.get(unit.id, {}):
                    problems.append(Problem(_("请为“%(unit)s”的“%(item)s”选择一项",
                                              unit=unit.name, item=_(item.label)), unit.id))
    worst = dissatisfied_option(campaign)
    if worst is not None:
        if campaign.comment_required_for_dissatisfied:
            for unit in units:
                if worst.id in answers.get(unit.id, {}).values() and not comments.get(unit.id, "").strip():
                    problems.append(Problem(_("您对“%(unit)s”选择了“%(option)s”，请在该单位的意见建议栏写明原因。",
                                              unit=unit.name, option=_(worst.label)), unit.id))
        cap = dissatisfied_cap(campaign, len(units))
        if cap is not None:
            overall = overall_item(campaign)
            marked = [u for u in units if answers.get(u.id, {}).get(overall.id) == worst.id]
            if len(marked) > cap:
                problems.append(Problem(_(
                    "您对 %(n)d 个单位的“%(item)s”选择了“%(option)s”，本次评议每票最多 %(cap)d 个（不超过参评单位的 %(pct)s%%）。请修改后再提交。",  # noqa: E501 (one literal for the catalogue)
                    n=len(marked), item=_(overall.label), option=_(worst.label), cap=cap,
                    pct=f"{campaign.max_dissatisfied_share_per_ballot * 100:g}"), None))
    return problems


def count_answered(units: Sequence[CampaignUnit], items: Sequence[Item], answers: AnswerMap) -> int:
    """Units whose every item has an answer (what the progress indicator shows)."""
    return sum(1 for u in units if all(i.id in answers.get(u.id, {}) for i in items))


# --- drafts ---


def draft_key_hash(key: str) -> bytes:
    return hashlib.sha256(b"draft:" + key.encode("ascii")).digest()


def find_draft(*, invitation: Invitation | None = None, key: str | None = None) -> BallotDraft | None:
    if invitation is not None:
        return db.session.scalar(select(BallotDraft).where(BallotDraft.invitation_id == invitation.id))
    if key:
        return db.session.scalar(select(BallotDraft).where(BallotDraft.key_hash == draft_key_hash(key)))
    return None


def draft_answers(draft: BallotDraft | None) -> tuple[AnswerMap, dict[int, str]]:
    answers: AnswerMap = {}
    comments: dict[int, str] = {}
    if draft is None:
        return answers, comments
    for key, option_id in (draft.answers or {}).items():
        unit_id, item_id = (int(x) for x in key.split("_"))
        answers.setdefault(unit_id, {})[item_id] = int(option_id)
    for key, text in (draft.comments or {}).items():
        comments[int(key)] = text
    return answers, comments


def save_draft(batch: Batch, answers: AnswerMap, comments: dict[int, str], *,
               invitation: Invitation | None = None, key: str | None = None,
               started_at: dt.datetime | None = None) -> bool:
    """Keep the answers given so far, and commit. False (nothing kept) where
    the invitation's ballot has been taken meanwhile."""
    invitation_id = invitation.id if invitation is not None else None
    campaign_id, batch_id = batch.campaign_id, batch.id
    db.session.commit()
    with one_writer():
        if invitation_id is not None:
            # The first statement of the write transaction locks the invitation's
            # row (SQLite: the database), so a draft can never be written after
            # the ballot that deleted it: submit() takes the same lock.
            still_open = db.session.execute(
                update(Invitation).where(Invitation.id == invitation_id, Invitation.used.is_(False))
                .values(used=False).execution_options(synchronize_session=False)
            ).rowcount
            if still_open != 1:
                db.session.rollback()
                return False
            draft = db.session.scalar(select(BallotDraft).where(BallotDraft.invitation_id == invitation_id))
        else:
            assert key is not None
            draft = db.session.scalar(select(BallotDraft).where(BallotDraft.key_hash == draft_key_hash(key)))
        if draft is None:
            draft = BallotDraft(campaign_id=campaign_id, batch_id=batch_id, invitation_id=invitation_id,
                                key_hash=None if key is None else draft_key_hash(key),
                                started_at=started_at or utcnow())
            db.session.add(draft)
        draft.answers = {f"{u}_{i}": o for u, by_item in answers.items() for i, o in by_item.items()}
        draft.comments = {str(u): t for u, t in comments.items() if t.strip()}
        db.session.commit()
    return True


# --- taking the ballot ---


def submit(invitation: Invitation, answers: AnswerMap, comments: dict[int, str], *,
           receipt: str, duration_s: float | None, source: str | None) -> Submission:
    """Record the ballot of this invitation and commit, or recognise a retry.

    Raises AlreadySubmitted where the token has been used for another ballot.
    """
    campaign: Campaign = invitation.batch.campaign
    attributes = None
    if not campaign.anonymous and invitation.evaluator is not None and invitation.evaluator.attributes:
        attributes = dict(invitation.evaluator.attributes)
    return submit_for(invitation.id, invitation.batch_id, campaign.id, answers, comments,
                      anonymous=campaign.anonymous, attributes=attributes, receipt=receipt,
                      duration_s=duration_s, source=source)


def submit_for(invitation_id: int, batch_id: int, campaign_id: int, answers: AnswerMap,
               comments: dict[int, str], *, anonymous: bool, attributes: dict[str, Any] | None,
               receipt: str, duration_s: float | None, source: str | None) -> Submission:
    """submit(), given the invitation's ids instead of its loaded rows."""
    receipt_hash = hash_receipt(receipt)
    # End any read transaction first, so that the claim below is the first
    # statement of a fresh write transaction (SQLite then waits for the lock
    # instead of failing on a stale snapshot).
    db.session.commit()
    with one_writer():
        if _claim_and_insert(db.session.connection(), invitation_id, batch_id, campaign_id, answers,
                             comments, anonymous=anonymous, attributes=attributes,
                             receipt_hash=receipt_hash, duration_s=duration_s, source=source):
            db.session.commit()
            return Submission(receipt=receipt, created=True)
        db.session.rollback()
    existing = db.session.scalar(
        select(Ballot).where(Ballot.campaign_id == campaign_id, Ballot.receipt_hash == receipt_hash)
    )
    if existing is not None and existing.batch_id == batch_id and _same(existing, answers, comments):
        return Submission(receipt=receipt, created=False)
    raise AlreadySubmitted()


def take_ballot(connection: Connection, link: LinkView, answers: AnswerMap, comments: dict[int, str], *,
                receipt: str, duration_s: float | None, source: str | None) -> bool:
    """submit() for the fast path of routes.py, on the connection that read
    the link (Core only: the session's commit costs more than the writes).
    Commits and returns True, or writes nothing and returns False where the
    claim failed (the token was used meanwhile); the caller then takes the
    full path, which tells a retry from a second ballot."""
    # As in submit_for(): on SQLite the claim starts a fresh write transaction.
    # PostgreSQL needs no fresh one (under READ COMMITTED the claim sees the
    # latest committed row and locks it), and a commit there is a round trip.
    if connection.dialect.name == "sqlite":
        connection.commit()
    with one_writer():
        if _claim_and_insert(connection, link.invitation_id, link.batch_id, link.campaign_id, answers,
                             comments, anonymous=link.anonymous,
                             attributes=dict(link.attributes) if link.attributes else None,
                             receipt_hash=hash_receipt(receipt), duration_s=duration_s, source=source):
            connection.commit()
            return True
        connection.rollback()
    return False


def _claim_and_insert(connection: Connection, invitation_id: int, batch_id: int, campaign_id: int,
                      answers: AnswerMap, comments: dict[int, str], *, anonymous: bool,
                      attributes: dict[str, Any] | None, receipt_hash: bytes, duration_s: float | None,
                      source: str | None) -> bool:
    """In the caller's write transaction: claim the invitation (one conditional
    UPDATE: of concurrent claims, the database lets exactly one change the
    row), delete its draft and insert the ballot. False where the claim
    failed; the caller rolls back."""
    if connection.dialect.name == "postgresql":
        return _claim_and_insert_pg(connection, invitation_id, batch_id, campaign_id, answers, comments,
                                    anonymous=anonymous, attributes=attributes, receipt_hash=receipt_hash,
                                    duration_s=duration_s, source=source)
    if connection.execute(_CLAIM, {"invitation_id": invitation_id}).rowcount != 1:
        return False
    connection.execute(_DELETE_INVITATION_DRAFT, {"invitation_id": invitation_id})
    _insert_ballot(connection, campaign_id, batch_id, answers, comments, receipt_hash=receipt_hash,
                   duration_s=duration_s, source=source, attributes=None if anonymous else attributes,
                   invitation_id=None if anonymous else invitation_id)
    return True


#: _claim_and_insert as one PostgreSQL statement: data-modifying WITH queries
#: all run, in order of dependency, each exactly once; every insert reads the
#: claim, so where the claim changes no row nothing at all is written.
_CLAIM_AND_INSERT_PG = sql_text("""
WITH claim AS (
    UPDATE invitation SET used = true WHERE id = :invitation_id AND used = false RETURNING id
), dropped AS (
    DELETE FROM ballot_draft WHERE invitation_id IN (SELECT id FROM claim)
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


def _claim_and_insert_pg(connection: Connection, invitation_id: int, batch_id: int, campaign_id: int,
                         answers: AnswerMap, comments: dict[int, str], *, anonymous: bool,
                         attributes: dict[str, Any] | None, receipt_hash: bytes, duration_s: float | None,
                         source: str | None) -> bool:
    """``_claim_and_insert`` in one round trip to PostgreSQL (the same rows as
    ``_insert_ballot`` writes, in the same order)."""
    flat = [(u, i, o) for u, by_item in answers.items() for i, o in by_item.items()]
    texts = [(unit_id, text.strip()) for unit_id, text in comments.items() if text.strip()]
    attributes = None if anonymous else attributes
    return connection.execute(_CLAIM_AND_INSERT_PG, {
        "invitation_id": invitation_id, "campaign_id": campaign_id, "batch_id": batch_id,
        "public_id": secrets.token_hex(8), "submitted_at": utcnow(), "duration_s": duration_s, "source": source,
        "attributes": None if attributes is None else json.dumps(attributes, ensure_ascii=False),
        "receipt_hash": receipt_hash, "ballot_invitation_id": None if anonymous else invitation_id,
        "units": [u for u, _i, _o in flat], "items": [i for _u, i, _o in flat],
        "options": [o for _u, _i, o in flat], "positions": list(range(len(flat))),
        "comment_units": [u for u, _t in texts], "comment_texts": [t for _u, t in texts],
    }).scalar_one() == 1


def submit_open(batch: Batch, answers: AnswerMap, comments: dict[int, str], *, receipt: str,
                draft_key: str | None, duration_s: float | None, source: str | None) -> Submission:
    """Record a ballot of an open-channel form and commit. A form holds one
    random receipt, so the same form sent again finds its ballot by the
    receipt's hash (unique per campaign) instead of adding a second one."""
    receipt_hash = hash_receipt(receipt)
    campaign_id, batch_id = batch.campaign_id, batch.id
    db.session.commit()
    with one_writer():
        try:
            # Write first (no read before it in the transaction; see submit()):
            # the unique receipt hash refuses a second copy of the same form.
            _insert_ballot(db.session.connection(), campaign_id, batch_id, answers, comments,
                           receipt_hash=receipt_hash, duration_s=duration_s, source=source,
                           attributes=None, invitation_id=None)
            if draft_key:
                db.session.execute(delete(BallotDraft).where(BallotDraft.key_hash == draft_key_hash(draft_key)))
            db.session.commit()
            return Submission(receipt=receipt, created=True)
        except IntegrityError:
            db.session.rollback()
    existing = db.session.scalar(
        select(Ballot).where(Ballot.campaign_id == campaign_id, Ballot.receipt_hash == receipt_hash))
    if existing is not None and existing.batch_id == batch_id and _same(existing, answers, comments):
        return Submission(receipt=receipt, created=False)
    raise AlreadySubmitted()


#: The statements of the hottest path, built once: a statement made per call
#: costs more in SQLAlchemy's construction and cache-key work than SQLite
#: takes to run it.
_CLAIM = (update(Invitation.__table__)
          .where(Invitation.__table__.c.id == bindparam("invitation_id"),
                 Invitation.__table__.c.used.is_(False))
          .values(used=True))
_DELETE_INVITATION_DRAFT = delete(BallotDraft.__table__).where(
    BallotDraft.__table__.c.invitation_id == bindparam("invitation_id"))
_INSERT_BALLOT = insert(Ballot.__table__).returning(Ballot.__table__.c.id)
_INSERT_ANSWERS = insert(Answer.__table__)
_INSERT_COMMENTS = insert(Comment.__table__)


def _insert_ballot(connection: Connection, campaign_id: int, batch_id: int, answers: AnswerMap,
                   comments: dict[int, str], *,
                   receipt_hash: bytes, duration_s: float | None, source: str | None,
                   attributes: dict[str, Any] | None, invitation_id: int | None) -> int:
    """Insert the ballot, its answers and comments (Core statements: a ballot
    is written once and never edited, so the ORM's unit of work would only
    cost time on the hottest path); returns its id."""
    ballot_id = connection.execute(_INSERT_BALLOT, {
        "campaign_id": campaign_id, "batch_id": batch_id, "public_id": secrets.token_hex(8),
        "position": None, "submitted_at": utcnow(), "utc_offset_min": 480, "duration_s": duration_s,
        "source": source, "attributes": attributes, "receipt_hash": receipt_hash,
        "invitation_id": invitation_id,
    }).scalar_one()
    rows = [{"ballot_id": ballot_id, "campaign_unit_id": unit_id, "item_id": item_id,
             "option_id": option_id, "position": position}
            for position, (unit_id, item_id, option_id) in enumerate(
                (u, i, o) for u, by_item in answers.items() for i, o in by_item.items())]
    if rows:
        connection.execute(_INSERT_ANSWERS, rows)
    texts = [{"ballot_id": ballot_id, "campaign_unit_id": unit_id, "text": text.strip()}
             for unit_id, text in comments.items() if text.strip()]
    if texts:
        connection.execute(_INSERT_COMMENTS, texts)
    return ballot_id


def _same(ballot: Ballot, answers: AnswerMap, comments: dict[int, str]) -> bool:
    stored = {(a.campaign_unit_id, a.item_id): a.option_id for a in ballot.answers}
    sent = {(u, i): o for u, by_item in answers.items() for i, o in by_item.items()}
    stored_comments = {c.campaign_unit_id: c.text for c in ballot.comments}
    sent_comments = {u: t.strip() for u, t in comments.items() if t.strip()}
    return stored == sent and stored_comments == sent_comments


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
    return ReceiptCheck(row.name, (row.submitted_at + dt.timedelta(hours=8)).date())


# --- finalization ---


def pseudonymise(sources: Sequence[str | None], rng: random.Random) -> list[str | None]:
    """Replace submitting addresses by pseudonyms that keep what SCORING.md's
    flags use: equal sources stay equal, different ones stay different, and
    two IPv4 addresses share a pseudonymous /24 exactly when they shared a
    /24 (IPv6: a /64). Pseudonyms are addresses again (IPv4 in 10.0.0.0/8,
    IPv6 in fd00::/8), so the flags and results computed on them are those
    computed on the originals. A source that is not an IP address becomes
    an opaque label, never an address. None stays None.

    The assignment is drawn from ``rng`` and depends on nothing else: with a
    discarded random seed, the pseudonyms say nothing about the addresses.
    """
    v4_nets: dict[int, int] = {}
    v4_hosts: dict[int, dict[int, int]] = {}
    v6_nets: dict[int, int] = {}
    v6_hosts: dict[int, dict[int, int]] = {}
    others: dict[str, str] = {}
    used_v4_nets: set[int] = set()
    used_v6_nets: set[int] = set()
    used_labels: set[int] = set()

    def fresh(used: set[int], bits: int) -> int:
        while True:
            value = rng.getrandbits(bits)
            if value not in used:
                used.add(value)
                return value

    out: list[str | None] = []
    for source in sources:
        if source is None:
            out.append(None)
            continue
        try:
            address = ipaddress.ip_address(source.strip())
        except ValueError:
            if source not in others:
                others[source] = "anon-" + format(fresh(used_labels, 64), "016x")
            out.append(others[source])
            continue
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        value = int(address)
        if address.version == 4:
            net, host = value >> 8, value & 0xFF
            if net not in v4_nets:
                if len(used_v4_nets) >= 1 << 16:
                    raise ValueError("more than 65536 distinct /24 networks to pseudonymise")
                v4_nets[net] = fresh(used_v4_nets, 16)
                v4_hosts[net] = dict(zip(range(256), rng.sample(range(256), 256), strict=True))
            pseudo = (10 << 24) | (v4_nets[net] << 8) | v4_hosts[net][host]
            out.append(str(ipaddress.IPv4Address(pseudo)))
        else:
            net, host = value >> 64, value & ((1 << 64) - 1)
            if net not in v6_nets:
                v6_nets[net] = fresh(used_v6_nets, 56)
                v6_hosts[net] = {}
            hosts = v6_hosts[net]
            if host not in hosts:
                taken = set(hosts.values())
                hosts[host] = fresh(taken, 64)
            pseudo = (0xFD << 120) | (v6_nets[net] << 64) | hosts[host]
            out.append(str(ipaddress.IPv6Address(pseudo)))
    return out


def pseudonymise_sources(campaign: Campaign) -> int:
    """At finalization: replace every ballot's source by its pseudonym, delete
    the drafts nobody submitted, and rewrite the campaign's invitation rows.
    Returns the number of ballots rewritten. The caller (the committee's
    finalization) commits, so this happens with the rest of it or not at all.

    The pseudonyms come from a system random source that is not kept, so
    nobody can map them back, not even with this code. Rewriting every
    ballot and invitation row in one transaction also gives them all the
    same PostgreSQL transaction id (xmin), which until then tied each
    ballot to the invitation claimed in its transaction.
    """
    ballots = db.session.scalars(
        select(Ballot).where(Ballot.campaign_id == campaign.id).order_by(Ballot.id)).all()
    pseudonyms = pseudonymise([b.source for b in ballots], secrets.SystemRandom())
    for ballot, pseudonym in zip(ballots, pseudonyms, strict=True):
        ballot.source = pseudonym
    db.session.execute(delete(BallotDraft).where(BallotDraft.campaign_id == campaign.id))
    db.session.execute(
        update(Invitation).where(Invitation.campaign_id == campaign.id)
        .values(used=Invitation.used).execution_options(synchronize_session=False))
    # Touch every ballot row too, with a source or without, for the transaction id.
    db.session.execute(
        update(Ballot).where(Ballot.campaign_id == campaign.id)
        .values(position=Ballot.position).execution_options(synchronize_session=False))
    db.session.flush()
    return len(ballots)


# --- small helpers ---






def duration_since(started: float | None) -> float | None:
    if started is None:
        return None
    seconds = dt.datetime.now(dt.UTC).timestamp() - started
    return round(seconds, 1) if 0 <= seconds < 7 * 24 * 3600 else None
