"""Recording actions in the append-only audit log (who, when, what, before and after)."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask_login import current_user

from survey.extensions import db
from survey.models.audit import AuditEntry


def _plain(value: Any) -> Any:
    """JSON-safe copy: dates and other objects become strings."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=_default))


def _default(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def record(action: str, target: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> AuditEntry:
    """Add an audit entry for the signed-in user (or nobody, outside a request).

    The entry joins the caller's transaction: it is written when the action is.
    """
    user = current_user if current_user and getattr(current_user, "is_authenticated", False) else None
    entry = AuditEntry(
        user_id=user.id if user is not None else None,
        username=user.username if user is not None else None,
        action=action,
        target=target,
        before=None if before is None else _plain(before),
        after=None if after is None else _plain(after),
    )
    db.session.add(entry)
    return entry
