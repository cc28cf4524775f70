"""The kill -9 drill: the real gunicorn server, as `make run` starts it, takes
ballots from several clients; its master and workers are killed with SIGKILL
mid-run and the server restarted on the same database while the
clients keep retrying, each with the very form it posted first (same CSRF
token, same receipt). Then every receipt a client got acknowledged is stored
exactly once, nothing else is stored but ballots whose answer was lost in a
kill, and on SQLite `PRAGMA integrity_check` says ok. On SQLite, and on
PostgreSQL when PINGYI_TEST_DATABASE_URL is set."""
from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import flask_migrate
import pytest
from sqlalchemy import create_engine, make_url, text

from survey import create_app
from survey.extensions import db
from survey.tokens import hash_receipt, normalise_receipt
from tests.factories import make_campaign

pytestmark = [pytest.mark.db, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_URL = os.environ.get("PINGYI_TEST_DATABASE_URL")

LINKS = 120
CLIENTS = 6
#: Kill -9 when this share of the links has its receipt.
KILL_AT = (0.4,)
#: The clients retry until then (seconds from their start): a run takes far
#: less, even on two busy cores where a worker may need 10 s to boot.
CLIENT_DEADLINE_S = 45.0

INPUT = re.compile(r"<input[^>]*>")
ATTR = re.compile(r'(name|value|type)="([^"]*)"')
RECEIPT = re.compile(r'data-testid="receipt">([^<]+)<')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def database_url() -> Iterator[str | None]:
    """PostgreSQL: a database of the drill's own in the test cluster (None: SQLite)."""
    if not PG_URL:
        yield None
        return
    name = f"pingyi_drill_{os.getpid()}"
    admin = create_engine(make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def process_group(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


class Server:
    """gunicorn -c python:survey.serving 'survey:create_app()', as `make run` runs it."""

    def __init__(self, env: dict[str, str], port: int, log: IO[bytes]) -> None:
        self.env, self.port, self.log = env, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        self.spawn()
        self.wait_ready(timeout)

    def spawn(self) -> None:
        """Start gunicorn in a process group of its own (its master and workers)."""
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "python:survey.serving", "survey:create_app()"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 30) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "gunicorn exited"
            try:
                if request(self.port, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not serve /healthz in {timeout} s")

    def kill9(self) -> int:
        """SIGKILL to the master and every worker at once; returns how many were killed."""
        assert self.proc is not None
        pgid = self.proc.pid
        members = process_group(pgid)
        assert pgid in members and len(members) >= 2, members  # the master and its workers
        os.killpg(pgid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while process_group(pgid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not process_group(pgid), "workers survived kill -9"
        return len(members)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """One request on a connection of its own."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode(errors="replace")
    finally:
        conn.close()


@dataclass
class Evaluation:
    """One personal link's story, as its client saw it."""

    token: str
    #: The receipt in the form (hidden field): the one every retry sends.
    receipt: str | None = None
    #: The receipt on the thank-you page (HTTP 200), once one came back.
    acknowledged: str | None = None
    #: POSTs sent whose answer never came (connection reset or timed out while
    #: the server was killed): the ballot may or may not have been committed.
    lost_answers: int = 0
    #: POSTs answered 5xx (a worker's error): retried like a lost answer.
    server_errors: int = 0
    #: POSTs refused before they reached the server (it was down).
    refused_connections: int = 0
    #: Answers other than a receipt or a 5xx (409 would be a retry not recognised).
    other_status: list[int] = field(default_factory=list)
    gave_up: bool = False


#: POSTs sent and not yet answered, across the clients: the kill waits for one.
POSTING = [0]
POSTING_LOCK = threading.Lock()


def evaluate(port: int, ev: Evaluation, deadline: float) -> None:
    """GET the form, then POST it until a receipt comes back, always the same form."""
    while time.monotonic() < deadline:
        try:
            status, headers, html = request(port, "GET", f"/b/{ev.token}")
        except (OSError, http.client.HTTPException):  # refused, reset, cut short by the kill
            time.sleep(0.05)
            continue
        if status == 200:
            break
        time.sleep(0.05)
    else:
        ev.gave_up = True
        return
    cookie = headers["set-cookie"].split(";", 1)[0]
    fields: dict[str, str] = {}
    for tag in INPUT.findall(html):
        attrs = dict(ATTR.findall(tag))
        if "name" in attrs:
            fields.setdefault(attrs["name"], attrs.get("value", ""))  # the first option of each radio group
    ev.receipt = normalise_receipt(fields["receipt"])
    body = urllib.parse.urlencode(fields).encode()
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    while time.monotonic() < deadline:
        try:
            with POSTING_LOCK:
                POSTING[0] += 1
            try:
                status, _, page = request(port, "POST", f"/b/{ev.token}", body, headers)
            finally:
                with POSTING_LOCK:
                    POSTING[0] -= 1
        except ConnectionRefusedError:
            ev.refused_connections += 1
            time.sleep(0.05)
            continue
        except (OSError, http.client.HTTPException):
            ev.lost_answers += 1
            time.sleep(0.05)
            continue
        match = RECEIPT.search(page) if status == 200 else None
        if match:
            ev.acknowledged = normalise_receipt(match.group(1))
            return
        if status < 500:
            ev.other_status.append(status)
            return
        ev.server_errors += 1
        time.sleep(0.05)  # a 5xx: the same form again (had it been committed, the retry is recognised)
    ev.gave_up = True


def test_kill_9_mid_run_loses_no_acknowledged_ballot_and_stores_none_twice(
        tmp_path: Path, database_url: str | None) -> None:
    started = time.monotonic()
    timeline: list[tuple[str, float]] = []  # (phase, seconds since the start), printed at the end
    instance = tmp_path / "instance"
    instance.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PINGYI_TEST_DATABASE_URL")}
    env.update(PINGYI_INSTANCE_PATH=str(instance), PINGYI_BIND=f"127.0.0.1:{port}", PINGYI_WORKERS="2",
               PINGYI_THREADS="4", SECRET_KEY="kill-drill-secret", PYTHONPATH=str(ROOT),
               # gunicorn's control socket ($XDG_RUNTIME_DIR/gunicorn.ctl), not the one every
               # gunicorn of this user shares in ~/.gunicorn.
               XDG_RUNTIME_DIR=str(tmp_path))
    if database_url:
        env["DATABASE_URL"] = database_url
    uri = database_url or f"sqlite:///{instance / 'pingyi.sqlite'}"

    log = (tmp_path / "gunicorn.log").open("wb")
    server = Server(env, port, log)
    # gunicorn boots while the database is prepared (it touches none before a request).
    server.spawn()
    try:
        # What `flask --app survey db upgrade` does (Flask-Migrate's upgrade on the
        # app's database), in this process: a second interpreter would double the setup.
        setup = create_app({"SQLALCHEMY_DATABASE_URI": uri, "INSTANCE_PATH": str(instance), "TESTING": True})
        with setup.app_context():
            flask_migrate.upgrade()
            timeline.append(("migrated", round(time.monotonic() - started, 1)))
            _, tokens = make_campaign(invitations=LINKS, units=6, items=2)
            db.session.remove()
            db.engine.dispose()

        evaluations = [Evaluation(token) for token in tokens]
        kills: list[tuple[int, int]] = []  # (receipts acknowledged at the kill, processes killed)
        server.wait_ready()
        timeline.append(("started", round(time.monotonic() - started, 1)))
        queue = list(reversed(evaluations))
        lock = threading.Lock()
        deadline = time.monotonic() + CLIENT_DEADLINE_S

        errors: list[BaseException] = []

        def client() -> None:
            try:
                while True:
                    with lock:
                        if not queue:
                            return
                        ev = queue.pop()
                    evaluate(port, ev, deadline)
            except BaseException as exc:  # reported below, not lost in the thread
                errors.append(exc)

        threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for share in KILL_AT:
            while sum(ev.acknowledged is not None for ev in evaluations) < share * LINKS:
                assert time.monotonic() < deadline, "the clients stalled"
                time.sleep(0.005)
            # Kill while ballots are being posted (a few milliseconds at most).
            wait_posting = time.monotonic() + 2
            while POSTING[0] == 0 and time.monotonic() < wait_posting:
                time.sleep(0.001)
            acknowledged = sum(ev.acknowledged is not None for ev in evaluations)
            timeline.append((f"kill -9 at {acknowledged} receipts", round(time.monotonic() - started, 1)))
            kills.append((acknowledged, server.kill9()))
            server.start()  # same bind, same database
            timeline.append(("restarted", round(time.monotonic() - started, 1)))
        for t in threads:
            t.join(timeout=CLIENT_DEADLINE_S + 15)
        assert not any(t.is_alive() for t in threads)
        assert not errors, errors
    finally:
        server.stop()
        log.close()

    # Stored: receipt hash of every ballot, and how many links are taken: on PostgreSQL the
    # claim marks the invitation used; on SQLite a link is taken by its claim row, and its
    # invitation is marked used later, with others (survey/ballots/submission.py).
    engine = create_engine(uri)
    with engine.connect() as conn:
        stored = [bytes(h) for h in conn.execute(text("SELECT receipt_hash FROM ballot")).scalars()]
        taken = "SELECT count(*) FROM ballot_claim" if engine.dialect.name == "sqlite" else \
            "SELECT count(*) FROM invitation WHERE used"
        used = conn.execute(text(taken)).scalar_one()
        answers = dict(conn.execute(text("SELECT ballot.id, count(answer.id) FROM ballot LEFT JOIN answer "
                                         "ON answer.ballot_id = ballot.id GROUP BY ballot.id")).all())
    engine.dispose()

    assert all(acked < LINKS for acked, _ in kills), f"a kill came after the run: {kills}"
    assert not [ev for ev in evaluations if ev.other_status], \
        [(ev.token[:4], ev.other_status) for ev in evaluations if ev.other_status]
    acked = [ev for ev in evaluations if ev.acknowledged is not None]
    # A retry is answered with the receipt of the form that was first sent.
    assert all(ev.acknowledged == ev.receipt for ev in acked)
    # Exactly once: no receipt stored twice, one ballot per used link.
    assert len(stored) == len(set(stored)) == used
    by_receipt = {hash_receipt(ev.receipt): ev for ev in evaluations if ev.receipt}
    # None lost: every acknowledged receipt is stored.
    lost = [ev.token for ev in acked if hash_receipt(ev.acknowledged) not in set(stored)]
    assert not lost, f"{len(lost)} acknowledged ballots lost"
    # Nothing else stored but forms posted without a receipt coming back: sent
    # when the server was killed (or answered 5xx), possibly committed, never
    # acknowledged because the client gave up. So the ballots number the
    # acknowledged links plus at most those in flight.
    unacknowledged_in_flight = {hash_receipt(ev.receipt) for ev in evaluations
                                if ev.acknowledged is None and ev.receipt
                                and (ev.lost_answers or ev.server_errors)}
    extra = set(stored) - {hash_receipt(ev.acknowledged) for ev in acked}
    assert extra <= unacknowledged_in_flight, "a stored ballot no client sent"
    assert len(acked) <= len(stored) <= len(acked) + len(unacknowledged_in_flight)
    assert set(stored) <= set(by_receipt)
    # All or nothing: every stored ballot has every answer of its form (6 units, 2 items).
    assert sorted(set(answers.values())) == [6 * 2] and len(answers) == len(stored)
    # And the server came back: every client finished its retries.
    gave_up = [ev for ev in evaluations if ev.gave_up]
    assert not gave_up, (f"{len(gave_up)} clients gave up after {CLIENT_DEADLINE_S} s "
                         f"({len(acked)} acknowledged, kills {kills}, timeline {timeline})")
    assert len(acked) == LINKS

    if database_url is None:
        conn = sqlite3.connect(instance / "pingyi.sqlite")
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        finally:
            conn.close()
    print(f"drill: {LINKS} links, {CLIENTS} clients, kills at {kills} (acknowledged, processes), "
          f"answers lost in kills {sum(ev.lost_answers for ev in evaluations)} "
          f"(recovered by retry: {sum(1 for ev in acked if ev.lost_answers)}), connections refused while down "
          f"{sum(ev.refused_connections for ev in evaluations)}, 5xx {sum(ev.server_errors for ev in evaluations)}, stored {len(stored)}, "
          f"timeline {timeline}, {time.monotonic() - started:.1f} s in all")
