"""The return-rate board: its figures agree with analysis (SCORING.md's valid ballots),
units count the ballots that rated them, under-target rows are marked, the JSON API and
the chart, who has not answered (never names in an anonymous campaign), and the role checks."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import event

from analysis import evaluate_document
from survey import caches
from survey.bundles import export_bundle, import_bundle
from survey.campaigns import board
from survey.campaigns.setup import set_rated_units
from survey.extensions import db
from tests.factories import bundle, login, make_campaign, make_user


def ballots() -> list[dict]:
    """e1 (email, 20 issued, client): 4 ballots, one blank; p1 (public, expert): 5, two
    of them duplicates of an earlier one (same source, same answers, within 600 s)."""
    out = []
    for k in range(3):
        out.append({"id": f"e{k}", "batch": "e1", "submitted_at": f"2026-11-0{k + 1}T09:00:00+08:00",
                    "answers": {"u1": {"i0": "S"}, "u2": {"i0": "B"}, "u3": {"i0": "S"}}})
    out.append({"id": "e9", "batch": "e1", "submitted_at": "2026-11-03T10:00:00+08:00",
                "answers": {"u1": {"i0": "U"}, "u2": {"i0": "U"}}})  # blank: nothing scored
    same = {"u1": {"i0": "D"}, "u2": {"i0": "D"}}
    for k in range(3):
        out.append({"id": f"p{k}", "batch": "p1", "submitted_at": f"2026-11-02T12:0{k}:00+08:00",
                    "source": "203.0.113.7", "answers": same})
    out.append({"id": "p7", "batch": "p1", "submitted_at": "2026-11-02T12:00:00+08:00", "source": "198.51.100.1",
                "answers": {"u3": {"i0": "B"}}})
    out.append({"id": "p8", "batch": "p1", "submitted_at": "2026-11-04T12:00:00+08:00",
                "answers": {"u1": {"i0": "S"}, "u3": {"i0": "U"}}})
    return out


@pytest.fixture
def rctx(app):
    with app.test_request_context():
        yield


def load(rules: dict | None = None, anonymous: bool = True, status: str = "open"):
    doc = bundle(ballots=ballots(), anonymous=anonymous,
                 rules={"bootstrap": {"replicates": 20}, **(rules or {})})
    campaign = import_bundle(doc, status=status)
    db.session.commit()
    return campaign


@pytest.mark.parametrize("rules", [{}, {"exclude_flags": ["duplicate", "straight_line"]}, {"exclude_flags": []}])
def test_board_agrees_with_analysis(app, rctx, rules) -> None:
    campaign = load(rules)
    b = board.return_board(campaign)
    results = evaluate_document(export_bundle(campaign)).to_json()
    assert [(r.code, r.issued, r.returned, r.valid) for r in b.batches] == [
        (r["code"], r["issued"], r["returned"], r["valid"]) for r in results["batches"]]
    assert [(r.code, r.issued, r.returned, r.valid, r.rate) for r in b.groups] == [
        (r["code"], r["issued"], r["returned"], r["valid"], r["return_rate"]) for r in results["groups"]]
    assert [(r.code, r.valid) for r in b.units] == [(u["code"], u["n_valid"]) for u in results["units"]]
    assert b.total.valid == results["ballots"]["valid"] and b.blank == results["ballots"]["blank"]
    assert b.excluded == results["ballots"]["excluded"]


def test_the_figures_themselves(app, rctx) -> None:
    campaign = load()
    b = board.return_board(campaign)
    e1, p1 = b.batches
    # e1: 4 returned of 20 (20%), one blank; p1: open, 5 returned, 2 duplicates excluded.
    assert (e1.issued, e1.returned, e1.valid, e1.rate, e1.below_target) == (20, 4, 3, 0.2, True)
    assert (p1.issued, p1.returned, p1.valid, p1.rate, p1.below_target) == (None, 5, 3, None, False)
    assert (b.total.issued, b.total.returned, b.total.valid) == (None, 9, 6)
    # A unit's returns are the ballots that rated it (不了解 included); valid ones scored it.
    u1, u2, u3 = b.units
    assert (u1.returned, u1.valid) == (8, 5)   # e0-e2, e9 (U), p0-p2 (two excluded), p8
    assert (u3.returned, u3.valid) == (5, 4)   # e0-e2, p7, p8 (U: not scored)
    assert u2.issued is None  # the public batch's group rates it: no count of forms


def test_units_issued_follow_the_groups_that_rate_them(app, rctx) -> None:
    campaign = load(status="draft")
    client_group, expert_group = campaign.groups
    set_rated_units(campaign, expert_group, {campaign.units[2].id})
    db.session.commit()
    units = board.return_board(campaign).units
    # u1 and u2 are rated only by the client group (20 issued); u3 also by the open batch's group.
    assert [u.issued for u in units] == [20, 20, None]


def test_board_query_count_does_not_grow_with_ballots(app, rctx) -> None:
    campaign = load()
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def run() -> int:
        statements.clear()
        caches.clear_all()  # count from scratch, the costliest case
        db.session.expire_all()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            board.return_board(db.session.get(type(campaign), campaign.id))
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    small = run()
    more = {"id": "x", "batch": "e1", "submitted_at": "2026-11-05T09:00:00+08:00", "answers": {"u1": {"i0": "S"}}}
    from survey.bundles import _insert_ballots

    db.session.expire_all()
    campaign = db.session.get(type(campaign), campaign.id)
    _insert_ballots(campaign, [{**more, "id": f"x{k}"} for k in range(15)],
                    {b.code: b for b in campaign.batches}, {u.code: u for u in campaign.units})
    db.session.commit()
    assert run() == small


def _add_ballots(campaign, ballots: list[dict]) -> None:
    from survey.bundles import _insert_ballots

    _insert_ballots(campaign, ballots, {b.code: b for b in campaign.batches}, {u.code: u for u in campaign.units})
    db.session.commit()


def _figures(b: board.ReturnBoard) -> list[tuple]:
    return [(r.code, r.issued, r.returned, r.valid) for r in (*b.batches, *b.groups, *b.units, b.total)] + [
        (b.blank, b.excluded)]


def test_tallies_follow_new_ballots_and_agree_with_a_fresh_count(app, rctx) -> None:
    campaign = load()
    before = board.return_board(campaign)
    # A duplicate in the public batch (excluded), a valid e-mail ballot and a blank one.
    _add_ballots(campaign, [
        {"id": "p3", "batch": "p1", "submitted_at": "2026-11-02T12:03:00+08:00", "source": "203.0.113.7",
         "answers": {"u1": {"i0": "D"}, "u2": {"i0": "D"}}},
        {"id": "e5", "batch": "e1", "submitted_at": "2026-11-05T09:00:00+08:00", "answers": {"u2": {"i0": "S"}}},
        {"id": "e6", "batch": "e1", "submitted_at": "2026-11-05T10:00:00+08:00", "answers": {"u3": {"i0": "U"}}},
    ])
    after = board.return_board(campaign)
    assert (after.total.returned, after.total.valid, after.excluded, after.blank) == (
        before.total.returned + 3, before.total.valid + 1, before.excluded + 1, before.blank + 1)
    caches.clear_all()
    assert _figures(board.return_board(campaign)) == _figures(after)
    results = evaluate_document(export_bundle(campaign)).to_json()
    assert [(r.code, r.valid) for r in after.batches] == [(r["code"], r["valid"]) for r in results["batches"]]


def test_tallies_are_recounted_when_a_ballot_disappears(app, rctx) -> None:
    from survey.models import Ballot

    campaign = load()
    board.return_board(campaign)
    first = db.session.query(Ballot).order_by(Ballot.id).first()
    db.session.delete(first)
    db.session.commit()
    assert board.return_board(campaign).total.returned == 8


def test_tallies_are_recounted_when_the_rules_change(app, rctx) -> None:
    campaign = load()
    assert board.return_board(campaign).total.valid == 6
    campaign.rules = {**campaign.rules, "exclude_flags": []}
    db.session.commit()
    assert board.return_board(campaign).total.valid == 8


def test_unanswered_invitations_and_names(app, rctx) -> None:
    campaign, tokens = make_campaign(status="open", anonymous=False, invitations=3)
    batch = campaign.batches[0]
    batch.issued = 3
    from survey.models import Invitation

    first = db.session.query(Invitation).order_by(Invitation.id).first()
    first.used = True
    db.session.commit()
    assert [i.evaluator.name for i in board.unanswered_invitations(batch)] == ["评议员1", "评议员2"]
    assert board.unanswered_names(batch) == [("评议员1", None), ("评议员2", None)]
    row = board.return_board(campaign).batches[0]
    assert (row.invitations, row.unanswered) == (3, 2)


def test_never_names_in_an_anonymous_campaign(app, rctx) -> None:
    campaign, tokens = make_campaign(status="open", anonymous=True, invitations=2)
    with pytest.raises(PermissionError):
        board.unanswered_names(campaign.batches[0])
    assert len(board.unanswered_invitations(campaign.batches[0])) == 2


def test_chart_is_a_png(app, rctx) -> None:
    png = board.returns_chart_png(load())
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


# --- pages, API and roles --------------------------------------------------------------


@pytest.fixture
def staff(app):
    with app.app_context():
        with app.test_request_context():
            load()
        for role in ("organizer", "committee", "auditor"):
            make_user(role)
        make_user("liaison", unit_code="u1")


def test_board_page_shows_and_highlights(client, staff) -> None:
    login(client, "committee")
    page = client.get("/campaigns/t2026/returns")
    assert page.status_code == 200
    text = page.text
    assert 'data-testid="batches-returned-e1">4<' in text and 'data-testid="batches-valid-p1">3<' in text
    assert 'data-testid="total-valid">6<' in text and 'data-testid="batches-rate-e1">20.0%<' in text
    assert text.count('class="under-target"') == 2  # batch e1 and group client
    assert "未达目标" in text
    chart = client.get("/campaigns/t2026/returns.png")
    assert chart.status_code == 200 and chart.mimetype == "image/png"


def test_json_api(client, staff) -> None:
    assert client.get("/api/campaigns/t2026/returns").status_code == 401
    assert client.get("/api/campaigns/t2026/returns").json["error"] == "unauthorized"
    login(client, "liaison")
    answer = client.get("/api/campaigns/t2026/returns")
    assert answer.status_code == 403 and answer.json["error"] == "forbidden"
    client.post("/logout")
    login(client, "auditor")
    doc = client.get("/api/campaigns/t2026/returns").json
    assert doc["format"] == "pingyi-returns/1" and doc["target"] == 0.9
    assert doc["total"]["returned"] == 9 and doc["total"]["valid"] == 6
    assert [(b["code"], b["rate"], b["below_target"]) for b in doc["batches"]] == [("e1", 0.2, True), ("p1", None, False)]
    assert [g["code"] for g in doc["groups"]] == ["client", "expert"] and len(doc["units"]) == 3
    assert client.get("/api/campaigns/nope/returns").status_code == 404


def test_unanswered_page_in_an_anonymous_campaign_shows_counts_only(app, client) -> None:
    with app.app_context():
        make_campaign(status="open", anonymous=True, invitations=2)
        make_user("organizer")
    login(client, "organizer")
    page = client.get("/campaigns/t2026/returns/e1/unanswered").text
    assert 'data-testid="unanswered-count">2<' in page and "评议员0" not in page and "匿名评议" in page


def test_unanswered_page_names_people_when_not_anonymous(app, client) -> None:
    with app.app_context():
        make_campaign(status="open", anonymous=False, invitations=2)
        make_user("organizer")
    login(client, "organizer")
    page = client.get("/campaigns/t2026/returns/e1/unanswered").text
    assert "评议员0" in page and "评议员1" in page


def _sized_bundle(code: str, batches: int, units: int) -> dict:
    """A campaign of `batches` batches (e-mail and public, both groups) and `units` units, a ballot in each batch."""
    doc = bundle(code, units=units, rules={"exclude_flags": ["duplicate", "straight_line"]})
    doc["batches"] = [{"code": f"b{k}", "group": ("client", "expert")[k % 2],
                       **({"channel": "email", "issued": 10} if k % 3 else {"channel": "public"})}
                      for k in range(batches)]
    doc["ballots"] = [{"id": f"{code}-{k}", "batch": f"b{k}", "submitted_at": f"2026-11-0{k % 9 + 1}T09:00:00+08:00",
                       "source": "203.0.113.7", "answers": {f"u{u + 1}": {"i0": "SBDU"[(k + u) % 4]}
                                                            for u in range(units)}}
                      for k in range(batches)]
    return doc


def test_returns_json_runs_as_many_statements_whatever_the_numbers_of_batches_and_units(
        app, client, count_queries) -> None:
    with app.app_context():
        for code, batches, units in (("q2x3", 2, 3), ("q6x3", 6, 3), ("q2x12", 2, 12)):
            import_bundle(_sized_bundle(code, batches, units), status="open")
        db.session.commit()
        make_user("auditor")
    login(client, "auditor")
    counts = {}
    for code in ("q2x3", "q6x3", "q2x12"):
        client.get(f"/api/campaigns/{code}/returns")  # the same request warmed up once
        caches.clear_all()  # the tallies counted from scratch, the costliest case
        with count_queries() as statements:
            answer = client.get(f"/api/campaigns/{code}/returns")
        assert answer.status_code == 200 and answer.json["total"]["returned"] == int(code[1])
        counts[code] = len(statements)
    assert counts["q6x3"] == counts["q2x3"] and counts["q2x12"] == counts["q2x3"], counts


# --- return rates beside open channels ----------------------------------------------------


def _mixed_bundle() -> dict:
    """client: e-mail (20 issued, 4 back) and a QR poster (3 back); expert: public only
    (5 back), with a quota of 10."""
    doc = bundle(rules={"bootstrap": {"replicates": 20}, "exclude_flags": []})
    doc["groups"][1]["quota"] = 10
    doc["batches"] = [{"code": "e1", "group": "client", "channel": "email", "issued": 20},
                      {"code": "q1", "group": "client", "channel": "qr"},
                      {"code": "p1", "group": "expert", "channel": "public"}]
    answers = {"u1": {"i0": "S"}, "u2": {"i0": "B"}}
    doc["ballots"] = [{"id": f"{b}{k}", "batch": b, "submitted_at": f"2026-11-0{k + 1}T09:00:00+08:00",
                       "source": f"198.51.100.{n}", "answers": answers}
                      for n, (b, k) in enumerate([("e1", k) for k in range(4)] + [("q1", k) for k in range(3)]
                                                 + [("p1", k) for k in range(5)])]
    return doc


def test_rates_over_the_personal_channels_beside_open_ones(app, rctx) -> None:
    campaign = import_bundle(_mixed_bundle(), status="open")
    db.session.commit()
    b = board.return_board(campaign)
    client, expert = b.groups
    # SCORING.md's rate is null as soon as an open batch is involved; the app's own is not.
    assert client.rate is None and expert.rate is None
    assert (client.personal_issued, client.personal_returned, client.open_returned) == (20, 4, 3)
    assert client.personal_return_rate == 0.2 and client.shown_rate == 0.2 and client.below_target
    # Only open channels: the quota is the target.
    assert (expert.personal_issued, expert.quota, expert.quota_rate, expert.shown_rate) == (0, 10, 0.5, 0.5)
    assert expert.personal_return_rate is None
    u1 = b.units[0]  # rated by both groups: 20 issued personally, 4 back that way, 8 through open channels
    assert (u1.personal_issued, u1.personal_returned, u1.open_returned, u1.personal_return_rate) == (20, 4, 8, 0.2)
    assert (b.total.personal_return_rate, b.total.open_returned) == (0.2, 8)
    results = evaluate_document(export_bundle(campaign)).to_json()
    assert [g["return_rate"] for g in results["groups"]] == [None, None]  # pingyi-results/1 unchanged
    rows = board.group_rows(campaign, results)
    assert (rows["client"].personal_return_rate, rows["client"].open_returned) == (0.2, 3)
    assert rows["expert"].quota_rate == 0.5


def test_the_board_overview_and_json_show_the_personal_rate(app, client) -> None:
    with app.app_context():
        import_bundle(_mixed_bundle(), status="open")
        db.session.commit()
        make_user("organizer")
    login(client, "organizer")
    page = client.get("/campaigns/t2026/returns").text
    assert 'data-testid="groups-rate-client">20.0%<' in page and 'data-testid="groups-open-client">3<' in page
    assert re.search(r'data-testid="groups-rate-expert">50\.0%<span class="muted">（对名额）', page)
    assert 'data-testid="batches-rate-q1">—<' in page and 'data-testid="batches-open-q1">3<' in page
    assert "开放/—" not in page
    overview = client.get("/campaigns/t2026").text
    assert 'data-testid="rate-client">20.0%<' in overview
    doc = client.get("/api/campaigns/t2026/returns").json
    client_group = doc["groups"][0]
    assert (client_group["rate"], client_group["personal_return_rate"], client_group["open_returned"]) == (None, 0.2, 3)
    assert (doc["groups"][1]["quota"], doc["groups"][1]["quota_rate"]) == (10, 0.5)
