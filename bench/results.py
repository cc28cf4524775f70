"""Benchmark of the committee's results pages and charts against their floors.

Run as ``.venv/bin/python bench/results.py`` (``--ballots N`` to change the
size; SQLite in a temporary instance, or ``--database-url URL``: an empty
PostgreSQL database, migrated and filled, left so). It migrates a fresh database and
imports a campaign of 60 units in 6 categories, 5 evaluator groups and
200,000 ballots (each rates the overall item of 6 units; the real import
path, ``survey.bundles.import_bundle``), after last year's campaign of the
same units (6,000 ballots, so that each unit's page shows a history chart),
closes it and stores its analysis
(``current_snapshot``: export, evaluate, store) and runs the job that the
computation queues, which draws every chart and renders every table of the
snapshot and keeps them beside it (``exports.draw_results``; in the app a
worker thread runs it right after the computation commits). None of that is timed. Then, in one run,
side by side (medians of repeated runs, each after a warm-up request):

1. loading the stored snapshot (one SELECT of the row and ``json.loads`` of
   its results) against each results page that shows it (the ranking, a
   unit's page, the data-quality panel; the test client, signed in as a
   committee member, so the whole request is counted);
2. each chart route (``/results/<code>/charts/<name>.png``: ranking and
   option shares of a category, return rates, a unit's history), through the
   same client, against saving a blank Figure of the same size as PNG.

Each route is measured in three states:

- warm: this process has served it before (parsed results, rendered tables
  and chart bytes are in its memory);
- new process: its memory emptied before each request (``caches.clear_all``),
  as in any other worker process or after a restart;
  what was drawn from the snapshot is read from the database;
- first view: the kept tables and charts deleted too, so the request draws
  them from the results: what the first view of a page after a computation
  costs, once per snapshot; for charts, what the background job pays once.

The last line is one JSON object: results_page_ms and results_ratio_to_load
(the page with the highest ratio, warm or in a new process, whichever is
higher), chart_ms and chart_ratio_to_blank (likewise for the charts), the
figures of each state under "warm", "new_process" and "first_view", and the
figures per page and chart. The database is filled once; ``--runs N`` (default 3) measures it N
times, and each figure is the median of the runs' (with each run's ratio listed under
``results_ratio_to_load_runs`` and ``chart_ratio_to_blank_runs``); the per-page and per-chart
figures are the last run's.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import flask_migrate  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sqlalchemy import (  # noqa: E402
    delete,  # noqa: E402
    func,
    select,
)

from survey import caches, charts, create_app, jobs, normalise_database_url  # noqa: E402
from survey.bundles import import_bundle  # noqa: E402
from survey.extensions import db  # noqa: E402
from survey.models import Campaign, ResultArtifact, ResultSnapshot, User  # noqa: E402
from survey.results import artifacts, exports  # noqa: E402
from survey.results.snapshots import current_snapshot, results_for  # noqa: E402

GROUPS = [("deputy", "人大代表", 0.25), ("enterprise", "企业代表", 0.2), ("grassroots", "基层代表", 0.15),
          ("client", "服务对象", 0.3), ("cadre", "机关干部", 0.1)]
CATEGORIES = [("c1", "行政执法类"), ("c2", "综合管理类"), ("c3", "社会服务类"), ("c4", "经济管理类"),
              ("c5", "公共服务类"), ("c6", "垂直管理类")]
PASSWORD = "bench-password"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bundle(n_ballots: int, n_units: int = 60, per_ballot: int = 6, seed: int = 11, year: int = 2026) -> dict:
    rng = random.Random(seed)
    units = [{"code": f"u{k + 1:02d}", "name": f"市第{k + 1}局", "category": CATEGORIES[k % 6][0]}
             for k in range(n_units)]
    quality = [rng.uniform(0.45, 0.92) for _ in units]
    per_group = n_ballots // len(GROUPS)
    batches, ballots = [], []
    start = dt.datetime(year, 11, 2, 8, 0)
    for _g, (gcode, _label, _w) in enumerate(GROUPS):
        batches.append({"code": f"{gcode}-paper", "group": gcode, "channel": "paper",
                        "issued": int(per_group * 1.25)})
        for _k in range(per_group):
            n = len(ballots)
            answers = {}
            for u in rng.sample(range(n_units), per_ballot):
                r = rng.random()
                q = quality[u]
                answers[units[u]["code"]] = {"overall": "S" if r < q else "B" if r < q + 0.7 * (1 - q) else
                                             "D" if r < 0.97 else "U"}
            ballots.append({"id": f"{n + 1:07d}", "batch": f"{gcode}-paper",
                            "submitted_at": (start + dt.timedelta(seconds=11 * n)).isoformat() + "+08:00",
                            "duration_s": rng.randint(90, 600), "answers": answers})
    return {
        "format": "pingyi-campaign/1",
        "campaign": {"code": f"bench{year}", "name": f"{year}年度评议（基准）", "anonymous": True},
        "scale": [{"code": "S", "label": "满意", "points": 100}, {"code": "B", "label": "基本满意", "points": 70},
                  {"code": "D", "label": "不满意", "points": 0}, {"code": "U", "label": "不了解", "points": None}],
        "items": [{"code": "overall", "label": "总体评价", "weight": 1.0}],
        "categories": [{"code": c, "label": label} for c, label in CATEGORIES],
        "units": units,
        "groups": [{"code": c, "label": label, "weight": w} for c, label, w in GROUPS],
        "batches": batches,
        "ballots": ballots,
        "rules": {"bottom": {"n": 1, "below": 75}},
    }


def blank_figure(width: float, height: float) -> Figure:
    """An empty figure of a given size (the charts' yardstick)."""
    return charts.new_figure(width, height)


def median_ms(fn, repeats: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ballots", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--runs", type=int, default=3,
                        help="measuring runs on the one database filled (default 3); the figures are the "
                             "medians of the runs' worst ratios")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (postgresql://…) to run on, "
                        "migrated and filled by the bench and left so; default: SQLite in a temporary folder")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="pingyi-bench-results-"))
    uri = normalise_database_url(args.database_url) if args.database_url else f"sqlite:///{tmp / 'bench.sqlite'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "bench",
                      "INSTANCE_PATH": str(tmp), "WTF_CSRF_ENABLED": False,
                      "PINGYI_JOBS_THREAD": False})  # the bench runs the chart job itself, before timing
    with app.app_context():
        flask_migrate.upgrade()
        if db.session.scalar(select(func.count(Campaign.id))):
            sys.exit(f"{args.database_url}: the database holds campaigns; give an empty one")
        database = db.engine.dialect.name
        log(f"database: {database}")
        # Last year's campaign of the same units, so that each unit's page shows its history chart.
        last_year = import_bundle(bundle(6000, seed=10, year=2025), status="closed")
        current_snapshot(last_year)
        db.session.commit()
        t0 = time.perf_counter()
        campaign = import_bundle(bundle(args.ballots), status="closed")
        db.session.commit()
        log(f"imported {args.ballots} ballots in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        current_snapshot(campaign)
        db.session.commit()
        log(f"stored the analysis in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        ran = jobs.run_pending()
        kept = db.session.scalar(select(func.count()).select_from(ResultArtifact))
        log(f"{ran} jobs (last year's, this year's) drew and kept {kept} charts and tables in "
            f"{time.perf_counter() - t0:.1f} s (a chart drawn from the same inputs is kept once)")
        user = User(username="committee", display_name="领导小组", role="committee")
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        code = campaign.code
        campaign_id = campaign.id
        results = results_for(campaign)
        categories = [c.code for c in campaign.categories]
        unit_code = campaign.units[0].code

        def load_snapshot() -> None:
            db.session.expire_all()
            snap = db.session.scalar(select(ResultSnapshot).where(ResultSnapshot.campaign_id == campaign_id,
                                                                  ResultSnapshot.kind == "cache"))
            json.loads(snap.results_json)

        chart_names = (f"ranking-{categories[0]}", f"shares-{categories[0]}", "returns", f"history-{unit_code}")
        sizes = {name: exports.chart(campaign, results, name).get_size_inches() for name in chart_names}
        db.session.remove()

    def snapshot_load_ms() -> float:
        with app.app_context():
            ms = median_ms(load_snapshot, args.repeats)
            db.session.remove()
        return ms

    def blank_ms(size) -> float:
        def blank() -> None:
            fig = blank_figure(*size)
            buf = io.BytesIO()
            fig.savefig(buf, format="png")

        return median_ms(blank, args.repeats)

    client = app.test_client()
    client.post("/login", data={"username": "committee", "password": PASSWORD})

    def new_process() -> None:
        caches.clear_all()
        # What a worker works out once, whatever it serves first: the drawing code's
        # version. (Prepared statements, survey.database.prepared, are code: clear_all
        # leaves them, and a worker builds each once.)
        artifacts.drawing_version()

    def first_view(media: str) -> Callable[[], None]:
        def forget_all() -> None:
            new_process()
            with app.app_context():
                db.session.execute(delete(ResultArtifact).where(ResultArtifact.media_type.like(media)))
                db.session.commit()
        return forget_all

    def route_ms(path: str, media: str) -> dict[str, float]:
        """Medians of a route in each state (see the module's docstring)."""
        def get() -> None:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        def after(forget) -> Callable[[], None]:
            def run() -> None:
                forget()
                get()
            return run

        figures = {"warm": median_ms(get, args.repeats), "new_process": median_ms(after(new_process), args.repeats),
                   "first_view": median_ms(after(first_view(media)), args.repeats)}
        get()  # leave it kept, for the next route
        return figures

    states = ("warm", "new_process", "first_view")

    def measure() -> tuple[dict[str, dict], dict[str, dict]]:
        """One run: every page and chart in every state."""
        pages = {}
        for path in (f"/results/{code}", f"/results/{code}/units/{unit_code}", f"/results/{code}/quality"):
            load_ms = snapshot_load_ms()  # side by side with each page: the machine's load changes
            ms = route_ms(path, "text/html")
            pages[path] = {"load_ms": round(load_ms, 2),
                           **{state: {"ms": round(ms[state], 2), "ratio": round(ms[state] / load_ms, 2)}
                              for state in states}}
            log(f"page {path}: snapshot load {load_ms:.1f} ms; " + ", ".join(
                f"{state} {ms[state]:.1f} ms ({ms[state] / load_ms:.2f}x)" for state in states))

        chart_figures = {}
        for name in chart_names:
            ms = route_ms(f"/results/{code}/charts/{name}.png", "image/%")
            b_ms = blank_ms(sizes[name])
            chart_figures[name] = {"blank_ms": round(b_ms, 2),
                                   **{state: {"ms": round(ms[state], 2), "ratio": round(ms[state] / b_ms, 2)}
                                      for state in states}}
            log(f"chart {name}: blank figure {b_ms:.1f} ms; " + ", ".join(
                f"{state} {ms[state]:.1f} ms ({ms[state] / b_ms:.2f}x)" for state in states))
        return pages, chart_figures

    def worst(figures: dict[str, dict], served: tuple[str, ...]) -> dict[str, float]:
        return max((f[state] for f in figures.values() for state in served), key=lambda x: x["ratio"])

    served = ("warm", "new_process")
    runs = []
    for k in range(args.runs):
        log(f"run {k + 1} of {args.runs}")
        pages, chart_figures = measure()
        runs.append({"page": worst(pages, served), "chart": worst(chart_figures, served),
                     **{state: {"page": worst(pages, (state,)), "chart": worst(chart_figures, (state,))}
                        for state in states}})

    def median_of(pick: Callable[[dict], dict[str, float]]) -> dict[str, float]:
        """The run whose figure is the median (an odd number of runs: one of them)."""
        ordered = sorted(runs, key=lambda run: pick(run)["ratio"])
        return pick(ordered[(len(ordered) - 1) // 2])

    shutil.rmtree(tmp, ignore_errors=True)

    page, chart = median_of(lambda run: run["page"]), median_of(lambda run: run["chart"])
    print(json.dumps({
        "ballots": args.ballots, "units": 60, "database": database, "runs": args.runs,
        "results_page_ms": page["ms"], "results_ratio_to_load": page["ratio"],
        "results_ratio_to_load_runs": [run["page"]["ratio"] for run in runs],
        "snapshot_load_ms": round(statistics.median(p["load_ms"] for p in pages.values()), 2),
        "chart_ms": chart["ms"], "chart_ratio_to_blank": chart["ratio"],
        "chart_ratio_to_blank_runs": [run["chart"]["ratio"] for run in runs],
        **{state: {"results_page_ms": median_of(lambda run, s=state: run[s]["page"])["ms"],
                   "results_ratio_to_load": median_of(lambda run, s=state: run[s]["page"])["ratio"],
                   "chart_ms": median_of(lambda run, s=state: run[s]["chart"])["ms"],
                   "chart_ratio_to_blank": median_of(lambda run, s=state: run[s]["chart"])["ratio"]}
           for state in states},
        "pages": pages, "charts": chart_figures,  # of the last run
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
