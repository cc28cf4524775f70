"""Distribution services: batches and their invitations, delivery by e-mail
and SMS, paper forms keyed in twice, and the open public channel.

Clear tokens: a token exists in clear only in ``invitation.pending_token``,
from the batch's creation until its delivery (the e-mail or SMS is sent, the
paper forms are printed); the step that records the delivery erases it.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, case, delete, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from survey import audit, jobs
from survey.ballots.attributes import release_for
from survey.clock import day_start, format_beijing, utcnow
from survey.database import rowcount
from survey.errors import UserError
from survey.extensions import db
from survey.models import (
    Ballot,
    Batch,
    BatchUnit,
    Campaign,
    CampaignGroup,
    CampaignUnit,
    Evaluator,
    GroupUnit,
    Invitation,
    Job,
    PaperEntry,
    ReminderSchedule,
    ReplacedLink,
    User,
)
from survey.models.base import table_of
from survey.models.distribution import CHANNELS, OPEN_CHANNELS
from survey.models.lifecycle import where_open
from survey.tokens import TOKEN_BYTES, hash_token, new_receipt

#: Channels whose invitations the system delivers itself, one message each.
MESSAGE_CHANNELS = ("email", "sms")
#: Pass as `evaluators` to invite everyone of the group's roster not yet invited.
ROSTER = "roster"


class DistributionError(UserError):
    """A request the distribution services refuse, with the reason in Chinese."""


# --- batches and invitations -------------------------------------------------


def campaign_by_code(code: str) -> Campaign | None:
    return db.session.scalar(select(Campaign).where(Campaign.code == code))


def batch_by_code(campaign: Campaign, code: str) -> Batch | None:
    return db.session.scalar(select(Batch).where(Batch.campaign_id == campaign.id, Batch.code == code))


def _eligible_query(campaign: Campaign, group: CampaignGroup, channel: str, what: Any) -> Select[Any]:
    invited = select(Invitation.evaluator_id).where(
        Invitation.campaign_id == campaign.id, Invitation.evaluator_id.is_not(None))
    query = (select(what)
             .where(Evaluator.group_id == group.group_id,
                    (Evaluator.campaign_id == campaign.id) | Evaluator.campaign_id.is_(None),
                    Evaluator.id.not_in(invited))
             .order_by(Evaluator.id))
    if channel == "email":
        query = query.where(Evaluator.email.is_not(None), Evaluator.email != "")
    elif channel == "sms":
        query = query.where(Evaluator.phone.is_not(None), Evaluator.phone != "")
    return query


def eligible_evaluators(campaign: Campaign, group: CampaignGroup, channel: str) -> list[Evaluator]:
    """The group's roster not yet invited in this campaign, with the address the channel needs."""
    return list(db.session.scalars(_eligible_query(campaign, group, channel, Evaluator)))


def eligible_evaluator_ids(campaign: Campaign, group: CampaignGroup, channel: str) -> list[int]:
    return list(db.session.scalars(_eligible_query(campaign, group, channel, Evaluator.id)))


def next_batch_code(campaign: Campaign, channel: str) -> str:
    taken = set(db.session.scalars(select(Batch.code).where(Batch.campaign_id == campaign.id)))
    k = 1
    while f"{channel}{k}" in taken:
        k += 1
    return f"{channel}{k}"


def create_batch(campaign: Campaign, group: CampaignGroup, channel: str, *,
                 evaluators: Sequence[int] | str | None = None, count: int | None = None,
                 code: str | None = None, unnumbered: bool = False) -> Batch:
    """Create a batch and all its invitations, recording ``issued``.

    E-mail and SMS batches go to `evaluators` (ids, or ROSTER: everyone of the
    group's roster not yet invited who has the address the channel needs); paper batches are either
    addressed (`evaluators`, non-anonymous campaigns only) or handed out
    (`count` forms, serial-numbered, nobody's name on them) or, `unnumbered`,
    open (newspaper coupons and other forms without serials: no invitations
    and no issued count; each form gets a serial when it is first keyed,
    ``new_coupon``); public and QR batches are open: no invitations,
    ``issued`` stays null.

    Invitations are written by one multi-row insert with tokens and hashes
    computed here, never as ORM objects one by one (a batch may hold 100,000).
    The caller commits.
    """
    if not campaign.state.allows_distribution:
        raise DistributionError(_("评议活动已截止，不能再发放评议表"))
    if channel not in CHANNELS:
        raise DistributionError(_("未知的发放渠道：%(channel)s", channel=channel))
    if group.campaign_id != campaign.id:
        raise DistributionError(_("评议主体不属于本次评议活动"))
    code = (code or "").strip() or next_batch_code(campaign, channel)
    if len(code) > 24:
        raise DistributionError(_("批次代码“%(code)s”过长（最多 24 个字符）", code=code))
    if batch_by_code(campaign, code) is not None:
        raise DistributionError(_("批次代码“%(code)s”已被使用", code=code))
    from_roster = evaluators == ROSTER
    evaluator_ids: list[int] = (eligible_evaluator_ids(campaign, group, channel) if from_roster
                                else [int(e) for e in evaluators or []])
    named = from_roster or bool(evaluator_ids)
    if channel in OPEN_CHANNELS:
        if named or count:
            raise DistributionError(_("公开渠道和二维码海报不预先发放评议表，请勿填写份数或名单"))
    elif channel in MESSAGE_CHANNELS or channel == "online":
        if count:
            raise DistributionError(_("邮件、短信和在线链接按名单发放，不能只填份数"))
        if not evaluator_ids:
            raise DistributionError(_("名单中没有可发送的评议代表"))
    elif channel == "paper" and unnumbered:
        if named or count:
            raise DistributionError(_("不编号的纸质表（报纸剪报等）不预先发放，请勿填写份数或名单"))
    elif channel == "paper":
        if named and campaign.anonymous:
            raise DistributionError(_("匿名评议的纸质表只能按份数发放，不能写上姓名"))
        if named and count:
            raise DistributionError(_("纸质表按名单或按份数发放，二者只能选一"))
        if not evaluator_ids and not count:
            raise DistributionError(_("请填写纸质表的份数（至少 1 份）"))
        if count is not None and count < 0:
            raise DistributionError(_("份数不能为负数"))
        limit = group.quota or int(current_app.config["PINGYI_MAX_BATCH_FORMS"])
        if count is not None and count > limit:
            raise DistributionError(
                _("一个批次最多 %(n)d 份纸质表（%(why)s）", n=limit,
                  why=_("该评议主体的名额") if group.quota else _("系统上限 PINGYI_MAX_BATCH_FORMS")))
    if evaluator_ids and not from_roster:
        _check_evaluators(campaign, group, channel, evaluator_ids)

    position = (db.session.scalar(
        select(func.max(Batch.position)).where(Batch.campaign_id == campaign.id)) or 0) + 1
    batch = Batch(campaign_id=campaign.id, campaign_group_id=group.id, position=position, code=code,
                  channel=channel, issued=None if channel in OPEN_CHANNELS or unnumbered else 0,
                  public_code=secrets.token_urlsafe(6) if channel in OPEN_CHANNELS else None)
    db.session.add(batch)
    db.session.flush()
    if channel not in OPEN_CHANNELS and not unnumbered:
        n = len(evaluator_ids) if evaluator_ids else int(count or 0)
        # What the roster may put on this batch's anonymous ballots: decided
        # now, for the whole batch (the k rule, survey/ballots/attributes.py).
        release = release_for(campaign, group, evaluator_ids)
        insert_invitations(campaign.id, batch, evaluator_ids or [None] * n,
                           serials=channel == "paper", attributes=release.attributes if release else None)
        batch.attribute_release = release.summary if release else None
        batch.issued = n
    return batch


def _check_evaluators(campaign: Campaign, group: CampaignGroup, channel: str, ids: list[int]) -> None:
    if len(set(ids)) != len(ids):
        raise DistributionError(_("名单中有重复的评议代表"))
    eligible = set(eligible_evaluator_ids(campaign, group, channel))
    missing = [i for i in ids if i not in eligible]
    if missing:
        names = db.session.scalars(select(Evaluator.name).where(Evaluator.id.in_(missing[:10]))).all()
        need = {"email": _("电子邮箱"), "sms": _("手机号码")}.get(channel, "")
        raise DistributionError(
            _("%(n)d 名评议代表不能加入本批次（不属于该评议主体、已受邀或缺少%(need)s）：%(names)s",
              n=len(missing), need=need or _("联系方式"), names="、".join(names)))


#: The columns an invitation row is written with, in order.
INVITATION_COLUMNS = ("campaign_id", "batch_id", "evaluator_id", "token_hash", "serial", "used",
                      "created_at", "pending_token", "pending_kind", "delivery", "send_attempts",
                      "reminders", "attributes")


def bulk_insert(table_name: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """One DBAPI executemany of ready rows, past SQLAlchemy's per-row
    parameter processing (the values must already be what the driver takes)."""
    if not rows:
        return
    connection = db.session.connection()
    style = connection.dialect.paramstyle
    marker = "?" if style == "qmark" else "%s"
    sql = (f"INSERT INTO {table_name} ({', '.join(columns)}) "
           f"VALUES ({', '.join([marker] * len(columns))})")
    connection.exec_driver_sql(sql, rows)


def driver_value(table_name: str, column: str, value: Any) -> Any:
    """A value as the driver takes it for this column (SQLite keeps datetimes
    as text and booleans as integers), converted once for a whole batch."""
    column_type = db.metadata.tables[table_name].c[column].type
    process = column_type.bind_processor(db.session.connection().dialect)
    return process(value) if process else value


def insert_invitations(campaign_id: int, batch: Batch, evaluator_ids: Sequence[int | None], *,
                       serials: bool, attributes: Sequence[dict[str, str] | None] | None = None) -> int:
    """One executemany insert of the batch's invitations, tokens made here.

    The clear token goes into ``pending_token`` until delivery; only its
    SHA-256 stays afterwards. ``attributes``: per invitation, what its
    anonymous ballot carries of the roster (the batch's k rule), else none.
    """
    now = driver_value("invitation", "created_at", utcnow())
    unused = driver_value("invitation", "used", False)
    n = len(evaluator_ids)
    as_json = db.metadata.tables["invitation"].c["attributes"].type.bind_processor(db.session.connection().dialect)
    released = [None if a is None else (as_json(a) if as_json else a) for a in attributes] if attributes else [None] * n
    width = max(4, len(str(n)))
    # The same tokens as survey.tokens.new_token (TOKEN_BYTES from the OS
    # CSPRNG, URL-safe base64), drawn in one call rather than one per row.
    size = TOKEN_BYTES
    raw = os.urandom(size * n)
    encode, sha256 = base64.urlsafe_b64encode, hashlib.sha256
    batch_id, prefix = batch.id, f"{batch.code}-"
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    for k, evaluator_id in enumerate(evaluator_ids):
        token = encode(raw[size * k:size * (k + 1)])
        append((campaign_id, batch_id, evaluator_id, sha256(token).digest(),
                f"{prefix}{k + 1:0{width}d}" if serials else None, unused, now, token.decode("ascii"),
                "invite", "queued", 0, 0, released[k]))
    bulk_insert("invitation", INVITATION_COLUMNS, rows)
    return n


@dataclass(frozen=True)
class BatchFigures:
    issued: int | None
    returned: int
    delivery: dict[str, int]
    pending_tokens: int
    #: (name, address, reason, the person's roster id where the page may name them, else None).
    failed: list[tuple[str, str, str, int | None]] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        return self.returned / self.issued if self.issued else None


def batch_figures(batch: Batch) -> BatchFigures:
    returned = db.session.scalar(select(func.count(Ballot.id)).where(Ballot.batch_id == batch.id)) or 0
    delivery = delivery_counts(batch)
    pending = db.session.scalar(select(func.count(Invitation.id)).where(
        Invitation.batch_id == batch.id, Invitation.pending_token.is_not(None))) or 0
    failed = db.session.execute(
        select(Evaluator.name, func.coalesce(Evaluator.email, Evaluator.phone, ""), Invitation.last_error,
               _nameable(batch), case((Evaluator.campaign_id == batch.campaign_id, Evaluator.id), else_=None))
        .join(Evaluator, Invitation.evaluator_id == Evaluator.id)
        .where(Invitation.batch_id == batch.id, Invitation.delivery == "failed")
        .order_by(Invitation.id).limit(200)).all()
    unnamed = str(_("（催办消息；匿名评议不列出尚未提交者的姓名）"))
    return BatchFigures(batch.issued, returned, delivery, pending,
                        [(n, a, jobs.reason_text(e), person) if shown else (unnamed, "—", jobs.reason_text(e), None)
                         for n, a, e, shown, person in failed])


def _nameable(batch: Batch) -> ColumnElement[bool]:
    """Whether a page may name a message's recipient: in an anonymous campaign
    not a reminder's, which goes only to those who have not answered (no page
    says who they are, see reminder_recipients)."""
    if not batch.campaign.anonymous:
        return true()
    return or_(Invitation.pending_kind.is_(None), Invitation.pending_kind != "reminder")


# --- sending (e-mail, SMS) ---------------------------------------------------


def _send_jobs(batch: Batch) -> Select[Job]:
    """The send jobs of this batch (matched in SQL on the job's parameters)."""
    return select(Job).where(Job.kind == "send_batch", Job.params["batch_id"].as_integer() == batch.id)


def active_job(batch: Batch) -> Job | None:
    """The send job of this batch still queued or running, if any."""
    return db.session.scalar(_send_jobs(batch).where(Job.state.in_(("queued", "running"))).order_by(Job.id)
                             .limit(1))


def last_job(batch: Batch) -> Job | None:
    return db.session.scalar(_send_jobs(batch).order_by(Job.id.desc()).limit(1))


def gateway_problem(channel: str) -> str | None:
    """Why the channel's server or gateway cannot send (the pre-flight check), or None."""
    from survey import mail, sms

    if channel == "email" and mail.configured_host(current_app.config) is None:
        return str(_("尚未配置邮件服务器：请在 instance/config.py 或环境变量中设置 PINGYI_SMTP_HOST 等（见 docs/distribution.md），"
                     "配置前不会发送任何邮件，个人链接都保留着"))
    if channel == "sms" and not sms.describe(current_app.config).ready:
        return str(_("尚未配置短信网关：请设置 PINGYI_SMS_URL 等（见 docs/distribution.md），"
                     "配置前不会发送任何短信，个人链接都保留着"))
    return None


def sending_problem(batch: Batch) -> str | None:
    """Why the batch's messages cannot go out now (the pre-flight check of its page), or None."""
    if batch.channel not in MESSAGE_CHANNELS:
        return str(_("只有邮件和短信批次由系统发送"))
    state = batch.campaign.state
    if state.is_draft:
        return str(_("评议活动尚未开始：请先在“活动设置”中点“开始评议”，再发送邀请（否则收件人打开链接只会看到“尚未开始”）"))
    if not state.allows_sending:
        return str(_("评议活动已截止，不能再发送"))
    from survey.ballots.eligibility import batch_refusal

    if batch_refusal(batch) == "expired":  # the campaign's deadline or the batch's own, as the links decide
        return str(_("已过截止时间，链接不再接受提交：请先在“活动设置”中修改截止时间，再发送"))
    return gateway_problem(batch.channel)


def _require_message_batch(batch: Batch) -> None:
    problem = sending_problem(batch)
    if problem is not None:
        raise DistributionError(problem)


def start_sending(batch: Batch) -> Job:
    """Queue the job that sends every queued message of the batch (the caller commits)."""
    _require_message_batch(batch)
    running = active_job(batch)
    if running is not None:
        return running
    counts = dict(db.session.execute(
        select(Invitation.delivery, func.count(Invitation.id))
        .where(Invitation.batch_id == batch.id, Invitation.delivery.in_(("queued", "sending")))
        .group_by(Invitation.delivery)).all())
    if not counts.get("queued"):
        raise DistributionError(_("本批次没有待发送的消息"))
    # Messages left in 'sending' by a worker that died are settled (as failed)
    # by this job too, so they count in its total.
    return jobs.enqueue("send_batch", {"batch_id": batch.id}, total=sum(counts.values()))


def retry_failed(batch: Batch) -> Job:
    """Put the failed messages back in the queue and send them (the caller commits)."""
    _require_message_batch(batch)
    if active_job(batch) is not None:
        raise DistributionError(_("本批次正在发送中，请等待完成后再重试"))
    n = rowcount(db.session.execute(
        update(Invitation).where(Invitation.batch_id == batch.id, Invitation.delivery == "failed",
                                 Invitation.pending_token.is_not(None), Invitation.used.is_(False))
        .values(delivery="queued", last_error=None).execution_options(synchronize_session=False)
    ))
    if not n:
        raise DistributionError(_("没有可重试的失败消息"))
    return start_sending(batch)


def queue_reminders(batch: Batch) -> Job:
    """Remind everyone of the batch who has not answered yet (the caller commits).

    The first token was erased when the invitation was sent, so a reminder
    carries a new one; it replaces the old one in the step that records the
    reminder as sent (until then the first link keeps working).
    """
    _require_message_batch(batch)
    if active_job(batch) is not None:
        raise DistributionError(_("本批次正在发送中，请等待完成后再催办"))
    # A ballot taken but not yet marked used (SQLite) counts as answered: a
    # reminder's new token would admit a second ballot.
    from survey.ballots.submission import pending_invitations

    taken = pending_invitations(batch.campaign_id)
    ids = [i for i in db.session.scalars(select(Invitation.id).where(
        Invitation.batch_id == batch.id, Invitation.used.is_(False), Invitation.delivery == "sent",
        Invitation.evaluator_id.is_not(None)))  # a person deleted from the roster is not reminded
        if i not in taken]
    if not ids:
        raise DistributionError(_("没有需要催办的评议代表（都已提交或尚未发送）"))
    rows = [{"b_id": i, "b_token": secrets.token_urlsafe(TOKEN_BYTES)} for i in ids]
    table = table_of(Invitation)
    db.session.execute(
        update(table).where(table.c.id == bindparam("b_id"))
        .values(pending_token=bindparam("b_token"), pending_kind="reminder", delivery="queued"),
        rows, execution_options={"synchronize_session": False})
    job = start_sending(batch)
    job.params = {**job.params, "reminder": True}
    return job


def shown_delivery(invitation: Invitation) -> tuple[str | None, str | None]:
    """An invitation's delivery state and last error as a page may show them
    beside the person's name. In an anonymous campaign a reminder is never
    shown (it goes only to those who have not answered, so it would say who
    has not, see _nameable): an invitation with a reminder pending or failed
    reads as its invitation, sent."""
    if invitation.batch.campaign.anonymous and invitation.pending_kind == "reminder":
        return "sent", None
    return invitation.delivery, invitation.last_error


def _link_taken(invitation: Invitation) -> bool:
    """A personal link's ballot is taken: marked used, or claimed and not yet marked (SQLite)."""
    from survey.ballots.submission import pending_invitations

    return invitation.used or invitation.id in pending_invitations(invitation.campaign_id)


def resend_refusal(invitation: Invitation) -> str | None:
    """Why this one person's invitation cannot be sent again now, or None.

    In an anonymous campaign whether the person has answered changes nothing
    here (a page may not tell it): the resend of a taken link is accepted and
    sends nothing (the send job skips a taken invitation)."""
    batch = invitation.batch
    problem = sending_problem(batch)
    if problem is not None:
        return problem
    evaluator = invitation.evaluator
    if evaluator is None:
        return str(_("这份邀请不属于名单上的任何人"))
    if not batch.campaign.anonymous and _link_taken(invitation):
        return str(_("此人已提交评议表，不需要重发"))
    if shown_delivery(invitation)[0] not in ("sent", "failed"):
        return str(_("此人的邀请还没有发出：请在批次页面发送"))
    if active_job(batch) is not None:
        return str(_("本批次正在发送中，请等待完成后再重发"))
    if batch.channel == "email" and not evaluator.email:
        return str(_("此人没有邮箱：请先填写邮箱"))
    if batch.channel == "sms" and not evaluator.phone:
        return str(_("此人没有手机号：请先填写手机号"))
    return None


def resend_invitation(invitation: Invitation) -> Job:
    """Send one person's invitation again, with a new link (the caller commits):
    after a bounced or mistyped address was fixed, or a lost message.

    The old link is dead at once (its hash is replaced; whoever holds it is told,
    by ``ReplacedLink``, that a newer message replaced it, with its day only);
    the invitation itself stays (its batch, serial, attributes, the issued count).
    A draft saved under the old link stays sealed under it: the server never
    keeps a delivered token, so it cannot move the draft to the new link.

    A link already taken (anonymous campaigns only get here with one) is
    queued without a token, and the send job records it as sent without
    sending anything; its token is not replaced while its claim is pending
    (SQLite): the claim is keyed by the token, so a new one would admit a
    second ballot."""
    problem = resend_refusal(invitation)
    if problem is not None:
        raise DistributionError(problem)
    from survey.ballots.submission import pending_invitations

    if invitation.id in pending_invitations(invitation.campaign_id):
        invitation.pending_token = invitation.pending_kind = None
    else:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        db.session.add(ReplacedLink(token_hash=invitation.token_hash, batch_id=invitation.batch_id,
                                    replaced_at=day_start(utcnow()), kind="resend"))
        invitation.token_hash = hash_token(token)
        invitation.pending_token, invitation.pending_kind = token, "invite"
    invitation.delivery, invitation.last_error = "queued", None
    db.session.flush()
    return start_sending(invitation.batch)


def last_reminder_at(batch: Batch) -> dt.datetime | None:
    return db.session.scalar(select(func.max(Job.created_at)).where(
        Job.kind == "send_batch", Job.params["batch_id"].as_integer() == batch.id,
        Job.params["reminder"].as_boolean().is_(True)))


def reminder_due(deadline: dt.datetime | None, last: dt.datetime | None, days_before: float, every_days: float,
                 now: dt.datetime) -> dt.datetime | None:
    """When reminders "from `days_before` days before the deadline, every
    `every_days` days" next go out (UTC), not before `now`, or None when they
    will not again: at most every `every_days` days after the `last` reminder
    (by hand, cron or schedule), never at or after the deadline. The one rule
    of the cron (remind_due) and of a batch's schedule (sending.next_reminder_at)."""
    if deadline is None or deadline <= now:
        return None
    due = max(deadline - dt.timedelta(days=days_before), now)
    if last is not None:
        due = max(due, last + dt.timedelta(days=every_days))
    return due if due < deadline else None


def remind_due(*, days_before: float = 3, every_days: float = 2, now: dt.datetime | None = None,
               refused: list[tuple[Batch, str]] | None = None) -> list[Batch]:
    """Scheduled reminders: queue them for every e-mail and SMS batch of an open
    campaign whose deadline is at most `days_before` days away, unless it was
    reminded less than `every_days` days ago. Meant for cron
    (`flask --app survey distribution remind-due`); the caller commits. The
    batches it could not remind are added to `refused` with the reason."""
    now = now or utcnow()
    queued = []
    batches = db.session.scalars(
        select(Batch).join(Campaign, Batch.campaign_id == Campaign.id)
        .where(where_open(Campaign.status), Batch.channel.in_(MESSAGE_CHANNELS)).order_by(Batch.id))
    for batch in batches:
        due = reminder_due(deadline_of(batch), last_reminder_at(batch), days_before, every_days, now)
        if due is None or due > now:
            continue
        try:
            job = queue_reminders(batch)
        except DistributionError as exc:  # everyone has answered, a send is still running, no server…
            if refused is not None:
                refused.append((batch, exc.message))
            continue
        audit.record("batch.remind_due", f"campaign:{batch.campaign.code}/batch:{batch.code}", None,
                     {"人数": job.total}, system=True)
        queued.append(batch)
    return queued


@dataclass(frozen=True)
class JobView:
    """A send job as the batch page shows it: state in words, a tone
    ('info', 'ok', 'warn', 'bad') and the reason it failed, in the reader's language."""

    id: int
    state: str
    label: str
    tone: str
    done: int
    total: int | None
    errors: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "label": self.label, "tone": self.tone, "done": self.done,
                "total": self.total, "errors": self.errors, "reason": self.reason}


def job_view(job: Job) -> JobView:
    if job.state == "queued":
        label, tone = _("排队等待发送"), "info"
    elif job.state == "running":
        label, tone = (_("正在发送，已有 %(n)d 条失败", n=job.errors), "warn") if job.errors else (_("正在发送"), "info")
    elif job.state == "failed":
        label, tone = _("发送已停止"), "bad"
    elif job.errors and job.errors >= job.done:
        label, tone = _("已结束：全部 %(n)d 条发送失败", n=job.errors), "bad"
    elif job.errors:
        label, tone = _("已结束：%(n)d 条发送失败，见下表，可重试", n=job.errors), "warn"
    else:
        label, tone = _("已全部发出"), "ok"
    return JobView(job.id, job.state, str(label), tone, job.done, job.total, job.errors,
                   jobs.reason_text(job.error_text))


def delivery_counts(batch: Batch) -> dict[str, int]:
    return {str(state): n for state, n in db.session.execute(
        select(Invitation.delivery, func.count(Invitation.id))
        .where(Invitation.batch_id == batch.id, Invitation.delivery.is_not(None))
        .group_by(Invitation.delivery)).all()}


def recipients(batch: Batch, states: Sequence[str], limit: int = 50) -> tuple[int, list[tuple[str, str]]]:
    """How many of the batch's messages are in `states`, and the first `limit`
    recipients' names and addresses (the preview before sending)."""
    where = (Invitation.batch_id == batch.id, Invitation.delivery.in_(states))
    total = db.session.scalar(select(func.count(Invitation.id)).where(*where)) or 0
    address = Evaluator.email if batch.channel == "email" else Evaluator.phone
    rows = db.session.execute(
        select(Evaluator.name, func.coalesce(address, "")).select_from(Invitation)
        .join(Evaluator, Invitation.evaluator_id == Evaluator.id)
        .where(*where, _nameable(batch)).order_by(Invitation.id).limit(limit)).all()
    return total, [(name, addr) for name, addr in rows]


def reminder_recipients(batch: Batch, limit: int = 50) -> tuple[int, list[tuple[str, str]]]:
    """Who a reminder would reach now (sent, not answered), counted, and in a
    named campaign the first `limit` names and addresses. An anonymous
    campaign shows the count only, as the return board does: who has not
    answered is not put on a page."""
    from survey.ballots.submission import pending_invitations

    taken = pending_invitations(batch.campaign_id)
    address = Evaluator.email if batch.channel == "email" else Evaluator.phone
    rows = [(i, name, addr or "") for i, name, addr in db.session.execute(
        select(Invitation.id, Evaluator.name, address).join(Evaluator, Invitation.evaluator_id == Evaluator.id)
        .where(Invitation.batch_id == batch.id, Invitation.used.is_(False), Invitation.delivery == "sent")
        .order_by(Invitation.id))]
    rows = [r for r in rows if r[0] not in taken]
    if batch.campaign.anonymous:
        return len(rows), []
    return len(rows), [(name, addr) for _i, name, addr in rows[:limit]]


def set_schedule(batch: Batch, days_before: float, every_days: float) -> ReminderSchedule:
    """Remind those who have not answered from `days_before` days before the
    batch's deadline, every `every_days` days (the caller commits)."""
    from survey.distribution import sending

    if batch.channel not in MESSAGE_CHANNELS:
        raise DistributionError(_("只有邮件和短信批次可以安排催办"))
    if not batch.campaign.state.allows_distribution:
        raise DistributionError(_("评议活动已截止，不能再安排催办"))
    if deadline_of(batch) is None:
        raise DistributionError(_("本批次和评议活动都没有截止时间，无法按“截止前几天”安排催办：请先在“活动设置”中填写截止时间"))
    if not (0 < days_before <= 365 and 0 < every_days <= 365):
        raise DistributionError(_("天数应在 0 到 365 之间"))
    schedule = db.session.scalar(select(ReminderSchedule).where(ReminderSchedule.batch_id == batch.id))
    if schedule is None:
        schedule = ReminderSchedule(batch_id=batch.id, batch=batch)
        db.session.add(schedule)
    schedule.days_before, schedule.every_days = days_before, every_days
    db.session.flush()
    sending.plan_next(schedule)
    return schedule


def schedule_of(batch: Batch) -> ReminderSchedule | None:
    return db.session.scalar(select(ReminderSchedule).where(ReminderSchedule.batch_id == batch.id))


def next_scheduled_reminder(batch: Batch) -> dt.datetime | None:
    """When the batch's schedule reminds next (its queued job's time)."""
    return db.session.scalar(select(func.min(Job.run_after)).where(
        Job.kind == "remind_batch", Job.params["batch_id"].as_integer() == batch.id, Job.state == "queued"))


def public_url(path: str) -> str:
    """An address evaluators reach: PINGYI_PUBLIC_URL (with the path the app
    is mounted under, if any) and a path of the app."""
    return str(current_app.config["PINGYI_PUBLIC_URL"]).rstrip("/") + path


def link_for(token: str) -> str:
    return public_url(f"/b/{token}")


def deadline_of(batch: Batch) -> dt.datetime | None:
    closes = [t for t in (batch.closes_at, batch.campaign.closes_at) if t is not None]
    return min(closes) if closes else None


#: How a deadline reads on a paper form and in a message (Beijing time).
DEADLINE_FORMAT = "%Y年%m月%d日 %H:%M"


def deadline_text(batch: Batch) -> str:
    """The batch's deadline as the evaluators read it ('' for none)."""
    return format_beijing(deadline_of(batch), DEADLINE_FORMAT)


# --- paper forms -------------------------------------------------------------


def printable_forms(batch: Batch, page: int, per_page: int = 100) -> tuple[list[Invitation], int]:
    """The forms of a paper batch still to print (their tokens are pending), one page of them."""
    base = select(Invitation).where(Invitation.batch_id == batch.id, Invitation.pending_token.is_not(None))
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = db.session.scalars(base.order_by(Invitation.id).offset((page - 1) * per_page).limit(per_page))
    return list(rows), total


#: How many table rows (a unit's item each, ≈10 mm with its comment box) an
#: A4 sheet of a paper form holds: the first sheet also carries the title,
#: the QR code, the instructions and one row's height per margin question
#: (plus one for their heading). Conservative, so that no sheet overflows
#: onto an unlabelled page (tests/browser checks the PDF).
FIRST_SHEET_ROWS = 14
LATER_SHEET_ROWS = 20


def form_sheets(units: Sequence[Any], items_per_unit: int, margin_questions: int = 0) -> list[list[Any]]:
    """A paper form's units split over A4 sheets, a unit's rows never split
    (its items and comment box stay together); at least one sheet."""
    rows = max(1, items_per_unit)
    capacity = max(rows, FIRST_SHEET_ROWS - (margin_questions + 1 if margin_questions else 0))
    sheets: list[list[Any]] = [[]]
    used = 0
    for unit in units:
        if sheets[-1] and used + rows > capacity:
            sheets.append([])
            used, capacity = 0, max(rows, LATER_SHEET_ROWS)
        sheets[-1].append(unit)
        used += rows
    return sheets


def mark_printed(batch: Batch) -> int:
    """Erase the clear tokens of a paper batch once its forms are printed (the caller commits)."""
    if batch.channel != "paper":
        raise DistributionError(_("只有纸质批次需要印制"))
    return rowcount(db.session.execute(
        update(Invitation).where(Invitation.batch_id == batch.id, Invitation.pending_token.is_not(None))
        .values(pending_token=None, pending_kind=None, delivery="printed", sent_at=utcnow())
        .execution_options(synchronize_session=False)))


def set_ip_cap(batch: Batch, cap: int | None) -> None:
    """An open batch's own cap of ballots per address in 24 hours (None: the
    PINGYI_PUBLIC_IP_CAP setting; 0: no cap)."""
    if batch.channel not in OPEN_CHANNELS:
        raise DistributionError(_("只有二维码和公开渠道批次有网络地址上限"))
    batch.ip_cap = cap


def set_period(batch: Batch, opens_at: dt.datetime | None, closes_at: dt.datetime | None) -> None:
    """A batch's own opening and closing times (naive UTC; None: no limit of its own)."""
    if opens_at is not None and closes_at is not None and closes_at < opens_at:
        raise DistributionError(_("批次 %(batch)s 的截止时间早于开始时间", batch=batch.code))
    batch.opens_at, batch.closes_at = opens_at, closes_at


def batch_unit_ids(batch: Batch) -> list[int]:
    """The campaign units a batch's form is restricted to (empty: none), in campaign order."""
    return list(db.session.scalars(
        select(BatchUnit.campaign_unit_id).join(CampaignUnit, BatchUnit.campaign_unit_id == CampaignUnit.id)
        .where(BatchUnit.batch_id == batch.id).order_by(CampaignUnit.position, CampaignUnit.id)))


def set_batch_units(batch: Batch, unit_ids: Sequence[int]) -> None:
    """Restrict a batch's form to these campaign units (empty: lift the
    restriction). Refused once the batch has ballots (they answered the
    form as it was), and where no unit would be left on the form."""
    wanted = list(dict.fromkeys(unit_ids))
    if wanted == batch_unit_ids(batch) or sorted(wanted) == sorted(batch_unit_ids(batch)):
        return
    returned = db.session.scalar(select(func.count(Ballot.id)).where(Ballot.batch_id == batch.id)) or 0
    if returned:
        raise DistributionError(_("批次 %(batch)s 已回收 %(n)d 份评议票，不能再改评议表上的单位",
                                  batch=batch.code, n=returned))
    campaign_units = {cu.id: cu for cu in batch.campaign.units}
    unknown = [u for u in wanted if u not in campaign_units]
    if unknown:
        raise DistributionError(_("单位不属于本次评议活动（编号 %(ids)s）", ids=", ".join(map(str, unknown))))
    rated = set(db.session.scalars(select(GroupUnit.campaign_unit_id)
                                   .where(GroupUnit.campaign_group_id == batch.campaign_group_id)))
    if wanted and rated and not set(wanted) & rated:
        raise DistributionError(_("评议主体“%(group)s”不评议所选的任何单位", group=batch.group.label))
    db.session.execute(delete(BatchUnit).where(BatchUnit.batch_id == batch.id))
    for unit_id in wanted:
        db.session.add(BatchUnit(batch_id=batch.id, campaign_unit_id=unit_id))
    db.session.flush()


def set_issued(batch: Batch, issued: int) -> None:
    """Correct the number of forms actually handed out (unused forms voided)."""
    if batch.channel != "paper":
        raise DistributionError(_("只有纸质批次可以更正发放数"))
    returned = db.session.scalar(select(func.count(Ballot.id)).where(Ballot.batch_id == batch.id)) or 0
    forms = db.session.scalar(select(func.count(Invitation.id)).where(Invitation.batch_id == batch.id)) or 0
    if issued < returned:
        raise DistributionError(_("发放数不能少于已回收数：批次 %(batch)s 已回收 %(returned)d 份，不能改为 %(issued)d 份",
                                  batch=batch.code, returned=returned, issued=issued))
    if issued > forms:
        raise DistributionError(_("发放数不能多于印制的表数：批次 %(batch)s 共 %(forms)d 份",
                                  batch=batch.code, forms=forms))
    batch.issued = issued


@dataclass(frozen=True)
class EntryOutcome:
    """What keying a form led to: 'first' (waiting for the second clerk),
    'accepted' (the two entries agreed; the ballot is in) or 'conflict'."""

    state: str
    serial: str
    differences: list[tuple[int, int]] = field(default_factory=list)
    #: The margin questions the two keyings answered differently.
    margin_differences: list[int] = field(default_factory=list)


PaperAnswers = dict[int, dict[int, int | None]]
#: A paper form's margin answers: question (MarginVariable) id -> option (MarginTarget) id, None where blank.
PaperMargins = dict[int, int | None]


def is_coupon_batch(batch: Batch) -> bool:
    """An open paper batch: newspaper coupons and other forms without serials."""
    return batch.channel == "paper" and batch.issued is None


def coupon_batches(campaign: Campaign) -> list[Batch]:
    return [b for b in campaign.batches if is_coupon_batch(b)]


def new_coupon(batch: Batch) -> Invitation:
    """A returned coupon about to be keyed for the first time: its serial,
    generated now (``<batch>-C00001``…), which the first clerk writes on it so
    that the second clerk finds it. Its token is never shown (no QR, no link):
    only the clerks' double entry makes its ballot. The caller commits."""
    if not is_coupon_batch(batch):
        raise DistributionError(_("批次 %(batch)s 不是不编号的纸质表批次", batch=batch.code))
    if not batch.campaign.state.takes_paper_entries:
        raise DistributionError(_("评议活动不在回收阶段，不能录入纸质表"))
    prefix = f"{batch.code}-C"
    for _attempt in range(5):  # another clerk may take the same number in the same moment
        last = db.session.scalar(select(func.max(Invitation.serial)).where(
            Invitation.batch_id == batch.id, Invitation.serial.like(f"{prefix}%")))
        number = int(last[len(prefix):]) + 1 if last else 1
        invitation = Invitation(campaign_id=batch.campaign_id, batch_id=batch.id, token_hash=hash_token(
            secrets.token_urlsafe(TOKEN_BYTES)), serial=f"{prefix}{number:05d}", used=False)
        try:
            with db.session.begin_nested():
                db.session.add(invitation)
        except IntegrityError:
            continue
        return invitation
    raise DistributionError(_("生成编号时与其他录入员冲突，请重试"))


def paper_invitation(campaign: Campaign, serial: str) -> Invitation:
    serial = serial.strip()
    invitation = db.session.scalar(
        select(Invitation).join(Batch, Invitation.batch_id == Batch.id)
        .where(Invitation.campaign_id == campaign.id, Invitation.serial == serial, Batch.channel == "paper"))
    if invitation is None:
        raise DistributionError(_("编号 %(serial)s 不是本次评议的纸质表", serial=serial))
    return invitation


def scanned_invitation(campaign: Campaign, scanned: str) -> Invitation:
    """The paper form a clerk typed or scanned: its serial, or what a
    keyboard-wedge scanner types from the form's QR code (the whole personal
    link, http(s)://…/b/<token>, or only its path)."""
    text = scanned.strip()
    match = _LINK_IN_SCAN.search(text)
    if match is None:
        return paper_invitation(campaign, text)
    invitation = db.session.scalar(
        select(Invitation).join(Batch, Invitation.batch_id == Batch.id)
        .where(Invitation.campaign_id == campaign.id, Invitation.token_hash == hash_token(match.group(1)),
               Batch.channel == "paper"))
    if invitation is None:
        raise DistributionError(_("扫描的二维码不是本次评议的纸质表：%(scanned)s", scanned=_LINK_IN_SCAN.sub("/b/…", text)[:80]))
    return invitation


#: The token of a personal link inside what a scanner typed (query and fragment ignored).
_LINK_IN_SCAN = re.compile(r"/b/([A-Za-z0-9_-]+)")


def entry_refusal(invitation: Invitation, clerk: User) -> str | None:
    """Why this clerk may not key this form now (None: they may), checked on
    the serial before the answer grid is shown and again when it is saved.

    A paper form and its QR code are one invitation admitting one ballot:
    once it is taken, by keying or by an online submission through the QR,
    the form reads 已录入完成, the same either way (which way is not said)."""
    if not invitation.batch.campaign.state.takes_paper_entries:
        return str(_("评议活动不在回收阶段，不能录入纸质表"))
    if _taken(invitation):
        return str(_("编号 %(serial)s 的评议表已录入完成（纸质录入或扫码在线提交，只计一份），无需再录入",
                 serial=invitation.serial))
    entries = entries_of(invitation)
    if any(e.clerk_id == clerk.id for e in entries):
        return str(_("您已录入过编号 %(serial)s 的评议表；第二遍须由另一位录入员录入", serial=invitation.serial))
    if len(entries) >= 2:
        return str(_("编号 %(serial)s 已录入两遍，正等待核对", serial=invitation.serial))
    return None


def check_comments(invitation: Invitation, comments: dict[int, str]) -> dict[int, str]:
    """A paper form's comments as keyed (per unit on the form, as on the web
    form): stripped, blank ones dropped; too long or holding control
    characters refused, saying which unit."""
    from survey.ballots.eligibility import units_for
    from survey.ballots.questionnaire import COMMENT_MAX, CONTROL_CHARACTERS

    units = {u.id: u for u in units_for(invitation)}
    kept: dict[int, str] = {}
    for unit_id, text in comments.items():
        unit = units.get(unit_id)
        if unit is None:
            raise DistributionError(_("编号 %(serial)s：意见建议的单位不在这份表上", serial=invitation.serial))
        if len(text) > COMMENT_MAX:
            raise DistributionError(_("编号 %(serial)s：对“%(unit)s”的意见建议最多 %(max)d 字",
                                      serial=invitation.serial, unit=unit.name, max=COMMENT_MAX))
        if CONTROL_CHARACTERS.search(text):
            raise DistributionError(_("编号 %(serial)s：对“%(unit)s”的意见建议中有无法保存的控制字符",
                                      serial=invitation.serial, unit=unit.name))
        if text.strip():
            kept[unit_id] = text.strip()
    return kept


def entries_of(invitation: Invitation) -> list[PaperEntry]:
    return list(db.session.scalars(select(PaperEntry).where(PaperEntry.invitation_id == invitation.id)
                                   .order_by(PaperEntry.entry_no)))


def encode_answers(answers: PaperAnswers) -> dict[str, dict[str, int | None]]:
    return {str(u): {str(i): o for i, o in by_item.items()} for u, by_item in answers.items()}


def decode_answers(stored: dict[str, Any]) -> PaperAnswers:
    return {int(u): {int(i): o for i, o in by_item.items()} for u, by_item in stored.items()}


def encode_margins(margins: PaperMargins) -> dict[str, int | None]:
    return {str(q): o for q, o in margins.items()}


def decode_margins(stored: dict[str, Any] | None) -> PaperMargins:
    return {int(q): o for q, o in (stored or {}).items()}


def margin_differences(first: PaperMargins, second: PaperMargins) -> list[int]:
    return sorted(q for q in set(first) | set(second) if first.get(q) != second.get(q))


def check_paper_margins(invitation: Invitation, margins: PaperMargins) -> None:
    """Every margin question of the form's group answered with one of its
    categories: a raked group needs each ballot's value (a form returned
    without it cannot be counted)."""
    from survey.ballots.eligibility import questionnaire_of

    for question in questionnaire_of(invitation.batch).margins:
        chosen = margins.get(question.id)
        if chosen is None:
            raise DistributionError(_("编号 %(serial)s：请录入“%(question)s”（必答；表上未填写的，这份评议表不能计入）",
                                      serial=invitation.serial, question=question.label))
        if chosen not in {o.id for o in question.options}:
            raise DistributionError(_("编号 %(serial)s：“%(question)s”的选项不对", serial=invitation.serial,
                                      question=question.label))


def differences(first: PaperAnswers, second: PaperAnswers) -> list[tuple[int, int]]:
    cells = {(u, i) for u, by in first.items() for i in by} | {(u, i) for u, by in second.items() for i in by}
    return sorted(c for c in cells
                  if first.get(c[0], {}).get(c[1]) != second.get(c[0], {}).get(c[1]))


def key_in(campaign: Campaign, serial: str, clerk: User, answers: PaperAnswers,
           margins: PaperMargins | None = None, comments: dict[int, str] | None = None) -> EntryOutcome:
    """Record one clerk's keying of a returned form (its answers and, for a
    raked group, its margin questions: required); with the second keying,
    take the ballot if both agree (the caller commits).

    Comments are keyed once, by the second clerk (docs/distribution.md says
    why): the first keying's comments, if any were sent, are not kept."""
    invitation = paper_invitation(campaign, serial)
    refusal = entry_refusal(invitation, clerk)
    if refusal:
        raise DistributionError(refusal)
    margins = dict(margins or {})
    check_paper_margins(invitation, margins)
    entries = entries_of(invitation)
    kept = check_comments(invitation, comments or {}) if entries else {}
    _check_capacity(invitation.batch)
    try:
        with db.session.begin_nested():  # (invitation, entry_no) is unique
            db.session.add(PaperEntry(invitation_id=invitation.id, entry_no=len(entries) + 1, clerk_id=clerk.id,
                                      answers=encode_answers(answers),
                                      attributes=encode_margins(margins) if margins else None,
                                      comments={str(u): t for u, t in kept.items()} or None))
    except IntegrityError:
        # Another clerk keyed the same form in the same moment: theirs counts.
        raise DistributionError(_("另一位录入员刚刚录入了编号 %(serial)s 的评议表，请重新查找该编号后再录入",
                                  serial=invitation.serial)) from None
    if not entries:
        return EntryOutcome("first", invitation.serial or "")
    diff = differences(decode_answers(entries[0].answers), answers)
    margin_diff = margin_differences(decode_margins(entries[0].attributes), margins)
    if diff or margin_diff:
        return EntryOutcome("conflict", invitation.serial or "", diff, margin_diff)
    _take_paper_ballot(invitation, answers, margins, kept)
    return EntryOutcome("accepted", invitation.serial or "")


def decode_comments(stored: dict[str, Any] | None) -> dict[int, str]:
    return {int(u): str(t) for u, t in (stored or {}).items()}


def conflicts(campaign: Campaign) -> list[tuple[Invitation, list[PaperEntry]]]:
    """Forms keyed twice with differences, not yet resolved."""
    counted = (select(PaperEntry.invitation_id).group_by(PaperEntry.invitation_id)
               .having(func.count(PaperEntry.id) == 2))
    invitations = db.session.scalars(
        select(Invitation).where(Invitation.campaign_id == campaign.id, Invitation.used.is_(False),
                                 Invitation.id.in_(counted)).order_by(Invitation.serial))
    return [(inv, entries_of(inv)) for inv in invitations]


def resolve(campaign: Campaign, serial: str, chosen: dict[tuple[int, int], int | None],
            chosen_margins: PaperMargins | None = None) -> None:
    """An organizer settles the differing cells (and margin answers) of a form
    keyed twice; the ballot is then taken."""
    invitation = paper_invitation(campaign, serial)
    entries = entries_of(invitation)
    if _taken(invitation):
        raise DistributionError(_("编号 %(serial)s 的评议表已录入完成", serial=invitation.serial))
    if len(entries) != 2:
        raise DistributionError(_("编号 %(serial)s 尚未录入两遍，不能核对", serial=invitation.serial))
    first, second = decode_answers(entries[0].answers), decode_answers(entries[1].answers)
    diff = differences(first, second)
    first_margins = decode_margins(entries[0].attributes)
    margin_diff = margin_differences(first_margins, decode_margins(entries[1].attributes))
    chosen_margins = chosen_margins or {}
    # A margin answer is required (a raked ballot needs it); a differing
    # cell nobody picked is 未填, the default the page shows.
    missing = [q for q in margin_diff if chosen_margins.get(q) is None]
    if missing:
        raise DistributionError(_("还有 %(n)d 处差异未选定", n=len(missing)))
    answers = {u: dict(by) for u, by in first.items()}
    for u, i in diff:
        answers.setdefault(u, {})[i] = chosen.get((u, i))
    margins = {**first_margins, **{q: chosen_margins[q] for q in margin_diff}}
    check_paper_margins(invitation, margins)
    _check_capacity(invitation.batch)
    _take_paper_ballot(invitation, answers, margins, decode_comments(entries[1].comments))


def _check_capacity(batch: Batch) -> None:
    """A batch never holds more ballots than forms issued."""
    returned = db.session.scalar(select(func.count(Ballot.id)).where(Ballot.batch_id == batch.id)) or 0
    if batch.issued is not None and returned >= batch.issued:
        raise DistributionError(
            _("批次 %(batch)s 已回收 %(returned)d 份，达到发放数 %(issued)d 份，不能再录入（回收数不能超过发放数）",
              batch=batch.code, returned=returned, issued=batch.issued))


def _taken(invitation: Invitation) -> bool:
    """The form's ballot is taken (on SQLite its invitation may be marked used only later)."""
    from survey.ballots import submission

    return submission.taken(invitation, None)


def _take_paper_ballot(invitation: Invitation, answers: PaperAnswers, margins: PaperMargins,
                       comments: dict[int, str] | None = None) -> None:
    """The ballot of a paper form, through the same one-per-invitation claim as
    /b/<token>; the same transaction deletes the clerks' keyed entries
    (submission._claim_and_write), which named the form beside its answers."""
    from survey.ballots import submission
    from survey.ballots.eligibility import questionnaire_of

    filled = {u: {i: o for i, o in by.items() if o is not None} for u, by in answers.items()}
    filled = {u: by for u, by in filled.items() if by}
    answered = questionnaire_of(invitation.batch).attributes_of(
        {q: o for q, o in margins.items() if o is not None})
    try:
        submission.submit(invitation, filled, dict(comments or {}), receipt=new_receipt(), duration_s=None, source=None,
                          answered=answered)
    except submission.AlreadySubmitted:
        raise DistributionError(_("编号 %(serial)s 的评议表已录入完成", serial=invitation.serial)) from None


# --- the open public channel -------------------------------------------------


def open_batch_by_public_code(public_code: str) -> Batch | None:
    batch = db.session.scalar(select(Batch).where(Batch.public_code == public_code))
    return batch if batch is not None and batch.is_open_batch else None


def ballots_from_address(batch: Batch, source: str, since: dt.datetime) -> int:
    return db.session.scalar(select(func.count(Ballot.id)).where(
        Ballot.batch_id == batch.id, Ballot.source == source, Ballot.submitted_at >= since)) or 0


@dataclass(frozen=True)
class FlaggedBallot:
    public_id: str
    batch: str
    submitted_at: str
    source: str | None
    flags: tuple[str, ...]


@dataclass(frozen=True)
class FlagSummary:
    counts: dict[str, int]
    ballots: list[FlaggedBallot]


def open_channel_flags(campaign: Campaign) -> FlagSummary:
    """The `burst` and `duplicate` flags of SCORING.md section 3, computed by
    `analysis` on the campaign's bundle (the one bridge from the database)."""
    from analysis import flag_ballots, from_document
    from survey.bundles import export_bundle

    doc = export_bundle(campaign)
    result = flag_ballots(from_document(doc))
    names = ("burst", "duplicate")
    counts = {f: int(result.flags[f].sum()) for f in names}
    flagged = []
    for k, ballot in enumerate(doc["ballots"]):
        mine = tuple(f for f in names if result.flags[f][k])
        if mine:
            flagged.append(FlaggedBallot(ballot["id"], ballot["batch"], ballot.get("submitted_at", ""),
                                         ballot.get("source"), mine))
    return FlagSummary(counts, flagged)
