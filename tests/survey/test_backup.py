"""`flask --app survey backup FILE` and `restore FILE`: a round trip into a
fresh instance, the refusals (exit 2, nothing touched), and a backup taken
while ballots keep coming in that holds every ballot acknowledged before it
began. On SQLite, and on PostgreSQL when PINGYI_TEST_DATABASE_URL is set."""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import create_engine, func, make_url, select, text

from survey import create_app
from survey.backup import FORMAT, MANIFEST
from survey.extensions import db
from survey.models import Ballot, Campaign, ResultSnapshot
from survey.results import frozen, snapshots
from survey.tokens import hash_receipt, normalise_receipt
from tests.factories import make_campaign
from tests.survey.test_ballots import form_fields

pytestmark = [pytest.mark.db, pytest.mark.slow]

PG_URL = os.environ.get("PINGYI_TEST_DATABASE_URL")
RECEIPT = re.compile(r'data-testid="receipt">([^<]+)<')


def submit(client: Any, token: str) -> str:
    """Take one ballot through /b/<token>; return its receipt."""
    fields = form_fields(client.get(f"/b/{token}").get_data(as_text=True))
    answer = client.post(f"/b/{token}", data=fields)
    assert answer.status_code == 200, answer.status_code
    return RECEIPT.search(answer.get_data(as_text=True)).group(1)


def ballots(app: Flask) -> dict[str, list[tuple[int, int, int]]]:
    """Every ballot: public_id -> its answers (campaign unit, item, option)."""
    with app.app_context():
        try:
            return {b.public_id: sorted((a.campaign_unit_id, a.item_id, a.option_id) for a in b.answers)
                    for b in db.session.scalars(select(Ballot))}
        finally:
            db.session.remove()


def stored_receipts(app: Flask) -> set[bytes]:
    with app.app_context():
        try:
            return {bytes(h) for h in db.session.scalars(select(Ballot.receipt_hash))}
        finally:
            db.session.remove()


def fingerprint(app: Flask) -> dict[str, Any]:
    """What a refused restore must leave as it was: every table's rows, the instance folder."""
    with app.app_context():
        try:
            counts = {t.name: db.session.scalar(select(func.count()).select_from(t))
                      for t in db.metadata.sorted_tables}
        finally:
            db.session.remove()
            db.engine.dispose()
    instance = Path(app.instance_path)
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in instance.iterdir()
             if p.is_file() and not p.name.startswith("pingyi.sqlite")}
    return {"rows": counts, "ballots": ballots(app), "files": files}


@pytest.fixture
def fresh_app(tmp_path: Path) -> Iterator[Callable[[], Flask]]:
    """Apps on new, empty databases (a new SQLite file, or a new PostgreSQL
    database in the test cluster) with instance folders of their own."""
    made: list[tuple[Flask, str | None]] = []
    admin = create_engine(make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT") \
        if PG_URL else None

    def make() -> Flask:
        k = len(made)
        instance = tmp_path / f"fresh{k}" / "instance"
        instance.mkdir(parents=True)
        name = None
        if admin is not None:
            name = f"pingyi_restore_{os.getpid()}_{k}"
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            uri = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        else:
            uri = f"sqlite:///{instance / 'pingyi.sqlite'}"
        app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "TESTING": True, "SECRET_KEY": "test-secret",
                          "INSTANCE_PATH": str(instance), "WTF_CSRF_ENABLED": False})
        made.append((app, name))
        return app

    yield make
    for app, name in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if admin is not None and name:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    if admin is not None:
        admin.dispose()


def run_cli(app: Flask, *args: str) -> Any:
    result = app.test_cli_runner().invoke(args=list(args))
    with app.app_context():
        db.engine.dispose()  # the command's connections, before anything else touches the database
    return result


def add_secret_files(app: Flask) -> None:
    key = Path(app.instance_path) / "secret_key"
    key.write_text("a-long-random-secret-key\n")
    key.chmod(0o600)
    (Path(app.instance_path) / "config.py").write_text('PINGYI_PUBLIC_URL = "https://pingyi.example.cn"\n')


def freeze_bundle(app: Flask) -> str:
    """Keep the campaign's bundle in the frozen store (several pieces), as finalization does; its text."""
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        sink = frozen.BundleSink(keep=True)
        bundle_sha256, results = snapshots.compute(campaign, sink=sink)
        snap = ResultSnapshot(campaign_id=campaign.id, kind="final", version=1, bundle_chunks=sink.store(campaign.id),
                              **snapshots.stored_values(campaign, bundle_sha256, results))
        db.session.add(snap)
        db.session.commit()
        assert snap.bundle_chunks > 1
        text = frozen.bundle_text(snap)
        db.session.remove()
        db.engine.dispose()  # before the backup's tools touch the database
        return text


def frozen_bundle(app: Flask) -> str:
    with app.app_context():
        text = frozen.bundle_text(db.session.scalar(select(ResultSnapshot).where(ResultSnapshot.kind == "final")))
        db.session.remove()
        db.engine.dispose()
        return text


def test_round_trip_into_a_fresh_instance(app: Flask, fresh_app: Callable[[], Flask], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with app.app_context():
        _, tokens = make_campaign(invitations=5, items=2)
    client = app.test_client()
    receipts = [submit(client, token) for token in tokens[:4]]
    add_secret_files(app)
    before = ballots(app)
    assert len(before) == 4
    monkeypatch.setattr(frozen, "CHUNK_BYTES", 200)
    bundle_text = freeze_bundle(app)
    assert '"ballots":[{' in bundle_text

    archive = tmp_path / "pingyi-backup.tar.gz"
    result = run_cli(app, "backup", str(archive))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile(MANIFEST))
    assert manifest["format"] == FORMAT and manifest["database"] == ("postgresql" if PG_URL else "sqlite")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest["created"])
    assert set(manifest["members"]) >= {"instance/secret_key", "instance/config.py"}
    again = run_cli(app, "backup", str(archive))
    assert again.exit_code == 2 and "--force" in again.output

    target = fresh_app()
    result = run_cli(target, "restore", str(archive))
    assert result.exit_code == 0, result.output
    with target.app_context():
        flask_migrate.upgrade()  # a no-op on a current backup
        db.engine.dispose()
    assert ballots(target) == before
    assert all(before.values())  # each with its answers
    assert frozen_bundle(target) == bundle_text  # the frozen bundle travels with the database
    assert {hash_receipt(normalise_receipt(r)) for r in receipts} == stored_receipts(target)
    key = Path(target.instance_path) / "secret_key"
    assert key.read_text() == "a-long-random-secret-key\n"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((Path(target.instance_path) / "config.py").stat().st_mode) == 0o600
    # The restored instance serves: a link not used before the backup still takes a ballot.
    submit(target.test_client(), tokens[4])
    assert len(ballots(target)) == 5


def test_an_older_backup_is_brought_forward_by_db_upgrade(fresh_app: Callable[[], Flask], tmp_path: Path) -> None:
    old = fresh_app()
    with old.app_context():
        flask_migrate.upgrade(revision="20261123_0007")
        db.engine.dispose()
    archive = tmp_path / "old.tar.gz"
    assert run_cli(old, "backup", str(archive)).exit_code == 0
    target = fresh_app()
    result = run_cli(target, "restore", str(archive))
    assert result.exit_code == 0, result.output
    with target.app_context():
        revision = lambda: db.session.scalar(text("SELECT version_num FROM alembic_version"))  # noqa: E731
        assert revision() == "20261123_0007"
        db.session.remove()
        flask_migrate.upgrade()
        head = ScriptDirectory(target.extensions["migrate"].directory).get_current_head()
        assert revision() == head != "20261123_0007"
        db.session.remove()
        db.engine.dispose()


def _rewrite(archive: Path, out: Path, change: Callable[[str, bytes], bytes]) -> None:
    """Copy the archive member by member, each through change(name, data)."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src:
            data = change(member.name, src.extractfile(member).read())
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))


def _newer_revision(name: str, data: bytes) -> bytes:
    if name != MANIFEST:
        return data
    manifest = json.loads(data)
    manifest["alembic_revision"] = ["29991231_9999"]
    return json.dumps(manifest).encode()


def _flip_a_byte(name: str, data: bytes) -> bytes:
    if not name.startswith("database."):
        return data
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


def _other_format(name: str, data: bytes) -> bytes:
    return data.replace(FORMAT.encode(), b"pingyi-campaign/1") if name == MANIFEST else data


@pytest.mark.parametrize("case", ["tampered", "not-an-archive", "empty-file", "other-format", "newer-revision",
                                  "non-empty-target"])
def test_restore_refuses_and_leaves_the_target_unchanged(app: Flask, fresh_app: Callable[[], Flask],
                                                         tmp_path: Path, case: str) -> None:
    with app.app_context():
        _, tokens = make_campaign(invitations=3)
    submit(app.test_client(), tokens[0])
    add_secret_files(app)
    archive = tmp_path / "good.tar.gz"
    assert run_cli(app, "backup", str(archive)).exit_code == 0

    bad = tmp_path / "bad.tar.gz"
    if case == "tampered":
        _rewrite(archive, bad, _flip_a_byte)
    elif case == "not-an-archive":
        bad.write_bytes(b"PK\x03\x04 not a backup at all" * 100)
    elif case == "empty-file":
        bad.write_bytes(b"")
    elif case == "other-format":
        _rewrite(archive, bad, _other_format)
    elif case == "newer-revision":
        _rewrite(archive, bad, _newer_revision)
    else:
        bad = archive

    if case == "non-empty-target":
        target = app  # its database has a campaign: more since the backup
        submit(app.test_client(), tokens[1])
    else:
        target = fresh_app()
        with target.app_context():
            flask_migrate.upgrade()  # an empty, migrated database
            db.engine.dispose()
    before = fingerprint(target)
    result = run_cli(target, "restore", str(bad))
    assert result.exit_code == 2, result.output
    message = result.output
    assert str(bad.resolve()) in message or case == "non-empty-target"
    assert re.search(r"[\u4e00-\u9fff]", message) and re.search(r"\b(Not|not|Checksum|newer)\b", message)
    expected = {"tampered": "Checksum mismatch", "not-an-archive": "not a tar archive",
                "empty-file": "Not a Pingyi backup", "other-format": "Not a Pingyi backup",
                "newer-revision": "29991231_9999", "non-empty-target": "not empty"}[case]
    assert expected in message, message
    assert fingerprint(target) == before

    if case == "non-empty-target":
        # --force replaces it: back to the backup's one ballot.
        result = run_cli(target, "restore", "--force", str(bad))
        assert result.exit_code == 0, result.output
        assert len(ballots(target)) == 1


def test_backup_under_load_holds_every_ballot_acknowledged_before_it_began(
        app: Flask, fresh_app: Callable[[], Flask], tmp_path: Path) -> None:
    with app.app_context():
        _, tokens = make_campaign(invitations=90, items=1, units=4)
    pending = list(tokens)
    lock = threading.Lock()
    #: (receipt, when the POST was sent, when its receipt came back)
    acknowledged: list[tuple[str, float, float]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def evaluator() -> None:
        client = app.test_client()
        try:
            while not stop.is_set():
                with lock:
                    if not pending:
                        return
                    token = pending.pop()
                fields = form_fields(client.get(f"/b/{token}").get_data(as_text=True))
                sent = time.monotonic()
                answer = client.post(f"/b/{token}", data=fields)
                assert answer.status_code == 200, answer.status_code
                receipt = RECEIPT.search(answer.get_data(as_text=True)).group(1)
                with lock:
                    acknowledged.append((receipt, sent, time.monotonic()))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=evaluator) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 15 and time.monotonic() < deadline and not errors:
        time.sleep(0.01)
    archive = tmp_path / "under-load.tar.gz"
    began = time.monotonic()
    result = app.test_cli_runner().invoke(args=["backup", str(archive)])
    ended = time.monotonic()
    time.sleep(0.2)  # a few more after it
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert result.exit_code == 0, result.output

    before = [r for r, _, acked in acknowledged if acked < began]
    overlapping = [r for r, sent, acked in acknowledged if sent < ended and acked > began]
    assert len(before) >= 15
    assert overlapping or len(acknowledged) > len(before), "the backup did not run while ballots came in"

    target = fresh_app()
    restored = run_cli(target, "restore", str(archive))
    assert restored.exit_code == 0, restored.output
    stored = stored_receipts(target)
    missing = [r for r in before if hash_receipt(normalise_receipt(r)) not in stored]
    assert not missing, f"{len(missing)} of {len(before)} acknowledged ballots are not in the backup"
    # Nothing in the backup that the live database does not have either.
    assert stored <= stored_receipts(app)
    print(f"acknowledged before the backup: {len(before)}, during it: {len(overlapping)}, "
          f"in the backup: {len(stored)}, in all: {len(acknowledged)}; backup took {ended - began:.2f} s")


def test_every_migration_goes_down_and_up_again_with_a_clerks_keying_kept(fresh_app: Callable[[], Flask]) -> None:
    """`flask db downgrade` works on a database in use: the demo, plus a paper form keyed by a clerk
    (whose account the paper entry references, so 0022's downgrade cannot delete it)."""
    from survey.demo import create_demo, create_demo_users
    from survey.models import Batch, Invitation, PaperEntry, User

    target = fresh_app()
    with target.app_context():
        flask_migrate.upgrade()
        create_demo()
        create_demo_users()
        clerk = db.session.scalars(select(User).where(User.role == "clerk")).one()
        invitation = db.session.scalars(select(Invitation).join(Batch).where(Batch.channel == "paper")).first()
        assert invitation is not None
        db.session.add(PaperEntry(invitation_id=invitation.id, entry_no=1, clerk_id=clerk.id, answers={}))
        db.session.commit()
        clerk_id = clerk.id
        db.session.remove()
        flask_migrate.downgrade(revision="20261126_0021")
        row = db.session.execute(text("SELECT role, active FROM user_account WHERE id = :i"), {"i": clerk_id}).one()
        assert (row.role, bool(row.active)) == ("auditor", False)  # kept, and signed out for good
        assert db.session.scalar(text("SELECT count(*) FROM paper_entry WHERE clerk_id = :i"), {"i": clerk_id}) == 1
        db.session.remove()
        flask_migrate.downgrade(revision="base")
        assert db.session.scalar(text("SELECT count(*) FROM alembic_version")) == 0
        db.session.remove()
        flask_migrate.upgrade()
        head = ScriptDirectory(target.extensions["migrate"].directory).get_current_head()
        assert db.session.scalar(text("SELECT version_num FROM alembic_version")) == head
        db.session.remove()
        db.engine.dispose()
