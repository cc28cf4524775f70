"""Webhooks: telling other systems that something happened, by an HTTP POST
to the endpoints an admin registered (/admin/webhooks, `flask webhooks`).

    emit("campaign.finalized", {"campaign": {...}})    # in the transaction of the change

`emit` is called once per event, where the change is made (the lifecycle's
services, the appeal, the red marks). It adds a delivery row per endpoint
that wants the event and queues a job for it, in the caller's transaction:
a change that is rolled back sends nothing, and one that commits is sent
at least once, by the persisted job queue (survey/jobs.py), after the
commit. Each attempt POSTs the same JSON body, signed:

    Pingyi-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
    Pingyi-Delivery: <the delivery's id, also the body's "id">
    Pingyi-Event: campaign.finalized

An answer 2xx delivers it; anything else (another status, a redirect, no
answer within PINGYI_WEBHOOK_TIMEOUT_S) is a failed attempt, retried after
PINGYI_WEBHOOK_BACKOFF_S seconds, twice as long after each further failure
(at most PINGYI_WEBHOOK_BACKOFF_MAX_S), until PINGYI_WEBHOOK_ATTEMPTS attempts
have failed: the delivery is then given up. docs/api.md tells a receiver how
to check the signature."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from survey import audit, jobs
from survey.clock import iso_beijing, utcnow
from survey.errors import UserError
from survey.extensions import db
from survey.models import Appeal, Campaign, CampaignUnit, Job, Opinion, Rectification, SupervisionCase
from survey.models.webhook import WebhookDelivery, WebhookEndpoint

#: Every event an endpoint may receive, with what it means (shown to the admin).
EVENTS: dict[str, str] = {
    "campaign.opened": "评议开始（含截止后重新开放）",
    "campaign.closed": "评议截止（手动或到期）",
    "campaign.finalized": "评议结果定稿",
    "campaign.published": "评议结果公示（或内部通报）",
    "appeal.filed": "单位提出申诉",
    "rectification.overdue": "整改逾期（标红）",
    "case.overdue": "督查案件逾期未答复（标红）",
    "opinion.overdue": "群众意见逾期未答复（标红）",
}
#: An event only the admin's test button sends, to one endpoint.
PING = "ping"
JOB_KIND = "webhook_delivery"
SIGNATURE_HEADER = "Pingyi-Signature"
DELIVERY_HEADER = "Pingyi-Delivery"
EVENT_HEADER = "Pingyi-Event"
SECRET_PREFIX = "whsec_"
MIN_SECRET = 16
#: How much of a failed attempt's error is kept.
ERROR_LENGTH = 500


# --- registering endpoints ----------------------------------------------------------------


class WebhookRefused(UserError):
    """An endpoint that cannot be registered; the message says why."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def check_url(url: str) -> None:
    """Refuse a URL that could never be sent to (urllib sends no user-info, no
    control character, no non-ASCII character), or that would show a
    password on the pages and in the audit log (``user:password@``)."""
    if not url.startswith(("https://", "http://")) or len(url) > 2000:
        raise WebhookRefused("地址须以 http:// 或 https:// 开头，最长 2000 个字符")
    if not url.isascii() or any(c.isspace() or not c.isprintable() for c in url):
        raise WebhookRefused("地址不能含空格、控制字符或非 ASCII 字符（中文请先做百分号编码）")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        raise WebhookRefused("地址的主机名或端口无效") from None
    if "@" in parts.netloc:
        raise WebhookRefused("地址不能含用户名或密码（user:password@）：它们会显示在页面和审计日志中；"
                             "接收系统请用签名密钥核验来源")
    if not parts.hostname:
        raise WebhookRefused("地址须含主机名")


def audited_url(url: str) -> str:
    """The endpoint as the append-only audit log keeps it: scheme, host, port and path. A query
    string or user info often carries the receiver's own access key, which the log must not keep
    for ever; "?…" says one was there."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", "")) + ("?…" if parts.query else "")


def register(url: str, events: list[str], *, secret: str | None = None, description: str = "") -> WebhookEndpoint:
    """A new endpoint (added to the session). Without `secret` one is made
    (``whsec_`` and 43 characters): show it to the admin, who gives it to the
    receiving system."""
    url = url.strip()
    check_url(url)
    unknown = [e for e in events if e not in EVENTS]
    if unknown or not events:
        raise WebhookRefused("请至少选择一个事件" if not events else f"未知的事件：{'、'.join(unknown)}")
    secret = new_secret() if secret is None or not secret.strip() else secret.strip()
    if not MIN_SECRET <= len(secret) <= 200:
        raise WebhookRefused(f"签名密钥须为 {MIN_SECRET} 到 200 个字符")
    endpoint = WebhookEndpoint(url=url, secret=secret, events=[e for e in EVENTS if e in events],
                               description=description.strip()[:200], active=True)
    db.session.add(endpoint)
    db.session.flush()
    audit.record("webhook.create", f"webhook:{endpoint.id}", None,
                 {"url": audited_url(url), "events": endpoint.events, "description": endpoint.description})
    return endpoint


def set_active(endpoint: WebhookEndpoint, active: bool) -> None:
    audit.record("webhook.active", f"webhook:{endpoint.id}", {"active": endpoint.active}, {"active": active})
    endpoint.active = active


def endpoints() -> list[WebhookEndpoint]:
    return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def delivery_counts() -> dict[int, dict[str, int]]:
    """Each endpoint's deliveries by state."""
    counts: dict[int, dict[str, int]] = {}
    for endpoint_id, state, n in db.session.execute(
            select(WebhookDelivery.endpoint_id, WebhookDelivery.state, func.count())
            .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.state)):
        counts.setdefault(endpoint_id, {})[state] = n
    return counts


def deliveries(endpoint: WebhookEndpoint | None = None, limit: int = 100) -> list[WebhookDelivery]:
    """The latest deliveries (of one endpoint), newest first: the delivery log."""
    q = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if endpoint is not None:
        q = q.where(WebhookDelivery.endpoint_id == endpoint.id)
    return list(db.session.scalars(q))


# --- events --------------------------------------------------------------------------------


def campaign_data(campaign: Campaign) -> dict[str, Any]:
    """A campaign as events describe it (the API's /campaigns/{code} tells the rest)."""
    return {"code": campaign.code, "name": campaign.name, "year": campaign.year,
            "status": campaign.state.status.value}


def emit(event: str, data: dict[str, Any]) -> list[WebhookDelivery]:
    """Queue `event` for every active endpoint that wants it, in the caller's
    transaction (nothing is sent unless it commits). Returns the deliveries."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event}")
    wanted = [e for e in db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True)))
              if e.wants(event)]
    return [_queue(endpoint, event, data) for endpoint in wanted]


def emit_campaign(event: str, campaign: Campaign, **extra: Any) -> list[WebhookDelivery]:
    """A campaign's event: ``{"campaign": {...}}`` and any `extra` keys."""
    return emit(event, {"campaign": campaign_data(campaign), **extra})


def emit_appeal(campaign: Campaign, cu: CampaignUnit, appeal: Appeal) -> list[WebhookDelivery]:
    """``appeal.filed``: the campaign, the unit and the appeal (its id and text)."""
    db.session.flush()  # the appeal's id and time
    return emit_campaign("appeal.filed", campaign, unit=_unit(cu), appeal={
        "id": appeal.id, "text": appeal.text, "filed_at": iso_beijing(appeal.filed_at)})


def emit_overdue(campaign: Campaign, rect: Rectification) -> list[WebhookDelivery]:
    """``rectification.overdue``: the campaign, the unit and its rectification's deadline (marked red now)."""
    return emit_campaign("rectification.overdue", campaign, unit=_unit(rect.campaign_unit), rectification={
        "id": rect.id, "due_on": rect.due_on.isoformat(), "plan": rect.plan is not None,
        "report": rect.report is not None})


def emit_case_overdue(case: SupervisionCase) -> list[WebhookDelivery]:
    """``case.overdue``: a register case (its number, kind, unit and deadline) marked red now; no
    complainant, no summary."""
    return emit("case.overdue", {"unit": {"code": case.unit.code, "name": case.unit.name}, "case": {
        "code": case.code, "kind": case.kind, "date": case.occurred_on.isoformat(),
        "due_on": case.due_on.isoformat() if case.due_on is not None else None}})


def emit_opinion_overdue(opinion: Opinion) -> list[WebhookDelivery]:
    """``opinion.overdue``: an opinion (its number, source, unit, deadline and campaign) marked red
    now; nobody's name or contact."""
    campaign = {"campaign": campaign_data(opinion.campaign)} if opinion.campaign is not None else {}
    return emit("opinion.overdue", {**campaign, "unit": {"code": opinion.unit.code, "name": opinion.unit.name},
                                    "opinion": {"code": opinion.code, "source": opinion.source,
                                                "date": opinion.raised_on.isoformat(),
                                                "due_on": opinion.due_on.isoformat()
                                                if opinion.due_on is not None else None}})


def _unit(cu: CampaignUnit) -> dict[str, str]:
    return {"code": cu.code, "name": cu.name}


def ping(endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A test delivery (event ``ping``) to one active endpoint, whatever its events."""
    if not endpoint.active:
        raise WebhookRefused("端点已停用，请先启用再发送测试事件")
    return _queue(endpoint, PING, {"endpoint": endpoint.id})


def _queue(endpoint: WebhookEndpoint, event: str, data: dict[str, Any]) -> WebhookDelivery:
    delivery_id = str(uuid.uuid4())
    body = json.dumps({"id": delivery_id, "event": event, "created_at": iso_beijing(utcnow()), "data": data},
                      ensure_ascii=False, separators=(",", ":"), default=str)
    delivery = WebhookDelivery(delivery_id=delivery_id, endpoint_id=endpoint.id, event=event, body=body,
                               state="pending", attempts=0)
    db.session.add(delivery)
    db.session.flush()
    jobs.enqueue(JOB_KIND, {"delivery": delivery.id})
    return delivery


# --- delivering ------------------------------------------------------------------------------


def unix_now() -> int:
    """The clock's now as Unix seconds (a signature's ``t``)."""
    return int(utcnow().replace(tzinfo=dt.UTC).timestamp())


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Pingyi-Signature`` header of `body` sent at `timestamp` (Unix seconds)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300, now: int | None = None) -> bool:
    """Whether `header` is a valid signature of `body` made at most `tolerance`
    seconds from `now`: what a receiver does (docs/api.md has it standalone)."""
    try:
        parts = dict(part.strip().split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((unix_now() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1', '')}")


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed attempt: the base, doubled after each further failure, capped."""
    config = current_app.config
    seconds = float(config["PINGYI_WEBHOOK_BACKOFF_S"]) * 2 ** (attempts - 1)
    return dt.timedelta(seconds=min(seconds, float(config["PINGYI_WEBHOOK_BACKOFF_MAX_S"])))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer that is not 2xx: a failed attempt (the signed body goes where it was registered)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(url: str, secret: str, event: str, delivery_id: str, body: bytes) -> tuple[int | None, str | None]:
    """One attempt: POST the signed body. The answer's status (None without
    one) and why it failed (None when it was 2xx)."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": "Pingyi-Webhooks/1",
        EVENT_HEADER: event, DELIVERY_HEADER: delivery_id, SIGNATURE_HEADER: signature(secret, unix_now(), body)})
    try:
        with _OPENER.open(request, timeout=float(current_app.config["PINGYI_WEBHOOK_TIMEOUT_S"])) as answer:
            status: int = answer.status
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code} {exc.reason}"[:ERROR_LENGTH]
    except Exception as exc:  # no answer (refused, timed out, a broken one): a failed attempt like any other
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return None, f"{type(reason).__name__}: {reason}"[:ERROR_LENGTH]
    if 200 <= status < 300:
        return status, None
    return status, f"HTTP {status}"


@jobs.handler(JOB_KIND)
def deliver(job: Job) -> None:
    """One attempt of a delivery; on failure the next attempt is queued
    (after its backoff) in the same transaction as the failure's record, or
    the delivery is given up after the last. A delivery that is no longer
    pending (a job run twice after a crash) is left alone."""
    delivery = db.session.get(WebhookDelivery, job.params["delivery"])
    if delivery is None or delivery.state != "pending":
        return
    endpoint = delivery.endpoint
    if not endpoint.active:
        delivery.state, delivery.last_error, delivery.next_attempt_at = "failed", "端点已停用（endpoint disabled）", None
        return
    sending = (endpoint.url, endpoint.secret, delivery.event, delivery.delivery_id, delivery.body.encode("utf-8"))
    db.session.commit()  # no transaction open while the endpoint answers
    status, error = post(*sending)
    now = utcnow()
    delivery.attempts += 1
    delivery.last_attempt_at, delivery.response_code, delivery.last_error = now, status, error
    if error is None:
        delivery.state, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
    elif delivery.attempts >= int(current_app.config["PINGYI_WEBHOOK_ATTEMPTS"]):
        delivery.state, delivery.next_attempt_at = "failed", None
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts)
        jobs.enqueue(JOB_KIND, {"delivery": delivery.id}, run_after=delivery.next_attempt_at)


# --- command line: `flask webhooks` ------------------------------------------------------

webhooks_cli = AppGroup("webhooks", help="Webhook 推送 (endpoints that receive signed event notifications).")


@webhooks_cli.command("add", help="Register URL to receive the given events (--event, repeated; "
                      f"one of {', '.join(EVENTS)}) and print its signing secret.")
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True, type=click.Choice(list(EVENTS)))
@click.option("--secret-stdin", "secret_stdin", is_flag=True,
              help="Read the signing secret from standard input (one line) instead of making a new one; "
                   "never as an argument, which would stay in the shell's history and the process list.")
@click.option("--description", default="", help="What receives it (shown in listings).")
def add_command(url: str, events: tuple[str, ...], secret_stdin: bool, description: str) -> None:
    secret = None
    if secret_stdin:
        secret = sys.stdin.readline().strip()
        if not secret:
            raise click.UsageError("标准输入中没有签名密钥 (no secret on standard input)")
    try:
        endpoint = register(url, list(events), secret=secret, description=description)
    except WebhookRefused as exc:
        raise click.UsageError(exc.message) from None
    db.session.commit()
    click.echo(f"已登记 {endpoint.id}: {endpoint.url} (registered endpoint {endpoint.id})", err=True)
    click.echo(endpoint.secret)


@webhooks_cli.command("list", help="List the endpoints with their events and deliveries by state.")
def list_command() -> None:
    counts = delivery_counts()
    for e in endpoints():
        c = counts.get(e.id, {})
        click.echo("\t".join((str(e.id), e.url, ",".join(e.events), "active" if e.active else "disabled",
                              f"delivered={c.get('delivered', 0)} pending={c.get('pending', 0)} "
                              f"failed={c.get('failed', 0)}", e.description)))


@webhooks_cli.command("disable", help="Stop sending to endpoint ID (its pending deliveries give up).")
@click.argument("endpoint_id", type=int)
def disable_command(endpoint_id: int) -> None:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise click.UsageError(f"没有编号为 {endpoint_id} 的接收地址 (no endpoint {endpoint_id})")
    set_active(endpoint, False)
    db.session.commit()
    click.echo(f"已停用 {endpoint.url} (disabled)")


@webhooks_cli.command("deliveries", help="The latest deliveries (of endpoint --endpoint), newest first.")
@click.option("--endpoint", "endpoint_id", type=int, default=None)
@click.option("--limit", default=20, show_default=True)
def deliveries_command(endpoint_id: int | None, limit: int) -> None:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id) if endpoint_id is not None else None
    for d in deliveries(endpoint, limit=limit):
        click.echo("\t".join((d.delivery_id, str(d.endpoint_id), d.event, d.state, f"attempts={d.attempts}",
                              str(d.response_code or "-"), d.last_error or "")))
