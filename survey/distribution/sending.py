"""The job that sends a batch's messages (invitations and reminders) by
e-mail or SMS, at most once each, and the job of a batch's reminder schedule.

Each message goes through three committed steps: claim (``delivery``
queued -> sending), send, record (-> sent, clear token erased, job progress
counted, one transaction). A worker that dies between claim and record
leaves the message in ``sending``; the next run marks it failed ("outcome
unknown") instead of sending it again, and an organizer may retry it.

Nothing is lost to a missing or unreachable server: without a configured
server or gateway the job fails before claiming anything, and a server that
cannot be reached (nothing handed over) puts the message back in the queue
and ends the job; in both cases every clear token is kept, and the batch
page says why, in the reader's language (reasons are stored as their
Chinese msgid, a newline and the server's own words, see `jobs.reason_text`).
"""
from __future__ import annotations

import datetime as dt
import smtplib
from collections.abc import Callable

from flask import current_app
from sqlalchemy import delete, select, update

from survey import audit, jobs, mail, sms
from survey.clock import day_start, utcnow
from survey.database import rowcount
from survey.distribution import messages
from survey.distribution.services import deadline_text, link_for
from survey.extensions import db
from survey.models import Batch, Evaluator, Invitation, Job, ReminderSchedule, ReplacedLink
from survey.tokens import hash_token

#: Invitations fetched per query while sending.
CHUNK = 200

#: Test hook: called after each message is handed to the server and before
#: it is recorded (a test makes it raise to simulate a crash there).
after_send_hook: Callable[[int], None] | None = None

# Reasons, stored as their msgid (Chinese) and translated when shown.
SMTP_UNCONFIGURED = "尚未配置邮件服务器（PINGYI_SMTP_HOST），未发送任何邮件；配置后点“发送待发消息”"
SMS_UNCONFIGURED = "尚未配置短信网关（PINGYI_SMS_URL 或 PINGYI_SMS_BACKEND），未发送任何短信；配置后点“发送待发消息”"
SMTP_UNREACHABLE = "无法连接邮件服务器，已停止发送；未发出的消息仍在待发送中，可稍后再点“发送待发消息”"
SMS_UNREACHABLE = "无法连接短信网关，已停止发送；未发出的消息仍在待发送中，可稍后再点“发送待发消息”"
REFUSED = "服务器拒收"
UNCERTAIN = "发送出错，无法确认是否已送达，可手动重试"
INTERRUPTED = "发送中断，无法确认是否已送达；为免重复未自动重发，可手动重试"
BATCH_GONE = "批次已被删除"


class _Transport:
    """E-mail or SMS, behind one ``send(evaluator, message) -> id``."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.mailer: mail.Mailer | None = None
        if channel == "email":
            self.settings = mail.settings_from(current_app.config)
            self.mailer = mail.Mailer(self.settings)
        else:
            self.gateway = sms.gateway_for(current_app._get_current_object())  # type: ignore[attr-defined]

    def send(self, evaluator: Evaluator, message: messages.Message) -> str:
        if self.mailer is not None:
            built = mail.build_message(self.settings, evaluator.email or "", message.subject, message.text,
                                       to_name=evaluator.name, html=message.html)
            return self.mailer.send(built)
        return self.gateway.send(evaluator.phone or "", message.text)

    def close(self) -> None:
        if self.mailer is not None:
            self.mailer.close()


def composer(batch: Batch) -> messages.Composer:
    """The batch's messages, in the campaign's own wording or the default."""
    return messages.composer(batch, deadline_text(batch))


def _open_transport(channel: str) -> _Transport:
    try:
        return _Transport(channel)
    except (mail.NotConfigured, sms.NotConfigured):
        raise jobs.JobFailure(SMTP_UNCONFIGURED if channel == "email" else SMS_UNCONFIGURED) from None


@jobs.handler("send_batch")
def send_batch(job: Job) -> None:
    job_id = job.id
    batch = db.session.get(Batch, job.params["batch_id"])
    if batch is None:
        raise jobs.JobFailure(BATCH_GONE)
    batch_id = batch.id
    # Messages a dead worker claimed: perhaps sent, perhaps not. Never twice.
    interrupted = rowcount(db.session.execute(
        update(Invitation).where(Invitation.batch_id == batch_id, Invitation.delivery == "sending")
        .values(delivery="failed", last_error=jobs.reason(INTERRUPTED))
        .execution_options(synchronize_session=False)))
    if interrupted:
        jobs.step(job_id, done=interrupted, errors=interrupted)
    db.session.commit()

    transport = _open_transport(batch.channel)
    compose = composer(batch)  # read once: every commit below would expire and reload them
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
                _send_one(job_id, batch_id, invitation_id, transport, compose)
    finally:
        transport.close()


def _send_one(job_id: int, batch_id: int, invitation_id: int, transport: _Transport,
              compose: messages.Composer) -> None:
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
    message = compose.compose(invitation.evaluator.name, link_for(token), kind)
    try:
        message_id = transport.send(invitation.evaluator, message)
    except (mail.Unreachable, sms.Unreachable) as exc:
        # Nothing was handed over: the message goes back to the queue, its token kept,
        # and the job stops (every other message would meet the same closed door).
        db.session.rollback()
        db.session.execute(update(Invitation).where(Invitation.id == invitation_id).values(
            delivery="queued", send_attempts=Invitation.send_attempts - 1)
            .execution_options(synchronize_session=False))
        db.session.commit()
        raise jobs.JobFailure(SMTP_UNREACHABLE if transport.channel == "email" else SMS_UNREACHABLE, exc) from None
    except Exception as exc:  # recorded on the invitation, its token kept; the batch goes on
        db.session.rollback()
        refused = isinstance(exc, (sms.Refused, smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused))
        db.session.execute(update(Invitation).where(Invitation.id == invitation_id).values(
            delivery="failed", last_error=jobs.reason(REFUSED if refused else UNCERTAIN, _detail(exc))[:1000])
            .execution_options(synchronize_session=False))
        jobs.step(job_id, errors=1)
        db.session.commit()
        return
    if after_send_hook is not None:
        after_send_hook(invitation_id)
    values: dict[str, object] = {"delivery": "sent", "pending_token": None, "pending_kind": None,
                                 "sent_at": utcnow(), "message_id": message_id[:255], "last_error": None}
    if kind == "reminder":
        # The old link is dead from now on; its holder will be told which message replaced it.
        db.session.add(ReplacedLink(token_hash=invitation.token_hash, batch_id=batch_id,
                                   replaced_at=day_start(utcnow())))
        values["token_hash"] = hash_token(token)
        values["reminders"] = Invitation.reminders + 1
    db.session.execute(update(Invitation).where(Invitation.id == invitation_id).values(**values)
                       .execution_options(synchronize_session=False))
    jobs.step(job_id)
    db.session.commit()


def _detail(exc: Exception) -> str:
    """The server's own words about a failed message."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
                         for code, text in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        said = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{exc.smtp_code} {said}"
    return str(exc) or type(exc).__name__


# --- reminders on a schedule ---------------------------------------------------


def next_reminder_at(schedule: ReminderSchedule, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the schedule next reminds (UTC), not before `now`, or None when it
    will not again: from `days_before` days before the deadline, at most every
    `every_days` days after the last reminder (by hand, cron or schedule),
    never at or after the deadline."""
    from survey.distribution.services import deadline_of, last_reminder_at, reminder_due

    batch = schedule.batch
    return reminder_due(deadline_of(batch), last_reminder_at(batch), schedule.days_before,
                        schedule.every_days, now or utcnow())


def _schedule_jobs(batch_id: int) -> list[Job]:
    return list(db.session.scalars(select(Job).where(
        Job.kind == "remind_batch", Job.params["batch_id"].as_integer() == batch_id, Job.state == "queued")))


def plan_next(schedule: ReminderSchedule, now: dt.datetime | None = None) -> Job | None:
    """Queue the job of the schedule's next reminder, replacing a queued one (the caller commits)."""
    batch_id = schedule.batch_id
    for job in _schedule_jobs(batch_id):
        db.session.delete(job)
    at = next_reminder_at(schedule, now)
    if at is None:
        return None
    return jobs.enqueue("remind_batch", {"batch_id": batch_id}, total=None, run_after=at)


def cancel_schedule(batch: Batch) -> None:
    """Stop the batch's scheduled reminders (the caller commits)."""
    for job in _schedule_jobs(batch.id):
        db.session.delete(job)
    db.session.execute(delete(ReminderSchedule).where(ReminderSchedule.batch_id == batch.id))


@jobs.handler("remind_batch")
def remind_batch(job: Job) -> None:
    """A scheduled reminder: remind those who have not answered, then queue the next one."""
    from survey.distribution.services import DistributionError, queue_reminders

    schedule = db.session.scalar(select(ReminderSchedule).where(ReminderSchedule.batch_id == job.params["batch_id"]))
    if schedule is None:
        return  # cancelled meanwhile
    batch = schedule.batch
    now = utcnow()
    due = next_reminder_at(schedule, now)
    if due is None or due > now + dt.timedelta(minutes=1):
        plan_next(schedule, now)  # the deadline moved: plan for the new due time (or none)
        db.session.commit()
        return
    if batch.campaign.state.accepting_ballots():
        try:
            reminded = queue_reminders(batch)
        except DistributionError:
            pass  # everyone has answered, or a send is still running: the next time will tell
        else:
            audit.record("batch.remind_scheduled", f"campaign:{batch.campaign.code}/batch:{batch.code}", None,
                         {"人数": reminded.total}, system=True)
    db.session.flush()
    # Whether or not anyone was reminded now, the next look is `every_days` later
    # (the running job itself is not 'queued': plan_next leaves it alone).
    plan_next(schedule, now + dt.timedelta(days=schedule.every_days))
    db.session.commit()
