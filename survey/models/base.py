"""The base class of every table, as mypy sees it.

At run time ``Model`` is Flask-SQLAlchemy's ``db.Model`` (the session, the
app's metadata); Flask-SQLAlchemy builds it dynamically, so mypy is shown the
declarative base it derives from (survey.extensions.Base) instead."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CheckConstraint, Table

from survey.extensions import db

if TYPE_CHECKING:
    from survey.extensions import Base as Model
else:
    Model = db.Model



def table_of(model: type[Any]) -> Table:
    """A model's Table, for Core statements (typed as a FromClause on the declarative base)."""
    return cast(Table, model.__table__)


def code_checks(longest: int = 64) -> tuple[CheckConstraint, ...]:
    """The CHECKs of a `code` column: 1 to `longest` characters among letters,
    digits, - and _ (codes appear in URLs, file names and bundles). SQLite has
    GLOB, PostgreSQL a regular expression: one CHECK of the same name on each."""
    return (
        CheckConstraint(f"length(code) BETWEEN 1 AND {longest}", name="code_length"),
        CheckConstraint("code NOT GLOB '*[^A-Za-z0-9_-]*'", name="code_chars").ddl_if(dialect="sqlite"),
        CheckConstraint("code ~ '^[A-Za-z0-9_-]+$'", name="code_chars").ddl_if(dialect="postgresql"),
    )


__all__ = ["Model", "code_checks", "table_of"]
