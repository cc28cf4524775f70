"""Drafts: the answers an evaluator has given so far, kept until the ballot
is taken (a personal link's by its invitation, an open-channel form's by a
random key in the browser's session)."""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult

from survey.ballots.questionnaire import AnswerMap
from survey.clock import utcnow
from survey.database import one_writer
from survey.extensions import db
from survey.models import BallotDraft, Batch, Invitation


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
            # the ballot that deleted it: the ballot's claim takes the same lock.
            still_open = cast("CursorResult[Any]", db.session.execute(
                update(Invitation).where(Invitation.id == invitation_id, Invitation.used.is_(False))
                .values(used=False).execution_options(synchronize_session=False)
            )).rowcount
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
