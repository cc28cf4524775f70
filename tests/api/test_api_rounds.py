"""平时考核 rounds through /api/v1/: the rounds, a round's ranking, and an
annual campaign's 平时 component (docs/rounds.md)."""
from __future__ import annotations

import pytest

from survey.extensions import db
from survey.rounds import services as rounds
from tests.api.apikit import bearer, key_for
from tests.survey.test_rounds import _annual, _round

pytestmark = pytest.mark.db


def test_rounds_ranking_and_rollup(app, client) -> None:
    with app.app_context():
        _annual()
        rounds.publish(_round("r1", "2027-03-31", {"u1": "S", "u2": "U"}), None)
        _round("r2", "2027-04-30", {"u1": "B", "u2": "B"})
        db.session.commit()
        key = key_for("committee")
        liaison = key_for("liaison")
    listing = client.get("/api/v1/rounds", headers=bearer(key))
    assert listing.status_code == 200
    assert [(r["code"], r["status"], r["counts_for"]) for r in listing.json["items"]] == [
        ("r2", "closed", "y2027"), ("r1", "published", "y2027")]
    ranking = client.get("/api/v1/rounds/r2/ranking", headers=bearer(key)).json
    assert ranking["published"] is False
    assert {(u["unit"], u["score"]) for u in ranking["units"]} == {("u1", 70.0), ("u2", 70.0)}
    rollup = client.get("/api/v1/campaigns/y2027/pingshi", headers=bearer(key)).json
    assert rollup["component"] == "pingshi" and rollup["weight"] == 0.4
    assert [r["code"] for r in rollup["rounds"]] == ["r1"]
    assert rollup["units"] == [{"unit": "u1", "score": 100.0, "composites": {"r1": 100.0}},
                               {"unit": "u2", "score": None, "composites": {"r1": None}}]
    assert client.get("/api/v1/campaigns/y2027/register-components", headers=bearer(key)).status_code == 200
    assert client.get("/api/v1/rounds/y2027/ranking", headers=bearer(key)).status_code == 404  # not a round
    assert client.get("/api/v1/rounds", headers=bearer(liaison)).status_code == 403


def test_organizer_publishes_a_round_through_the_api(app, client) -> None:
    with app.app_context():
        _annual()
        _round("r1", "2027-03-31", {"u1": "S", "u2": "B"})
        db.session.commit()
        organizer, committee = key_for("organizer"), key_for("committee")
    body = {"round": "r1"}
    assert client.post("/api/v1/rounds/r1/publish", json=body, headers=bearer(committee)).status_code == 403
    assert client.post("/api/v1/rounds/r1/publish", json={"round": "r2"}, headers=bearer(organizer)).status_code == 400
    answer = client.post("/api/v1/rounds/r1/publish", json=body, headers=bearer(organizer))
    assert answer.status_code == 200 and answer.json["status"] == "published" and answer.json["counts_for"] == "y2027"
    again = client.post("/api/v1/rounds/r1/publish", json=body, headers=bearer(organizer))
    assert again.status_code == 409 and "已截止" in again.get_data(as_text=True)
    rollup = client.get("/api/v1/campaigns/y2027/pingshi", headers=bearer(committee)).json
    assert [u["score"] for u in rollup["units"]] == [100.0, 70.0]
