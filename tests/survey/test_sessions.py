"""On the spot (issue #14): a batch's units on the form, batch times from a
page, the campaign's option to leave units unanswered, and 现场测评 sessions
(setup, slips, open/close, live count, the tally on the sub-bundle)."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from flask import Flask
from sqlalchemy import func, select

from analysis import evaluate_document
from survey.api import keys
from survey.clock import utcnow
from survey.extensions import db
from survey.models import Answer, Ballot, Batch, Campaign, FieldSession
from survey.sessions import services as sessions
from tests.factories import login, make_campaign, make_user
from tests.survey.test_ballots import form_fields

pytestmark = pytest.mark.db


def radio_options(html: str) -> dict[str, list[str]]:
    """Every answer field of a form and its option values, in order."""
    out: dict[str, list[str]] = {}
    for tag in re.findall(r"<input[^>]*type=\"radio\"[^>]*>", html):
        name = re.search(r'name="(a_[^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and value:
            out.setdefault(name.group(1), []).append(value.group(1))
    return out


def organizer(app: Flask, client) -> None:
    with app.app_context():
        make_user("organizer")
    login(client, "organizer")


def test_batch_units_restrict_the_form_and_what_is_taken(app, client) -> None:
    with app.app_context():
        campaign, tokens = make_campaign(invitations=2, units=3)
        batch = campaign.batches[0]
        second = campaign.units[1]
        second_id, second_name, other_name = second.id, second.name, campaign.units[0].name
        bcode = batch.code
    organizer(app, client)
    saved = client.post(f"/distribution/t2026/batches/{bcode}/units", data={"units": [str(second_id)]})
    assert saved.status_code == 302
    html = client.get(f"/b/{tokens[0]}").get_data(as_text=True)
    assert second_name in html and other_name not in html
    fields = form_fields(html)
    assert {k.split("_")[1] for k in fields if k.startswith("a_")} == {str(second_id)}
    assert client.post(f"/b/{tokens[0]}", data=fields).status_code == 200
    with app.app_context():
        answered = set(db.session.scalars(select(Answer.campaign_unit_id)))
    assert answered == {second_id}
    # An answer for a unit not on the batch's form is refused, not stored.
    other = form_fields(client.get(f"/b/{tokens[1]}").get_data(as_text=True))
    field, value = next((k, v) for k, v in other.items() if k.startswith("a_"))
    other[field.replace(f"a_{second_id}_", f"a_{second_id - 1}_", 1)] = value
    assert client.post(f"/b/{tokens[1]}", data=other).status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count(Ballot.id))) == 1
    # Once the batch has ballots its units stay as they were.
    refused = client.post(f"/distribution/t2026/batches/{bcode}/units", data={"units": []},
                          follow_redirects=True)
    assert "不能再改评议表上的单位" in refused.get_data(as_text=True)


def test_batch_period_is_set_from_its_page(app, client) -> None:
    with app.app_context():
        campaign, tokens = make_campaign(invitations=1)
        bcode = campaign.batches[0].code
    organizer(app, client)
    later = (utcnow() + dt.timedelta(days=2) + dt.timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M")
    assert client.post(f"/distribution/t2026/batches/{bcode}/period", data={"opens_at": later}).status_code == 302
    assert "尚未开始" in client.get(f"/b/{tokens[0]}").get_data(as_text=True) or \
        client.get(f"/b/{tokens[0]}").status_code != 200
    bad = client.post(f"/distribution/t2026/batches/{bcode}/period",
                      data={"opens_at": later, "closes_at": "2026-01-01T08:00"}, follow_redirects=True)
    assert "截止时间早于开始时间" in bad.get_data(as_text=True)
    with app.app_context():
        batch = db.session.scalar(select(Batch).where(Batch.code == bcode))
        assert batch.opens_at is not None and batch.opens_at > utcnow() and batch.closes_at is None
    assert client.post(f"/distribution/t2026/batches/{bcode}/period", data={}).status_code == 302
    assert 'name="a_' in client.get(f"/b/{tokens[0]}").get_data(as_text=True)


def test_units_may_be_left_unanswered_where_the_campaign_allows(app, client) -> None:
    with app.app_context():
        campaign, tokens = make_campaign(invitations=2, units=3, items=2)
    html = client.get(f"/b/{tokens[0]}").get_data(as_text=True)
    fields = form_fields(html)
    first_unit = next(k for k in fields if k.startswith("a_")).split("_")[1]
    partial = {k: v for k, v in fields.items() if not k.startswith(f"a_{first_unit}_")}
    assert client.post(f"/b/{tokens[0]}", data=partial).status_code == 422
    with app.app_context():
        db.session.scalar(select(Campaign)).allow_unanswered = True
        db.session.commit()
    assert client.post(f"/b/{tokens[0]}", data=partial).status_code == 200
    with app.app_context():
        units = set(db.session.scalars(select(Answer.campaign_unit_id)))
    assert str(first_unit) not in {str(u) for u in units} and len(units) == 2
    # A unit answered in part is still refused: leaving out means the whole unit.
    fields = form_fields(client.get(f"/b/{tokens[1]}").get_data(as_text=True))
    half = {k: v for k, v in fields.items() if k != next(k for k in fields if k.startswith(f"a_{first_unit}_"))}
    assert client.post(f"/b/{tokens[1]}", data=half).status_code == 422


def _create(client, campaign_units: list[int], *, announce: bool = True, expected: tuple[str, str] = ("3", "2")):
    starts = (utcnow() + dt.timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M")
    data = {"code": "jm1", "name": "经贸系统专场", "place": "市政府第一会议室", "starts_at": starts,
            "units": [str(u) for u in campaign_units], "expected-0": expected[0], "expected-1": expected[1]}
    if announce:
        data["announce"] = "y"
    return client.post("/distribution/t2026/sessions", data=data)


def test_session_runs_from_slips_to_the_tally(app, client) -> None:
    with app.app_context():
        campaign, _tokens = make_campaign(invitations=0, units=4, items=2,
                                          rules={"min_valid_per_unit": 2, "bootstrap": {"replicates": 50}})
        chosen = [campaign.units[0].id, campaign.units[2].id]
        names = [campaign.units[1].name, campaign.units[3].name]
    organizer(app, client)
    created = _create(client, chosen)
    assert created.status_code == 302 and created.headers["Location"].endswith("/sessions/jm1")
    slips = client.get("/distribution/t2026/sessions/jm1/slips").get_data(as_text=True)
    links = re.findall(r'data-testid="slip-link">([^<]+)<', slips)
    assert len(links) == 5 and len(set(links)) == 5 and slips.count("<svg") >= 5
    paths = [re.sub(r"^https?://[^/]+", "", link) for link in links]
    # Planned: the slips' forms are not taken yet.
    live = client.get("/distribution/t2026/sessions/jm1/live").json
    assert live["state"] == "planned" and live["expected"] == 5 and live["returned"] == 0
    assert 'name="a_' not in client.get(paths[0]).get_data(as_text=True)
    assert client.post("/distribution/t2026/sessions/jm1/open").status_code == 302
    for k, path in enumerate(paths[:4]):
        html = client.get(path).get_data(as_text=True)
        assert not any(name in html for name in names)  # only the session's units
        options = radio_options(html)
        fields = form_fields(html)
        for j, (name, values) in enumerate(sorted(options.items())):
            fields[name] = values[(k + j) % 3]
        assert client.post(path, data=fields).status_code == 200
        assert client.get("/distribution/t2026/sessions/jm1/live").json["returned"] == k + 1
    assert client.get("/distribution/t2026/sessions/jm1/live").json["tally"] is None  # not before closing
    closing = client.post("/distribution/t2026/sessions/jm1/close")
    assert closing.status_code == 200 and "confirmed" in closing.get_data(as_text=True)  # asks first
    assert client.post("/distribution/t2026/sessions/jm1/close", data={"confirmed": "1"}).status_code == 302
    live = client.get("/distribution/t2026/sessions/jm1/live").json
    assert live["state"] == "closed" and live["returned"] == 4
    # A slip not used before closing is refused now.
    assert 'name="a_' not in client.get(paths[4]).get_data(as_text=True)
    # The tally is analysis on the downloaded sub-bundle, figure for figure.
    bundle = json.loads(client.get("/distribution/t2026/sessions/jm1/bundle.json").get_data(as_text=True))
    assert [b["code"] for b in bundle["batches"]] == ["jm1-1", "jm1-2"] and len(bundle["ballots"]) == 4
    assert {u["code"] for u in bundle["units"]} == {"u1", "u3"}
    expected = {u["code"]: u for u in evaluate_document(bundle).to_json()["units"]}
    tally = {u["code"]: u for u in live["tally"]["units"]}
    assert set(tally) == {"u1", "u3"}
    for code, unit in tally.items():
        assert unit["n"] == expected[code]["n_valid"] > 0
        assert unit["score"] == pytest.approx(expected[code]["score_ballot"], abs=1e-12)
        assert unit["shares"] == pytest.approx(expected[code]["shares"], abs=1e-12)
    # The session's ballots count in the campaign like any other.
    with app.app_context():
        assert db.session.scalar(select(func.count(Ballot.id))) == 4
    projector = client.get("/distribution/t2026/sessions/jm1/projector").get_data(as_text=True)
    assert "projector.js" in projector and "现场结果" in projector
    # The JSON API: the session with its tally; after 截止 its breakdown in the campaign's results.
    with app.app_context():
        key = keys.issue(make_user("committee"), "test")[1]
        db.session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    listed = client.get("/api/v1/campaigns/t2026/sessions", headers=headers).json["items"]
    assert [s["code"] for s in listed] == ["jm1"]
    entry = client.get("/api/v1/campaigns/t2026/sessions/jm1", headers=headers).json
    assert entry["state"] == "closed" and [g["returned"] for g in entry["groups"]] == [3, 1]
    assert {u["code"]: u["score"] for u in entry["tally"]["units"]} == {c: u["score"] for c, u in tally.items()}
    assert entry["campaign_breakdown"] is None
    with app.app_context():
        db.session.scalar(select(Campaign)).state.close()
        db.session.commit()
    entry = client.get("/api/v1/campaigns/t2026/sessions/jm1", headers=headers).json
    for code, figures in entry["campaign_breakdown"].items():
        assert figures["n"] == tally[code]["n"]
        assert figures["score"] == pytest.approx(tally[code]["score"], abs=1e-9)
    assert client.get("/api/v1/campaigns/t2026/sessions/nope", headers=headers).status_code == 404
    page = client.get("/distribution/t2026/sessions/jm1").get_data(as_text=True)
    assert 'data-testid="session-breakdown"' in page and f"{entry['campaign_breakdown']['u1']['score']:.2f}" in page
    # In the campaign's results after 截止: the unit's page has the session's row, the same figures.
    page = client.get("/results/t2026/units/u1").get_data(as_text=True)
    table = page[page.index('data-testid="by-session"'):]
    table = table[:table.index("</table>")]
    u1 = entry["campaign_breakdown"]["u1"]
    assert entry["name"] in table and f'<td class="num">{u1["n"]}</td>' in table and f"{u1['score']:.2f}" in table


def test_session_without_announcement_shows_no_tally_and_refusals(app, client) -> None:
    with app.app_context():
        campaign, _tokens = make_campaign(invitations=0, units=2)
        chosen = [campaign.units[0].id]
    organizer(app, client)
    assert _create(client, chosen, announce=False).status_code == 302
    client.post("/distribution/t2026/sessions/jm1/open")
    client.post("/distribution/t2026/sessions/jm1/close", data={"confirmed": "1"})
    live = client.get("/distribution/t2026/sessions/jm1/live").json
    assert live["state"] == "closed" and live["tally"] is None
    # The same code twice, and no group present: refused with a reason, nothing written.
    again = _create(client, chosen)
    assert "已被使用" in client.get("/distribution/t2026/sessions").get_data(as_text=True) or again.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(FieldSession.id))) == 1
    nobody = client.post("/distribution/t2026/sessions", data={
        "code": "jm2", "name": "空场", "starts_at": "2026-12-01T09:00", "units": [str(chosen[0])]},
        follow_redirects=True)
    assert "请至少选择一个到场的评议主体" in nobody.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(FieldSession.id))) == 1
        assert sessions.session_by_code(db.session.scalar(select(Campaign)), "jm2") is None


def _on_the_spot_bundle() -> dict:
    from tests.factories import bundle

    doc = bundle(units=3, batches=[{"code": "e1", "group": "client", "channel": "email", "issued": 20},
                                   {"code": "p1", "group": "expert", "channel": "public"},
                                   {"code": "s1-1", "group": "client", "channel": "paper", "issued": 12},
                                   {"code": "s1-2", "group": "expert", "channel": "paper", "issued": 4}])
    doc["extensions"] = {
        "allow_unanswered": True,
        "batch_units": {"p1": ["u2"], "s1-1": ["u1", "u3"], "s1-2": ["u1", "u3"]},
        "batch_times": {"s1-1": {"opens_at": "2026-11-20T09:00:00+08:00", "closes_at": "2026-11-20T10:30:00+08:00"},
                        "s1-2": {"opens_at": "2026-11-20T09:00:00+08:00"}},
        "sessions": [{"code": "s1", "name": "经贸系统专场", "place": "第一会议室",
                      "starts_at": "2026-11-20T09:00:00+08:00", "announce": True, "units": ["u1", "u3"],
                      "groups": [{"batch": "s1-1", "expected": 12}, {"batch": "s1-2", "expected": 4}]}],
    }
    return doc


def test_on_the_spot_setup_round_trips_in_the_bundle(ctx) -> None:
    from survey.bundles import export_bundle, import_bundle

    doc = _on_the_spot_bundle()
    campaign = import_bundle(doc)
    db.session.commit()
    assert export_bundle(campaign)["extensions"] == doc["extensions"]
    session = sessions.session_by_code(campaign, "s1")
    assert [sb.batch.code for sb in session.batches] == ["s1-1", "s1-2"] and session.announce
    assert sessions.state_of(session) == sessions.CLOSED or sessions.state_of(session) == sessions.OPEN
    # What the form shows follows the batch's units.
    from survey.ballots import eligibility

    p1 = next(b for b in campaign.batches if b.code == "p1")
    assert [u.code for u in eligibility.units_for_batch(p1)] == ["u2"]


@pytest.mark.parametrize(("change", "path"), [
    (lambda e: e["batch_units"].update({"zz": ["u1"]}), "extensions.batch_units.zz"),
    (lambda e: e["batch_units"]["p1"].append("u9"), "extensions.batch_units.p1[1]"),
    (lambda e: e["batch_times"]["s1-2"].update({"closes_at": "2026-11-19T09:00:00+08:00"}),
     "extensions.batch_times.s1-2.closes_at"),
    (lambda e: e["sessions"][0]["groups"].append({"batch": "e1", "expected": 3}), "extensions.sessions[0].groups[2].batch"),
    (lambda e: e["sessions"][0]["units"].append("u7"), "extensions.sessions[0].units[2]"),
    (lambda e: e["sessions"][0]["groups"][0].update({"expected": 10**9}), "extensions.sessions[0].groups[0].expected"),
])
def test_on_the_spot_setup_is_checked_on_import(ctx, change, path) -> None:
    from analysis import BundleError
    from survey.bundles import import_bundle

    doc = _on_the_spot_bundle()
    change(doc["extensions"])
    with pytest.raises(BundleError) as refused:
        import_bundle(doc)
    assert path in [p.path for p in refused.value.problems]
    db.session.rollback()
    assert db.session.scalar(select(func.count(FieldSession.id))) == 0
    assert db.session.scalar(select(func.count(Campaign.id))) == 0


def test_window_poster_shows_one_unit_and_sets_its_cap(app, client) -> None:
    from tests.survey.test_public import fields

    with app.app_context():
        campaign, _tokens = make_campaign(invitations=0, units=3, items=1)
        window, other = campaign.units[1], campaign.units[0]
        window_id, window_name, other_name = window.id, window.name, other.name
        group_id = campaign.groups[1].id
    organizer(app, client)
    made = client.post("/distribution/t2026/batches", data={"group": str(group_id), "channel": "qr",
                                                              "code": "win2", "unit": str(window_id)})
    assert made.status_code == 302
    # A paper batch cannot be made for one window from this form: refused, nothing written.
    paper = client.post("/distribution/t2026/batches", data={"group": str(group_id), "channel": "paper",
                                                               "count": "3", "unit": str(window_id)})
    assert paper.status_code == 422
    with app.app_context():
        batch = db.session.scalar(select(Batch).where(Batch.code == "win2"))
        public_code = batch.public_code
        assert db.session.scalar(select(func.count(Batch.id))) == 3
    poster = client.get("/distribution/t2026/batches/win2/poster").get_data(as_text=True)
    assert window_name in poster and 'data-testid="poster-cap"' in poster
    saved = client.post("/distribution/t2026/batches/win2/cap", data={"ip_cap": "500", "back": "poster"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/batches/win2/poster")
    assert "24 小时内 500 份" in client.get("/distribution/t2026/batches/win2/poster").get_data(as_text=True)
    phone = app.test_client()
    form = phone.get(f"/q/{public_code}", follow_redirects=True)
    html = form.get_data(as_text=True)
    assert window_name in html and other_name not in html
    data = {**fields(html), "action": "submit"}
    assert {k.split("_")[1] for k in data if k.startswith("a_")} == {str(window_id)}
    assert phone.post(form.request.path, data=data).status_code == 200
    with app.app_context():
        assert set(db.session.scalars(select(Answer.campaign_unit_id))) == {window_id}
        key = keys.issue(make_user("auditor"), "test")[1]
        db.session.commit()
    posters = client.get("/api/v1/campaigns/t2026/posters", headers={"Authorization": f"Bearer {key}"}).json
    assert [(p["batch"], p["units"], p["ip_cap"], p["returned"]) for p in posters["items"]] == \
        [("win2", ["u2"], 500, 1)]


def test_planted_markup_in_a_session_is_shown_as_text(app, client) -> None:
    from tests.survey.test_planted_markup import MARKUP, RAW

    with app.app_context():
        campaign, _tokens = make_campaign(invitations=0, units=2)
        chosen = [campaign.units[0].id]
    organizer(app, client)
    starts = (utcnow() + dt.timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M")
    made = client.post("/distribution/t2026/sessions", data={
        "code": "x1", "name": MARKUP, "place": MARKUP, "starts_at": starts, "units": [str(chosen[0])],
        "expected-0": "2", "announce": "y"})
    assert made.status_code == 302
    for path in ("", "/x1", "/x1/slips", "/x1/projector"):
        html = client.get(f"/distribution/t2026/sessions{path}").get_data(as_text=True)
        assert "&lt;script&gt;" in html and not any(raw in html for raw in RAW), path
