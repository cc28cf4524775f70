"""Persisted background jobs: queued in the `job` table, run by a worker
thread of the web process or by `flask --app survey jobs run`, and taken up
again after a restart where they stopped.

A handler does its work in small committed steps and records its progress
(`job.done`) in the same transaction as each step's effect, so a crash loses
at most the step in flight. A running job whose heartbeat is older than
``PINGYI_JOBS_STALE_S`` seconds belonged to a worker that died: the next
worker claims it and calls its handler again, which must skip what is done.

A job may wait for its time (``run_after``, e.g. a scheduled reminder): it is
claimed only once that time has come, and the worker thread of a web process
stays up, asleep, until then.

Several nodes (app servers on one PostgreSQL, docs/deployment.md) share the
queue: a claim is one conditional UPDATE, so one worker of one node holds a
job at a time, and it writes who holds it (``job.claimed_by``). A worker that
was taken for dead while it was only slow finds, at its next step, that its
claim is gone: its step is rolled back and it leaves the job to the new holder.

Why a job failed is stored as a reason (`reason`): a msgid of the office's
language, a newline and the technical detail, shown in the reader's language
by `reason_text`.
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import click
from flask import Flask, current_app, has_app_context
from flask.cli import AppGroup
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from survey.clock import utcnow
from survey.database import rowcount
from survey.extensions import db
from survey.models.job import Job

Handler = Callable[[Job], None]
HANDLERS: dict[str, Handler] = {}
#: The longest the worker thread sleeps before it looks at the queue again.
LONGEST_SLEEP_S = 300.0
#: Why a job failed when its handler raised something unforeseen.
UNEXPECTED = "任务意外出错，请查看应用日志"


def reason(msgid: str, detail: object = "") -> str:
    """A reason as it is stored: its msgid (Chinese), and the technical words after a newline."""
    detail = str(detail).strip()
    return f"{msgid}\n{detail}" if detail else msgid


def reason_text(stored: str | None) -> str:
    """A stored reason in the reader's language (the technical words as they came)."""
    if not stored:
        return ""
    msgid, _sep, detail = stored.partition("\n")
    said = _(msgid)
    return f"{said}（{detail}）" if detail else said


class JobFailure(Exception):
    """Raised by a handler to end its job as failed, with a reason the pages show."""

    def __init__(self, msgid: str, detail: object = "") -> None:
        super().__init__(reason(msgid, detail))


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that carries out jobs of `kind`."""

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def enqueue(kind: str, params: dict[str, Any], *, total: int | None = None,
            run_after: dt.datetime | None = None) -> Job:
    """Add a job to the queue; it runs once the caller has committed (and kicked a
    worker), not before `run_after` (UTC) if given."""
    job = Job(kind=kind, params=params, state="queued", done=0, total=total, errors=0, run_after=run_after)
    db.session.add(job)
    db.session.flush()
    db.session.info[_QUEUED] = True
    return job


#: Set in a session's ``info`` when it queued a job: its commit kicks a worker.
_QUEUED = "pingyi_jobs_queued"


@event.listens_for(Session, "after_commit")
def _kick_after_commit(session: Session) -> None:
    """A job queued in a transaction starts when the transaction commits (a
    worker kicked earlier would not see it yet)."""
    if session.info.pop(_QUEUED, False) and has_app_context():
        kick()


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_QUEUED, None)


class ClaimLost(Exception):
    """This worker's claim on a job was taken over (it was thought dead): stop."""


#: The claims this process holds: job id -> the `claimed_by` its claim wrote.
_claims: dict[int, str] = {}
_claims_lock = threading.Lock()


def _held(job_id: int) -> Any:
    """The condition that this process still holds the job (none for a job it did not claim,
    as when a test runs a handler by itself)."""
    with _claims_lock:
        claim = _claims.get(job_id)
    return (Job.id == job_id) if claim is None else ((Job.id == job_id) & (Job.claimed_by == claim))


def new_claim() -> str:
    """What a claim writes in `claimed_by`: this node and process, and a claim of its own."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(6)}"


def step(job_id: int, *, done: int = 1, errors: int = 0) -> None:
    """Count progress in the current transaction (commit it with the step's effect);
    raises ClaimLost where another worker has taken the job over meanwhile."""
    counted = rowcount(db.session.execute(
        update(Job).where(_held(job_id))
        .values(done=Job.done + done, errors=Job.errors + errors, heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)))
    with _claims_lock:
        held = job_id in _claims
    if held and counted != 1:
        raise ClaimLost(job_id)


def _stale_before() -> dt.datetime:
    seconds = current_app.config["PINGYI_JOBS_STALE_S"]
    return utcnow() - dt.timedelta(seconds=seconds)


def claim_next() -> Job | None:
    """Claim the oldest queued job, or a running one whose worker died.

    The claim is one conditional UPDATE, so two workers never run one job.
    """
    db.session.commit()
    now = utcnow()
    claimable = or_((Job.state == "queued") & (Job.run_after.is_(None) | (Job.run_after <= now)),
                    (Job.state == "running") & (Job.heartbeat_at < _stale_before()))
    candidates = db.session.scalars(select(Job.id).where(claimable).order_by(Job.id).limit(5)).all()
    for job_id in candidates:
        now = utcnow()
        claim = new_claim()
        claimed = rowcount(db.session.execute(
            update(Job).where(Job.id == job_id, claimable)
            .values(state="running", heartbeat_at=now, claimed_by=claim,
                    started_at=db.func.coalesce(Job.started_at, now))
            .execution_options(synchronize_session=False)))
        db.session.commit()
        if claimed == 1:
            with _claims_lock:
                _claims[job_id] = claim
            return db.session.get(Job, job_id, populate_existing=True)
    return None


def run_job(job: Job) -> None:
    """Run a claimed job to its end and record how it ended."""
    job_id = job.id
    try:
        _run_claimed(job)
    finally:
        with _claims_lock:
            _claims.pop(job_id, None)


def _run_claimed(job: Job) -> None:
    job_id = job.id
    fn = HANDLERS.get(job.kind)
    try:
        if fn is None:
            raise RuntimeError(f"没有处理“{job.kind}”类任务的程序")
        # No request here: messages are written in the office's language.
        with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_Hans_CN")):
            fn(job)
    except ClaimLost:
        db.session.rollback()
        current_app.logger.warning("job %s was taken over by another worker; this one stops", job_id)
        return
    except Exception as exc:  # the job fails, the worker goes on with the next one
        db.session.rollback()
        if isinstance(exc, JobFailure):
            current_app.logger.error("job %s failed: %s", job_id, exc)
            said = str(exc)
        else:
            current_app.logger.exception("job %s failed", job_id)
            said = reason(UNEXPECTED, f"{type(exc).__name__}: {exc}")
        db.session.execute(update(Job).where(_held(job_id)).values(
            state="failed", error_text=said[:2000], finished_at=utcnow())
            .execution_options(synchronize_session=False))
        db.session.commit()
        return
    db.session.execute(update(Job).where(_held(job_id)).values(state="done", finished_at=utcnow())
                       .execution_options(synchronize_session=False))
    db.session.commit()


def next_due() -> dt.datetime | None:
    """When the earliest job waiting for its time may run (UTC), if any."""
    return db.session.scalar(select(db.func.min(Job.run_after)).where(Job.state == "queued",
                                                                      Job.run_after > utcnow()))


def run_pending() -> int:
    """Run jobs until none is left to claim (jobs waiting for their time stay); returns how many ran."""
    ran = 0
    while (job := claim_next()) is not None:
        run_job(job)
        ran += 1
    return ran


# --- the worker thread of the web process -------------------------------------

_threads: dict[int, threading.Thread] = {}
_lock = threading.Lock()
#: Wakes a sleeping worker thread (per app) when a job is queued.
_wake: dict[int, threading.Event] = {}


def kick(app: Flask | None = None) -> bool:
    """Make sure a worker thread runs in this process (where enabled).

    Called after a job is queued and whenever a progress page is polled, so
    that jobs left by a restarted process are taken up again.
    """
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    if not (not app.testing if app.config["PINGYI_JOBS_THREAD"] is None else app.config["PINGYI_JOBS_THREAD"]):
        return False
    with _lock:
        _kicked.add(id(app))
        _wake.setdefault(id(app), threading.Event()).set()
        thread = _threads.get(id(app))
        if thread is not None and thread.is_alive():
            return True  # it looks again before it stops or sleeps (see _worker)
        thread = threading.Thread(target=_worker, args=(app,), name="pingyi-jobs", daemon=True)
        _threads[id(app)] = thread
        thread.start()
        return True


#: Apps whose worker was kicked since it last looked at the queue.
_kicked: set[int] = set()


def _worker(app: Flask) -> None:
    """Run jobs until none is left and nobody kicked meanwhile: a job queued
    while the last look found nothing is not left waiting for the next kick.
    While a job waits for its time, sleep until then (or a kick), then look again."""
    with app.app_context():
        try:
            while True:
                with _lock:
                    _kicked.discard(id(app))
                    wake = _wake.setdefault(id(app), threading.Event())
                    wake.clear()
                run_pending()
                due = next_due()
                db.session.remove()
                with _lock:
                    if id(app) in _kicked:
                        continue
                    if due is None:
                        _threads.pop(id(app), None)
                        return
                wake.wait(min(LONGEST_SLEEP_S, max(0.5, (due - utcnow()).total_seconds())))
        finally:
            db.session.remove()


# --- command line ---------------------------------------------------------------

jobs_cli = AppGroup("jobs", help="后台任务 (persisted background jobs: sending batches, reminders, drawing the charts and tables of new results).")


@jobs_cli.command("run", help="Run queued jobs (and those of a worker that died) until none is left; "
                  "with --watch, keep polling for new ones.")
@click.option("--watch", is_flag=True, help="Keep running and poll the queue every few seconds.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between polls with --watch.")
def run_command(watch: bool, interval: float) -> None:
    while True:
        ran = run_pending()
        if ran:
            click.echo(f"已完成 {ran} 个任务 (ran {ran} job(s))")
        if not watch:
            break
        time.sleep(interval)


@jobs_cli.command("list", help="List the most recent jobs with their progress.")
def list_command() -> None:
    for job in db.session.scalars(select(Job).order_by(Job.id.desc()).limit(20)):
        waits = f"\trun_after={job.run_after:%Y-%m-%d %H:%M}Z" if job.run_after and job.state == "queued" else ""
        click.echo(f"{job.id}\t{job.kind}\t{job.state}\t{job.done}/{job.total or '?'}\t"
                   f"errors={job.errors}\t{job.params}{waits}")
