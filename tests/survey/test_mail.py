"""E-mail batches through a real local SMTP server: personal links that work
on /b/<token>, at most one message per person across a crash, failures
recorded and retried, reminders with a fresh link, no clear token kept."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from survey import jobs, mail
from survey.clock import format_beijing, to_beijing, utcnow
from survey.distribution import sending, services
from survey.extensions import db
from survey.models import Ballot, Batch, Invitation, Job, ReplacedLink
from tests.factories import login, make_user
from tests.smtp import smtp_config
from tests.survey.test_distribution_support import setup_campaign

LINK = re.compile(r"http://pingyi\.test/b/([A-Za-z0-9_-]+)")


@pytest.fixture
def mailing(app, smtp_server):
    handler, port = smtp_server
    app.config.update(smtp_config(port), PINGYI_PUBLIC_URL="http://pingyi.test")
    return handler


def make_email_batch(n: int = 3):
    campaign = setup_campaign(evaluators=n)
    group = campaign.groups[0]
    ids = [e.id for e in services.eligible_evaluators(campaign, group, "email")]
    batch = services.create_batch(campaign, group, "email", evaluators=ids)
    db.session.commit()
    return campaign, batch


def links(handler) -> dict[str, str]:
    return {m.rcpt_tos[0]: LINK.search(m.body).group(1) for m in handler.messages}


def vote(client, token: str) -> int:
    html = client.get(f"/b/{token}").get_data(as_text=True)
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and value:
            fields.setdefault(name.group(1), value.group(1))
    return client.post(f"/b/{token}", data=fields).status_code


def test_batch_is_sent_and_links_work(app, client, mailing) -> None:
    with app.test_request_context():
        campaign, batch = make_email_batch(3)
        assert batch.issued == 3
        campaign.closes_at = (utcnow() + dt.timedelta(days=7)).replace(microsecond=0)
        deadline = format_beijing(campaign.closes_at, services.DEADLINE_FORMAT)
        job = services.start_sending(batch)
        db.session.commit()
        assert jobs.run_pending() == 1
        job = db.session.get(Job, job.id, populate_existing=True)
        assert (job.state, job.done, job.total, job.errors) == ("done", 3, 3, 0)
        assert db.session.scalar(select(func.count()).where(Invitation.pending_token.is_not(None))) == 0
        states = db.session.scalars(select(Invitation.delivery)).all()
        assert states == ["sent"] * 3
        name = campaign.name
    received = sorted(m.rcpt_tos[0] for m in mailing.messages)
    assert received == ["rep0@example.cn", "rep1@example.cn", "rep2@example.cn"]
    first = next(m for m in mailing.messages if m.rcpt_tos == ["rep1@example.cn"])
    assert name in first.message["Subject"]
    assert "代表1" in first.body and "市评议办" in first.message["From"]
    assert f"截止时间：{deadline}（北京时间）" in first.body and re.match(r"2\d{3}年\d\d月\d\d日 \d\d:\d\d", deadline)
    tokens = links(mailing)
    assert len(set(tokens.values())) == 3
    page = client.get(f"/b/{tokens['rep1@example.cn']}")
    assert page.status_code == 200 and "市第1局" in page.get_data(as_text=True)
    assert vote(client, tokens["rep1@example.cn"]) == 200
    with app.test_request_context():
        assert db.session.scalar(select(func.count(Ballot.id))) == 1


class Crash(BaseException):
    """The process dies (not an error the job could record)."""


def test_crash_mid_batch_resumes_without_a_second_message(app, mailing) -> None:
    app.config["PINGYI_JOBS_STALE_S"] = 0
    with app.test_request_context():
        _, batch = make_email_batch(5)
        services.start_sending(batch)
        db.session.commit()
        sent: list[int] = []

        def die_after_second(invitation_id: int) -> None:
            sent.append(invitation_id)
            if len(sent) == 2:
                raise Crash()

        sending.after_send_hook = die_after_second
        try:
            with pytest.raises(Crash):
                jobs.run_pending()
        finally:
            sending.after_send_hook = None
        db.session.rollback()
        assert db.session.scalar(select(Job.state)) == "running"
        assert len(mailing.messages) == 2
        # A new worker takes the job up again.
        assert jobs.run_pending() == 1
        job = db.session.scalar(select(Job))
        assert (job.state, job.done, job.errors) == ("done", 5, 1)
        interrupted = db.session.get(Invitation, sent[1])
        assert interrupted.delivery == "failed" and "中断" in interrupted.last_error
    addresses = [m.rcpt_tos[0] for m in mailing.messages]
    assert sorted(addresses) == [f"rep{k}@example.cn" for k in range(5)]  # each exactly once


def test_refused_recipient_is_recorded_and_retried(app, mailing) -> None:
    mailing.refuse.add("rep1@example.cn")
    with app.test_request_context():
        _, batch = make_email_batch(3)
        services.start_sending(batch)
        db.session.commit()
        jobs.run_pending()
        failed = db.session.scalar(select(Invitation).where(Invitation.delivery == "failed"))
        assert failed.evaluator.email == "rep1@example.cn" and "550" in failed.last_error
        assert failed.pending_token is not None  # kept: it has not been delivered
        assert services.batch_figures(batch).failed[0][1] == "rep1@example.cn"
        mailing.refuse.clear()
        services.retry_failed(batch)
        db.session.commit()
        jobs.run_pending()
        db.session.refresh(failed)
        assert failed.delivery == "sent" and failed.pending_token is None and failed.send_attempts == 2
        with pytest.raises(services.DistributionError, match="没有可重试"):
            services.retry_failed(batch)
    assert sorted(m.rcpt_tos[0] for m in mailing.messages) == [
        "rep0@example.cn", "rep1@example.cn", "rep2@example.cn"]


def test_reminders_reach_only_those_who_have_not_answered(app, client, mailing) -> None:
    with app.test_request_context():
        _, batch = make_email_batch(3)
        batch_id = batch.id
        services.start_sending(batch)
        db.session.commit()
        jobs.run_pending()
    first = links(mailing)
    assert vote(client, first["rep0@example.cn"]) == 200
    mailing.messages.clear()
    with app.test_request_context():
        batch = db.session.get(Batch, batch_id)
        job = services.queue_reminders(batch)
        assert job.total == 2
        db.session.commit()
        jobs.run_pending()
        assert db.session.scalar(select(func.count()).where(Invitation.pending_token.is_not(None))) == 0
        assert sorted(db.session.scalars(select(Invitation.reminders))) == [0, 1, 1]
    assert sorted(m.rcpt_tos[0] for m in mailing.messages) == ["rep1@example.cn", "rep2@example.cn"]
    assert all("催办" in m.message["Subject"] for m in mailing.messages)
    again = links(mailing)
    assert again["rep1@example.cn"] != first["rep1@example.cn"]
    # The new link works; the old one was replaced when the reminder went out, and says so.
    old = client.get(f"/b/{first['rep1@example.cn']}")
    assert old.status_code == 410 and 'data-testid="replaced"' in old.text
    assert "催办邮件中有一个新的个人链接" in old.text and format_beijing(utcnow(), "%Y-%m-%d") in old.text
    # only the day is kept: a time would match the reminded invitation's sent_at
    with app.app_context():
        assert {to_beijing(t).time() for t in db.session.scalars(select(ReplacedLink.replaced_at))} == {dt.time()}
    assert vote(client, again["rep1@example.cn"]) == 200
    # A link nobody was ever sent still says nothing about anything.
    assert client.get("/b/AbC-12_xyzAbC-12_xyzAbC1XYZ").status_code == 404


def test_sending_needs_a_message_batch_and_something_to_send(app, mailing) -> None:
    with app.test_request_context():
        campaign, batch = make_email_batch(2)
        services.start_sending(batch)
        db.session.commit()
        jobs.run_pending()
        with pytest.raises(services.DistributionError, match="没有待发送"):
            services.start_sending(batch)
        paper = services.create_batch(campaign, campaign.groups[1], "paper", count=2)
        with pytest.raises(services.DistributionError, match="只有邮件和短信"):
            services.start_sending(paper)


def test_progress_route_and_send_button(app, client, mailing) -> None:
    with app.test_request_context():
        _, batch = make_email_batch(2)
        make_user("organizer")
        make_user("committee")
    login(client, "committee")
    assert client.post("/distribution/t2026/batches/email1/send").status_code == 403
    client.post("/logout")
    login(client, "organizer")
    preview = client.post("/distribution/t2026/batches/email1/send")
    assert preview.status_code == 200 and 'data-testid="recipients"' in preview.text
    assert "rep0@example.cn" in preview.text and "代表1" in preview.text and "不能撤回" in preview.text
    with app.test_request_context():
        assert db.session.scalar(select(Job.id)) is None  # nothing queued before the confirmation
    response = client.post("/distribution/t2026/batches/email1/send", data={"confirmed": "1"})
    assert response.status_code == 302
    with app.test_request_context():
        job_id = db.session.scalar(select(Job.id))
    progress = client.get(f"/distribution/jobs/{job_id}").get_json()
    assert (progress["state"], progress["done"], progress["total"]) == ("queued", 0, 2)
    with app.test_request_context():
        jobs.run_pending()
    progress = client.get(f"/distribution/jobs/{job_id}").get_json()
    assert (progress["state"], progress["done"], progress["tone"], progress["label"]) == ("done", 2, "ok", "已全部发出")
    page = client.get("/distribution/t2026/batches/email1").get_data(as_text=True)
    assert 'data-testid="delivery-sent">2<' in page
    assert len(mailing.messages) == 2


def test_settings_from_config_and_environment(monkeypatch) -> None:
    monkeypatch.delenv("PINGYI_SMTP_HOST", raising=False)
    with pytest.raises(mail.NotConfigured):
        mail.settings_from({})
    assert mail.configured_host({}) is None
    monkeypatch.setenv("PINGYI_SMTP_HOST", "smtp.example.cn")
    assert mail.configured_host({"PINGYI_SMTP_PORT": 587}) == "smtp.example.cn:587"
    monkeypatch.setenv("PINGYI_SMTP_STARTTLS", "true")
    s = mail.settings_from({"PINGYI_SMTP_PORT": 587, "PINGYI_SMTP_USER": "office"})
    assert (s.host, s.port, s.starttls, s.ssl, s.user) == ("smtp.example.cn", 587, True, False, "office")
    with pytest.raises(ValueError, match="只能选一"):
        mail.settings_from({"PINGYI_SMTP_SSL": True})


def test_scheduled_reminders_near_the_deadline(app, mailing) -> None:
    with app.test_request_context():
        campaign, batch = make_email_batch(2)
        services.start_sending(batch)
        db.session.commit()
        jobs.run_pending()
        now = utcnow()
        campaign.closes_at = now + dt.timedelta(days=10)
        db.session.commit()
        assert services.remind_due(days_before=3, now=now) == []  # not due yet
        campaign.closes_at = now + dt.timedelta(days=2)
        db.session.commit()
    mailing.messages.clear()
    result = app.test_cli_runner().invoke(args=["distribution", "remind-due", "--days-before", "3"])
    assert result.exit_code == 0, result.output
    assert "t2026/email1" in result.output
    assert sorted(m.rcpt_tos[0] for m in mailing.messages) == ["rep0@example.cn", "rep1@example.cn"]
    assert all("催办" in m.message["Subject"] for m in mailing.messages)
    again = app.test_cli_runner().invoke(args=["distribution", "remind-due"])
    assert "email1" not in again.output  # reminded less than two days ago
    assert len(mailing.messages) == 2
    with app.app_context():  # the audit log has the cron's act, by the system, with how many were reminded
        from survey.models import AuditEntry

        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "batch.remind_due")).all()
        assert [(e.target, e.username, e.after) for e in entries] == [("campaign:t2026/batch:email1", None,
                                                                       {"人数": 2})]
