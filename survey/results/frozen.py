"""The frozen bundle store: the exact bundle a final snapshot was computed
from, kept in the database as gzip-compressed pieces (``BundleChunk``), so
that a bundle of any size is stored (a 1,000,000-ballot bundle, over a
gigabyte of JSON, fits no PostgreSQL field or SQLite value) and backups and
restores carry it with the database.

At finalization the bundle text is written as its ballots are read
(``survey.bundles.bundle_campaign``) into a :class:`BundleSink`: its SHA-256
(``bundle_sha256``, of the UTF-8 text) and, for a final snapshot, its gzip
stream in a temporary file, stored in pieces once complete. Snapshots stored
before the store hold their text inline (``bundle_json``) and are read as
they are. The pieces are keyed by the campaign and the text's SHA-256, so
the versions of a final snapshot share them.
"""
from __future__ import annotations

import hashlib
import tempfile
import zlib
from collections.abc import Iterator
from typing import IO

from sqlalchemy import func, insert, select

from survey.extensions import db
from survey.models import BundleChunk, ResultSnapshot

#: The largest piece of compressed bundle in one row.
CHUNK_BYTES = 4 << 20
#: zlib's window bits for the gzip format: the pieces joined are a .json.gz file.
GZIP = 31


class BundleSink:
    """Where a bundle's text is written (``write``): its SHA-256 always, its
    gzip stream too where it is to be frozen (``keep``)."""

    def __init__(self, *, keep: bool = False) -> None:
        self._hash = hashlib.sha256()
        self.size = 0
        self._file: IO[bytes] | None = tempfile.TemporaryFile() if keep else None  # noqa: SIM115 - closed by store
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, GZIP) if keep else None

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)
        if self._file is not None and self._deflate is not None:
            self._file.write(self._deflate.compress(data))

    @property
    def sha256(self) -> str:
        """The SHA-256 (hex) of the text written so far."""
        return self._hash.hexdigest()

    def store(self, campaign_id: int) -> int:
        """Store the kept text in pieces for the campaign; their number. Pieces
        already stored under the same SHA-256 (the same text) are kept."""
        if self._file is None or self._deflate is None:
            raise RuntimeError("this sink does not keep its text")
        with self._file as fh:
            fh.write(self._deflate.flush())
            self._file = None
            sha = self.sha256
            stored = db.session.scalar(select(func.count()).select_from(BundleChunk).where(
                BundleChunk.campaign_id == campaign_id, BundleChunk.bundle_sha256 == sha))
            if stored:
                return stored
            fh.seek(0)
            seq = 0
            while piece := fh.read(CHUNK_BYTES):
                db.session.execute(insert(BundleChunk), [{"campaign_id": campaign_id, "bundle_sha256": sha,
                                                          "seq": seq, "data": piece}])
                seq += 1
        return seq

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def pieces(snap: ResultSnapshot) -> Iterator[bytes]:
    """The snapshot's bundle text as UTF-8, piece by piece (never whole in memory).

    What names the pieces is read from ``snap`` now, not when the first piece
    is asked for: a streamed response iterates after its view returned, when
    the session that loaded ``snap`` may have let it go."""
    if snap.bundle_json is not None:
        return iter((snap.bundle_json.encode("utf-8"),))
    if snap.bundle_chunks is None:
        raise LookupError(f"snapshot {snap.id} keeps no bundle")
    return _inflated(snap.id, snap.campaign_id, snap.bundle_sha256, snap.bundle_chunks)


def _inflated(snap_id: int, campaign_id: int, sha256: str, count: int) -> Iterator[bytes]:
    inflate = zlib.decompressobj(GZIP)
    digest = hashlib.sha256()
    for seq in range(count):
        data = db.session.scalar(select(BundleChunk.data).where(
            BundleChunk.campaign_id == campaign_id, BundleChunk.bundle_sha256 == sha256, BundleChunk.seq == seq))
        if data is None:
            raise LookupError(f"snapshot {snap_id}: piece {seq} of its bundle is missing")
        try:
            out = inflate.decompress(bytes(data))
        except zlib.error as exc:
            raise LookupError(f"snapshot {snap_id}: piece {seq} of its bundle is damaged") from exc
        digest.update(out)
        if out:
            yield out
    out = inflate.flush()
    digest.update(out)
    if out:
        yield out
    if not inflate.eof or digest.hexdigest() != sha256:
        raise LookupError(f"snapshot {snap_id}: its stored bundle does not match its SHA-256")


def bundle_text(snap: ResultSnapshot) -> str:
    """The snapshot's whole bundle text (small bundles: tests, the session pages)."""
    return b"".join(pieces(snap)).decode("utf-8")
