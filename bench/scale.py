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
the median reference time. The last line is one JSON object of the figures.

A later part (PostgreSQL finalization of a 1,000,000-ballot campaign:
``finalize_1m_s``, ``finalize_1m_peak_mb``, ``cli_1m_peak_mb``) has its
place in :func:`main` but is not built yet.
"""

from __future__ import annotations

import argparse
import datetime as dt
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


def write_bundle(path: Path, n_ballots: int, seed: int = 15, *, n_units: int = N_UNITS,
                 per_ballot: int = PER_BALLOT, replicates: int = REPLICATES) -> int:
    """Write the bundle to `path`, streamed (no document held in memory); returns its size in bytes.

    `n_units`, `per_ballot` and `replicates` change the shape for the tests
    (tests/analysis/test_analysis_scale_fixture.py: fewer units, so that each
    cell is large enough for the trimmed bootstrap's bulk and windows).
    """
    rng = random.Random(seed)
    units = [f"u{k + 1:02d}" for k in range(n_units)]
    quality = [rng.uniform(0.45, 0.92) for _ in units]
    start = dt.datetime(2026, 11, 2, 8, 0)
    head = {
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
    # After the ballots, where survey.bundles.export_bundle writes them.
    rules = {"trim_per_end": TRIM, "bootstrap": {"replicates": replicates, "seed": 2026}, "bottom": {"n": 3, "below": 75}}
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text[:-1] + ',"ballots":[')
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
                fh.write(("," if r else "") + dumps(ballot))
                r += 1
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


def _cli_child(bundle: Path, out: Path, env: dict[str, str]) -> tuple[float, float]:
    # Popen reaps the child itself; os.fork + wait4 gives the child's own rusage.
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "analysis", "evaluate", str(bundle)], env)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - t0
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ballots", type=int, default=200_000, help="ballots in the bundle (default 200000)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each side (default 3; the median is reported)")
    ap.add_argument("--blas-threads", type=int, default=None, help="OPENBLAS/OMP/MKL threads for both sides")
    ap.add_argument("--keep", metavar="DIR", help="write the bundle and the results into DIR and keep them")
    ap.add_argument("--child-reference", metavar="BUNDLE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_reference:
        _child_reference(args.child_reference, args.ballots)
        return

    n = args.ballots
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pingyi-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        need = n * BYTES_PER_BALLOT * 2 + (64 << 20)  # the bundle and the results, with room to spare
        free = shutil.disk_usage(workdir).free
        if free < need:
            sys.exit(f"not enough free disk in {workdir}: {free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed")
        bundle = workdir / f"bundle-{n}.json"
        t0 = time.perf_counter()
        size = write_bundle(bundle, n)
        log(f"bundle: {n} ballots, {size / 1e6:.1f} MB written in {time.perf_counter() - t0:.1f} s ({bundle})")
        env = _env(args.blas_threads)
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
            "blas_threads": args.blas_threads,
        }
        # Later (issue 15, PostgreSQL): finalize a 1,000,000-ballot campaign from the
        # database and evaluate its frozen bundle: finalize_1m_s, finalize_1m_peak_mb,
        # cli_1m_peak_mb. Not built yet.
        print(json.dumps(figures))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
