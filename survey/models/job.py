"""Persisted background jobs (sending a batch, reminders): what to do, how far it got."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from survey.clock import utcnow
from survey.models.base import Model


class Job(Model):
    """A unit of long work a worker thread (or `flask jobs run`) carries out.

    Progress lives here, so a page reloaded mid-way shows where the job is,
    and a job whose worker died is taken up again where it stopped.
    """

    __tablename__ = "job"
    __table_args__ = (
        CheckConstraint("state IN ('queued', 'running', 'done', 'failed')", name="state"),
        CheckConstraint("done >= 0 AND (total IS NULL OR done <= total)", name="progress"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    #: What to do, e.g. 'send_batch'; a handler is registered per kind.
    kind: Mapped[str] = mapped_column(String(32))
    #: The handler's arguments, e.g. {"batch_id": 3}.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    #: How many steps failed (their reasons are on the rows they concern).
    errors: Mapped[int] = mapped_column(Integer, default=0)
    #: Why the whole job failed, if it did.
    error_text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: Last sign of life of the worker running it; a running job whose
    #: heartbeat is stale belonged to a worker that died and is taken up again.
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: Not to be run before this time (UTC; null: at once): scheduled reminders.
    run_after: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: Who holds the job while it runs: "<host>:<pid>:<claim>", written by each
    #: claim (a new one when a stale job is taken up again). A worker whose job
    #: another worker took over finds its claim gone and stops (survey/jobs.py).
    claimed_by: Mapped[str | None] = mapped_column(String(100))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "state": self.state, "done": self.done,
                "total": self.total, "errors": self.errors, "error_text": self.error_text,
                "started_at": self.started_at.isoformat() + "Z" if self.started_at else None,
                "finished_at": self.finished_at.isoformat() + "Z" if self.finished_at else None}
