"""Database-level behaviour, whatever blueprint runs the statement: the
SQLite pragmas every connection gets, and the writer lock that queues
SQLite's writers. Registered explicitly by create_app (``init_app``)."""
from __future__ import annotations

import fcntl
import functools
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import URL, CursorResult, Engine, Result

from survey import caches
from survey.extensions import db

#: SQLite's synchronous setting for every connection. A receipt means the ballot
#: is on disk: FULL syncs the WAL at every commit; NORMAL (PINGYI_SQLITE_SYNCHRONOUS)
#: is faster but may lose the last commits, receipted ballots included, on power loss.
_synchronous = "FULL"


Statement = TypeVar("Statement")


def prepared(build: Callable[[], Statement]) -> Callable[[], Statement]:
    """A statement built once per process, its values bound at each call:

        @prepared
        def _by_code() -> Select[Campaign]:
            return select(Campaign).where(Campaign.code == bindparam("code"))

        db.session.scalar(_by_code(), {"code": code})

    SQLAlchemy keeps a statement object's cache key once it has worked it out,
    so a request that runs a prepared statement skips building the statement
    and its key (about half of what the ORM spends on a small SELECT). It is
    code, not data: nothing stored is in it, so ``caches.clear_all`` leaves it."""
    return functools.cache(build)


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE run through the session matched (the session
    types its result as a plain Result; for DML it is a CursorResult)."""
    return cast(CursorResult[Any], result).rowcount


def init_app(app: Flask) -> None:
    """Give every connection its settings (once per process: the listener is on
    the Engine class, so engines made outside an app get it too)."""
    global _synchronous
    _synchronous = str(app.config["PINGYI_SQLITE_SYNCHRONOUS"]).upper()
    if _synchronous not in ("FULL", "NORMAL", "EXTRA"):
        raise ValueError(f"PINGYI_SQLITE_SYNCHRONOUS={_synchronous!r}: FULL, EXTRA or NORMAL")
    if not event.contains(Engine, "connect", _connection_settings):
        event.listen(Engine, "connect", _connection_settings)


def _connection_settings(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite: WAL (readers never block the writer), the synchronous setting above,
    foreign keys, a busy timeout so that concurrent writers wait for each other
    instead of failing, and secure_delete: deleted and updated content is
    overwritten with zeros, so that a copy of the database file holds no trace
    of a draft once the ballot is taken. PostgreSQL: synchronous_commit on,
    whatever the server's default, so that a commit (and the receipt it gives)
    waits for the WAL to reach the disk."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA secure_delete=ON")
        if cursor.execute("PRAGMA database_list").fetchone()[2]:  # a file, not :memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={_synchronous}")
        cursor.close()
    elif type(dbapi_connection).__module__.startswith("psycopg"):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO on")
        dbapi_connection.commit()  # a SET in a transaction rolled back would be undone


def checkpoint_wal(connection: Any) -> bool:
    """SQLite: copy the -wal file's pages into the database and truncate it to
    zero bytes, so that a copy of the files no longer holds the commits'
    order or the old versions of pages (docs/anonymity.md). Best effort: a
    reader still using old pages makes SQLite give up (it then waits no
    more than a moment), and the next call succeeds. True where the file
    was truncated; elsewhere (PostgreSQL, memory) do nothing."""
    if connection.dialect.name != "sqlite" or not connection.engine.url.database \
            or connection.engine.url.database == ":memory:":
        return False
    raw = connection.connection.dbapi_connection
    cursor = raw.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=200")
        busy, _log, _done = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()
    return not busy


@contextmanager
def one_writer() -> Iterator[None]:
    """Hold an exclusive file lock beside an SQLite database file for the
    length of a write transaction (elsewhere: do nothing).

    SQLite admits one writer at a time anyway; its busy handler makes the
    others sleep and retry (1, 2, 5, 10… ms), which under a crowd of
    evaluators wastes more time than the writes take. Queued on a lock, the
    next writer starts the moment the last commits. Correctness never rests
    on it: writers that do not take it still wait for SQLite's own lock.
    """
    path = _writer_lock_path(db.engine.url)
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # One open file per holder: flock() excludes threads of one process too.
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@functools.lru_cache(maxsize=16)
def _writer_lock_path(url: URL) -> str | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database + ".writer-lock"


caches.register("database.writer_lock_path", _writer_lock_path.cache_clear)
