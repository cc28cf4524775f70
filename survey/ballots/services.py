"""Taking a ballot: exactly one per token, whatever the timing.

The invitation's ``used`` flag is claimed by one conditional UPDATE inside
the transaction that inserts the ballot. The database serialises concurrent
claims (PostgreSQL's row lock, SQLite's single writer), so of two concurrent
submissions exactly one sees its UPDATE change a row. The loser then looks
for a ballot carrying its receipt hash: the same form sent again (a retry, a
double click) finds it and gets the same receipt; anything else is refused.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update

from survey.extensions import db
from survey.models import (
    Answer,
    Ballot,
    Campaign,
    CampaignUnit,
    Comment,
    Invitation,
    Item,
    ScaleOption,
)
from survey.models.campaign import utcnow
from survey.tokens import hash_receipt, hash_token

#: answers[campaign_unit_id][item_id] = scale_option_id
AnswerMap = dict[int, dict[int, int]]


class AlreadySubmitted(Exception):
    """The token has been used for a different ballot."""


@dataclass(frozen=True)
class Submission:
    receipt: str
    #: False where this was a retry of a ballot already taken.
    created: bool


def find_invitation(token: str) -> Invitation | None:
    return db.session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))


def units_for(invitation: Invitation) -> list[CampaignUnit]:
    """The units this evaluator rates: all of the campaign's but their own."""
    own = invitation.evaluator.own_unit_id if invitation.evaluator else None
    return [cu for cu in invitation.batch.campaign.units if cu.unit_id != own]


def submit(invitation: Invitation, answers: AnswerMap, comments: dict[int, str], *,
           receipt: str, duration_s: float | None, source: str | None) -> Submission:
    """Record the ballot of this invitation and commit, or recognise a retry.

    Raises AlreadySubmitted where the token has been used for another ballot.
    """
    campaign: Campaign = invitation.batch.campaign
    receipt_hash = hash_receipt(receipt)
    invitation_id, batch_id, campaign_id = invitation.id, invitation.batch_id, campaign.id
    anonymous = campaign.anonymous
    # End any read transaction first, so that the claim below is the first
    # statement of a fresh write transaction (SQLite then waits for the lock
    # instead of failing on a stale snapshot).
    db.session.commit()
    claimed = db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id, Invitation.used.is_(False))
        .values(used=True)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        existing = db.session.scalar(
            select(Ballot).where(Ballot.campaign_id == campaign_id, Ballot.receipt_hash == receipt_hash)
        )
        if existing is not None and existing.batch_id == batch_id and _same(existing, answers, comments):
            return Submission(receipt=receipt, created=False)
        raise AlreadySubmitted()

    now = utcnow()
    ballot = Ballot(
        campaign_id=campaign_id, batch_id=batch_id, public_id=secrets.token_hex(8),
        position=None, submitted_at=now, utc_offset_min=480, duration_s=duration_s,
        source=source, attributes=None, receipt_hash=receipt_hash,
        invitation_id=None if anonymous else invitation_id,
    )
    if not anonymous and invitation.evaluator is not None and invitation.evaluator.attributes:
        ballot.attributes = dict(invitation.evaluator.attributes)
    position = 0
    for unit_id, by_item in answers.items():
        for item_id, option_id in by_item.items():
            ballot.answers.append(Answer(campaign_unit_id=unit_id, item_id=item_id,
                                         option_id=option_id, position=position))
            position += 1
    for unit_id, text in comments.items():
        if text.strip():
            ballot.comments.append(Comment(campaign_unit_id=unit_id, text=text.strip()))
    db.session.add(ballot)
    db.session.commit()
    return Submission(receipt=receipt, created=True)


def _same(ballot: Ballot, answers: AnswerMap, comments: dict[int, str]) -> bool:
    stored = {(a.campaign_unit_id, a.item_id): a.option_id for a in ballot.answers}
    sent = {(u, i): o for u, by_item in answers.items() for i, o in by_item.items()}
    stored_comments = {c.campaign_unit_id: c.text for c in ballot.comments}
    sent_comments = {u: t.strip() for u, t in comments.items() if t.strip()}
    return stored == sent and stored_comments == sent_comments


def options_and_items(campaign: Campaign) -> tuple[list[ScaleOption], list[Item]]:
    return list(campaign.scale), list(campaign.items)


def returned_count(campaign_id: int) -> int:
    return db.session.scalar(
        select(db.func.count(Ballot.id)).where(Ballot.campaign_id == campaign_id)
    ) or 0


def duration_since(started: float | None) -> float | None:
    if started is None:
        return None
    seconds = dt.datetime.now(dt.UTC).timestamp() - started
    return round(seconds, 1) if 0 <= seconds < 7 * 24 * 3600 else None
