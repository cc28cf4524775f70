"""The base class of every table, as mypy sees it.

At run time ``Model`` is Flask-SQLAlchemy's ``db.Model`` (the session, the
app's metadata); Flask-SQLAlchemy builds it dynamically, so mypy is shown the
declarative base it derives from (survey.extensions.Base) instead."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table

from survey.extensions import db

if TYPE_CHECKING:
    from survey.extensions import Base as Model
else:
    Model = db.Model



def table_of(model: type[Any]) -> Table:
    """A model's Table, for Core statements (typed as a FromClause on the declarative base)."""
    return cast(Table, model.__table__)


__all__ = ["Model", "table_of"]
