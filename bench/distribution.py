"""Benchmark of distribution: creating 100,000 invitations, and the return-rate board of such a campaign.

Run as ``.venv/bin/python bench/distribution.py`` (``--n`` to change the
size). Everything happens in one run on a fresh SQLite database in a
temporary instance, made by the real migrations, with the pragmas ``make
run`` uses (WAL, synchronous=NORMAL, foreign keys):

1. floor: one executemany INSERT of N bare invitation rows (only the columns
   that may not be null; values made before the clock starts) and a commit,
   through the same DBAPI executemany the batch uses;
2. timed against it: ``survey.distribution.services.create_batch`` of an
   e-mail batch to N people of the roster (the eligibility check, N tokens
   and their SHA-256 made in Python, one executemany INSERT, the commit).
   Floor and batch alternate over five rounds (rows deleted between rounds);
   the medians are compared;
3. the campaign then gets ballots for about 70% of its invitations (each
   rating every unit), inserted directly (not timed);
4. the return-rate board: the median of repeated signed-in requests to
   ``GET /api/campaigns/<code>/returns`` through the Flask test client,
   against the median of ``return_board(campaign)`` (its aggregation queries)
   called alone.

The last line printed is one JSON object: invitations_100k_s,
invitations_ratio_to_floor, return_board_ms, return_board_ratio_to_queries
(and the floors themselves).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import flask_migrate  # noqa: E402
from sqlalchemy import delete, insert, select  # noqa: E402

from survey import create_app  # noqa: E402
from survey.bundles import import_bundle  # noqa: E402
from survey.distribution import services  # noqa: E402
from survey.extensions import db  # noqa: E402
from survey.models import (  # noqa: E402
    Answer,
    Ballot,
    Batch,
    Campaign,
    Evaluator,
    Invitation,
    User,
)

CATEGORIES = [("law", "行政执法类", 10), ("admin", "综合管理类", 8), ("svc", "社会服务类", 6)]
PASSWORD = "bench 评议 password"


def bundle(code: str) -> dict:
    units = []
    for ccode, _label, n in CATEGORIES:
        units += [{"code": f"{ccode}{k:02d}", "name": f"{ccode} 第{k}局", "category": ccode} for k in range(n)]
    return {
        "format": "pingyi-campaign/1",
        "campaign": {"code": code, "name": f"{code} 基准评议", "anonymous": True},
        "scale": [{"code": "S", "label": "满意", "points": 100}, {"code": "B", "label": "基本满意", "points": 70},
                  {"code": "D", "label": "不满意", "points": 0}, {"code": "U", "label": "不了解", "points": None}],
        "items": [{"code": "overall", "label": "总体评价", "weight": 1}],
        "categories": [{"code": c, "label": label} for c, label, _n in CATEGORIES],
        "units": units,
        "groups": [{"code": "client", "label": "服务对象", "weight": 0.6},
                   {"code": "expert", "label": "专家学者", "weight": 0.4}],
        "batches": [{"code": "floor", "group": "expert", "channel": "paper", "issued": 0}],
        "ballots": [],
    }


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="invitations (default 100,000)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=7, help="board requests to take the median of")
    args = parser.parse_args()
    n = args.n

    with tempfile.TemporaryDirectory(prefix="pingyi-bench-") as tmp:
        instance = Path(tmp)
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'pingyi.sqlite'}",
                          "SECRET_KEY": "bench", "INSTANCE_PATH": str(instance), "WTF_CSRF_ENABLED": False})
        with app.app_context():
            flask_migrate.upgrade()
        with app.test_request_context():
            campaign = import_bundle(bundle("bench2026"), status="open")
            db.session.commit()
            campaign_id = campaign.id
            client_group = campaign.groups[0]
            floor_batch = db.session.scalar(select(Batch).where(Batch.code == "floor"))
            db.session.execute(insert(Evaluator.__table__), [
                {"group_id": client_group.group_id, "name": f"代表{k}", "email": f"r{k}@example.cn",
                 "attributes": {}, "campaign_id": campaign_id} for k in range(n)])
            user = User(username="organizer", display_name="基准", role="organizer")
            user.set_password(PASSWORD)
            db.session.add(user)
            db.session.commit()

            now = dt.datetime(2026, 11, 23, 12, 0)
            # Bare rows: the columns that may not be null, values ready for the driver.
            floor_columns = ("campaign_id", "batch_id", "token_hash", "used", "created_at")
            created = services.driver_value("invitation", "created_at", now)
            unused = services.driver_value("invitation", "used", False)
            floor_rows = [(campaign_id, floor_batch.id, k.to_bytes(32, "big"), unused, created)
                          for k in range(n)]
            floor_s: list[float] = []
            batch_s: list[float] = []
            for round_ in range(args.rounds):
                def floor() -> None:
                    services.bulk_insert("invitation", floor_columns, floor_rows)
                    db.session.commit()

                floor_s.append(timed(floor))
                db.session.execute(delete(Invitation).where(Invitation.batch_id == floor_batch.id))
                db.session.commit()

                def make_batch(round_: int = round_) -> None:
                    c = db.session.get(Campaign, campaign_id)
                    g = c.groups[0]
                    services.create_batch(c, g, "email", evaluators=services.ROSTER, code=f"mail{round_}")
                    db.session.commit()

                batch_s.append(timed(make_batch))
                kept = db.session.scalar(select(Batch.id).where(Batch.code == f"mail{round_}"))
                assert db.session.scalar(select(db.func.count(Invitation.id))
                                         .where(Invitation.batch_id == kept)) == n
                if round_ < args.rounds - 1:
                    db.session.execute(delete(Invitation).where(Invitation.batch_id == kept))
                    db.session.execute(delete(Batch).where(Batch.id == kept))
                    db.session.commit()
                print(f"round {round_ + 1}: floor {floor_s[-1]:.3f} s, create_batch {batch_s[-1]:.3f} s",
                      file=sys.stderr)

            # About 70% of the links come back, each ballot rating every unit.
            rng = random.Random(20261123)
            invitation_ids = db.session.scalars(select(Invitation.id).where(Invitation.batch_id == kept)).all()
            back = [i for i in invitation_ids if rng.random() < 0.7]
            db.session.execute(Invitation.__table__.update().where(Invitation.id.in_(
                select(Invitation.id).where(Invitation.batch_id == kept))).values(used=False))
            c = db.session.get(Campaign, campaign_id)
            units = [cu.id for cu in c.units]
            item = c.items[0].id
            options = [o.id for o in c.scale]
            first_id = (db.session.scalar(select(db.func.max(Ballot.id))) or 0) + 1
            db.session.execute(insert(Ballot.__table__), [
                {"id": first_id + k, "campaign_id": campaign_id, "batch_id": kept, "public_id": f"b{k:07d}",
                 "submitted_at": now, "utc_offset_min": 480} for k in range(len(back))])
            answers = []
            for k in range(len(back)):
                for pos, u in enumerate(units):
                    answers.append({"ballot_id": first_id + k, "campaign_unit_id": u, "item_id": item,
                                    "option_id": options[rng.randrange(4)], "position": pos})
                if len(answers) >= 200_000:
                    db.session.execute(insert(Answer.__table__), answers)
                    answers = []
            if answers:
                db.session.execute(insert(Answer.__table__), answers)
            db.session.execute(Invitation.__table__.update().where(Invitation.id.in_(back)).values(used=True))
            db.session.commit()
            print(f"ballots: {len(back)}", file=sys.stderr)

        from survey.campaigns import board

        client = app.test_client()
        assert client.post("/login", data={"username": "organizer", "password": PASSWORD}).status_code == 302
        url = "/api/campaigns/bench2026/returns"
        first = client.get(url)
        assert first.status_code == 200, first.status_code
        assert first.get_json()["total"]["returned"] == len(back)
        http_s, query_s = [], []
        for _ in range(args.requests):
            http_s.append(timed(lambda: client.get(url)))
            with app.test_request_context():
                c = db.session.get(Campaign, campaign_id)
                query_s.append(timed(lambda c=c: board.return_board(c)))
                db.session.remove()

    invitations_s = statistics.median(batch_s)
    floor_med = statistics.median(floor_s)
    http_med, query_med = statistics.median(http_s), statistics.median(query_s)
    print(json.dumps({
        "invitations": n,
        "invitations_100k_s": round(invitations_s * 100_000 / n, 3),
        "invitations_floor_s": round(floor_med * 100_000 / n, 3),
        "invitations_ratio_to_floor": round(invitations_s / floor_med, 3),
        "return_board_ms": round(http_med * 1000, 1),
        "return_board_queries_ms": round(query_med * 1000, 1),
        "return_board_ratio_to_queries": round(http_med / query_med, 3),
    }))


if __name__ == "__main__":
    main()
