"""Paging of the API's lists: `?limit=&cursor=` in, a `Page` out.

The cursor is opaque to clients (they pass back the `next_cursor` they were
given). It holds the position of the next item in the list's stable order,
so that reading a list page by page gives every item once while nothing is
added or removed in between."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import Field
from sqlalchemy import Select

from survey.api.schemas import Schema
from survey.extensions import db

Item = TypeVar("Item")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
#: A cursor: the position of the next item ("o" and the offset). Clients treat
#: it as opaque; another version may encode it otherwise.
CURSOR_PATTERN = r"^o[0-9]{1,9}$"


class PageQuery(Schema):
    """The query parameters of every list."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"每页最多条数（1–{MAX_LIMIT}）")
    cursor: str | None = Field(None, pattern=CURSOR_PATTERN,
                               description="上一页答复中的 next_cursor（原样传回）；省略时从第一条开始")


def page_of(items: Sequence[Item], query: PageQuery) -> tuple[list[Item], str | None]:
    """The items of the page `query` asks for, and the cursor of the next page (None on the last)."""
    start = _start(query)
    end = start + query.limit
    return list(items[start:end]), f"o{end}" if end < len(items) else None


def page_of_select(statement: Select[Any], query: PageQuery) -> tuple[list[Any], str | None]:
    """The page of a query's rows (in its ORDER BY, which must be stable),
    read from the database alone: a long list (the audit log) is never loaded whole."""
    start = _start(query)
    rows = list(db.session.scalars(statement.offset(start).limit(query.limit + 1)))
    end = start + query.limit
    return rows[:query.limit], f"o{end}" if len(rows) > query.limit else None


def _start(query: PageQuery) -> int:
    return int(query.cursor[1:]) if query.cursor else 0
