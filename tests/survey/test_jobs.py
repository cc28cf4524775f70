"""Persisted jobs: claimed once, progress kept, a dead worker's job taken up
again, a failing handler recorded, the worker thread and the CLI."""
from __future__ import annotations

import time

from sqlalchemy import select, update

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


def test_a_worker_whose_job_was_taken_over_stops_at_its_next_step(app) -> None:
    """Two workers (nodes) never both carry a job on: the slow one, taken for
    dead, finds at its next step that the job is claimed by another, and its
    step is undone; the new holder finishes the job."""
    SEEN.clear()
    steps: list[str] = []

    @jobs.handler("test_taken_over")
    def slow(job: Job) -> None:
        steps.append("first")
        # Meanwhile another node took the job for dead and claimed it.
        db.session.execute(update(Job).where(Job.id == job.id).values(claimed_by="other-node:1:abc"))
        db.session.commit()
        jobs.step(job.id)
        steps.append("not reached")

    with app.app_context():
        job_id = jobs.enqueue("test_taken_over", {}, total=1).id
        db.session.commit()
        claimed = jobs.claim_next()
        assert claimed is not None and claimed.claimed_by and claimed.claimed_by != "other-node:1:abc"
        jobs.run_job(claimed)
        job = db.session.get(Job, job_id, populate_existing=True)
        # Left to the new holder: still running, nothing counted, not marked done or failed by this one.
        assert (job.state, job.done, job.claimed_by, job.finished_at) == ("running", 0, "other-node:1:abc", None)
    assert steps == ["first"]
