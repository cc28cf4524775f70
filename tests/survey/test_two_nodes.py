"""Two app nodes on one database (docs/deployment.md, "More than one node"):
two real gunicorn servers, each with an instance folder of its own, sharing
only their configuration (SECRET_KEY, DATABASE_URL, the mail server) and the
database. On PostgreSQL when PINGYI_TEST_DATABASE_URL is set (the case the
recipe is for), else on one SQLite file (two servers of one machine).

Checked, each against both nodes:
- ballots whose form came from one node and were posted to the other, half
  each way, and posted again to the first (a retry landing elsewhere), are
  all stored, each once, with the receipt the form carried;
- an edit made through one node (an item's label; new ballots) is seen by
  the other on its next request, though both served the old state before
  (per-process caches are keyed by what they cache);
- background jobs queued for both nodes' workers (send jobs of four batches,
  40 webhook deliveries) are each run by one worker: every message is sent
  once, every delivery arrives once with its delivery id, and both nodes
  took jobs;
- a deadline passed is recorded once (one campaign.closed event) however
  many staff requests of both nodes find it at once;
- the sign-in limit counts failures made on either node.
"""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
from sqlalchemy import create_engine, make_url, select, text

from survey import create_app, webhooks
from survey.distribution import services
from survey.extensions import db
from survey.models import Evaluator, Item
from tests.factories import PASSWORD, make_campaign, make_user
from tests.smtp import smtp_config
from tests.survey.test_kill_drill import PG_URL, Server, free_port, process_group

pytestmark = [pytest.mark.db, pytest.mark.slow]

LINKS = 24
SEND_BATCHES, PER_BATCH = 4, 6
PINGS = 40
INPUT = re.compile(r"<input[^>]*>")
ATTR = re.compile(r'(name|value|type)="([^"]*)"')
RECEIPT = re.compile(r'data-testid="receipt">([^<]+)<')
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """PostgreSQL: a database of this test's own in the test cluster; else one SQLite file."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'shared.sqlite'}"
        return
    name = f"pingyi_nodes_{os.getpid()}"
    admin = create_engine(make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class Receiver:
    """A webhook receiver on loopback: keeps each POST's delivery id and event,
    answering after a short pause (so that the deliveries overlap)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(0.05)
                with receiver.lock:
                    receiver.received.append((self.headers[webhooks.DELIVERY_HEADER], json.loads(body)["event"]))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Browser:
    """One person's cookies, whichever node answers (cookies do not tell ports apart)."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def go(self, port: int, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(f"http://127.0.0.1:{port}{path}", body, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read().decode()

    def post_form(self, page_port: int, page: str, port: int, path: str, data: dict[str, str]) -> tuple[int, str]:
        """POST with the CSRF token of a page another node (or the same) served."""
        status, html = self.go(page_port, page)
        assert status == 200, (page, status)
        return self.go(port, path, {"csrf_token": CSRF.search(html).group(1), **data})

    def sign_in(self, port: int, username: str, password: str = PASSWORD) -> int:
        return self.post_form(port, "/login", port, "/login", {"username": username, "password": password})[0]


def form_fields(html: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for tag in INPUT.findall(html):
        attrs = dict(ATTR.findall(tag))
        if "name" in attrs:
            fields.setdefault(attrs["name"], attrs.get("value", ""))  # the first option of each radio group
    return fields


def wait_for(what: str, check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.2)


def test_two_nodes_share_ballots_edits_jobs_deadlines_and_sign_in_limits(
        tmp_path: Path, database_url: str, smtp_server) -> None:
    """Bounded in time by its waits (the nodes' boot, 60 s; jobs, 30 s; each request, 30 s): about
    35 s on SQLite and 55 s on PostgreSQL on the 2-core development machine under load."""
    started = time.monotonic()
    sink, smtp_port = smtp_server
    receiver = Receiver()
    shared = {"SECRET_KEY": "two-nodes-secret-0123456789abcdef", "DATABASE_URL": database_url,
              "PINGYI_JOBS_THREAD": "1", **{k: str(v) for k, v in smtp_config(smtp_port).items()}}
    ports = [free_port(), free_port()]
    logs, nodes = [], []
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PINGYI_TEST_DATABASE_URL")}
    for n, port in enumerate(ports):
        instance = tmp_path / f"node{n}"
        instance.mkdir()
        env = {**base, **shared, "PINGYI_INSTANCE_PATH": str(instance), "PINGYI_BIND": f"127.0.0.1:{port}",
               "PINGYI_WORKERS": "2", "PINGYI_THREADS": "4", "PYTHONPATH": str(Path.cwd()),
               "XDG_RUNTIME_DIR": str(instance)}
        logs.append((instance / "gunicorn.log").open("wb"))
        nodes.append(Server(env, port, logs[-1]))
    for node in nodes:
        node.spawn()  # both boot while the database is prepared
    engine = create_engine(database_url)
    try:
        setup = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_PATH": str(tmp_path / "setup"),
                            "TESTING": True, "SECRET_KEY": shared["SECRET_KEY"], **smtp_config(smtp_port)})
        with setup.app_context(), setup.test_request_context():
            flask_migrate.upgrade()
            campaign, tokens = make_campaign(invitations=LINKS, units=3, items=2)
            make_user("organizer")
            make_user("admin")
            client = campaign.batches[0].group  # the "client" group's place in the campaign
            send_batches = []
            for b in range(SEND_BATCHES):
                evaluators = [Evaluator(group=client.group, name=f"收件人{b}-{k}", email=f"r{b}-{k}@example.cn")
                              for k in range(PER_BATCH)]
                db.session.add_all(evaluators)
                db.session.flush()
                batch = services.create_batch(campaign, client, "email", evaluators=[e.id for e in evaluators])
                send_batches.append(batch.code)
            endpoint = webhooks.register(receiver.url, ["campaign.closed"])
            endpoint_id = endpoint.id
            db.session.commit()
            item_id = db.session.scalar(select(Item.id).where(Item.campaign_id == campaign.id, Item.code == "i1"))
            db.session.remove()
            db.engine.dispose()
        for node in nodes:
            node.wait_ready(60)
        booted = time.monotonic() - started
        pids = [set(process_group(node.proc.pid)) for node in nodes]  # type: ignore[union-attr]

        # --- ballots: the form from one node, posted to the other, and again to the first -----
        receipts: dict[str, str] = {}
        for k, token in enumerate(tokens):
            issuer, taker = ports[k % 2], ports[1 - k % 2]
            person = Browser()
            status, html = person.go(issuer, f"/b/{token}")
            assert status == 200
            fields = form_fields(html)
            status, page = person.go(taker, f"/b/{token}", fields)
            assert status == 200 and RECEIPT.search(page), (k, status)
            receipts[token] = RECEIPT.search(page).group(1)
            if k % 4 == 0:  # the answer was lost: the same form again, to the node that served it
                status, again = person.go(issuer, f"/b/{token}", fields)
                assert status == 200 and RECEIPT.search(again).group(1) == receipts[token], (k, status)
        assert len(set(receipts.values())) == LINKS

        # --- an edit on one node, seen by the other at its next request -----
        organizer = Browser()
        assert organizer.sign_in(ports[0], "organizer") == 200
        board_path = "/api/campaigns/t2026/returns"
        open_form = "/p/t2026/p1"
        for _ in range(4):  # both workers of both nodes have served (and kept) the old state
            for port in ports:
                assert json.loads(organizer.go(port, board_path)[1])["total"]["returned"] == LINKS
                assert "服务态度" in Browser().go(port, open_form)[1]
        status, _page = organizer.post_form(ports[0], "/campaigns/t2026/setup/questionnaire", ports[0],
                                            f"/campaigns/t2026/setup/items/{item_id}",
                                            {"label": "办事公开", "weight": "1"})
        assert status == 200
        for _ in range(4):
            page = Browser().go(ports[1], open_form)[1]
            assert "办事公开" in page and "服务态度" not in page
        # New ballots through node 0: node 1's board counts them at once. The links are taken, so
        # two more are made (open batch p1 takes anyone).
        for n in range(2):
            visitor = Browser()
            status, html = visitor.go(ports[0], open_form)
            assert status == 200, status
            status, page = visitor.go(ports[0], open_form, form_fields(html))
            assert status == 200 and RECEIPT.search(page), (n, status)
        for _ in range(4):
            assert json.loads(organizer.go(ports[1], board_path)[1])["total"]["returned"] == LINKS + 2

        # --- jobs: queued for both nodes' workers, each run by one -----
        admin = Browser()
        assert admin.sign_in(ports[1], "admin") == 200
        for _ in range(PINGS // 2):
            for port in ports:
                status, _page = admin.post_form(port, f"/admin/webhooks/{endpoint_id}", port,
                                                f"/admin/webhooks/{endpoint_id}/ping", {})
                assert status == 200
        for n, code in enumerate(send_batches):
            port = ports[n % 2]
            status, _page = organizer.post_form(port, f"/distribution/t2026/batches/{code}", port,
                                                f"/distribution/t2026/batches/{code}/send", {"confirmed": "1"})
            assert status == 200
        for port in ports:  # both look at the queue, as a progress page does
            admin.go(port, "/admin/webhooks")
        wait_for("every message and delivery", lambda: len(sink.messages) >= SEND_BATCHES * PER_BATCH
                 and len(receiver.received) >= PINGS)
        time.sleep(1)  # a message or delivery sent twice would arrive by now
        sent = Counter(m.rcpt_tos[0] for m in sink.messages)
        assert len(sent) == SEND_BATCHES * PER_BATCH and set(sent.values()) == {1}, sent
        delivered = Counter(d for d, _event in receiver.received)
        assert len(delivered) == PINGS and set(delivered.values()) == {1}

        # --- a deadline passed, found by both nodes at once: recorded once -----
        with engine.begin() as conn:
            conn.execute(text("UPDATE campaign SET closes_at = :t WHERE code = 't2026'"),
                         {"t": "2020-01-01 00:00:00"})
        answers: list[int] = []
        threads = [threading.Thread(target=lambda p=port: answers.append(organizer.go(p, "/")[0]))
                   for _ in range(4) for port in ports]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert answers == [200] * len(threads), answers
        wait_for("the campaign.closed delivery", lambda: any(e == "campaign.closed" for _d, e in receiver.received))
        time.sleep(1)
        assert [e for _d, e in receiver.received].count("campaign.closed") == 1

        # --- the sign-in limit counts failures on either node -----
        guesser = Browser()
        for n in range(5):
            assert guesser.sign_in(ports[n % 2], "organizer", "wrong") == 200
        assert guesser.sign_in(ports[0], "organizer", "wrong") == 429
        assert guesser.sign_in(ports[1], "organizer") == 429  # not even the right password now

        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*), count(DISTINCT receipt_hash) FROM ballot")).one()
            claimers = conn.execute(text("SELECT claimed_by FROM job WHERE state = 'done'")).scalars().all()
            states = dict(conn.execute(text("SELECT state, count(*) FROM job GROUP BY state")).all())
            closed = conn.execute(text("SELECT status FROM campaign WHERE code = 't2026'")).scalar_one()
        assert tuple(stored) == (LINKS + 2, LINKS + 2)
        assert states == {"done": PINGS + SEND_BATCHES + 1}, states
        assert closed == "closed"
        by_node = Counter(next(n for n, members in enumerate(pids) if int(c.split(":")[1]) in members)
                          for c in claimers)
        assert set(by_node) == {0, 1}, by_node  # both nodes took jobs
        print(f"two nodes: booted in {booted:.1f} s, done in {time.monotonic() - started:.1f} s; "
              f"jobs by node {dict(by_node)}")
    finally:
        engine.dispose()
        for node in nodes:
            node.stop()
        for log in logs:
            log.close()
        receiver.close()
