"""Webhooks against a real HTTP server on the loopback (http.server in a
thread): each event is queued where its change is made and sent once the
change commits (never when it is rolled back), signed as docs/api.md says
(its snippet verifies a real delivery), retried with exponential backoff
after a failure, given up after the last attempt; the admin's pages (admin
only) register endpoints and show the delivery log with its attempts."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from survey import jobs, webhooks
from survey.campaigns import setup
from survey.clock import utcnow
from survey.errors import Conflict
from survey.extensions import db
from survey.models import Campaign, CampaignUnit, Job, Rectification, User, WebhookDelivery, WebhookEndpoint
from survey.results import publication, rectification
from tests.api.apikit import finalize
from tests.factories import login, make_user
from tests.survey.test_results_support import make_committee_campaign

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
SECRET = "whsec_test-secret-of-the-receiver"


class Receiver:
    """An HTTP server that records every POST and answers with the next of
    `statuses` (200 once they run out)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _campaign(code: str = "t2026") -> Campaign:
    campaign = db.session.scalar(select(Campaign).where(Campaign.code == code))
    assert campaign is not None
    return campaign


def _endpoint(url: str, *events: str) -> WebhookEndpoint:
    endpoint = webhooks.register(url, list(events or webhooks.EVENTS), secret=SECRET, description="测试")
    db.session.commit()
    return endpoint


def _deliveries() -> list[WebhookDelivery]:
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)
                                   .execution_options(populate_existing=True)))


def _run_at(monkeypatch: pytest.MonkeyPatch, instant: dt.datetime) -> int:
    """Run the due jobs as if it were `instant` (the queue's and the deliveries' clock)."""
    monkeypatch.setattr(jobs, "utcnow", lambda: instant)
    monkeypatch.setattr(webhooks, "utcnow", lambda: instant)
    return jobs.run_pending()


def _docs_verify() -> Any:
    """The verification snippet of docs/api.md's webhooks section, run as a receiver would run it."""
    section = DOCS.read_text(encoding="utf-8").split("## Webhooks", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "docs/api.md: the webhooks section has a Python snippet"
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)  # noqa: S102 (our own documentation's code)
    return namespace["verify"]


# --- what is sent ------------------------------------------------------------------------------


def test_a_delivery_is_signed_as_the_docs_say_and_carries_its_id(app, receiver) -> None:
    with app.app_context():
        make_committee_campaign()
        make_user("committee", username="committee")
        _endpoint(receiver.url, "campaign.finalized")
        finalize()
        jobs.run_pending()  # the delivery (and the drawing of the final results)
        [delivery] = _deliveries()
        assert (delivery.state, delivery.attempts, delivery.response_code) == ("delivered", 1, 200)
    [sent] = receiver.requests
    headers, body = sent["headers"], sent["body"]
    document = json.loads(body)
    assert headers["Pingyi-Delivery"] == document["id"] == delivery.delivery_id
    assert headers["Pingyi-Event"] == document["event"] == "campaign.finalized"
    assert headers["Content-Type"].startswith("application/json")
    assert document["data"]["campaign"] == {"code": "t2026", "name": document["data"]["campaign"]["name"],
                                            "year": 2026, "status": "finalized"}
    assert document["data"]["version"] == 1 and len(document["data"]["results_sha256"]) == 64
    # The signature: HMAC-SHA256 of "<t>." + the body, under the endpoint's secret.
    t, v1 = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", headers["Pingyi-Signature"]).groups()
    assert abs(int(t) - time.time()) < 60
    assert hmac.compare_digest(v1, hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest())
    verify = _docs_verify()
    assert verify(SECRET, headers["Pingyi-Signature"], body)
    assert not verify("whsec_another-secret-altogether", headers["Pingyi-Signature"], body)
    assert not verify(SECRET, headers["Pingyi-Signature"], body.replace(b"t2026", b"t2027"))
    stale = webhooks.signature(SECRET, int(time.time()) - 3600, body)
    assert not verify(SECRET, stale, body)  # an old signature is a replay
    assert webhooks.verify(SECRET, headers["Pingyi-Signature"], body)


def test_each_event_is_queued_where_its_change_is_made(app, receiver) -> None:
    with app.app_context():
        make_committee_campaign()
        committee = make_user("committee", username="committee")
        liaison = make_user("liaison", unit_code="u3")
        every = _endpoint(receiver.url)
        only_appeals = _endpoint(receiver.url + "/appeals", "appeal.filed")
        campaign = _campaign()
        campaign.closes_at = None

        def events() -> list[tuple[str, int]]:
            return [(d.event, d.endpoint_id) for d in _deliveries()]

        setup.change_status(campaign, "open")
        setup.change_status(campaign, "closed")
        db.session.commit()
        assert events() == [("campaign.opened", every.id), ("campaign.closed", every.id)]
        # The deadline closes an open campaign too, through the same place.
        campaign.status, campaign.closes_at = "open", utcnow() - dt.timedelta(minutes=1)
        assert setup.close_due_campaigns() == ["t2026"]
        db.session.commit()
        assert events()[-1] == ("campaign.closed", every.id)
        finalize()
        publication.publish(campaign, True, dt.date(2026, 12, 2), dt.date(2026, 12, 9),
                            db.session.get(User, committee.id))
        cu = db.session.scalar(select(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id,
                                                          CampaignUnit.position == 2))
        appeal = publication.file_appeal(campaign, cu, "请复核", db.session.get(User, liaison.id))
        rect = db.session.scalar(select(Rectification).where(Rectification.campaign_unit_id == cu.id))
        rect.due_on = dt.date(2026, 12, 1)
        assert rectification.mark_overdue(campaign, dt.date(2026, 12, 5)) == [rect]
        assert rectification.mark_overdue(campaign, dt.date(2026, 12, 6)) == []  # marked once, sent once
        db.session.commit()
        assert events()[3:] == [("campaign.finalized", every.id), ("campaign.published", every.id),
                                ("appeal.filed", every.id), ("appeal.filed", only_appeals.id),
                                ("rectification.overdue", every.id)]
        bodies = {d.event: json.loads(d.body)["data"] for d in _deliveries()}
        assert bodies["campaign.published"]["public"] is True
        assert bodies["campaign.published"]["public_from"] == "2026-12-02"
        assert bodies["appeal.filed"]["unit"] == {"code": "u3", "name": cu.name}
        assert bodies["appeal.filed"]["appeal"]["id"] == appeal.id
        assert bodies["rectification.overdue"]["rectification"] == {
            "id": rect.id, "due_on": "2026-12-01", "plan": False, "report": False}
        # One job per delivery, all sent once the changes committed.
        assert db.session.scalar(select(func.count()).select_from(Job).where(Job.kind == webhooks.JOB_KIND)) == 8
        jobs.run_pending()
        assert {d.state for d in _deliveries()} == {"delivered"}
    assert sorted(r["path"] for r in receiver.requests).count("/hook/appeals") == 1
    assert len(receiver.requests) == 8


def test_a_rolled_back_change_sends_nothing(app, receiver) -> None:
    with app.app_context():
        make_committee_campaign()
        _endpoint(receiver.url)
        campaign = _campaign()
        campaign.closes_at = None
        setup.change_status(campaign, "open")
        assert len(_deliveries()) == 1  # queued in the transaction...
        db.session.rollback()  # ...which does not commit
        assert _deliveries() == []
        assert db.session.scalar(select(func.count()).select_from(Job)) == 0
        assert jobs.run_pending() == 0
        assert _campaign().status == "closed"
    assert receiver.requests == []


def test_a_page_action_refused_after_the_event_was_queued_sends_nothing(app, client, receiver,
                                                                        monkeypatch) -> None:
    """A refusal later in the same request rolls back the change and its queued
    event together (the request idiom of survey/web.py)."""
    with app.app_context():
        make_committee_campaign(status="open")
        _endpoint(receiver.url)
        organizer = make_user("organizer").username
        _campaign().closes_at = None
        db.session.commit()
    queued = []
    emit = webhooks.emit_campaign

    def emit_then_refuse(event: str, campaign: Campaign, **extra: Any) -> Any:
        queued.extend(emit(event, campaign, **extra))
        raise Conflict("a later step refuses")

    monkeypatch.setattr(webhooks, "emit_campaign", emit_then_refuse)
    login(client, organizer)
    client.post("/campaigns/t2026/status", data={"target": "closed", "confirmed": "1"})
    assert [d.event for d in queued] == ["campaign.closed"]  # it was queued, in the request's transaction
    with app.app_context():
        assert _campaign().status == "open"
        assert _deliveries() == []
        assert db.session.scalar(select(func.count()).select_from(Job)) == 0
    monkeypatch.undo()
    client.post("/campaigns/t2026/status", data={"target": "closed", "confirmed": "1"})
    with app.app_context():
        assert _campaign().status == "closed"
        assert [d.event for d in _deliveries()] == ["campaign.closed"]
        jobs.run_pending()
    assert [json.loads(r["body"])["event"] for r in receiver.requests] == ["campaign.closed"]


# --- retries ---------------------------------------------------------------------------------------


def test_a_500_is_retried_after_the_backoff_then_delivered(app, receiver, monkeypatch) -> None:
    receiver.statuses = [500]
    with app.app_context():
        make_committee_campaign()
        _endpoint(receiver.url, "appeal.filed")
        campaign = _campaign()
        campaign.status = "finalized"
        cu = campaign.units[0]
        publication.file_appeal(campaign, cu, "请复核", make_user("liaison", unit_code=cu.code))
        db.session.commit()
        start = utcnow()
        assert _run_at(monkeypatch, start) == 1
        [delivery] = _deliveries()
        assert (delivery.state, delivery.attempts, delivery.response_code) == ("pending", 1, 500)
        assert delivery.last_error.startswith("HTTP 500")
        assert delivery.next_attempt_at == start + dt.timedelta(seconds=30)  # PINGYI_WEBHOOK_BACKOFF_S
        assert _run_at(monkeypatch, start + dt.timedelta(seconds=29)) == 0  # not before its time
        assert len(receiver.requests) == 1
        assert _run_at(monkeypatch, start + dt.timedelta(seconds=31)) == 1
        [delivery] = _deliveries()
        assert (delivery.state, delivery.attempts, delivery.response_code, delivery.last_error) == (
            "delivered", 2, 200, None)
    first, second = receiver.requests
    assert first["body"] == second["body"]  # the same delivery, the same id
    assert first["headers"]["Pingyi-Delivery"] == second["headers"]["Pingyi-Delivery"]


def test_a_delivery_is_given_up_after_the_last_attempt(app, receiver, monkeypatch) -> None:
    app.config["PINGYI_WEBHOOK_ATTEMPTS"] = 4
    receiver.statuses = [500, 503, 302, 404, 200]
    with app.app_context():
        endpoint = _endpoint(receiver.url)
        webhooks.ping(endpoint)
        db.session.commit()
        now = utcnow()
        waits = []
        for _attempt in range(6):
            _run_at(monkeypatch, now)
            [delivery] = _deliveries()
            if delivery.next_attempt_at is None:
                break
            waits.append((delivery.next_attempt_at - now).total_seconds())
            now = delivery.next_attempt_at
        assert waits == [30, 60, 120]  # doubling after each failure
        assert (delivery.state, delivery.attempts, delivery.response_code) == ("failed", 4, 404)
        assert _run_at(monkeypatch, now + dt.timedelta(days=1)) == 0  # nothing more is queued
    assert len(receiver.requests) == 4  # a redirect is a failure, not followed
    assert all(r["path"] == "/hook" for r in receiver.requests)


def test_the_backoff_is_capped(app) -> None:
    app.config["PINGYI_WEBHOOK_BACKOFF_MAX_S"] = 100
    with app.app_context():
        assert [webhooks.backoff(n).total_seconds() for n in range(1, 6)] == [30, 60, 100, 100, 100]


def test_no_answer_is_a_failed_attempt(app, monkeypatch) -> None:
    with app.app_context():
        probe = Receiver()  # a port that was listening and is closed now
        url = probe.url
        probe.close()
        endpoint = _endpoint(url)
        webhooks.ping(endpoint)
        db.session.commit()
        assert _run_at(monkeypatch, utcnow()) == 1
        [delivery] = _deliveries()
        assert (delivery.state, delivery.attempts, delivery.response_code) == ("pending", 1, None)
        assert "Connection" in delivery.last_error or "refused" in delivery.last_error


def test_a_disabled_endpoint_gets_nothing_new_and_its_pending_deliveries_give_up(app, receiver) -> None:
    with app.app_context():
        endpoint = _endpoint(receiver.url)
        webhooks.ping(endpoint)
        webhooks.set_active(endpoint, False)
        db.session.commit()
        assert webhooks.emit("campaign.opened", {"campaign": {}}) == []
        jobs.run_pending()
        [delivery] = _deliveries()
        assert (delivery.state, delivery.attempts) == ("failed", 0)
        with pytest.raises(webhooks.WebhookRefused):
            webhooks.ping(endpoint)
    assert receiver.requests == []


def test_the_worker_thread_waits_for_a_retry(app, receiver) -> None:
    """In the web process the worker thread sleeps until a retry is due, then sends it."""
    app.config.update(PINGYI_JOBS_THREAD=True, PINGYI_WEBHOOK_BACKOFF_S=0.3)
    receiver.statuses = [500]
    with app.app_context():
        webhooks.ping(_endpoint(receiver.url))
        db.session.commit()  # kicks the worker
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(receiver.requests) < 2:
        time.sleep(0.05)
    with app.app_context():
        for _ in range(100):
            [delivery] = _deliveries()
            if delivery.state == "delivered":
                break
            time.sleep(0.05)
        assert (delivery.state, delivery.attempts) == ("delivered", 2)


# --- registering, the pages and the command line -------------------------------------------------


def test_registering_refuses_what_cannot_be_sent(app) -> None:
    with app.app_context():
        for url, events, secret in (("ftp://x/y", ["ping"], None), ("https://x/a b", ["campaign.opened"], None),
                                    ("https://x/y", [], None), ("https://x/y", ["campaign.bogus"], None),
                                    ("https://x/y", ["campaign.opened"], "short")):
            with pytest.raises(webhooks.WebhookRefused):
                webhooks.register(url, events, secret=secret)
        endpoint = webhooks.register("https://x/y", ["appeal.filed", "campaign.opened"])
        assert endpoint.secret.startswith("whsec_") and len(endpoint.secret) == 49
        assert endpoint.events == ["campaign.opened", "appeal.filed"]  # in the order of EVENTS


@pytest.mark.parametrize(("url", "says"), [
    ("https://user:pa55word@x.example/hook", "用户名或密码"),  # would be shown on the pages and in the audit log
    ("https://x.example/a\tb", "控制字符"), ("https://x.example/a\nb", "控制字符"),
    ("https://x.example/回调", "非 ASCII"), ("https:///hook", "主机名"), ("https://x.example:80a/hook", "端口"),
])
def test_a_url_that_could_never_be_sent_or_holds_a_password_is_refused(app, url: str, says: str) -> None:
    with app.app_context():
        with pytest.raises(webhooks.WebhookRefused, match=says):
            webhooks.register(url, ["campaign.opened"])
        db.session.rollback()
        from survey.models import AuditEntry

        assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0
        webhooks.register("https://x.example:8443/hook?system=archive", ["campaign.opened"])  # a port, a query: fine


def test_only_the_admin_has_the_webhook_pages(app, client) -> None:
    with app.app_context():
        make_committee_campaign()
        users = {role: make_user(role, unit_code="u1" if role == "liaison" else None).username
                 for role in ("organizer", "committee", "auditor", "liaison")}
        admin = make_user("admin").username
    for role, username in users.items():
        login(client, username)
        assert client.get("/admin/webhooks").status_code == 403, role
        assert client.post("/admin/webhooks", data={"url": "https://x/y", "events": ["ping"]}).status_code == 403
    login(client, admin)
    page = client.get("/admin/webhooks")
    assert page.status_code == 200 and "Webhook" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


def test_the_admin_registers_an_endpoint_and_reads_the_delivery_log(app, client, receiver, monkeypatch) -> None:
    receiver.statuses = [500]
    with app.app_context():
        admin = make_user("admin").username
    login(client, admin)
    missing = client.post("/admin/webhooks", data={"url": "", "description": "x"})
    assert missing.status_code == 400 and "请填写接收地址" in missing.get_data(as_text=True)
    page = client.post("/admin/webhooks", data={"url": receiver.url, "description": "档案系统",
                                                "events": ["campaign.opened", "appeal.filed"]})
    with app.app_context():
        endpoint = db.session.scalar(select(WebhookEndpoint))
        endpoint_id = endpoint.id
    # Redirected to the endpoint's page (a reload of the answer must not register it again), which shows the secret.
    assert page.status_code == 302 and page.location == f"/admin/webhooks/{endpoint_id}?created=1"
    html = client.get(page.location).get_data(as_text=True)
    secret = re.search(r'data-testid="created-secret".*?<code>(whsec_[A-Za-z0-9_-]{43})</code>', html, re.S).group(1)
    with app.app_context():
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        assert (endpoint.url, endpoint.secret, endpoint.description) == (receiver.url, secret, "档案系统")
        assert endpoint.events == ["campaign.opened", "appeal.filed"]
    assert client.post(f"/admin/webhooks/{endpoint_id}/ping").status_code == 302
    with app.app_context():
        start = utcnow()
        _run_at(monkeypatch, start)
        _run_at(monkeypatch, start + dt.timedelta(seconds=31))
    log = client.get(f"/admin/webhooks/{endpoint_id}").get_data(as_text=True)
    row = re.search(r'<tr data-delivery="[^"]+" data-state="delivered">.*?</tr>', log, re.S).group(0)
    assert '<td class="attempts">2</td>' in row and '<td class="response-code">200</td>' in row
    assert "<code>ping</code>" in row
    assert webhooks.verify(secret, receiver.requests[0]["headers"]["Pingyi-Signature"], receiver.requests[0]["body"])
    # Switched off: the listing says so, and the audit log has both acts.
    client.post(f"/admin/webhooks/{endpoint_id}/active")
    assert "已停用" in client.get(f"/admin/webhooks/{endpoint_id}").get_data(as_text=True)
    with app.app_context():
        from survey.models import AuditEntry

        actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.target == f"webhook:{endpoint_id}"))
        assert list(actions) == ["webhook.create", "webhook.active"]


def test_planted_markup_in_an_endpoint_renders_escaped(app, client) -> None:
    with app.app_context():
        admin = make_user("admin").username
        endpoint = webhooks.register("https://x.example/<script>alert(1)</script>", ["campaign.opened"],
                                     description="<b>系统</b>")
        webhooks.ping(endpoint)  # a delivery: the log shows the URL too
        db.session.commit()
    login(client, admin)
    for path in ("/admin/webhooks", "/admin/webhooks/1?created=1"):  # the listing; the endpoint's page and log
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html, path
        assert "<b>系统</b>" not in html and "&lt;b&gt;系统&lt;/b&gt;" in html, path


def test_the_command_line_adds_lists_and_disables(app, receiver) -> None:
    runner = app.test_cli_runner()
    added = runner.invoke(args=["webhooks", "add", receiver.url, "--event", "campaign.closed",
                                "--event", "campaign.opened", "--description", "报表"])
    assert added.exit_code == 0, added.output
    secret = added.stdout.strip()
    assert secret.startswith("whsec_")
    listing = runner.invoke(args=["webhooks", "list"]).output
    assert f"1\t{receiver.url}\tcampaign.opened,campaign.closed\tactive" in listing
    assert runner.invoke(args=["webhooks", "add", "ftp://x", "--event", "campaign.closed"]).exit_code != 0
    # The office's own secret comes on standard input, never as an argument.
    own = "whsec_" + "k" * 40
    added = runner.invoke(args=["webhooks", "add", receiver.url + "/2", "--event", "campaign.closed",
                                "--secret-stdin"], input=own + "\n")
    assert added.exit_code == 0 and added.stdout.strip() == own
    assert runner.invoke(args=["webhooks", "add", receiver.url, "--event", "campaign.closed", "--secret", own]
                         ).exit_code != 0
    assert runner.invoke(args=["webhooks", "add", receiver.url, "--event", "campaign.closed", "--secret-stdin"],
                         input="\n").exit_code != 0
    assert runner.invoke(args=["webhooks", "disable", "1"]).exit_code == 0
    assert "\tdisabled\t" in runner.invoke(args=["webhooks", "list"]).output
    with app.app_context():
        assert db.session.get(WebhookEndpoint, 1).secret == secret


def test_the_audit_log_names_the_webhook_and_api_key_actions_in_chinese(app) -> None:
    from survey import audit
    from survey.api import keys
    from survey.models import AuditEntry

    with app.app_context():
        endpoint = webhooks.register("https://x.example/hook", ["campaign.opened"], description="档案系统")
        webhooks.set_active(endpoint, False)
        row, _key = keys.issue(make_user("organizer"), "报表系统")
        keys.revoke(row)
        db.session.commit()
        entries = {e.action: e for e in db.session.scalars(select(AuditEntry))}
        assert {"webhook.create", "webhook.active", "api_key.create", "api_key.revoke"} <= set(entries)
        for action in entries:
            assert audit.action_label(action) != action, action
        assert audit.details(entries["webhook.create"].after).startswith("接收地址：https://x.example/hook；事件：")
        assert audit.details(entries["api_key.revoke"].after) == "已吊销：是"


def test_the_audit_log_keeps_no_access_key_from_an_endpoints_address(app) -> None:
    """The log is append-only: a key in the receiver's query string would stay there for ever (user
    info is refused outright). The endpoint itself keeps its whole address (it must call it)."""
    from survey.models import AuditEntry

    with app.app_context():
        endpoint = webhooks.register("https://x.example:8443/hook/in?access_token=tok-secret-99",
                                     ["campaign.opened"])
        db.session.commit()
        after = db.session.scalars(select(AuditEntry.after).where(AuditEntry.action == "webhook.create")).one()
        assert after["url"] == "https://x.example:8443/hook/in?…"
        assert "tok-secret-99" not in json.dumps(after)
        assert endpoint.url.endswith("access_token=tok-secret-99")
