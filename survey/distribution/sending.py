"""The job that sends a batch's messages (invitations and reminders) by
e-mail or SMS, at most once each.

Each message goes through three committed steps: claim (``delivery``
queued -> sending), send, record (-> sent, clear token erased, job progress
counted, one transaction). A worker that dies between claim and record
leaves the message in ``sending``; the next run marks it failed ("outcome
unknown") instead of sending it again, and an organizer may retry it.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import current_app, render_template
from flask_babel import gettext as _
from sqlalchemy import select, update

from survey import jobs, mail, sms
from survey.clock import utcnow
from survey.database import rowcount
from survey.distribution.services import deadline_text, link_for
from survey.extensions import db
from survey.models import Batch, Evaluator, Invitation, Job
from survey.tokens import hash_token

#: Invitations fetched per query while sending.
CHUNK = 200

#: Test hook: called after each message is handed to the server and before
#: it is recorded (a test makes it raise to simulate a crash there).
after_send_hook: Callable[[int], None] | None = None


class _Transport:
    """E-mail or SMS, behind one ``send(evaluator, subject, text) -> id``."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.mailer: mail.Mailer | None = None
        if channel == "email":
            self.settings = mail.settings_from(current_app.config)
            self.mailer = mail.Mailer(self.settings)
        else:
            self.gateway = sms.gateway_for(current_app._get_current_object())  # type: ignore[attr-defined]

    def send(self, evaluator: Evaluator, subject: str, text: str) -> str:
        if self.mailer is not None:
            message = mail.build_message(self.settings, evaluator.email or "", subject, text,
                                         to_name=evaluator.name)
            return self.mailer.send(message)
        return self.gateway.send(evaluator.phone or "", text)

    def close(self) -> None:
        if self.mailer is not None:
            self.mailer.close()


def compose(batch: Batch, evaluator: Evaluator, token: str, kind: str) -> tuple[str, str]:
    """Subject and text of one message."""
    campaign = batch.campaign
    context = {"name": evaluator.name, "campaign": campaign, "link": link_for(token),
               "deadline": deadline_text(batch), "reminder": kind == "reminder",
               "anonymous": campaign.anonymous}
    if batch.channel == "sms":
        return "", render_template("distribution/sms/message.txt", **context).strip()
    if kind == "reminder":
        subject = _("【催办】请参加%(campaign)s", campaign=campaign.name)
    else:
        subject = _("邀请您参加%(campaign)s", campaign=campaign.name)
    return subject, render_template("distribution/mail/message.txt", **context)


@jobs.handler("send_batch")
def send_batch(job: Job) -> None:
    job_id = job.id
    batch = db.session.get(Batch, job.params["batch_id"])
    if batch is None:
        raise RuntimeError(_("批次已被删除"))
    batch_id = batch.id
    # Messages a dead worker claimed: perhaps sent, perhaps not. Never twice.
    interrupted = rowcount(db.session.execute(
        update(Invitation).where(Invitation.batch_id == batch_id, Invitation.delivery == "sending")
        .values(delivery="failed",
                last_error=_("发送中断，无法确认是否已送达；为免重复未自动重发，可手动重试"))
        .execution_options(synchronize_session=False)))
    if interrupted:
        jobs.step(job_id, done=interrupted, errors=interrupted)
    db.session.commit()

    transport = _Transport(batch.channel)
    try:
        last_id = 0
        while True:
            ids = db.session.scalars(
                select(Invitation.id).where(Invitation.batch_id == batch_id, Invitation.delivery == "queued",
                                            Invitation.id > last_id)
                .order_by(Invitation.id).limit(CHUNK)).all()
            if not ids:
                break
            last_id = ids[-1]
            for invitation_id in ids:
                _send_one(job_id, batch, invitation_id, transport)
    finally:
        transport.close()


def _send_one(job_id: int, batch: Batch, invitation_id: int, transport: _Transport) -> None:
    claimed = rowcount(db.session.execute(
        update(Invitation).where(Invitation.id == invitation_id, Invitation.delivery == "queued")
        .values(delivery="sending", send_attempts=Invitation.send_attempts + 1)
        .execution_options(synchronize_session=False)))
    db.session.commit()
    if claimed != 1:
        return
    invitation = db.session.get(Invitation, invitation_id, populate_existing=True)
    assert invitation is not None
    token, kind = invitation.pending_token, invitation.pending_kind or "invite"
    from survey.ballots.submission import pending_invitations

    if invitation.used or token is None or invitation.evaluator is None \
            or invitation.id in pending_invitations(invitation.campaign_id):
        # Answered meanwhile (a reminder is moot), or nothing left to send.
        db.session.execute(update(Invitation).where(Invitation.id == invitation_id).values(
            delivery="sent", pending_token=None, pending_kind=None)
            .execution_options(synchronize_session=False))
        jobs.step(job_id)
        db.session.commit()
        return
    subject, text = compose(batch, invitation.evaluator, token, kind)
    try:
        message_id = transport.send(invitation.evaluator, subject, text)
    except Exception as exc:  # recorded on the invitation; the batch goes on
        db.session.rollback()
        db.session.execute(update(Invitation).where(Invitation.id == invitation_id).values(
            delivery="failed", last_error=f"{type(exc).__name__}: {exc}"[:1000])
            .execution_options(synchronize_session=False))
        jobs.step(job_id, errors=1)
        db.session.commit()
        return
    if after_send_hook is not None:
        after_send_hook(invitation_id)
    values: dict[str, object] = {"delivery": "sent", "pending_token": None, "pending_kind": None,
                                 "sent_at": utcnow(), "message_id": message_id[:255], "last_error": None}
    if kind == "reminder":
        values["token_hash"] = hash_token(token)
        values["reminders"] = Invitation.reminders + 1
    db.session.execute(update(Invitation).where(Invitation.id == invitation_id).values(**values)
                       .execution_options(synchronize_session=False))
    jobs.step(job_id)
    db.session.commit()
