"""Counting the SQL statements a piece of code runs: the `count_queries`
fixture pins the fast paths (docs/architecture.md says which counts are
pinned and why)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from survey.extensions import db


class Statements(list[str]):
    """The statements run inside the block, in order."""


@contextmanager
def counting(engine: Any) -> Iterator[Statements]:
    seen = Statements()

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


@pytest.fixture
def count_queries(app: Any) -> Callable[[], Any]:
    """`with count_queries() as statements: ...` then `len(statements)`."""
    with app.app_context():
        engine = db.engine
    return lambda: counting(engine)
