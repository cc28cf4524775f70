"""Benchmark of the committee's results pages and charts against their floors.

Run as ``.venv/bin/python bench/results.py`` (``--ballots N`` to change the
size; SQLite in a temporary instance). It migrates a fresh database and
imports a campaign of 60 units in 6 categories, 5 evaluator groups and
200,000 ballots (each rates the overall item of 6 units; the real import
path, ``survey.bundles.import_bundle``), closes it and stores its analysis
(``current_snapshot``: export, evaluate, store; not timed). Then, in one run,
side by side (medians of repeated runs):

1. loading the stored snapshot (one SELECT of the row and ``json.loads`` of
   its results) against each results page that shows it (the ranking, a
   unit's page, the data-quality panel; the test client, signed in as a
   committee member, so the whole request is counted);
2. each chart (ranking and option shares of a category, return rates, a
   unit's history), built from the stored results and saved as PNG, against
   saving a blank Figure of the same size as PNG.

The last line is one JSON object: results_page_ms and results_ratio_to_load
(the slowest page and its ratio), chart_ms and chart_ratio_to_blank (the
slowest chart and its ratio), and the figures per page and chart.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import flask_migrate  # noqa: E402
from sqlalchemy import select  # noqa: E402

from survey import charts, create_app  # noqa: E402
from survey.bundles import import_bundle  # noqa: E402
from survey.extensions import db  # noqa: E402
from survey.models import ResultSnapshot, User  # noqa: E402
from survey.results import exports, services  # noqa: E402

GROUPS = [("deputy", "人大代表", 0.25), ("enterprise", "企业代表", 0.2), ("grassroots", "基层代表", 0.15),
          ("client", "服务对象", 0.3), ("cadre", "机关干部", 0.1)]
CATEGORIES = [("c1", "行政执法类"), ("c2", "综合管理类"), ("c3", "社会服务类"), ("c4", "经济管理类"),
              ("c5", "公共服务类"), ("c6", "垂直管理类")]
PASSWORD = "bench-password"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bundle(n_ballots: int, n_units: int = 60, per_ballot: int = 6, seed: int = 11) -> dict:
    rng = random.Random(seed)
    units = [{"code": f"u{k + 1:02d}", "name": f"市第{k + 1}局", "category": CATEGORIES[k % 6][0]}
             for k in range(n_units)]
    quality = [rng.uniform(0.45, 0.92) for _ in units]
    per_group = n_ballots // len(GROUPS)
    batches, ballots = [], []
    start = dt.datetime(2026, 11, 2, 8, 0)
    for g, (gcode, _label, _w) in enumerate(GROUPS):
        batches.append({"code": f"{gcode}-paper", "group": gcode, "channel": "paper",
                        "issued": int(per_group * 1.25)})
        for k in range(per_group):
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
        "campaign": {"code": "bench2026", "name": "2026年度评议（基准）", "anonymous": True},
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
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="pingyi-bench-results-"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.sqlite'}", "SECRET_KEY": "bench",
                      "INSTANCE_PATH": str(tmp), "WTF_CSRF_ENABLED": False})
    with app.app_context():
        flask_migrate.upgrade(revision="heads")
        t0 = time.perf_counter()
        campaign = import_bundle(bundle(args.ballots), status="closed")
        db.session.commit()
        log(f"imported {args.ballots} ballots in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        services.current_snapshot(campaign)
        db.session.commit()
        log(f"stored the analysis in {time.perf_counter() - t0:.1f} s")
        user = User(username="committee", display_name="领导小组", role="committee")
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        code = campaign.code
        campaign_id = campaign.id
        results = services.results_for(campaign)
        categories = [c.code for c in campaign.categories]
        unit_code = campaign.units[0].code

        def load_snapshot() -> None:
            db.session.expire_all()
            snap = db.session.scalar(select(ResultSnapshot).where(ResultSnapshot.campaign_id == campaign_id,
                                                                  ResultSnapshot.kind == "cache"))
            json.loads(snap.results_json)

        load_ms = median_ms(load_snapshot, args.repeats)

        chart_figures = {}
        for name in (f"ranking-{categories[0]}", f"shares-{categories[0]}", "returns", f"history-{unit_code}"):
            def draw(name=name) -> None:
                charts.render(exports.chart(campaign, results, name), "png")

            size = exports.chart(campaign, results, name).get_size_inches()

            def blank(size=size) -> None:
                fig = charts.blank_figure(*size)
                buf = io.BytesIO()
                fig.savefig(buf, format="png")

            c_ms, b_ms = median_ms(draw, args.repeats), median_ms(blank, args.repeats)
            chart_figures[name] = {"chart_ms": round(c_ms, 2), "blank_ms": round(b_ms, 2),
                                   "ratio": round(c_ms / b_ms, 2)}
            log(f"chart {name}: {c_ms:.1f} ms, blank figure {b_ms:.1f} ms, ratio {c_ms / b_ms:.2f}")
        db.session.remove()

    client = app.test_client()
    client.post("/login", data={"username": "committee", "password": PASSWORD})
    pages = {}
    for path in (f"/results/{code}", f"/results/{code}/units/{unit_code}", f"/results/{code}/quality"):
        def get(path=path) -> None:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        p_ms = median_ms(get, args.repeats)
        pages[path] = {"page_ms": round(p_ms, 2), "ratio": round(p_ms / load_ms, 2)}
        log(f"page {path}: {p_ms:.1f} ms, snapshot load {load_ms:.1f} ms, ratio {p_ms / load_ms:.2f}")

    shutil.rmtree(tmp, ignore_errors=True)
    worst_page = max(pages.values(), key=lambda p: p["ratio"])
    worst_chart = max(chart_figures.values(), key=lambda c: c["ratio"])
    print(json.dumps({
        "ballots": args.ballots, "units": 60,
        "results_page_ms": worst_page["page_ms"], "results_ratio_to_load": worst_page["ratio"],
        "snapshot_load_ms": round(load_ms, 2),
        "chart_ms": worst_chart["chart_ms"], "chart_ratio_to_blank": worst_chart["ratio"],
        "pages": pages, "charts": chart_figures,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
