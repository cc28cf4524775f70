"""Benchmark of the anonymised ballot exports against their floors.

Run as ``.venv/bin/python bench/exports.py`` (``--ballots N`` to change the
size; SQLite in a temporary instance). It migrates a fresh database and
builds a closed campaign of 24 units (one item, the 4-option scale) in the
six categories of ``bench/results.py`` (its ``bundle`` helper, through the
real import path, gives the campaign's set-up), five groups with a paper batch
each and one public batch, then 200,000 ballots each rating all 24 units
(4.8 M answers; the public batch's ballots with addresses from a small pool,
so that sources repeat and flags are raised), and about one comment per ten
ballots: bulk DBAPI inserts of ready rows, not timed. Then each figure is
taken in a child process of its own (a fresh interpreter that opens the
database, so its ``ru_maxrss`` is the peak of that export alone, imports
included), one after the other:

1. CSV: ``survey.results.ballot_export.write(campaign, "csv", file)`` against
   its floor, the same SELECT statements (the campaign's ballots and answers
   as ``campaign_arrays`` reads them, the comments as the export streams
   them) fetched and written row by row with the csv module, nothing else.
   Floor and export alternate over ``--rounds`` rounds (default 3); medians.
2. XLSX: the export against openpyxl's write-only workbook writing the same
   rows (the export's own rows, made before the clock runs, chunk by chunk:
   only ``append`` and ``save`` are timed). One round each.
3. Parquet, SPSS ``.sav`` and Stata ``.dta``: time and peak memory.

The last line is one JSON object: csv_ratio_to_floor, xlsx_ratio_to_writeonly,
csv_ballots_per_s, xlsx_ballots_per_s, export_peak_mb (the highest peak of
the streamed formats: CSV, XLSX, Parquet), sav_peak_mb, dta_peak_mb, and
each child's figures.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.util
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CODE = "exports2026"
STREAMED = ("csv", "xlsx", "parquet")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_app(db_path: Path) -> Any:
    from survey import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}", "SECRET_KEY": "bench",
                       "INSTANCE_PATH": str(db_path.parent), "PINGYI_JOBS_THREAD": False})


# --- the campaign -----------------------------------------------------------------------


def results_bench() -> Any:
    """bench/results.py as a module, for its campaign helper."""
    spec = importlib.util.spec_from_file_location("bench_results", ROOT / "bench" / "results.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(db_path: Path, n_ballots: int, n_units: int, seed: int = 2026) -> None:
    import flask_migrate
    from sqlalchemy import func, select

    from survey.bundles import import_bundle
    from survey.distribution.services import bulk_insert, driver_value
    from survey.extensions import db
    from survey.models import Ballot

    app = make_app(db_path)
    with app.app_context():
        flask_migrate.upgrade()
        doc = results_bench().bundle(0, n_units=n_units, year=2026)
        doc["campaign"]["code"] = CODE
        per_group = n_ballots // len(doc["groups"])
        for batch in doc["batches"]:
            batch["issued"] = int(per_group * 1.25)
        doc["batches"].append({"code": "client-public", "group": "client", "channel": "public"})
        campaign = import_bundle(doc, status="closed")
        db.session.commit()
        batches = {b.code: b.id for b in campaign.batches}
        paper = [b["code"] for b in doc["batches"] if b["channel"] == "paper"]
        units = [cu.id for cu in campaign.units]
        item = campaign.items[0].id
        options = [o.id for o in campaign.scale]
        rng = random.Random(seed)
        quality = [rng.uniform(0.45, 0.92) for _ in units]
        pool = [f"203.0.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(3000)]
        texts = ["窗口服务很好", "办事要跑好几趟，希望简化材料", "=cmd|' /C calc'!A0", "<script>alert(1)</script>",
                 "工作人员态度热情，" * 8]
        start = dt.datetime(2026, 11, 2, 0, 0)
        first_id = (db.session.scalar(select(func.max(Ballot.id))) or 0) + 1
        t0 = time.perf_counter()
        chunk = 10_000
        for lo in range(0, n_ballots, chunk):
            ballots, answers, comments = [], [], []
            for k in range(lo, min(lo + chunk, n_ballots)):
                bid = first_id + k
                public = k % 10 == 9
                batch = "client-public" if public else paper[k % len(paper)]
                submitted = driver_value("ballot", "submitted_at", start + dt.timedelta(seconds=3 * k))
                ballots.append((bid, campaign.id, batches[batch], f"{k + 1:07d}", k, submitted, 480,
                                float(rng.randint(40, 900)), rng.choice(pool) if public else None))
                for pos, (unit, q) in enumerate(zip(units, quality, strict=True)):
                    r = rng.random()
                    option = 0 if r < q else 1 if r < q + 0.7 * (1 - q) else 2 if r < 0.97 else 3
                    answers.append((bid, unit, item, options[option], pos))
                if k % 10 == 3:
                    comments.append((bid, units[k % len(units)], texts[k % len(texts)]))
            bulk_insert("ballot", ("id", "campaign_id", "batch_id", "public_id", "position", "submitted_at",
                                   "utc_offset_min", "duration_s", "source"), ballots)
            bulk_insert("answer", ("ballot_id", "campaign_unit_id", "item_id", "option_id", "position"), answers)
            bulk_insert("comment", ("ballot_id", "campaign_unit_id", "text"), comments)
        db.session.commit()
        log(f"built {n_ballots} ballots × {n_units} units in {time.perf_counter() - t0:.1f} s")
        db.session.remove()
        db.engine.dispose()


# --- the children ---------------------------------------------------------------------------


def child(kind: str, db_path: Path, out: Path) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    from sqlalchemy import select

    from survey.extensions import db
    from survey.models import Campaign

    app = make_app(db_path)
    with app.app_context():
        campaign = db.session.scalar(select(Campaign).where(Campaign.code == CODE))
        assert campaign is not None
        base = peak_mb()
        t0 = time.perf_counter()
        if kind == "csv_floor":
            seconds = csv_floor(campaign, out)
        elif kind == "xlsx_floor":
            seconds = xlsx_floor(campaign, out)
        else:
            from survey.results import ballot_export

            ballot_export.write(campaign, kind, out)
            seconds = time.perf_counter() - t0
    return {"kind": kind, "s": round(seconds, 3), "peak_mb": round(peak_mb(), 1), "baseline_mb": round(base, 1),
            "file_mb": round(out.stat().st_size / 2**20, 1)}


def csv_floor(campaign: Any, out: Path) -> float:
    """The export's SELECT statements, fetched and written as they come by the csv module."""
    from sqlalchemy import func, select

    from survey.extensions import db
    from survey.models import Answer, Ballot, Comment

    t0 = time.perf_counter()
    max_id = db.session.scalar(select(func.coalesce(func.max(Ballot.id), 0)).where(Ballot.campaign_id == campaign.id))
    cond = [Ballot.campaign_id == campaign.id, Ballot.id <= max_id]
    statements = [
        select(Ballot.id, Ballot.public_id, Ballot.batch_id, Ballot.submitted_at, Ballot.duration_s, Ballot.source)
        .where(*cond).order_by(Ballot.id),
        select(Answer.ballot_id, Answer.campaign_unit_id, Answer.item_id, Answer.option_id)
        .where(Answer.ballot_id.in_(select(Ballot.id).where(*cond))),
        select(Comment.ballot_id, Comment.campaign_unit_id, Comment.text)
        .join(Ballot, Comment.ballot_id == Ballot.id).where(*cond).order_by(Comment.ballot_id),
    ]
    with open(out, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        for statement in statements:
            writer.writerows(db.session.execute(statement.execution_options(yield_per=8192)))
    return time.perf_counter() - t0


def xlsx_floor(campaign: Any, out: Path) -> float:
    """openpyxl's write-only workbook appending the export's rows (made untimed)."""
    from openpyxl import Workbook

    from survey.results import ballot_export as be

    book = Workbook(write_only=True)
    sheet = book.create_sheet(be.SHEETS[0])
    table = be.BallotTable(campaign)
    lookups = be._lookups(table, str)
    seconds = 0.0
    header = [c.name for c in table.columns]
    t0 = time.perf_counter()
    sheet.append(header)
    seconds += time.perf_counter() - t0
    for chunk in table.chunks():
        rows = be._matrix(table, chunk, str, lookups, lambda t: t)
        t0 = time.perf_counter()
        for row in rows:
            sheet.append(row)
        seconds += time.perf_counter() - t0
    t0 = time.perf_counter()
    book.save(out)
    return seconds + time.perf_counter() - t0


def run_child(kind: str, db_path: Path, tmp: Path) -> dict[str, Any]:
    ext = kind.split("_")[0]
    out = tmp / f"{kind}.{ext}"
    done = subprocess.run([sys.executable, __file__, "--child", kind, "--database", str(db_path),
                           "--out", str(out)], check=True, capture_output=True, text=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    out.unlink(missing_ok=True)
    log(f"{kind}: {figures['s']} s, peak {figures['peak_mb']} MB (after start-up {figures['baseline_mb']} MB), "
        f"file {figures['file_mb']} MB")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ballots", type=int, default=200_000)
    parser.add_argument("--units", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3, help="CSV rounds (floor and export alternate)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.database, args.out)))
        return

    tmp = Path(tempfile.mkdtemp(prefix="pingyi-bench-exports-"))
    try:
        db_path = tmp / "bench.sqlite"
        build(db_path, args.ballots, args.units)
        runs: dict[str, list[dict[str, Any]]] = {}
        for _round in range(args.rounds):
            for kind in ("csv_floor", "csv"):
                runs.setdefault(kind, []).append(run_child(kind, db_path, tmp))
        for kind in ("xlsx_floor", "xlsx", "parquet", "sav", "dta"):
            runs[kind] = [run_child(kind, db_path, tmp)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(kind: str, key: str = "s") -> float:
        return statistics.median(r[key] for r in runs[kind])

    n = args.ballots
    peaks = {kind: max(r["peak_mb"] for r in runs[kind]) for kind in runs}
    print(json.dumps({
        "ballots": n, "units": args.units,
        "csv_ratio_to_floor": round(med("csv") / med("csv_floor"), 2),
        "xlsx_ratio_to_writeonly": round(med("xlsx") / med("xlsx_floor"), 2),
        "csv_ballots_per_s": round(n / med("csv")),
        "xlsx_ballots_per_s": round(n / med("xlsx")),
        "export_peak_mb": max(peaks[k] for k in STREAMED),
        "sav_peak_mb": peaks["sav"], "dta_peak_mb": peaks["dta"],
        "seconds": {kind: med(kind) for kind in runs},
        "peak_mb": peaks,
        "baseline_mb": {kind: max(r["baseline_mb"] for r in runs[kind]) for kind in runs},
        "file_mb": {kind: runs[kind][0]["file_mb"] for kind in runs},
        "csv_rounds": [[a["s"], b["s"]] for a, b in zip(runs["csv_floor"], runs["csv"], strict=True)],
        "cpu_count": os.cpu_count(),
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
