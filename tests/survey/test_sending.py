"""Nothing silently lost when sending (issue #11): no sending before 开始评议,
a pre-flight check of the mail server, jobs that say how they ended (in the
reader's language, with a colour), live counters, irreversible actions that
ask first, the campaign's own message texts with their preview, and
reminders scheduled from the batch page."""
from __future__ import annotations

import datetime as dt
import re
import threading
import time
from pathlib import Path

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from survey import jobs
from survey.clock import utcnow
from survey.distribution import messages, sending, services
from survey.extensions import db
from survey.models import Batch, Campaign, Invitation, Job, MessageTemplate, ReminderSchedule
from tests.factories import login, make_user
from tests.smtp import smtp_config
from tests.survey.test_distribution_support import setup_campaign

LINK = re.compile(r"http://pingyi\.test/b/([A-Za-z0-9_-]+)")


@pytest.fixture
def mailing(app, smtp_server):
    handler, port = smtp_server
    app.config.update(smtp_config(port), PINGYI_PUBLIC_URL="http://pingyi.test")
    return handler


def email_batch(n: int = 3, *, status: str = "open", anonymous: bool = True) -> Batch:
    campaign = setup_campaign(evaluators=n, status=status, anonymous=anonymous)
    group = campaign.groups[0]
    batch = services.create_batch(campaign, group, "email",
                                  evaluators=[e.id for e in services.eligible_evaluators(campaign, group, "email")])
    db.session.commit()
    return batch


def organizer(app, client) -> None:
    with app.app_context():
        make_user("organizer")
    login(client, "organizer")


def jobs_of(kind: str) -> list[Job]:
    return list(db.session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id)))


# --- no sending while 草稿 --------------------------------------------------------------


def test_a_draft_campaign_sends_nothing_and_says_to_start_it_first(app, client, mailing) -> None:
    with app.test_request_context():
        batch = email_batch(2, status="draft")
        for service in (services.start_sending, services.queue_reminders):
            with pytest.raises(services.DistributionError, match="请先在“活动设置”中点“开始评议”"):
                service(batch)
    organizer(app, client)
    page = client.get("/distribution/t2026/batches/email1").text
    assert 'data-testid="preflight"' in page and "尚未开始" in page
    answer = client.post("/distribution/t2026/batches/email1/send", data={"confirmed": "1"}, follow_redirects=True)
    assert "开始评议" in answer.text
    with app.app_context():
        assert db.session.scalar(select(func.count(Job.id))) == 0
    assert mailing.messages == []


def test_a_batch_past_its_own_deadline_sends_nothing(app, client, mailing) -> None:
    """The batch's own deadline counts as the campaign's: its links would refuse
    every ballot, so nothing is sent and the page says why before anything goes."""
    with app.test_request_context():
        batch = email_batch(2)
        batch.campaign.closes_at = utcnow() + dt.timedelta(days=10)
        batch.closes_at = utcnow() - dt.timedelta(hours=1)
        db.session.commit()
        for service in (services.start_sending, services.queue_reminders):
            with pytest.raises(services.DistributionError, match="已过截止时间"):
                service(batch)
    organizer(app, client)
    page = client.get("/distribution/t2026/batches/email1").text
    assert 'data-testid="preflight"' in page and "已过截止时间" in page
    client.post("/distribution/t2026/batches/email1/send", data={"confirmed": "1"}, follow_redirects=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Job.id))) == 0
    assert mailing.messages == []


def test_paper_and_open_batches_are_still_made_while_draft(app) -> None:
    with app.test_request_context():
        campaign = setup_campaign(status="draft")
        services.create_batch(campaign, campaign.groups[1], "paper", count=2)
        services.create_batch(campaign, campaign.groups[1], "qr")


# --- e-mail: pre-flight, failures in words ----------------------------------------------


def test_without_an_smtp_server_the_page_says_so_before_anything_is_sent(app, client, monkeypatch) -> None:
    monkeypatch.delenv("PINGYI_SMTP_HOST", raising=False)
    with app.test_request_context():
        batch = email_batch(2)
        with pytest.raises(services.DistributionError, match="尚未配置邮件服务器"):
            services.start_sending(batch)
    organizer(app, client)
    page = client.get("/distribution/t2026/batches/email1").text
    assert "尚未配置邮件服务器" in page and 'data-testid="preflight"' in page
    assert re.search(r'<button type="submit" disabled>发送待发消息', page)
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Invitation.pending_token.is_not(None))) == 2


def test_an_unreachable_mail_server_stops_the_job_in_words_and_keeps_every_link(app, client) -> None:
    app.config.update(PINGYI_SMTP_HOST="127.0.0.1", PINGYI_SMTP_PORT=9, PINGYI_SMTP_TIMEOUT=5)
    with app.test_request_context():
        batch = email_batch(3)
        services.start_sending(batch)
        db.session.commit()
        jobs.run_pending()
        job = db.session.scalar(select(Job))
        assert job.state == "failed"
        assert set(db.session.scalars(select(Invitation.delivery))) == {"queued"}
        assert db.session.scalar(select(func.count()).where(Invitation.pending_token.is_not(None))) == 3
        with force_locale("en"):
            english = services.job_view(job)
    assert english.label == "Sending stopped" and english.reason.startswith("The mail server could not be reached")
    organizer(app, client)
    page = client.get("/distribution/t2026/batches/email1").text
    assert 'class="card tone-bad"' in page and "无法连接邮件服务器" in page and "127.0.0.1:9" in page
    status = client.get("/distribution/t2026/batches/email1/status?lang=en").json
    assert status["job"]["tone"] == "bad" and status["job"]["label"] == "Sending stopped"
    assert status["delivery"]["queued"] == 3 and status["returned"] == 0


def test_refused_recipients_turn_the_job_amber_and_say_why(app, client, mailing) -> None:
    mailing.refuse.add("rep1@example.cn")
    with app.test_request_context():
        batch = email_batch(3)
        services.start_sending(batch)
        db.session.commit()
        jobs.run_pending()
    organizer(app, client)
    page = client.get("/distribution/t2026/batches/email1").text
    assert 'class="card tone-warn"' in page and "1 条发送失败" in page
    failures = page[page.index('data-testid="failures"'):]
    assert "rep1@example.cn" in failures and "服务器拒收" in failures and "550" in failures
    assert "Traceback" not in page and "SMTPRecipientsRefused" not in page
    status = client.get("/distribution/t2026/batches/email1/status").json
    assert status["delivery"] == {"queued": 0, "sending": 0, "sent": 2, "failed": 1, "printed": 0}
    assert (status["job"]["tone"], status["job"]["errors"]) == ("warn", 1)


def test_the_page_polls_its_status_from_a_static_script(app, client, mailing) -> None:
    with app.test_request_context():
        batch = email_batch(2)
        services.start_sending(batch)
        db.session.commit()
    organizer(app, client)
    page = client.get("/distribution/t2026/batches/email1").text
    assert 'src="/static/staff.js"' in page and "<script>" not in page
    assert 'data-status="/distribution/t2026/batches/email1/status"' in page and 'data-active="1"' in page
    assert 'data-count="queued" data-testid="delivery-queued">2<' in page
    script = (Path(app.static_folder) / "staff.js").read_text(encoding="utf-8")
    assert "dataset.status" in script and "data-count" in script


# --- confirmations ------------------------------------------------------------------------


def test_send_remind_and_retry_show_who_and_what_before_anything_goes(app, client, mailing) -> None:
    with app.test_request_context():
        email_batch(3, anonymous=False)
    organizer(app, client)
    preview = client.post("/distribution/t2026/batches/email1/send").text
    assert "共 3 人" in preview and "rep2@example.cn" in preview and "代表0" in preview
    assert "邀请您参加t2026 测试评议" in preview and "（每人一个不同的个人链接）" in preview
    assert 'name="confirmed" value="1"' in preview and "确认发送 3 条" in preview
    assert mailing.messages == []
    client.post("/distribution/t2026/batches/email1/send", data={"confirmed": "1"})
    with app.test_request_context():
        jobs.run_pending()
    assert len(mailing.messages) == 3
    preview = client.post("/distribution/t2026/batches/email1/remind").text
    assert "催办" in preview and "之前收到的链接即停用" in preview and "代表1" in preview
    assert len(mailing.messages) == 3
    with app.test_request_context():
        assert db.session.scalar(select(func.count(Job.id))) == 1  # no reminder queued
    answer = client.post("/distribution/t2026/batches/email1/retry", follow_redirects=True).text
    assert "没有可重试的失败消息" in answer  # refused at once: nothing to confirm


def test_an_anonymous_campaigns_reminder_preview_names_nobody(app, client, mailing) -> None:
    with app.test_request_context():
        batch = email_batch(2, anonymous=True)
        services.start_sending(batch)
        db.session.commit()
        jobs.run_pending()
    organizer(app, client)
    preview = client.post("/distribution/t2026/batches/email1/remind").text
    assert 'data-testid="recipients-count"' in preview and "共 2 人" in preview
    assert "代表0" not in preview and "rep0@example.cn" not in preview


def test_an_anonymous_campaigns_queued_or_failed_reminders_name_nobody(app, client, mailing) -> None:
    """Reminders go only to those who have not answered: while they wait to be sent
    or after they failed, the send and retry previews and the batch page's failures
    name nobody in an anonymous campaign (an invitation's failure still names its recipient)."""
    with app.test_request_context():
        batch = email_batch(3, anonymous=True)
        services.start_sending(batch)
        db.session.commit()
        jobs.run_pending()
        services.queue_reminders(batch)  # queued, not yet sent (the job has not run)
        db.session.commit()
    organizer(app, client)
    preview = client.post("/distribution/t2026/batches/email1/send").text
    assert 'data-testid="recipients-count"' in preview and "共 3 人" in preview
    assert not re.search(r"代表\d|rep\d@example\.cn", preview)
    with app.app_context():
        first = db.session.scalar(select(func.min(Invitation.id)))
        db.session.execute(db.update(Invitation).values(delivery="failed", last_error=jobs.reason(sending.REFUSED, "550")))
        db.session.execute(db.update(Invitation).where(Invitation.id == first).values(pending_kind="invite"))
        db.session.commit()
    retry = client.post("/distribution/t2026/batches/email1/retry").text
    assert "共 3 人" in retry and "代表0" in retry and not re.search(r"代表[12]|rep[12]@example\.cn", retry)
    assert "【催办】" not in retry  # the first failed message is an invitation: its wording is the sample
    with app.app_context():
        db.session.execute(db.update(Invitation).where(Invitation.id == first).values(pending_kind="reminder"))
        db.session.commit()
    assert "【催办】请参加" in client.post("/distribution/t2026/batches/email1/retry").text  # a reminder's sample
    with app.app_context():
        db.session.execute(db.update(Invitation).where(Invitation.id == first).values(pending_kind="invite"))
        db.session.commit()
    page = client.get("/distribution/t2026/batches/email1").text
    assert "代表0" in page and not re.search(r"代表[12]|rep[12]@example\.cn", page)
    assert page.count("匿名评议不列出尚未提交者的姓名") == 2 and page.count("服务器拒收") == 3


def test_finalize_and_publish_ask_first(app, client) -> None:
    from tests.survey.test_results_support import make_committee_campaign

    with app.app_context():
        campaign = make_committee_campaign()
        make_user("committee")
        code = campaign.code
    login(client, "committee")
    client.post(f"/results/{code}/approve")
    page = client.get(f"/results/{code}").text
    assert 'data-confirm="定稿后评议结果即冻结' in page and 'src="/static/staff.js"' in page
    asked = client.post(f"/results/{code}/finalize")
    assert asked.status_code == 200 and "此操作不能撤销" in asked.text
    with app.app_context():
        assert db.session.scalar(select(Campaign.status).where(Campaign.code == code)) == "closed"
    client.post(f"/results/{code}/finalize", data={"confirmed": "1"})
    with app.app_context():
        assert db.session.scalar(select(Campaign.status).where(Campaign.code == code)) == "finalized"
    fields = {"public": "y", "public_from": "2026-01-01", "public_until": "2099-12-31"}
    asked = client.post(f"/results/{code}/publish", data=fields)
    assert asked.status_code == 200 and "向社会公开" in asked.text and 'name="public_until" value="2099-12-31"' in asked.text
    with app.app_context():
        assert db.session.scalar(select(Campaign.status).where(Campaign.code == code)) == "finalized"
    client.post(f"/results/{code}/publish", data={**fields, "confirmed": "1"})
    with app.app_context():
        assert db.session.scalar(select(Campaign.status).where(Campaign.code == code)) == "published"


# --- the campaign's own words ----------------------------------------------------------------


def test_own_wording_with_placeholders_replaced_as_text(app, client, mailing) -> None:
    with app.test_request_context():
        batch = email_batch(2, anonymous=False)
        campaign = batch.campaign
        campaign.closes_at = utcnow() + dt.timedelta(days=5)
        evaluator = db.session.scalar(select(Invitation).where(Invitation.batch_id == batch.id)
                                      .order_by(Invitation.id)).evaluator
        evaluator.name = '<b>代表</b>{链接}{{ 7*7 }}'  # planted markup and placeholder-like text
        db.session.commit()
    organizer(app, client)
    saved = client.post("/distribution/t2026/messages", data={
        "which": "invite-email", "invite-email-subject": "{评议活动}：请{姓名}评议",
        "invite-email-body": "尊敬的{姓名}：\n请于{截止时间}前填写：{链接}\n{匿名说明}\n{{ config }} 评议办"})
    assert saved.status_code == 302
    page = client.get("/distribution/t2026/messages").text
    assert "（本活动自定义）" in page and 'data-testid="sample-invite-email"' in page
    client.post("/distribution/t2026/batches/email1/send", data={"confirmed": "1"})
    with app.test_request_context():
        jobs.run_pending()
    planted = next(m for m in mailing.messages if m.rcpt_tos == ["rep0@example.cn"])
    assert planted.message["Subject"] == "t2026 测试评议：请<b>代表</b>{链接}{{ 7*7 }}评议"
    body = planted.body
    assert body.startswith("尊敬的<b>代表</b>{链接}{{ 7*7 }}：\n请于") and "{{ config }} 评议办" in body
    assert LINK.search(body) and "匿名" not in body  # a named campaign: the anonymity line is left out
    html = planted.message.get_body(preferencelist=("html",)).get_content()
    assert "&lt;b&gt;代表&lt;/b&gt;" in html and "<b>代表</b>" not in html
    token = LINK.search(body).group(1)
    assert f'<a href="http://pingyi.test/b/{token}">' in html


@pytest.mark.parametrize("body, message", [
    ("请评议：{连接}", "未知的占位符 {连接}"),
    ("请评议，谢谢", "正文必须包含 {链接}"),
])
def test_bad_wording_is_refused_saying_what_and_where(app, client, body, message) -> None:
    with app.test_request_context():
        setup_campaign()
    organizer(app, client)
    answer = client.post("/distribution/t2026/messages", data={
        "which": "reminder-sms", "reminder-sms-subject": "", "reminder-sms-body": body})
    assert answer.status_code == 422 and message in answer.text and 'data-testid="message-error"' in answer.text
    assert body in answer.text  # what was typed is shown again
    with app.app_context():
        assert db.session.scalar(select(func.count(MessageTemplate.id))) == 0


def test_reset_goes_back_to_the_default_wording(app, client) -> None:
    with app.test_request_context():
        setup_campaign()
    organizer(app, client)
    client.post("/distribution/t2026/messages", data={"which": "invite-sms", "invite-sms-body": "评议：{链接}"})
    with app.test_request_context():
        campaign = db.session.scalar(select(Campaign))
        assert messages.wording(campaign, "invite", "sms").body == "评议：{链接}"
    client.post("/distribution/t2026/messages", data={"which": "invite-sms", "invite-sms-body": "x{链接}", "reset": "1"})
    with app.test_request_context():
        campaign = db.session.scalar(select(Campaign))
        wording = messages.wording(campaign, "invite", "sms")
        assert not wording.own and "【评议邀请】" in wording.body


def test_fill_leaves_out_lines_whose_placeholders_are_empty() -> None:
    text = "{姓名}您好\n截止：{截止时间}\n{匿名说明}\n{未知}照旧"
    assert messages.fill(text, {"姓名": "甲{截止时间}", "截止时间": "", "匿名说明": ""}) == "甲{截止时间}您好\n{未知}照旧"


# --- reminders scheduled from the batch page -------------------------------------------------


def sent_batch(app, mailing, *, closes_in: dt.timedelta | None) -> int:
    with app.test_request_context():
        batch = email_batch(2)
        batch.campaign.closes_at = utcnow() + closes_in if closes_in else None
        services.start_sending(batch)
        db.session.commit()
        jobs.run_pending()
        batch_id = batch.id
    mailing.messages.clear()
    return batch_id


def test_a_schedule_reminds_when_due_and_not_more_often(app, client, mailing) -> None:
    sent_batch(app, mailing, closes_in=dt.timedelta(days=10))
    organizer(app, client)
    answer = client.post("/distribution/t2026/batches/email1/schedule",
                         data={"days_before": "3", "every_days": "2"}, follow_redirects=True)
    assert "已安排定时催办：下次" in answer.text and "截止前 3 天起，每 2 天" in answer.text
    with app.test_request_context():
        [waiting] = jobs_of("remind_batch")
        deadline = db.session.scalar(select(Campaign.closes_at))
        assert abs(waiting.run_after - (deadline - dt.timedelta(days=3))) < dt.timedelta(seconds=5)
        assert jobs.run_pending() == 0  # not due: left waiting
        assert jobs.next_due() == waiting.run_after
        # The deadline comes nearer (the office moved it): the schedule is due now.
        db.session.execute(db.update(Campaign).values(closes_at=utcnow() + dt.timedelta(days=2, hours=20)))
        waiting.run_after = utcnow() - dt.timedelta(seconds=1)
        db.session.commit()
        assert jobs.run_pending() == 2  # the schedule's job, then the reminder's send job
        assert sorted(m.rcpt_tos[0] for m in mailing.messages) == ["rep0@example.cn", "rep1@example.cn"]
        assert all("催办" in m.message["Subject"] for m in mailing.messages)
        from survey.models import AuditEntry  # the system's act, in the log

        assert [(e.action, e.username, e.after) for e in db.session.scalars(select(AuditEntry).where(
            AuditEntry.action.like("batch.remind%")))] == [("batch.remind_scheduled", None, {"人数": 2})]
        [_done, following] = jobs_of("remind_batch")
        assert following.state == "queued" and following.run_after > utcnow() + dt.timedelta(days=1, hours=23)
        # Claimed early anyway (a clock set back, say): it reminds nobody before every_days have passed.
        following.run_after = utcnow() - dt.timedelta(seconds=1)
        db.session.commit()
        jobs.run_pending()
        assert len(mailing.messages) == 2
        assert [j.state for j in jobs_of("remind_batch")] == ["done", "done", "queued"]
    page = client.get("/distribution/t2026/batches/email1").text
    assert "下次：" in page
    client.post("/distribution/t2026/batches/email1/unschedule")
    with app.test_request_context():
        assert db.session.scalar(select(func.count(ReminderSchedule.id))) == 0
        assert [j.state for j in jobs_of("remind_batch")] == ["done", "done"]


def test_no_schedule_without_a_deadline(app, client, mailing) -> None:
    sent_batch(app, mailing, closes_in=None)
    organizer(app, client)
    answer = client.post("/distribution/t2026/batches/email1/schedule",
                         data={"days_before": "3", "every_days": "2"}, follow_redirects=True)
    assert "没有截止时间" in answer.text
    with app.test_request_context():
        assert db.session.scalar(select(func.count(ReminderSchedule.id))) == 0


def test_the_worker_thread_waits_for_a_job_whose_time_comes(app) -> None:
    ran = threading.Event()

    @jobs.handler("test_wait")
    def wait(job: Job) -> None:
        ran.set()

    app.config["PINGYI_JOBS_THREAD"] = True
    try:
        with app.app_context():
            jobs.enqueue("test_wait", {}, run_after=utcnow() + dt.timedelta(seconds=1.5))
            db.session.commit()  # kicks the worker, which finds nothing due yet and sleeps
            started = time.monotonic()
            assert not ran.wait(0.8)
            assert ran.wait(10) and time.monotonic() - started >= 1.4
            for _ in range(50):
                db.session.expire_all()
                if db.session.scalar(select(Job.state)) == "done":
                    break
                time.sleep(0.1)
            assert db.session.scalar(select(Job.state)) == "done"
    finally:
        jobs.HANDLERS.pop("test_wait")
        app.config["PINGYI_JOBS_THREAD"] = None


def test_next_reminder_never_at_or_after_the_deadline(app) -> None:
    with app.test_request_context():
        batch = email_batch(1)
        now = utcnow()
        batch.campaign.closes_at = now + dt.timedelta(days=1)
        schedule = ReminderSchedule(batch=batch, batch_id=batch.id, days_before=3, every_days=2)
        assert sending.next_reminder_at(schedule, now) == now
        assert sending.next_reminder_at(schedule, now + dt.timedelta(days=1)) is None


def test_cron_reminders_say_which_batches_they_could_not_remind(app) -> None:
    app.config.update(PINGYI_SMS_BACKEND="log")
    with app.test_request_context():
        campaign = setup_campaign(evaluators=2)
        campaign.closes_at = utcnow() + dt.timedelta(days=1)
        group = campaign.groups[0]
        batch = services.create_batch(campaign, group, "sms",
                                      evaluators=[e.id for e in services.eligible_evaluators(campaign, group, "sms")])
        services.start_sending(batch)
        db.session.commit()
        jobs.run_pending()
    app.config["PINGYI_SMS_BACKEND"] = None  # the gateway went away
    result = app.test_cli_runner().invoke(args=["distribution", "remind-due"])
    assert result.exit_code == 0
    assert "t2026/sms1: 未催办" in result.output and "尚未配置短信网关" in result.output


def test_the_send_preview_shows_planted_markup_as_text(app, client, mailing) -> None:
    from tests.survey.test_planted_markup import RAW, planted

    with app.test_request_context():
        batch = email_batch(2, anonymous=False)
        for invitation in db.session.scalars(select(Invitation).where(Invitation.batch_id == batch.id)):
            invitation.evaluator.name = planted(1)
        batch.campaign.name = planted(2)
        db.session.commit()
    organizer(app, client)
    client.post("/distribution/t2026/messages", data={
        "which": "invite-email", "invite-email-subject": "{评议活动}", "invite-email-body": planted(3) + "{姓名}{链接}"})
    preview = client.post("/distribution/t2026/batches/email1/send").text
    assert "&lt;script&gt;" in preview and not [raw for raw in RAW if raw in preview]
    page = client.get("/distribution/t2026/messages").text
    assert "&lt;script&gt;" in page and not [raw for raw in RAW if raw in page]


def test_a_send_job_reads_the_wording_and_the_batch_once(app, mailing) -> None:
    """Each message is composed from what the job read once (its commits would
    expire and reload the batch, campaign, group and wording per message)."""
    from sqlalchemy import event

    with app.test_request_context():
        batch = email_batch(6)
        services.start_sending(batch)
        db.session.commit()
        seen: list[str] = []

        def count(_conn, _cursor, statement, *_args) -> None:
            seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            jobs.run_pending()
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
    assert len(mailing.messages) == 6
    assert sum("FROM message_template" in s for s in seen) == 2  # the invitation's and the reminder's wording
    assert sum(re.search(r"FROM campaign_group\b", s) is not None for s in seen) <= 1
