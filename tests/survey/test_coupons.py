"""Newspaper coupons (issue #14): an open paper batch, forms without serials,
keyed twice, each given a serial at its first keying so that the second
clerk finds it; a mismatch is resolved like any paper conflict."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Answer, Ballot, Batch, Invitation, ScaleOption
from tests.factories import login, make_user
from tests.survey.test_distribution_support import setup_campaign
from tests.survey.test_paper import as_clerk, key

pytestmark = pytest.mark.db


@pytest.fixture
def coupons(app, client):
    with app.test_request_context():
        campaign = setup_campaign(evaluators=0, units=2, items=2)
        for name in ("clerk1", "clerk2"):
            make_user("organizer", username=name)
        options = {o.code: o.id for o in campaign.scale}
        cells = [(u.id, i.id) for u in campaign.units for i in campaign.items]
        group_id = campaign.groups[1].id
    login(client, "clerk1")
    made = client.post("/distribution/t2026/batches", data={"group": str(group_id), "channel": "paper",
                                                              "named": "coupon", "code": "NP"})
    assert made.status_code == 302
    return options, cells


def new_coupon(client) -> str:
    started = client.post("/distribution/t2026/paper", data={"coupon": "NP"})
    assert started.status_code == 303
    serial = started.headers["Location"].split("serial=")[1]
    return serial


def test_coupon_batch_is_open_paper_without_a_web_form(app, client, coupons) -> None:
    with app.app_context():
        batch = db.session.scalar(select(Batch).where(Batch.code == "NP"))
        assert batch.channel == "paper" and batch.issued is None and batch.public_code is None
        assert db.session.scalar(select(func.count(Invitation.id))) == 0
    page = client.get("/distribution/t2026/batches/NP").get_data(as_text=True)
    assert 'data-testid="coupon-batch"' in page
    assert 'data-testid="coupon-form"' in client.get("/distribution/t2026/paper").get_data(as_text=True)
    # No public form reaches it.
    assert client.get("/p/t2026/NP").status_code == 404
    # A count makes no sense for coupons: refused with the reason.
    refused = client.post("/distribution/t2026/batches", data={"group": "1", "channel": "paper", "named": "coupon",
                                                                 "count": "5"})
    assert refused.status_code == 422 and "不编号的纸质表" in refused.get_data(as_text=True)


def test_coupons_keyed_twice_make_ballots_and_a_mismatch_is_resolved(app, client, coupons) -> None:
    options, cells = coupons
    first = new_coupon(client)
    assert first == "NP-C00001"
    grid = client.get(f"/distribution/t2026/paper?serial={first}")
    assert grid.status_code == 200 and f"a_{cells[0][0]}_{cells[0][1]}" in grid.get_data(as_text=True)
    agreed = {c: options["S"] for c in cells}
    assert key(client, first, agreed).status_code == 302
    second = new_coupon(client)
    assert second == "NP-C00002"
    key(client, second, agreed)
    as_clerk(client, "clerk2")
    key(client, first, agreed)
    differing = dict(agreed)
    differing[cells[1]] = options["D"]
    key(client, second, differing)
    with app.app_context():
        assert db.session.scalar(select(func.count(Ballot.id))) == 1
    page = client.get("/distribution/t2026/paper/conflicts").get_data(as_text=True)
    assert f'data-serial="{second}"' in page
    u, i = cells[1]
    client.post("/distribution/t2026/paper/conflicts", data={"serial": second, f"r_{u}_{i}": options["B"]})
    with app.app_context():
        assert db.session.scalar(select(func.count(Ballot.id))) == 2
        chosen = db.session.scalars(select(ScaleOption.code).join(Answer, Answer.option_id == ScaleOption.id)
                                    .where(Answer.campaign_unit_id == u, Answer.item_id == i)).all()
        assert sorted(chosen) == ["B", "S"]
    # Returned without an issued count: the board counts them, no return rate.
    board = client.get("/api/campaigns/t2026/returns").json
    row = next(b for b in board["batches"] if b["code"] == "NP")
    assert row["returned"] == 2 and row["issued"] is None and "不编号" in row["label"]
