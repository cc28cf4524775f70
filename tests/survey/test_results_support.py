"""Campaigns with known results for the committee's tests (no tests here).

Three units, all in category law/svc alternately: u1 gets 满意 from everyone,
u2 基本满意, u3 不满意. The client group (e1, issued 20) returns ``client``
ballots, the expert group (public batch) ``expert`` ballots: with the default
of 3 experts the expert group is too small (< 5) to show to a liaison.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import Ballot, Campaign, Comment
from tests.factories import bundle

ANSWERS = {"u1": "S", "u2": "B", "u3": "D"}


def committee_bundle(code: str = "t2026", *, client: int = 12, expert: int = 3, speeders: int = 0,
                     **extra: Any) -> dict[str, Any]:
    """``speeders`` more client ballots, filled in 5 s, rate u1 不满意 (enough of
    them pull u1 from 满意 to 基本满意 until the committee excludes speeders)."""
    ballots = []
    start = dt.datetime(2026, 11, 2, 9, 0)
    for k in range(client + expert):
        group_batch = "e1" if k < client else "p1"
        answers = {u: {"i0": o} for u, o in ANSWERS.items()}
        if k % 4 == 3 and k < client:  # some spread, so intervals are not points
            answers["u2"] = {"i0": "S"}
        ballots.append({"id": f"{k + 1:04d}", "batch": group_batch,
                        "submitted_at": (start + dt.timedelta(minutes=7 * k)).isoformat() + "+08:00",
                        "duration_s": 200 + k, "answers": answers})
    for k in range(speeders):
        ballots.append({"id": f"9{k:03d}", "batch": "e1",
                        "submitted_at": (start + dt.timedelta(hours=5, minutes=k)).isoformat() + "+08:00",
                        "duration_s": 5, "answers": {"u1": {"i0": "D"}, "u2": {"i0": "B"}, "u3": {"i0": "D"}}})
    doc = bundle(code, units=3, ballots=ballots)
    doc.update(extra)
    return doc


def make_committee_campaign(code: str = "t2026", *, status: str = "closed", comments: bool = True,
                            **kwargs: Any) -> Campaign:
    campaign = import_bundle(committee_bundle(code, **kwargs), status=status)
    if comments:
        units = {cu.code: cu for cu in campaign.units}
        ballots = db.session.scalars(select(Ballot).where(Ballot.campaign_id == campaign.id)
                                     .order_by(Ballot.public_id)).all()
        for n, b in enumerate(ballots, start=1):
            group = b.batch.group.code
            db.session.add(Comment(ballot_id=b.id, campaign_unit_id=units["u3"].id,
                                   text=f"{group} 意见第{n}条：办事要跑好几趟"))
            if b.public_id == "0001":
                db.session.add(Comment(ballot_id=b.id, campaign_unit_id=units["u1"].id, text="窗口服务很好"))
    db.session.commit()
    return campaign
