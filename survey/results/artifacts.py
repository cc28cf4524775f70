"""What is drawn from a snapshot's results (chart bytes, rendered tables),
made once and kept twice: in this process (a least-recently-used map bounded
by size) and in the database beside the snapshot (``result_artifact``), so
that a process that has not drawn it yet reads it instead of drawing it again.

A key is a digest of everything the artifact is drawn from, so the bytes
under one key never change and nothing has to be invalidated: changed
results, overrides, labels or language give another key. Rows drawn from
results that no snapshot holds any more are pruned when a snapshot is
recomputed (``prune``)."""
from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, cast

import matplotlib
from sqlalchemy import CursorResult, Select, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from survey import caches
from survey.clock import utcnow
from survey.database import prepared
from survey.extensions import db
from survey.models import ResultArtifact, ResultSnapshot

#: What draws the artifacts: a change in any of these (a deploy) gives new keys.
_DRAWN_BY = ("templates/results/*.html", "survey/charts.py", "survey/results/exports.py",
             "survey/results/tables.py", "survey/translations/*/LC_MESSAGES/messages.po")


@functools.lru_cache(maxsize=1)
def drawing_version() -> str:
    """A digest of the templates, drawing code, translations and matplotlib
    version that artifacts are drawn with, made once per process."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256(matplotlib.__version__.encode())
    for pattern in _DRAWN_BY:
        for path in sorted(root.glob(pattern)):
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def digest(parts: Any) -> str:
    """The key of an artifact: SHA-256 of its inputs as JSON (anything JSON
    cannot say is written by ``repr``) and of what draws it
    (``drawing_version``: after a deploy that changes how something is drawn,
    nothing drawn before is found again)."""
    text = json.dumps([drawing_version(), parts], ensure_ascii=False, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: This process's artifacts by key, the least recently used dropped once they
#: pass 64 MiB together. Emptied by ``caches.clear_all()`` (as in a process
#: that has served none: the bench and the tests; the stored ones stay).
_memory: caches.Cache[str, bytes] = caches.Cache("results.artifacts", 64 * 1024 * 1024, weigh=len)
caches.register("results.drawing_version", drawing_version.cache_clear)


@prepared
def _body_of() -> Select[bytes]:
    return select(ResultArtifact.body).where(ResultArtifact.key == bindparam("key"))


def stored(key: str) -> bytes | None:
    return db.session.scalar(_body_of(), {"key": key})


def store(snap: ResultSnapshot, key: str, media_type: str, data: bytes) -> None:
    """Keep an artifact in the database (in the caller's transaction). Two
    processes drawing the same one at once both try: the second insert is
    skipped, the bytes being the same."""
    values = {"key": key, "campaign_id": snap.campaign_id, "results_sha256": snap.results_sha256,
              "media_type": media_type, "body": data, "created_at": utcnow()}
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(pg_insert(ResultArtifact).values(**values).on_conflict_do_nothing(index_elements=["key"]))
    else:
        db.session.execute(sqlite_insert(ResultArtifact).values(**values)
                           .on_conflict_do_nothing(index_elements=["key"]))


#: Set while a job draws a snapshot's artifacts (``keeping``).
_keeping: ContextVar[bool] = ContextVar("pingyi_keeping_artifacts", default=False)


@contextmanager
def keeping() -> Iterator[None]:
    """Inside, ``fetch`` makes sure every artifact is in the database, even one
    this process holds in memory (drawn earlier for results since pruned)."""
    token = _keeping.set(True)
    try:
        yield
    finally:
        _keeping.reset(token)


def fetch(snap: ResultSnapshot, key: str, media_type: str, make: Callable[[], bytes]) -> bytes:
    """The artifact under ``key``: from this process, else from the database,
    else made by ``make()`` and stored beside ``snap`` (the snapshot it is drawn
    from; the caller commits)."""
    data = _memory.get(key)
    if data is not None and not _keeping.get():
        return data
    kept = stored(key)
    if kept is not None:
        _memory.put(key, kept)
        return kept
    if data is None:
        data = make()
        _memory.put(key, data)
    store(snap, key, media_type, data)
    return data


def prune(campaign_id: int) -> int:
    """Delete the campaign's artifacts drawn from results that none of its
    snapshots holds any more; returns how many went."""
    current = select(ResultSnapshot.results_sha256).where(ResultSnapshot.campaign_id == campaign_id)
    result = db.session.execute(delete(ResultArtifact).where(
        ResultArtifact.campaign_id == campaign_id, ResultArtifact.results_sha256.not_in(current))
        .execution_options(synchronize_session=False))
    return int(cast(CursorResult[Any], result).rowcount)
