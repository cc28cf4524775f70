"""Persisted jobs: claimed once, progress kept, a dead worker's job taken up
again, a failing handler recorded, the worker thread and the CLI."""
from __future__ import annotations

import time

from sqlalchemy import select

from survey import jobs
from survey.clock import utcnow
from survey.extensions import db
from survey.models import Job

SEEN: list[int] = []


@jobs.handler("test_count")
def count_handler(job: Job) -> None:
    for _ in range(job.params["n"] - job.done):
        SEEN.append(job.id)
        jobs.step(job.id)
        db.session.commit()


@jobs.handler("test_fail")
def fail_handler(job: Job) -> None:
    raise ValueError("数据有误")


def test_job_runs_once_with_progress(app) -> None:
    SEEN.clear()
    with app.app_context():
        job = jobs.enqueue("test_count", {"n": 3}, total=3)
        db.session.commit()
        assert jobs.run_pending() == 1
        assert jobs.run_pending() == 0
        job = db.session.get(Job, job.id, populate_existing=True)
        assert (job.state, job.done, job.total) == ("done", 3, 3)
        assert job.started_at is not None and job.finished_at >= job.started_at
    assert SEEN == [job.id] * 3


def test_running_job_of_a_live_worker_is_left_alone_a_dead_ones_resumed(app) -> None:
    SEEN.clear()
    with app.app_context():
        job = jobs.enqueue("test_count", {"n": 4}, total=4)
        job.state, job.done, job.heartbeat_at = "running", 1, utcnow()
        db.session.commit()
        assert jobs.claim_next() is None  # its worker is alive
        app.config["PINGYI_JOBS_STALE_S"] = 0
        assert jobs.run_pending() == 1
        job = db.session.get(Job, job.id, populate_existing=True)
        assert (job.state, job.done) == ("done", 4)
    assert len(SEEN) == 3  # only what was left


def test_failing_handler_is_recorded(app) -> None:
    with app.app_context():
        jobs.enqueue("test_fail", {})
        jobs.enqueue("test_count", {"n": 1}, total=1)
        db.session.commit()
        assert jobs.run_pending() == 2
        states = dict(db.session.execute(select(Job.kind, Job.state)).all())
        assert states == {"test_fail": "failed", "test_count": "done"}
        assert "数据有误" in db.session.scalar(select(Job.error_text).where(Job.kind == "test_fail"))


def test_worker_thread_runs_queued_jobs(app) -> None:
    app.config["PINGYI_JOBS_THREAD"] = True
    with app.app_context():
        job_id = jobs.enqueue("test_count", {"n": 2}, total=2).id
        db.session.commit()
        assert jobs.kick(app)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with app.app_context():
            if db.session.get(Job, job_id).state == "done":
                break
        time.sleep(0.05)
    with app.app_context():
        assert db.session.get(Job, job_id).state == "done"


def test_thread_off_in_tests_unless_asked(app) -> None:
    assert jobs.kick(app) is False


def test_cli_runs_jobs(app) -> None:
    with app.app_context():
        jobs.enqueue("test_count", {"n": 1}, total=1)
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["jobs", "run"])
    assert result.exit_code == 0 and "1" in result.output
    listing = app.test_cli_runner().invoke(args=["jobs", "list"])
    assert "test_count\tdone\t1/1" in listing.output
