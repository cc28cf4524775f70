"""Drafts: the answers an evaluator has given so far, kept until the ballot
is taken, sealed under the evaluator's own secret (a personal link's token,
an open-channel form's random key in the browser's session).

The row holds an HMAC of that secret (to find it) and the AES-GCM sealed
answers, comments and start time: the database, its -wal and -shm files
and any copy of them hold no draft text, and no draft row names an
invitation (docs/anonymity.md)."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, cast

from cryptography.exceptions import InvalidTag
from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult

from survey.ballots import sealing
from survey.ballots.questionnaire import AnswerMap
from survey.clock import utcnow
from survey.database import one_writer
from survey.extensions import db
from survey.models import BallotClaim, BallotDraft, Batch, Invitation


@dataclass(frozen=True)
class Draft:
    """A draft, opened."""

    answers: AnswerMap = field(default_factory=dict)
    comments: dict[int, str] = field(default_factory=dict)
    #: When filling began (UTC), the start of the ballot's duration_s.
    started_at: dt.datetime | None = None
    #: The margin questions answered so far (question id -> option id).
    margins: dict[int, int] = field(default_factory=dict)


def draft_owner(*, token: str | None = None, key: str | None = None) -> bytes:
    """The draft's lookup key: HMAC(app key, the evaluator's secret)."""
    if token:
        return sealing.keyed_hash("draft link", token)
    if key:
        return sealing.keyed_hash("draft open", key)
    raise ValueError("a draft belongs to a token or an open-channel key")


def draft_key_hash(key: str) -> bytes:
    """An open-channel form's draft owner (kept for submission.submit_open)."""
    return draft_owner(key=key)


def _content_key(campaign_id: int, secret: str) -> bytes:
    return sealing.derive_key(secret, salt=f"pingyi draft campaign {campaign_id}".encode(), purpose="draft")


def _seal(campaign_id: int, owner: bytes, secret: str, draft: Draft) -> bytes:
    content = {
        "answers": {f"{u}_{i}": o for u, by_item in draft.answers.items() for i, o in by_item.items()},
        "comments": {str(u): t for u, t in draft.comments.items() if t.strip()},
        "started_at": draft.started_at.isoformat() if draft.started_at else None,
        "margins": {str(q): o for q, o in draft.margins.items()},
    }
    return sealing.seal(_content_key(campaign_id, secret), json.dumps(content).encode("utf-8"), owner)


def _open(campaign_id: int, owner: bytes, secret: str, sealed: bytes) -> Draft | None:
    try:
        content: dict[str, Any] = json.loads(sealing.unseal(_content_key(campaign_id, secret), sealed, owner))
    except (InvalidTag, ValueError):
        return None  # sealed under another key (SECRET_KEY changed): as good as none
    answers: AnswerMap = {}
    for k, option_id in content.get("answers", {}).items():
        unit_id, item_id = (int(x) for x in k.split("_"))
        answers.setdefault(unit_id, {})[item_id] = int(option_id)
    comments = {int(k): str(t) for k, t in content.get("comments", {}).items()}
    started = content.get("started_at")
    margins = {int(q): int(o) for q, o in (content.get("margins") or {}).items()}
    return Draft(answers, comments, dt.datetime.fromisoformat(started) if started else None, margins)


_SEALED = select(BallotDraft.sealed).where(BallotDraft.key_hash == bindparam("owner"))


def find_draft(campaign_id: int, *, token: str | None = None, key: str | None = None,
               connection: Connection | None = None) -> Draft | None:
    """The draft of this personal link (token) or open-channel form (key),
    opened (read on ``connection``, by default the session's)."""
    secret = token or key
    if not secret:
        return None
    owner = draft_owner(token=token, key=key)
    sealed = (connection or db.session.connection()).scalar(_SEALED, {"owner": owner})
    return None if sealed is None else _open(campaign_id, owner, secret, sealed)


def draft_answers(draft: Draft | None) -> tuple[AnswerMap, dict[int, str]]:
    if draft is None:
        return {}, {}
    return {u: dict(by) for u, by in draft.answers.items()}, dict(draft.comments)


def save_draft(batch: Batch, answers: AnswerMap, comments: dict[int, str], *,
               invitation: Invitation | None = None, key: str | None = None, token: str | None = None,
               started_at: dt.datetime | None = None, margins: dict[int, int] | None = None) -> bool:
    """Keep the answers given so far, sealed, and commit. False (nothing kept)
    where the invitation's ballot has been taken meanwhile."""
    from survey.ballots.submission import claim_hash

    invitation_id = invitation.id if invitation is not None else None
    if invitation_id is not None and not token:
        raise ValueError("a personal link's draft is sealed under its token")
    secret = token if invitation_id is not None else key
    assert secret is not None
    campaign_id = batch.campaign_id
    personal = {"token": secret} if invitation_id is not None else {"key": secret}
    owner = draft_owner(**personal)
    claim = claim_hash(invitation, token) if invitation is not None else None
    existing = find_draft(campaign_id, token=personal.get("token"), key=personal.get("key"))
    started = existing.started_at if existing is not None and existing.started_at else (started_at or utcnow())
    sealed = _seal(campaign_id, owner, secret, Draft(answers, comments, started, dict(margins or {})))
    db.session.commit()
    dialect = db.session.get_bind().dialect.name
    with one_writer():
        if invitation_id is not None and dialect != "sqlite":
            # PostgreSQL: the first statement locks the invitation's row, so a
            # draft can never be written after the ballot that deleted it: the
            # ballot's claim (one statement) takes the same row lock.
            still_open = cast("CursorResult[Any]", db.session.execute(
                update(Invitation).where(Invitation.id == invitation_id, Invitation.used.is_(False))
                .values(used=False).execution_options(synchronize_session=False)
            )).rowcount
            if still_open != 1:
                db.session.rollback()
                return False
        values = {"campaign_id": campaign_id, "key_hash": owner, "sealed": sealed}
        upsert = (sqlite.insert(BallotDraft) if dialect == "sqlite" else postgresql.insert(BallotDraft)).values(values)
        db.session.execute(upsert.on_conflict_do_update(index_elements=["key_hash"],
                                                        set_={"sealed": upsert.excluded.sealed}))
        if invitation_id is not None and dialect == "sqlite":
            # SQLite: the write above took the database's write lock, so this
            # read sees every ballot committed before; a ballot taken after
            # this commit deletes the draft. The invitation is only read: a
            # draft's commit never writes an invitation's page.
            taken = db.session.scalar(select(
                exists().where(BallotClaim.claim_hash == claim)
                | exists().where(Invitation.id == invitation_id, Invitation.used.is_(True))))
            if taken:
                db.session.rollback()
                return False
        db.session.commit()
    return True
