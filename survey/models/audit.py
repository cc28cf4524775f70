"""The append-only audit log: who did what, when, with the state before and after."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from survey.clock import utcnow
from survey.models.base import Model


class AuditLogError(RuntimeError):
    """Raised when code tries to change or delete an audit entry."""


class AuditEntry(Model):
    """One recorded action. Rows are only ever inserted: the application refuses
    updates and deletes, and a database trigger refuses them too."""

    __tablename__ = "audit_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    #: The account's id at the time; no foreign key, so that the log outlives
    #: accounts and never has to be touched when one goes.
    user_id: Mapped[int | None] = mapped_column(Integer)
    #: The username at the time, kept because accounts can be renamed.
    username: Mapped[str | None] = mapped_column(String(64))
    #: A dotted verb such as ``veto.create`` or ``campaign.finalize``.
    action: Mapped[str] = mapped_column(String(64), index=True)
    #: What was acted on, e.g. ``campaign:2026`` or ``campaign:2026/unit:u03``.
    target: Mapped[str] = mapped_column(String(200), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, flush_context: Any, instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditLogError("审计日志只能追加，不能修改或删除 (the audit log is append-only)")
