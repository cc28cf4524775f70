"""Backup and restore of an instance: ``flask --app survey backup FILE`` and
``flask --app survey restore FILE [--force]``, on SQLite and PostgreSQL.

FILE is a gzip-compressed tar archive (format ``pingyi-backup/1``) holding:

``manifest.json``
    ``format`` (``pingyi-backup/1``), ``created`` (UTC, ISO 8601), ``database``
    (``sqlite`` or ``postgresql``), ``alembic_revision`` (the list of revisions
    in the database's ``alembic_version`` table, usually one) and ``members``:
    for every other member its ``sha256``, ``size`` and ``mode``.
``database.sqlite`` or ``database.pgdump``
    SQLite: a consistent copy made with SQLite's online backup API
    (``sqlite3.Connection.backup``), safe while the server writes in WAL mode.
    PostgreSQL: ``pg_dump --format=custom`` of the database, one snapshot, by
    the pg_dump that matches the server's major version.
``instance/secret_key``, ``instance/config.py``
    The instance folder's small secret files, when they exist.

The frozen bundles of final snapshots are rows of the database (``bundle_chunk``,
``survey.results.frozen``), so a backup carries them and a restore brings them back.

A backup holds every ballot whose transaction committed before the copy
began (SQLite: the backup's read transaction; PostgreSQL: pg_dump's snapshot),
hence every ballot acknowledged to its evaluator before the command started.

``restore`` checks everything before it writes anything: a file that is not a
Pingyi backup, a member whose checksum differs, a backup of the other kind of
database or of an Alembic revision this code does not know (a newer version's)
is refused with exit status 2, and so is a target database that holds rows,
unless ``--force``. SQLite is restored by writing the copy beside the database
file (fsync) and renaming it over it, stale ``-wal``/``-shm``/``-journal`` files
removed first; PostgreSQL with ``pg_restore --clean --if-exists --no-owner`` in
one transaction. The server must be stopped while restoring. Then the instance
secret files are written back (mode 0600), and ``flask --app survey db upgrade``
brings an older backup forward (a no-op for a current one).
"""
from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import URL, inspect, text
from sqlalchemy.engine import Engine

from survey.extensions import db

FORMAT = "pingyi-backup/1"
MANIFEST = "manifest.json"
DATABASE_MEMBERS = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
#: The instance folder's secret files, kept in the archive under ``instance/``.
SECRET_FILES = ("secret_key", "config.py")
INSTANCE_PREFIX = "instance/"
#: No manifest is anywhere near this big; a bigger one is not ours.
MANIFEST_MAX = 1 << 20


class BackupRefused(click.ClickException):
    """A refusal: nothing was written; the message says what and where (exit status 2)."""

    exit_code = 2


class BackupFailed(click.ClickException):
    """A tool or the file system failed while working (exit status 1)."""

    exit_code = 1


# --- the database under the app ---


def database_kind(url: URL) -> str:
    backend = url.get_backend_name()
    if backend in ("sqlite", "postgresql"):
        return backend
    raise BackupRefused(f"不支持的数据库类型 {backend}（只支持 SQLite 和 PostgreSQL）。 "
                        f"Unsupported database {backend}: only SQLite and PostgreSQL.")


def sqlite_path(url: URL) -> Path:
    name = url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise BackupRefused(f"SQLite 数据库必须是一个文件：{url}。 The SQLite database must be a plain file: {url}.")
    return Path(name).resolve()


def alembic_revisions(connection: Any) -> list[str]:
    """The revisions in alembic_version, from a SQLAlchemy or sqlite3 connection."""
    if isinstance(connection, sqlite3.Connection):
        if connection.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
                              ).fetchone() is None:
            return []
        return sorted(row[0] for row in connection.execute("SELECT version_num FROM alembic_version"))
    if not inspect(connection).has_table("alembic_version"):
        return []
    return sorted(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def known_revisions(app: Flask) -> set[str]:
    """Every revision of this code's migrations."""
    script = ScriptDirectory(app.extensions["migrate"].directory)
    return {rev.revision for rev in script.walk_revisions()}


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for pg_dump/pg_restore (no password in it: that goes in PGPASSWORD)."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _tool_major(path: str) -> int | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else None


def pg_tool(name: str, engine: Engine) -> str:
    """The pg_dump or pg_restore matching the server's major version: Debian's
    /usr/lib/postgresql/<major>/bin first, then PATH, then any newer one."""
    with engine.connect() as conn:
        server = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    candidates = [f"/usr/lib/postgresql/{server}/bin/{name}"]
    on_path = shutil.which(name)
    if on_path:
        candidates.append(on_path)
    candidates += sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    found: list[tuple[int, str]] = []
    for path in dict.fromkeys(candidates):
        if os.access(path, os.X_OK):
            major = _tool_major(path)
            if major is not None and major >= server:
                found.append((major, path))
    if not found:
        raise BackupFailed(f"找不到与 PostgreSQL {server} 匹配的 {name}（PATH 和 /usr/lib/postgresql/*/bin 中都没有）。 "
                           f"No {name} of version {server} or newer on PATH or under /usr/lib/postgresql/*/bin.")
    # The same major version as the server if there is one, else the oldest newer one.
    return min(found, key=lambda f: (f[0] != server, f[0]))[1]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- backup ---


def _sqlite_copy(source: Path, dest: Path) -> list[str]:
    """A consistent copy of a live SQLite database (one backup step: one read
    transaction, writers in WAL mode go on); returns its Alembic revisions."""
    if not source.is_file():
        raise BackupRefused(f"SQLite 数据库文件不存在：{source}。 The SQLite database file does not exist: {source}.")
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
            # One self-contained file: the restored database goes back to WAL when the app opens it.
            dst.execute("PRAGMA journal_mode=DELETE")
            check = dst.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise BackupFailed(f"数据库副本检查未通过：{check}。 The copy of the database failed quick_check: {check}.")
            return alembic_revisions(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _pg_dump(engine: Engine, dest: Path) -> list[str]:
    with engine.connect() as conn:
        revisions = alembic_revisions(conn)
    uri, env = _libpq(engine.url)
    done = subprocess.run([pg_tool("pg_dump", engine), "--format=custom", "--file", str(dest), "--dbname", uri],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupFailed(f"pg_dump 失败 (pg_dump failed, exit {done.returncode}): {done.stderr.strip()}")
    return revisions


def write_backup(app: Flask, target: Path, *, force: bool = False) -> dict[str, Any]:
    """Write the backup archive to target (atomically, mode 0600); return its manifest."""
    engine = db.engine
    kind = database_kind(engine.url)
    target = target.resolve()
    if target.exists() and not force:
        raise BackupRefused(f"文件已存在：{target}（加 --force 覆盖）。 The file exists: {target} (--force overwrites it).")
    if not target.parent.is_dir():
        raise BackupRefused(f"目录不存在：{target.parent}。 No such directory: {target.parent}.")
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    work = Path(tempfile.mkdtemp(prefix=".pingyi-backup-", dir=target.parent))
    try:
        members: list[tuple[str, Path, int]] = []
        database = work / DATABASE_MEMBERS[kind]
        if kind == "sqlite":
            revisions = _sqlite_copy(sqlite_path(engine.url), database)
        else:
            revisions = _pg_dump(engine, database)
        members.append((DATABASE_MEMBERS[kind], database, 0o600))
        instance = Path(app.instance_path)
        for name in SECRET_FILES:
            path = instance / name
            if path.is_file():
                members.append((INSTANCE_PREFIX + name, path, path.stat().st_mode & 0o777))
        manifest: dict[str, Any] = {
            "format": FORMAT, "created": created, "database": kind, "alembic_revision": revisions,
            "members": {name: {"sha256": _sha256(path), "size": path.stat().st_size, "mode": f"{mode:04o}"}
                        for name, path, mode in members},
        }
        archive = work / "archive.tar.gz"
        with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
            data = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(data), 0o600, int(dt.datetime.now(dt.UTC).timestamp())
            tar.addfile(info, _BytesReader(data))
            for name, path, mode in members:
                info = tar.gettarinfo(str(path), arcname=name)
                info.mode, info.uid, info.gid, info.uname, info.gname = mode, 0, 0, "", ""
                with path.open("rb") as f:
                    tar.addfile(info, f)
        os.chmod(archive, 0o600)
        with archive.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(archive, target)
        _fsync_dir(target.parent)
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _BytesReader:
    """A minimal file object over bytes, for tarfile.addfile."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._pos + size
        chunk = self._data[self._pos:end]
        self._pos += len(chunk)
        return chunk


# --- reading a backup ---


def _not_ours(path: Path, why: str, why_en: str) -> BackupRefused:
    return BackupRefused(f"不是评议备份文件：{path}（{why}）。 Not a Pingyi backup: {path} ({why_en}).")


def read_backup(path: Path, work: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """Check the archive and extract its members into work (under names of our
    own, never the archive's): return the manifest and where each member went.
    Refuses (BackupRefused) anything but an intact pingyi-backup/1 file."""
    if not path.is_file():
        raise BackupRefused(f"备份文件不存在：{path}。 No such backup file: {path}.")
    extracted: dict[str, Path] = {}
    manifest: dict[str, Any] | None = None
    hashes: dict[str, str] = {}
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        raise _not_ours(path, "不是 tar 归档", "not a tar archive") from None
    try:
        with tar:
            for k, member in enumerate(tar):
                if not member.isreg():
                    raise _not_ours(path, f"含有非普通文件 {member.name}", f"member {member.name} is not a file")
                if member.name in extracted or (member.name == MANIFEST and manifest is not None):
                    raise _not_ours(path, f"{member.name} 出现两次", f"{member.name} appears twice")
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                if member.name == MANIFEST:
                    if member.size > MANIFEST_MAX:
                        raise _not_ours(path, "manifest.json 过大", "manifest.json is too big")
                    manifest = _parse_manifest(path, source.read())
                    continue
                out = work / f"member-{k}"
                digest = hashlib.sha256()
                with out.open("wb") as f:
                    for chunk in iter(lambda: source.read(1 << 20), b""):  # noqa: B023 (used at once)
                        digest.update(chunk)
                        f.write(chunk)
                extracted[member.name] = out
                hashes[member.name] = digest.hexdigest()
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise _not_ours(path, f"无法读取归档：{exc}", f"not a readable archive: {exc}") from None
    except OSError as exc:  # gzip.BadGzipFile among others
        raise _not_ours(path, f"无法读取归档：{exc}", f"not a readable archive: {exc}") from None
    if manifest is None:
        raise _not_ours(path, "缺少 manifest.json", "no manifest.json")
    listed: dict[str, Any] = manifest["members"]
    for name in extracted:
        if name not in listed:
            raise _not_ours(path, f"清单中没有成员 {name}", f"member {name} is not in the manifest")
    for name, meta in listed.items():
        if name not in extracted:
            raise BackupRefused(f"备份文件不完整：{path} 缺少 {name}。 The backup is incomplete: {path} lacks {name}.")
        if hashes[name] != meta["sha256"]:
            raise BackupRefused(f"校验和不符：{path} 中的 {name} 已损坏或被改动（SHA-256 应为 {meta['sha256']}，"
                                f"实为 {hashes[name]}）。 Checksum mismatch: {name} in {path} is damaged or altered "
                                f"(SHA-256 {hashes[name]}, expected {meta['sha256']}).")
    database = DATABASE_MEMBERS.get(manifest["database"])
    if database not in listed:
        raise _not_ours(path, f"缺少数据库 {database}", f"no database member {database}")
    return manifest, extracted


def _parse_manifest(path: Path, data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise _not_ours(path, "manifest.json 不是 JSON", "manifest.json is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise _not_ours(path, f"格式为 {found!r}，应为 {FORMAT}", f"format {found!r}, expected {FORMAT}")
    members = manifest.get("members")
    revisions = manifest.get("alembic_revision")
    if (manifest.get("database") not in DATABASE_MEMBERS or not isinstance(members, dict)
            or not all(isinstance(m, dict) and isinstance(m.get("sha256"), str) for m in members.values())
            or not isinstance(revisions, list) or not all(isinstance(r, str) for r in revisions)):
        raise _not_ours(path, "manifest.json 不完整", "manifest.json is incomplete")
    return manifest


# --- restore ---


def _sqlite_has_rows(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    conn = sqlite3.connect(path, timeout=30)
    try:
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            " AND name != 'alembic_version'")]
        return any(conn.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone() for t in tables)
    finally:
        conn.close()


def _pg_has_rows(engine: Engine) -> bool:
    with engine.connect() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        preparer = engine.dialect.identifier_preparer
        return any(conn.execute(text(f"SELECT 1 FROM {preparer.quote(t)} LIMIT 1")).first() for t in tables)


def _write_atomically(source: Path, target: Path, mode: int) -> None:
    """Copy source to target through a temporary file beside it (fsync, rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.restore-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _restore_sqlite(copy: Path, target: Path) -> None:
    conn = sqlite3.connect(copy)
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        check = str(exc)
    finally:
        conn.close()
    if check != "ok":
        raise BackupRefused(f"备份中的数据库已损坏：{check}。 The database in the backup is damaged: {check}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    # The old database's journal files would be replayed onto the new one.
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    _write_atomically(copy, target, 0o600)


def _restore_postgresql(dump: Path, engine: Engine) -> None:
    tool = pg_tool("pg_restore", engine)
    engine.dispose()
    uri, env = _libpq(engine.url)
    done = subprocess.run([tool, "--clean", "--if-exists", "--no-owner", "--single-transaction",
                           "--exit-on-error", "--dbname", uri, str(dump)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupFailed(f"pg_restore 失败，数据库未改动 (pg_restore failed, exit {done.returncode}; "
                           f"nothing was changed): {done.stderr.strip()}")


def restore_backup(app: Flask, path: Path, *, force: bool = False) -> dict[str, Any]:
    """Restore the backup at path into the app's database and instance folder; return its manifest."""
    engine = db.engine
    kind = database_kind(engine.url)
    path = path.resolve()
    target = sqlite_path(engine.url) if kind == "sqlite" else None
    # Extract beside the SQLite database (so that the copy is on its file system), else in /tmp.
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
    with _workdir(target.parent if target is not None else None) as work:
        manifest, members = read_backup(path, work)
        if manifest["database"] != kind:
            raise BackupRefused(f"备份是 {manifest['database']} 数据库的，目标是 {kind}：{path}。 "
                                f"The backup {path} is of a {manifest['database']} database, the target is {kind}.")
        unknown = sorted(set(manifest["alembic_revision"]) - known_revisions(app))
        if unknown:
            raise BackupRefused(f"备份来自更新的版本：数据库迁移版本 {', '.join(unknown)} 本程序不认识（{path}）；"
                                f"请先升级程序。 The backup {path} comes from a newer version: this code does not "
                                f"know the Alembic revision {', '.join(unknown)}; upgrade the code first.")
        where = str(target) if target is not None else engine.url.render_as_string(hide_password=True)
        has_rows = _sqlite_has_rows(target) if target is not None else _pg_has_rows(engine)
        if has_rows and not force:
            raise BackupRefused(f"目标数据库不是空的：{where}；恢复会覆盖其中的数据，确认后加 --force。 "
                                f"The target database is not empty: {where}; restoring replaces its data: "
                                f"add --force to allow that.")
        database = members[DATABASE_MEMBERS[kind]]
        engine.dispose()
        if target is not None:
            _restore_sqlite(database, target)
        else:
            _restore_postgresql(database, engine)
        instance = Path(app.instance_path)
        instance.mkdir(parents=True, exist_ok=True)
        for name in SECRET_FILES:
            member = members.get(INSTANCE_PREFIX + name)
            if member is not None:
                _write_atomically(member, instance / name, 0o600)
    return manifest


@contextmanager
def _workdir(parent: Path | None) -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix=".pingyi-restore-", dir=parent))
    try:
        os.chmod(work, 0o700)
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- the commands ---


@click.command("backup", help="备份数据库和实例密钥文件到 FILE (back up the database and the instance's secret "
               "files to FILE, a pingyi-backup/1 archive). Safe while serving.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@with_appcontext
def backup_command(file: Path, force: bool) -> None:
    manifest = write_backup(current_app, file, force=force)
    files = ", ".join(manifest["members"])
    click.echo(f"已备份到 {file.resolve()}（{files}；迁移版本 {', '.join(manifest['alembic_revision']) or '-'}）。 "
               f"Backed up to {file.resolve()}.")


@click.command("restore", help="从备份文件 FILE 恢复数据库和实例密钥文件 (restore the database and the instance's "
               "secret files from a backup FILE). Stop the server first; then run `flask --app survey db upgrade`.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that is not empty.")
@with_appcontext
def restore_command(file: Path, force: bool) -> None:
    manifest = restore_backup(current_app, file, force=force)
    click.echo(f"已从 {file.resolve()}（{manifest['created']}）恢复：{', '.join(manifest['members'])}。"
               f"请运行 flask --app survey db upgrade。 Restored from {file.resolve()} "
               f"(made {manifest['created']}); now run `flask --app survey db upgrade`.")


def init_app(app: Flask) -> None:
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
