"""Statistics at scale (issue 15): ``python -m analysis evaluate`` on a large bundle.

One command: ``.venv/bin/python bench/scale.py`` (``--ballots N``, default 200,000).

It writes a pingyi-campaign/1 bundle shaped like a province's campaign (60
units in 6 categories, each ballot rating 6 of them on 3 items, 6 evaluator
groups each with a paper batch and an open online batch whose ballots carry a
source address, 1,000 bootstrap replicates, trim 0.05) into a temporary
directory, after checking there is room for it, then, three times in a row:

- the CLI: ``python -m analysis evaluate BUNDLE.json`` as a subprocess, wall
  clock, its peak memory (``ru_maxrss`` of that child);
- the reference: in a fresh subprocess, the standard library's ``json.load``
  of the same file, plus the floor: drawing the 1,000 × N resample indices
  and one dense (1,000 × N)·(N × 60) product (wall clock).

Both run under the same BLAS setting (the environment is passed unchanged;
``--blas-threads`` sets it for both). The ratio is the median CLI time over
the median reference time. A fourth CLI run, not timed, samples the memory
of the CLI's process tree (its helper processes with it: ``cli_tree_peak_mb``);
the timed runs are not sampled, since reading /proc/PID/smaps_rollup slows
the processes it reads. The last line is one JSON object of the figures.

``--finalize --database-url URL`` (PostgreSQL) instead seeds the same
campaign's N ballots into a database of its own on that server (COPY),
finalizes it through the application's code path in a child process
(``finalize_1m_s``, ``finalize_1m_peak_mb`` at 1,000,000 ballots; ``100k``
… at other sizes) and evaluates its frozen bundle with the CLI
(``cli_1m_peak_mb``), checking that both give the same ``results_sha256``
(bench/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

N_UNITS = 60
PER_BALLOT = 6
ITEMS = ("overall", "service", "conduct")
GROUPS = (("npc", "人大代表", 0.25), ("cppcc", "政协委员", 0.2), ("firms", "企业代表", 0.15),
          ("residents", "群众代表", 0.15), ("staff", "机关干部", 0.15), ("media", "媒体与监督员", 0.1))
CATEGORIES = ("综合", "经济", "政法", "社会", "城建", "执法")
REPLICATES = 1000
TRIM = 0.05
#: Bytes of JSON per ballot of this shape, rounded up (measured: ~700).
BYTES_PER_BALLOT = 900


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


RULES = {"trim_per_end": TRIM, "bootstrap": {"replicates": REPLICATES, "seed": 2026}, "bottom": {"n": 3, "below": 75}}


def campaign_parts(n_ballots: int, seed: int = 15, *, n_units: int = N_UNITS, per_ballot: int = PER_BALLOT,
                   ) -> tuple[dict[str, object], Iterator[dict[str, object]]]:
    """The bundle's sections before its ballots, and its ballots one at a time (generated, never held)."""
    rng = random.Random(seed)
    units = [f"u{k + 1:02d}" for k in range(n_units)]
    quality = [rng.uniform(0.45, 0.92) for _ in units]
    start = dt.datetime(2026, 11, 2, 8, 0)
    head: dict[str, object] = {
        "format": "pingyi-campaign/1",
        "campaign": {"code": "scale2026", "name": "2026年度全省评议（规模基准）", "anonymous": True},
        "scale": [{"code": "S", "label": "满意", "points": 100}, {"code": "B", "label": "基本满意", "points": 70},
                  {"code": "D", "label": "不满意", "points": 0}, {"code": "U", "label": "不了解", "points": None}],
        "items": [{"code": it, "label": it, "weight": w} for it, w in zip(ITEMS, (0.5, 0.25, 0.25), strict=True)],
        "categories": [{"code": f"c{i}", "label": label} for i, label in enumerate(CATEGORIES)],
        "units": [{"code": u, "name": f"省第{k + 1}厅局", "category": f"c{k % len(CATEGORIES)}"}
                  for k, u in enumerate(units)],
        "groups": [{"code": g, "label": label, "weight": w} for g, label, w in GROUPS],
    }
    per_group = [n_ballots // len(GROUPS) + (1 if g < n_ballots % len(GROUPS) else 0) for g in range(len(GROUPS))]
    batches = []
    for (g, _label, _w), n in zip(GROUPS, per_group, strict=True):
        paper = n * 3 // 4
        batches.append({"code": f"{g}-paper", "group": g, "channel": "paper", "issued": int(paper * 1.25) + 1})
        batches.append({"code": f"{g}-online", "group": g, "channel": "online"})
    head["batches"] = batches

    def ballots() -> Iterator[dict[str, object]]:
        r = 0
        for (g, _label, _w), n in zip(GROUPS, per_group, strict=True):
            paper = n * 3 // 4
            for k in range(n):
                online = k >= paper
                answers = {}
                for u in rng.sample(range(n_units), per_ballot):
                    q = quality[u]
                    per_item = {}
                    for it in ITEMS:
                        x = rng.random()
                        per_item[it] = "S" if x < q else "B" if x < q + 0.7 * (1 - q) else "D" if x < 0.97 else "U"
                    answers[units[u]] = per_item
                ballot: dict[str, object] = {
                    "id": f"{r + 1:08d}", "batch": f"{g}-{'online' if online else 'paper'}",
                    "submitted_at": (start + dt.timedelta(seconds=3 * r)).isoformat() + "+08:00",
                    "duration_s": rng.randint(60, 900)}
                if online:
                    ballot["source"] = f"10.{rng.randint(0, 40)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                ballot["answers"] = answers
                yield ballot
                r += 1

    return head, ballots()


def write_bundle(path: Path, n_ballots: int, seed: int = 15, *, n_units: int = N_UNITS,
                 per_ballot: int = PER_BALLOT, replicates: int = REPLICATES) -> int:
    """Write the bundle to `path`, streamed (no document held in memory); returns its size in bytes.

    `n_units`, `per_ballot` and `replicates` change the shape for the tests
    (tests/analysis/test_analysis_scale_fixture.py: fewer units, so that each
    cell is large enough for the trimmed bootstrap's bulk and windows).
    """
    head, ballots = campaign_parts(n_ballots, seed, n_units=n_units, per_ballot=per_ballot)
    rules = {**RULES, "bootstrap": {"replicates": replicates, "seed": 2026}}
    # After the ballots, where survey.bundles.export_bundle writes them.
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text[:-1] + ',"ballots":[')
        for r, ballot in enumerate(ballots):
            fh.write(("," if r else "") + dumps(ballot))
        fh.write("],\"rules\":" + json.dumps(rules, ensure_ascii=False, separators=(",", ":")) + "}\n")
    return path.stat().st_size


# ---------------------------------------------------------------------------
# The measured children

def _child_reference(path: str, n: int) -> None:
    """json.load of the file, then the floor (draw + one dense product); wall clock of each."""
    import numpy as np

    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        doc = json.load(fh)
    t_json = time.perf_counter() - t0
    del doc
    rng = np.random.default_rng(0)
    chunk = 100
    ws = rng.uniform(0, 100, size=(n, N_UNITS))
    counts = np.tile(np.bincount(rng.integers(0, n, size=n), minlength=n).astype(float), (chunk, 1))
    t0 = time.perf_counter()
    for _ in range(0, REPLICATES, chunk):
        rng.integers(0, n, size=(chunk, n))
    t_draw = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(0, REPLICATES, chunk):
        counts @ ws
    t_product = time.perf_counter() - t0
    print(json.dumps({"json_load_s": t_json, "draw_s": t_draw, "product_s": t_product,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _env(blas_threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if blas_threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(blas_threads)
    return env


def _tree(pid: int) -> list[int]:
    """The process and its descendants (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in task.read_text().split())
    return out


def _pss_mb(pids: list[int]) -> float:
    """Proportional set size of these processes together (shared pages counted once), MB."""
    total = 0
    for p in pids:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total / 1024


#: The CLI's process tree's memory (its helper processes with it) of the last _cli_child, MB.
last_tree_peak_mb = 0.0


def _cli_child(bundle: Path, out: Path, env: dict[str, str], *, tree: bool = False) -> tuple[float, float]:
    """Run the CLI; its wall clock and ``ru_maxrss`` (the larger of it and its helpers', by wait4).

    With `tree`, the memory of its process tree is sampled while it runs
    (:data:`last_tree_peak_mb`); reading /proc/PID/smaps_rollup walks every
    page table and holds the processes' memory locks, so a timed run does
    not sample (it cost the 200,000-ballot CLI about a second).
    """
    global last_tree_peak_mb
    # Popen reaps the child itself; os.fork + wait4 gives the child's own rusage.
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "analysis", "evaluate", str(bundle)], env)
    # Sampled every 100 ms while it runs: the CLI and its helpers together.
    tree_peak = 0.0
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG if tree else 0)
        if done:
            break
        tree_peak = max(tree_peak, _pss_mb(_tree(pid)))
        time.sleep(0.1)
    elapsed = time.perf_counter() - t0
    last_tree_peak_mb = tree_peak
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"the CLI exited with {code}")
    return elapsed, usage.ru_maxrss / 1024


def run_reference(bundle: Path, n: int, env: dict[str, str]) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--child-reference", str(bundle), "--ballots", str(n)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise RuntimeError("the reference child failed")
    got: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return got


# ---------------------------------------------------------------------------
# Finalization from PostgreSQL (--finalize --database-url URL)

CODE = "scale2026"
#: COPY's text format for an absent value.
NULL = "\\N"
COMMITTEE = "bench-committee"


def _app(url: str) -> object:
    from survey import create_app

    instance = Path(tempfile.mkdtemp(prefix="pingyi-scale-instance-"))
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INSTANCE_PATH": str(instance)})


def _child_seed(url: str, n: int) -> None:
    """Schema, the campaign's sections (import_bundle), its ballots and answers by COPY, one approval."""
    import flask_migrate
    from sqlalchemy import select

    from survey.bundles import import_bundle
    from survey.extensions import db
    from survey.models import Campaign, User
    from survey.results import signoff

    app = _app(url)
    with app.app_context():  # type: ignore[attr-defined]
        flask_migrate.upgrade()
        head, ballots = campaign_parts(n)
        campaign = import_bundle({**head, "ballots": [], "rules": RULES}, status="closed")
        db.session.commit()
        batches = {b.code: b.id for b in campaign.batches}
        units = {cu.code: cu.id for cu in campaign.units}
        items = {it.code: it.id for it in campaign.items}
        options = {o.code: o.id for o in campaign.scale}
        t0 = time.perf_counter()
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("SELECT coalesce(max(id), 0) FROM ballot")
            ballot_id = cur.fetchone()[0]
            cur.execute("SELECT coalesce(max(id), 0) FROM answer")
            answer_id = cur.fetchone()[0]
            with tempfile.TemporaryFile() as answer_lines:
                with cur.copy("COPY ballot (id, campaign_id, batch_id, public_id, position, submitted_at, "
                              "utc_offset_min, duration_s, source) FROM STDIN") as copy:
                    lines: list[str] = []
                    answers: list[str] = []
                    for r, b in enumerate(ballots):
                        ballot_id += 1
                        local = dt.datetime.fromisoformat(str(b["submitted_at"])[:-6])
                        utc = local - dt.timedelta(hours=8)
                        lines.append(f"{ballot_id}\t{campaign.id}\t{batches[str(b['batch'])]}\t{b['id']}\t{r}\t"
                                     f"{utc.isoformat(' ')}\t480\t{b['duration_s']}\t{b.get('source', NULL)}\n")
                        pos = 0
                        for u, per_item in b["answers"].items():  # type: ignore[attr-defined]
                            for it, o in per_item.items():
                                answer_id += 1
                                answers.append(f"{answer_id}\t{ballot_id}\t{units[u]}\t{items[it]}\t{options[o]}\t{pos}\n")
                                pos += 1
                        if len(lines) >= 20000:
                            copy.write("".join(lines))
                            answer_lines.write("".join(answers).encode())
                            lines.clear()
                            answers.clear()
                    copy.write("".join(lines))
                    answer_lines.write("".join(answers).encode())
                answer_lines.seek(0)
                with cur.copy("COPY answer (id, ballot_id, campaign_unit_id, item_id, option_id, position) "
                              "FROM STDIN") as copy:
                    while block := answer_lines.read(1 << 22):
                        copy.write(block)
            for table in ("ballot", "answer"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            raw.commit()
            cur.execute("ANALYZE ballot")
            cur.execute("ANALYZE answer")
            raw.commit()
        finally:
            raw.close()
        seeded_s = time.perf_counter() - t0
        user = User(username=COMMITTEE, display_name="基准 领导小组", role="committee")
        user.set_password("bench password 评议")
        db.session.add(user)
        db.session.commit()
        campaign = db.session.scalar(select(Campaign).where(Campaign.code == CODE))
        t0 = time.perf_counter()
        signoff.approve(campaign, user)  # computes the results once (the cache the approval counts)
        db.session.commit()
        approve_s = time.perf_counter() - t0
        db.engine.dispose()
    print(json.dumps({"seed_s": seeded_s, "approve_s": approve_s}))


def _child_finalize(url: str) -> None:
    """Finalize the campaign through the application's code path (signoff.finalize), and commit."""
    from sqlalchemy import select

    from survey.clock import today
    from survey.extensions import db
    from survey.models import Campaign, User
    from survey.results import signoff

    app = _app(url)
    with app.app_context():  # type: ignore[attr-defined]
        campaign = db.session.scalar(select(Campaign).where(Campaign.code == CODE))
        user = db.session.scalar(select(User).where(User.username == COMMITTEE))
        t0 = time.perf_counter()
        snap = signoff.finalize(campaign, today(), user)
        db.session.commit()
        elapsed = time.perf_counter() - t0
        out = {"finalize_call_s": elapsed, "results_sha256": snap.results_sha256,
               "bundle_sha256": snap.bundle_sha256, "bundle_chunks": snap.bundle_chunks}
        db.engine.dispose()
    print(json.dumps(out))


def _child_export(url: str, path: str) -> None:
    """Write the frozen bundle to `path` (its pieces, inflated; their SHA-256 checked on the way)."""
    from sqlalchemy import select

    from survey.extensions import db
    from survey.models import Campaign
    from survey.results import frozen, snapshots

    app = _app(url)
    with app.app_context():  # type: ignore[attr-defined]
        campaign = db.session.scalar(select(Campaign).where(Campaign.code == CODE))
        snap = snapshots.final_snapshot(campaign)
        if snap is None:
            raise RuntimeError("the campaign has no final snapshot")
        stored = sum(len(d) for d in db.session.scalars(
            select(frozen.BundleChunk.data).where(frozen.BundleChunk.campaign_id == campaign.id)))
        size = 0
        with open(path, "wb") as fh:
            for piece in frozen.pieces(snap):
                fh.write(piece)
                size += len(piece)
        out = {"bundle_bytes": size, "stored_bytes": stored, "results_sha256": snap.results_sha256}
        db.engine.dispose()
    print(json.dumps(out))


def _run_child(args: list[str], env: dict[str, str], out: Path) -> tuple[float, float, dict[str, object]]:
    """Run this script as a child (fork + exec, so that its own ru_maxrss is read); wall clock, peak MB, last line."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, __file__, *args], env)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"the child {args[0]} exited with {code}")
    got: dict[str, object] = json.loads(out.read_text().strip().splitlines()[-1])
    return elapsed, usage.ru_maxrss / 1024, got


def _size_name(n: int) -> str:
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def run_finalize(server_url: str, n: int, workdir: Path, env: dict[str, str], keep_db: bool) -> dict[str, object]:
    """Seed N ballots into a database of its own on the server, finalize them in a child, evaluate the frozen bundle."""
    from sqlalchemy import create_engine, make_url, text

    server = make_url(server_url)
    if not server.drivername.startswith("postgresql"):
        sys.exit("--finalize needs a PostgreSQL --database-url")
    name = f"pingyi_scale_{os.getpid()}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    size = _size_name(n)
    try:
        seed_wall, _seed_mb, seeded = _run_child(["--child-seed", url, "--ballots", str(n)], env, workdir / "seed.json")
        log(f"seeded {n} ballots in {seeded['seed_s']:.1f} s (COPY), approved in {seeded['approve_s']:.1f} s")
        fin_wall, fin_mb, finalized = _run_child(["--child-finalize", url], env, workdir / "finalize.json")
        log(f"finalized in {fin_wall:.1f} s (the call {finalized['finalize_call_s']:.1f} s), peak {fin_mb:.0f} MB, "
            f"{finalized['bundle_chunks']} pieces")
        bundle = workdir / f"frozen-{n}.json"
        _, _, exported = _run_child(["--child-export", url, str(bundle)], env, workdir / "export.json")
        cli_s, cli_mb = _cli_child(bundle, workdir / "frozen-results.json", env)
        cli_results = json.loads((workdir / "frozen-results.json").read_text())
        cli_sha = hashlib.sha256(json.dumps(cli_results, ensure_ascii=False, separators=(",", ":"),
                                            allow_nan=False).encode()).hexdigest()
        log(f"CLI on the frozen bundle ({exported['bundle_bytes'] / 1e6:.0f} MB, stored as "
            f"{exported['stored_bytes'] / 1e6:.0f} MB): {cli_s:.1f} s, peak {cli_mb:.0f} MB")
        return {
            "ballots": n,
            f"finalize_{size}_s": round(fin_wall, 2),
            f"finalize_{size}_call_s": round(float(finalized["finalize_call_s"]), 2),  # type: ignore[arg-type]
            f"finalize_{size}_peak_mb": round(fin_mb, 1),
            f"cli_{size}_s": round(cli_s, 2),
            f"cli_{size}_peak_mb": round(cli_mb, 1),
            "frozen_bundle_mb": round(int(exported["bundle_bytes"]) / 1e6, 1),  # type: ignore[call-overload]
            "frozen_stored_mb": round(int(exported["stored_bytes"]) / 1e6, 1),  # type: ignore[call-overload]
            "seed_s": round(float(seeded["seed_s"]), 2),  # type: ignore[arg-type]
            "results_sha256": finalized["results_sha256"],
            "cli_results_identical": cli_sha == finalized["results_sha256"],
        }
    finally:
        if not keep_db:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ballots", type=int, default=200_000, help="ballots in the bundle (default 200000)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each side (default 3; the median is reported)")
    ap.add_argument("--blas-threads", type=int, default=None, help="OPENBLAS/OMP/MKL threads for both sides")
    ap.add_argument("--keep", metavar="DIR", help="write the bundle and the results into DIR and keep them")
    ap.add_argument("--finalize", action="store_true",
                    help="instead: seed --ballots into a new database on --database-url (PostgreSQL), finalize "
                         "it in a child process and evaluate its frozen bundle with the CLI")
    ap.add_argument("--database-url", help="the PostgreSQL server for --finalize (a database of its own is made)")
    ap.add_argument("--keep-database", action="store_true", help="with --finalize: do not drop the database")
    ap.add_argument("--child-reference", metavar="BUNDLE", help=argparse.SUPPRESS)
    ap.add_argument("--child-seed", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--child-finalize", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--child-export", nargs=2, metavar=("URL", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_reference:
        _child_reference(args.child_reference, args.ballots)
        return
    if args.child_seed or args.child_finalize or args.child_export:
        # The application's children import the package analysis, not bench/analysis.py beside this script.
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
        sys.path.insert(0, str(ROOT))
    if args.child_seed:
        _child_seed(args.child_seed, args.ballots)
        return
    if args.child_finalize:
        _child_finalize(args.child_finalize)
        return
    if args.child_export:
        _child_export(*args.child_export)
        return

    n = args.ballots
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pingyi-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        need = n * BYTES_PER_BALLOT * 2 + (64 << 20)  # the bundle and the results, with room to spare
        free = shutil.disk_usage(workdir).free
        if free < need:
            sys.exit(f"not enough free disk in {workdir}: {free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed")
        env = _env(args.blas_threads)
        if args.finalize:
            if not args.database_url:
                sys.exit("--finalize needs --database-url")
            print(json.dumps(run_finalize(args.database_url, n, workdir, env, args.keep_database)))
            return
        bundle = workdir / f"bundle-{n}.json"
        t0 = time.perf_counter()
        size = write_bundle(bundle, n)
        log(f"bundle: {n} ballots, {size / 1e6:.1f} MB written in {time.perf_counter() - t0:.1f} s ({bundle})")
        cli_s: list[float] = []
        cli_mb: list[float] = []
        refs: list[dict[str, float]] = []
        for i in range(args.runs):
            # Interleaved, so that the load of a shared machine falls on both sides alike.
            el, mb = _cli_child(bundle, workdir / "results.json", env)
            cli_s.append(el)
            cli_mb.append(mb)
            ref = run_reference(bundle, n, env)
            refs.append(ref)
            log(f"run {i + 1}: CLI {el:.2f} s, peak {mb:.0f} MB | json.load {ref['json_load_s']:.2f} s, "
                f"draw {ref['draw_s']:.2f} s, product {ref['product_s']:.2f} s "
                f"(load average {os.getloadavg()[0]:.2f})")
        # The helpers' memory with the CLI's, in a run of its own (sampling slows the run it samples).
        _, mb = _cli_child(bundle, workdir / "results.json", env, tree=True)
        cli_mb.append(mb)
        log(f"sampled run: CLI peak {mb:.0f} MB, with its helpers {last_tree_peak_mb:.0f} MB")
        tree_mb = [last_tree_peak_mb]
        ref_s = [r["json_load_s"] + r["draw_s"] + r["product_s"] for r in refs]
        cli_med, ref_med = statistics.median(cli_s), statistics.median(ref_s)
        figures = {
            "ballots": n,
            "bundle_mb": round(size / 1e6, 1),
            "cli_200k_s" if n == 200_000 else "cli_s": round(cli_med, 2),
            "cli_runs_s": [round(x, 2) for x in cli_s],
            "json_load_s": round(statistics.median(r["json_load_s"] for r in refs), 2),
            "floor_s": round(statistics.median(r["draw_s"] + r["product_s"] for r in refs), 2),
            "json_and_floor_s": round(ref_med, 2),
            "cli_ratio_to_json_and_floor": round(cli_med / ref_med, 3),
            "cli_peak_mb": round(max(cli_mb), 1),
            "cli_tree_peak_mb": round(max(tree_mb), 1),
            "blas_threads": args.blas_threads,
        }
        print(json.dumps(figures))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
