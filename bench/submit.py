"""Benchmark of ballot submission: the real server, concurrent evaluators, and a floor on the same server.

Run as ``.venv/bin/python bench/submit.py`` (``--database-url postgresql://…``
for an empty PostgreSQL database, ``--reset-database`` to let it wipe one that
is not empty; SQLite in a temporary instance by default).

It migrates a fresh database, creates a campaign like the demo's (24 units
in 3 categories) with one personal link per evaluator, and starts gunicorn
with the settings ``make run`` uses (``-c python:survey.serving``: gthread
workers, the token-redacting access log) serving ``bench/floor_app.py``: the
app of ``create_app()`` plus /bench/floor, one INSERT of the whole posted form as a single row and
a commit. Then, over loopback, from client processes started before the clock:

1. every evaluator opens their link (GET /b/<token>, not timed): the form,
   its CSRF token, random receipt and signed start time;
2. timed: every evaluator submits (POST /b/<token>, CSRF checked, the
   campaign's rules, the exactly-once claim, the draft deleted, the ballot
   and its answers inserted, the thank-you page rendered);
3. timed: the same bodies are posted to /bench/floor;
4. timed: GET /healthz as often;
5. timed, the evaluator's first page (issue #15): as many other evaluators,
   each with a draft saved through the autosave (every answer and a
   comment, not timed), open their link (GET /b/<token>, the draft
   restored): ``form_get_per_s``, ``form_ratio_to_healthz``; and as many
   phones, each with a draft of its own, open the public form of an open
   batch (GET /p/<campaign>/<batch>): ``public_form_get_per_s``,
   ``public_form_ratio_to_healthz``, each to the mean of GET /healthz timed
   right before and right after them. Every page must show the draft restored.

Finally it checks in the database that every acknowledged ballot (a
thank-you page with a receipt) is there, by its receipt's hash. Each of
``--rounds`` rounds (default 3) does all this on a fresh database; on SQLite
every round runs twice, with the default ``synchronous=FULL`` (a receipt
means the ballot is on disk) and with ``NORMAL``, the floor committing under
the same pragmas as the ballots. The last line printed is one JSON object
of medians: submissions_per_s, floor_per_s, ratio_to_floor, healthz_per_s,
ratio_to_floor_normal_sync (the cost of durability), lost (summed),
form_get_per_s, form_ratio_to_healthz, public_form_get_per_s,
public_form_ratio_to_healthz, and a few more figures.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

CATEGORIES = [("law", "行政执法类", 10), ("admin", "综合管理类", 8), ("svc", "社会服务类", 6)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(instance: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env.update(PINGYI_INSTANCE_PATH=str(instance), SECRET_KEY="bench-secret",
               PYTHONPATH=str(ROOT))
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def prepare(env: dict[str, str], evaluators: int) -> list[str]:
    """Migrate, create the campaign and its links; return the tokens."""
    subprocess.run([str(BIN / "flask"), "--app", "survey", "db", "upgrade", "heads"], env=env, check=True,
                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    code = f"""
import json, sys
from survey import create_app
from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import Evaluator, Invitation
from survey.tokens import hash_token, new_token
units, k = [], 0
for cat, label, n in {CATEGORIES!r}:
    for _ in range(n):
        k += 1
        units.append({{"code": f"u{{k:02d}}", "name": f"市第{{k}}局", "category": cat}})
doc = {{"format": "pingyi-campaign/1",
       "campaign": {{"code": "bench2026", "name": "2026年度评议（压测）", "anonymous": True}},
       "scale": [{{"code": "S", "label": "满意", "points": 100}}, {{"code": "B", "label": "基本满意", "points": 70}},
                 {{"code": "D", "label": "不满意", "points": 0}}, {{"code": "U", "label": "不了解", "points": None}}],
       "items": [{{"code": "overall", "label": "总体评价", "weight": 1.0}}],
       "categories": [{{"code": c, "label": l}} for c, l, _ in {CATEGORIES!r}],
       "units": units,
       "groups": [{{"code": "client", "label": "服务对象", "weight": 1.0}}],
       "batches": [{{"code": "e1", "group": "client", "channel": "email", "issued": {evaluators}}},
                   {{"code": "q1", "group": "client", "channel": "public"}}],
       "ballots": []}}
app = create_app()
with app.app_context():
    campaign = import_bundle(doc, status="open")
    batch = campaign.batches[0]
    tokens = []
    for i in range({evaluators}):
        token = new_token()
        ev = Evaluator(group=batch.group.group, name=f"评议员{{i}}", attributes={{}})
        db.session.add(Invitation(campaign_id=campaign.id, batch=batch, evaluator=ev, token_hash=hash_token(token)))
        tokens.append(token)
    db.session.commit()
json.dump(tokens, sys.stdout)
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT, capture_output=True)
    return json.loads(out.stdout)


# --- the client: processes of threads with keep-alive connections ---

INPUT = re.compile(r"<input[^>]*>")
ATTR = re.compile(r'(name|value|type)="([^"]*)"')
RECEIPT = re.compile(r'data-testid="receipt">([^<]+)<')


class Client:
    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, {k.lower(): v for k, v in response.getheaders()}, data
            except (ConnectionError, http.client.HTTPException, OSError):
                # A kept-alive connection closed by the server between requests:
                # open another. (POSTs are retried too: exactly-once is the
                # server's job, and a retry is what a phone would do.)
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


PUBLIC_FORM = "/p/bench2026/q1"


def open_form(client: Client, token: str, rng: random.Random, path: str = "") -> tuple[str, bytes, str]:
    """GET the form (a personal link's, or the one at ``path``); return
    (cookie, the urlencoded answers, the token)."""
    status, headers, html = client.request("GET", path or f"/b/{token}")
    assert status == 200, status
    cookie = headers["set-cookie"].split(";", 1)[0]
    fields: list[tuple[str, str]] = []
    radios: dict[str, list[str]] = {}
    for tag in INPUT.findall(html.decode()):
        attrs = dict(ATTR.findall(tag))
        if "name" not in attrs:
            continue
        if attrs.get("type") == "radio":
            radios.setdefault(attrs["name"], []).append(attrs["value"])
        else:
            fields.append((attrs["name"], attrs.get("value", "")))
    weights = [6, 3, 1, 2]
    for name, values in radios.items():
        fields.append((name, rng.choices(values, weights=weights[:len(values)])[0]))
    unit = next(iter(radios)).split("_")[1]
    fields.append((f"c_{unit}", "办事效率有待提高，窗口等候时间较长。"))
    return cookie, urllib.parse.urlencode(fields).encode(), token


def open_forms(port: int, paths: list[str], rng: random.Random, *,
               save_draft: bool = False) -> list[tuple[str, bytes, str]]:
    """Open each form from 8 threads (not timed): a token's personal link, or
    a path (an open batch's form, each opened by a new browser); with
    ``save_draft``, post its answers as the autosave does (the draft URL)."""
    forms: list[tuple[str, bytes, str]] = []
    lock = threading.Lock()
    pending = list(paths)

    def opener() -> None:
        c, r = Client(port), random.Random(rng.random())
        while True:
            with lock:
                if not pending:
                    return
                item = pending.pop()
            path = item if item.startswith("/") else ""
            form = open_form(c, item, r, path)
            if save_draft:
                status, _, saved = c.request(
                    "POST", (path or f"/b/{item}") + "/draft", form[1],
                    {"Cookie": form[0], "Content-Type": "application/x-www-form-urlencoded"})
                assert status == 200 and json.loads(saved)["saved"], (status, saved[:200])
            with lock:
                forms.append(form)

    pool = [threading.Thread(target=opener) for _ in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return forms


def _worker(port: int, jobs: list[tuple[str, str, bytes | None, str]], threads: int,
            start: Any, results: Any) -> None:
    """Run jobs (method, path, body, cookie) on `threads` threads after `start`."""
    lock = threading.Lock()
    queue = list(reversed(jobs))
    out: list[tuple[int, str | None]] = []
    begin_end: list[float] = []

    def run() -> None:
        client = Client(port)
        while True:
            with lock:
                if not queue:
                    return
                method, path, body, cookie = queue.pop()
            headers = {"Cookie": cookie} if cookie else {}
            if body is not None:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            status, _, data = client.request(method, path, body, headers)
            receipt = None
            if method == "GET" and path.startswith(("/b/", "/p/")):
                # A form page: whether it shows the draft restored.
                receipt = "resumed" if b'data-testid="resumed"' in data else None
            elif path.startswith("/b/"):
                match = RECEIPT.search(data.decode())
                receipt = match.group(1) if match else None
            with lock:
                out.append((status, receipt))

    start.wait()
    begin_end.append(time.perf_counter())
    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    begin_end.append(time.perf_counter())
    results.put((begin_end[0], begin_end[1], out))


def timed(port: int, jobs: list[tuple[str, str, bytes | None, str]], processes: int,
          threads: int) -> tuple[float, list[tuple[int, str | None]]]:
    """Run the jobs from `processes` client processes; return (per second, results)."""
    ctx = mp.get_context("fork")
    start, results = ctx.Event(), ctx.Queue()
    slices = [jobs[k::processes] for k in range(processes)]
    procs = [ctx.Process(target=_worker, args=(port, s, threads, start, results)) for s in slices]
    for p in procs:
        p.start()
    time.sleep(0.5)  # every process is up and waiting: the clock starts at the signal
    start.set()
    gathered = [results.get() for _ in procs]
    for p in procs:
        p.join()
    began = min(g[0] for g in gathered)
    ended = max(g[1] for g in gathered)
    out = [r for g in gathered for r in g[2]]
    return len(out) / (ended - began), out


def count_acknowledged_in_db(env: dict[str, str], receipts: list[str]) -> int:
    code = """
import json, sys
from sqlalchemy import select
from survey import create_app
from survey.extensions import db
from survey.models import Ballot
from survey.tokens import hash_receipt, normalise_receipt
receipts = json.load(sys.stdin)
app = create_app()
with app.app_context():
    stored = {bytes(h) for h in db.session.scalars(select(Ballot.receipt_hash))}
    print(sum(hash_receipt(normalise_receipt(r)) in stored for r in receipts))
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT, capture_output=True,
                         input=json.dumps(receipts).encode())
    return int(out.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--evaluators", type=int, default=1200, help="ballots submitted (one link each)")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=8, help="concurrent evaluators per client process")
    parser.add_argument("--database-url", help="PostgreSQL URL of an empty database (default: SQLite in a "
                        "temporary instance)")
    parser.add_argument("--reset-database", action="store_true",
                        help="with --database-url: drop and recreate its public schema first, even if it has tables "
                        "(everything in it is lost)")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each on a fresh database; medians reported")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    rounds = []
    for k in range(args.rounds):
        full = run_once(args, rng, "FULL")
        print(f"round {k + 1}: {json.dumps(full)}", file=sys.stderr)
        normal = None
        if not args.database_url:
            normal = run_once(args, rng, "NORMAL")
            print(f"round {k + 1}, synchronous=NORMAL: {json.dumps(normal)}", file=sys.stderr)
        rounds.append((full, normal))
    fulls = [full for full, _ in rounds]
    result = dict(fulls[-1])
    for key in ("submissions_per_s", "floor_per_s", "ratio_to_floor", "healthz_per_s", "form_get_per_s",
                "form_ratio_to_healthz", "public_form_get_per_s", "public_form_ratio_to_healthz"):
        result[key] = statistics.median(r[key] for r in fulls)
    result["lost"] = sum(r["lost"] for r in fulls)
    result["refused"] = sum(r["refused"] for r in fulls)
    result["form_errors"] = sum(r["form_errors"] for r in fulls)
    if not args.database_url:
        normals = [normal for _, normal in rounds if normal is not None]
        result["ratio_to_floor_normal_sync"] = statistics.median(r["ratio_to_floor"] for r in normals)
        result["submissions_per_s_normal_sync"] = statistics.median(r["submissions_per_s"] for r in normals)
        result["lost"] += sum(r["lost"] for r in normals)
    result["rounds"] = args.rounds
    result["synchronous"] = "FULL" if not args.database_url else "synchronous_commit=on"
    print(json.dumps(result))
    return 0 if result["lost"] == 0 and result["refused"] == 0 and result["floor_errors"] == 0 \
        and result["form_errors"] == 0 else 1


def run_once(args: argparse.Namespace, rng: random.Random, synchronous: str) -> dict[str, Any]:
    """One round on a fresh database: the server (its SQLite synchronous setting
    given; the floor commits under the same pragmas), submissions, floor, /healthz."""
    with tempfile.TemporaryDirectory(prefix="pingyi-bench-") as tmp:
        instance = Path(tmp) / "instance"
        instance.mkdir()
        env = server_env(instance, args.database_url)
        env["PINGYI_SQLITE_SYNCHRONOUS"] = synchronous
        if args.database_url:
            # The bench migrates and fills the database it is given: an empty one, or one it may wipe.
            reset = ("from sqlalchemy import create_engine, inspect, text\n"
                     "from survey import normalise_database_url\nimport os, sys\n"
                     "e = create_engine(normalise_database_url(os.environ['DATABASE_URL']))\n"
                     "tables = inspect(e).get_table_names(schema='public')\n"
                     f"if tables and not {args.reset_database!r}:\n"
                     "    sys.exit(f'数据库不是空的（public 模式中有 {len(tables)} 张表）；基准测试会清空它，"
                     "确认后加 --reset-database。 The database is not empty ({len(tables)} tables in schema "
                     "public); the bench would wipe it: add --reset-database to allow that.')\n"
                     "with e.begin() as c:\n"
                     "    c.execute(text('DROP SCHEMA public CASCADE')); c.execute(text('CREATE SCHEMA public'))\n")
            if subprocess.run([sys.executable, "-c", reset], env=env, cwd=ROOT).returncode != 0:
                raise SystemExit(2)
        t0 = time.perf_counter()
        # The first half submit; the second half's forms are opened with a draft (step 5).
        tokens = prepare(env, 2 * args.evaluators)
        tokens, draft_tokens = tokens[:args.evaluators], tokens[args.evaluators:]
        print(f"prepared {len(tokens) + len(draft_tokens)} links in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)

        port = free_port()
        env["PINGYI_BIND"] = f"127.0.0.1:{port}"
        log = open(Path(tmp) / "access.log", "wb")  # noqa: SIM115 (closed below)
        server = subprocess.Popen([str(BIN / "gunicorn"), "-c", "python:survey.serving", "bench.floor_app:app"],
                                  env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            client = Client(port)
            for _ in range(200):
                try:
                    if client.request("GET", "/healthz")[0] == 200:
                        break
                except OSError:
                    client = Client(port)
                time.sleep(0.1)
            else:
                raise SystemExit("the server did not start")

            # 1. Every evaluator opens the form (not timed).
            forms = open_forms(port, tokens, rng)

            submit_jobs = [("POST", f"/b/{token}", body, cookie) for cookie, body, token in forms]
            floor_jobs = [("POST", "/bench/floor", body, cookie) for cookie, body, _ in forms]
            health_jobs = [("GET", "/healthz", None, "") for _ in forms]
            # A short warm-up of each route, on bodies not counted below.
            timed(port, floor_jobs[:50], 1, 4)
            timed(port, health_jobs[:50], 1, 4)

            submissions_per_s, submitted = timed(port, submit_jobs, args.clients, args.threads)
            floor_per_s, floored = timed(port, floor_jobs, args.clients, args.threads)
            healthz_per_s, healthy = timed(port, health_jobs, args.clients, args.threads)

            # 5. The evaluator's first page, with the saved draft restored. Other
            # evaluators, and phones on the public form, open it and save a
            # draft of every answer as the autosave does (not timed).
            drafted = open_forms(port, draft_tokens, rng, save_draft=True)
            phones = open_forms(port, [PUBLIC_FORM] * len(draft_tokens), rng, save_draft=True)
            form_jobs = [("GET", f"/b/{token}", None, cookie) for cookie, _, token in drafted]
            public_jobs = [("GET", PUBLIC_FORM, None, cookie) for cookie, _, _ in phones]
            timed(port, form_jobs[:50], 1, 4)
            timed(port, public_jobs[:50], 1, 4)
            healthz_before, healthy_before = timed(port, health_jobs, args.clients, args.threads)
            form_get_per_s, opened = timed(port, form_jobs, args.clients, args.threads)
            public_get_per_s, public_opened = timed(port, public_jobs, args.clients, args.threads)
            # The forms' ratios are to /healthz timed right before and right
            # after them (their mean): the machine's load moves between steps.
            healthz_after, healthy_after = timed(port, health_jobs, args.clients, args.threads)
            healthy += healthy_before + healthy_after
            around = (healthz_before + healthz_after) / 2
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()

        acknowledged = [receipt for status, receipt in submitted if status == 200 and receipt]
        in_db = count_acknowledged_in_db(env, acknowledged)
        token_in_log = any(t.encode() in (Path(tmp) / "access.log").read_bytes() for t in tokens + draft_tokens)
        result = {
            "submissions_per_s": round(submissions_per_s, 1),
            "floor_per_s": round(floor_per_s, 1),
            "ratio_to_floor": round(submissions_per_s / floor_per_s, 3),
            "healthz_per_s": round(healthz_per_s, 1),
            "lost": len(acknowledged) - in_db,
            "acknowledged": len(acknowledged),
            "refused": sum(1 for status, _ in submitted if status != 200),
            "floor_errors": sum(1 for status, _ in floored if status != 200),
            "healthz_errors": sum(1 for status, _ in healthy if status != 200),
            "token_in_access_log": token_in_log,
            "form_get_per_s": round(form_get_per_s, 1),
            "form_ratio_to_healthz": round(form_get_per_s / around, 3),
            "public_form_get_per_s": round(public_get_per_s, 1),
            "public_form_ratio_to_healthz": round(public_get_per_s / around, 3),
            "healthz_around_forms_per_s": round(around, 1),
            # Form pages that failed or did not show the draft restored.
            "form_errors": sum(1 for status, resumed in opened + public_opened if status != 200 or not resumed),
            "database": "postgresql" if args.database_url else "sqlite",
            "evaluators": len(tokens), "client_processes": args.clients, "threads_each": args.threads,
            "units_per_ballot": sum(n for _, _, n in CATEGORIES),
        }
        return result




if __name__ == "__main__":
    sys.exit(main())
