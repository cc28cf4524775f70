"""平时考核 rounds (docs/rounds.md): their lifecycle, publishing, and the 平时
component reaching the annual campaign's composite through the bundle, with
figures checked by hand."""
from __future__ import annotations

import copy
import datetime as dt
import io
import json
import subprocess
import sys
from typing import Any

import pytest

from analysis import BundleError
from survey.bundles import export_bundle, import_bundle
from survey.errors import Conflict, UserError
from survey.extensions import db
from survey.models.lifecycle import Status
from survey.results.inputs import check_enterable
from survey.rounds import services as rounds
from tests.factories import bundle, login, make_user

pytestmark = pytest.mark.db

START = dt.datetime(2027, 3, 1, 9, 0)


def _ballots(answers: dict[str, str], n: int = 10) -> list[dict[str, Any]]:
    """n ballots of batch e1 (服务对象), each giving unit → option on item i0."""
    return [{"id": f"b{k}", "batch": "e1", "duration_s": 240,
             "submitted_at": (START + dt.timedelta(minutes=7 * k)).isoformat() + "+08:00",
             "answers": {u: {"i0": o} for u, o in answers.items()}} for k in range(n)]


def _round(code: str, day: str, answers: dict[str, str]) -> Any:
    return import_bundle(bundle(code, units=2, ballots=_ballots(answers), extensions={"round": {"date": day}}),
                         status="closed")


def _annual() -> Any:
    annual = import_bundle(bundle("y2027", units=2, ballots=_ballots({"u1": "S", "u2": "B"}),
                                  rules={"ballot_share": 0.6, "objective_components": {"pingshi": 0.4}},
                                  extensions={"period": {"start": "2027-01-01", "end": "2027-12-31"}}),
                           status="open")
    rounds.set_component(annual, "pingshi", "平时考核")
    return annual


def test_rollup_reaches_the_composite_through_the_bundle(ctx, tmp_path) -> None:
    annual = _annual()
    # Round 1: u1 all 满意 (100); u2 all 不了解: no composite, left out of the mean.
    assert rounds.publish(_round("r1", "2027-03-31", {"u1": "S", "u2": "U"}), None) is annual
    # Round 2: u1 all 基本满意 (70); u2 again none.
    assert rounds.publish(_round("r2", "2027-04-30", {"u1": "B", "u2": "U"}), None) is annual
    # Round 3 is outside the annual period (2026): it counts for no campaign.
    assert rounds.publish(_round("r0", "2026-12-31", {"u1": "D", "u2": "D"}), None) is None
    db.session.commit()

    doc = export_bundle(annual)
    pingshi = [s for s in doc["objective_scores"] if s["component"] == "pingshi"]
    assert pingshi == [{"unit": "u1", "component": "pingshi", "score": 85}]  # (100 + 70) / 2; u2: missing
    path = tmp_path / "y2027.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "analysis", "evaluate", str(path)], capture_output=True, check=True)
    results = json.loads(run.stdout)
    units = {u["code"]: u for u in results["units"]}
    # C(u1) = 0.6 · 100 + 0.4 · 85 = 94; C(u2) = its ballot score alone (0.6 · 70 / 0.6) = 70.
    assert units["u1"]["score"] == pytest.approx(94.0)
    assert units["u2"]["score"] == pytest.approx(70.0)
    assert {"code": "objective_missing", "unit": "u2", "component": "pingshi"} in [
        {k: w.get(k) for k in ("code", "unit", "component")} for w in results["warnings"]]


def test_export_import_export_gives_the_same_document(ctx) -> None:
    annual = _annual()
    rounds.publish(_round("r1", "2027-03-31", {"u1": "S", "u2": "U"}), None)
    first = export_bundle(annual)
    assert first["extensions"]["rounds"]["scores"] == [
        {"round": "r1", "name": "r1 测试评议", "date": "2027-03-31", "unit": "u1", "composite": 100},
        {"round": "r1", "name": "r1 测试评议", "date": "2027-03-31", "unit": "u2", "composite": None}]
    again = copy.deepcopy(first)
    again["campaign"]["code"] = "y2027b"
    assert export_bundle(import_bundle(copy.deepcopy(again), status="open")) == again
    round_doc = export_bundle(rounds.rounds()[0])
    assert round_doc["extensions"]["round"] == {"date": "2027-03-31"}


def test_a_bundle_whose_pingshi_differs_from_its_rounds_is_refused(ctx) -> None:
    annual = _annual()
    rounds.publish(_round("r1", "2027-03-31", {"u1": "S", "u2": "U"}), None)
    doc = export_bundle(annual)
    doc["campaign"]["code"] = "y2027c"
    next(s for s in doc["objective_scores"] if s["component"] == "pingshi")["score"] = 99
    with pytest.raises(BundleError) as refused:
        import_bundle(doc)
    assert any(p.path.startswith("objective_scores[") for p in refused.value.problems)


def test_pingshi_is_derived_nobody_enters_it(ctx) -> None:
    annual = _annual()
    with pytest.raises(UserError, match="平时考核"):
        check_enterable(annual, "pingshi", None)
    check_enterable(annual, "work", None)  # another component may be entered


def test_round_lifecycle_is_the_organizers(ctx) -> None:
    r = import_bundle(bundle("r1", units=2, extensions={"round": {"date": "2027-03-31"}}), status="open")
    assert r.state.is_round
    with pytest.raises(Conflict):
        rounds.publish(r, None)  # still open
    r.state.close()
    assert not r.state.can(Status.FINALIZED)  # no committee 定稿 for a round
    assert r.state.can(Status.OPEN) and r.state.can(Status.PUBLISHED)
    rounds.publish(r, None)
    assert r.state.is_published and r.state.is_frozen
    annual = import_bundle(bundle("y1", units=2), status="closed")
    assert not annual.state.can(Status.PUBLISHED)  # an annual campaign is finalized first
    with pytest.raises(Conflict):
        annual.state.publish_round()


# --- the organizer's pages ------------------------------------------------------------------


def _organizer(client: Any) -> None:
    make_user("organizer", username="org")
    db.session.commit()
    login(client, "org")


def test_organizer_creates_a_round_with_the_new_campaign_form(app, client) -> None:
    with app.app_context():
        _organizer(client)
    page = client.get("/campaigns/new?kind=round")
    assert page.status_code == 200 and "新建平时考核轮次" in page.get_data(as_text=True)
    form = {"kind": "round", "code": "w01", "name": "第1周窗口服务", "year": "2027", "return_target": "90",
            "copy_from": ""}
    refused = client.post("/campaigns/new", data=form)
    assert refused.status_code == 400 and "须填写考核日期" in refused.get_data(as_text=True)
    answer = client.post("/campaigns/new", data={**form, "held_on": "2027-03-05"})
    assert answer.status_code == 302
    with app.app_context():
        r = rounds.rounds()[0]
        assert (r.code, r.held_on, r.state.is_round) == ("w01", dt.date(2027, 3, 5), True)
    listing = client.get("/").get_data(as_text=True)
    assert 'data-testid="round-list"' in listing and "第1周窗口服务" in listing


def test_ranking_page_xlsx_and_publish(app, client) -> None:
    with app.app_context():
        _organizer(client)
        _annual()
        _round("r1", "2027-03-31", {"u1": "S", "u2": "B"})
        db.session.commit()
    page = client.get("/rounds/r1")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "排名尚未发布" in text and "100.00" in text and "70.00" in text
    xlsx = client.get("/rounds/r1/ranking.xlsx")
    assert xlsx.status_code == 200
    from openpyxl import load_workbook

    rows = list(load_workbook(io.BytesIO(xlsx.data)).active.iter_rows(values_only=True))
    assert ("行政执法类", 1, "u1", "市第1局", 100, 10) in rows
    answer = client.post("/rounds/r1/publish", follow_redirects=True)
    assert "已计入" in answer.get_data(as_text=True)
    rollup = client.get("/campaigns/y2027/pingshi").get_data(as_text=True)
    assert 'data-unit="u1"' in rollup and "100.00" in rollup
    again = client.post("/rounds/r1/publish", follow_redirects=True)
    assert "只有已截止的平时考核轮次才能发布排名" in again.get_data(as_text=True)
    # Published: the ranking is online for everyone, names and composites only.
    assert 'data-testid="public-link"' in client.get("/rounds/r1").get_data(as_text=True)
    client.post("/logout")
    public = client.get("/gongshi/rounds/r1")
    text = public.get_data(as_text=True)
    assert public.status_code == 200 and 'data-unit="u1"' in text and "100.00" in text and "70.00" in text
    assert "有效票数" not in text and "发布排名" not in text


def test_a_round_not_published_has_no_public_page(app, client) -> None:
    with app.app_context():
        _round("r1", "2027-03-31", {"u1": "S"})
        db.session.commit()
    assert client.get("/gongshi/rounds/r1").status_code == 404
    assert client.get("/gongshi/rounds/nothing").status_code == 404


def test_committee_cannot_publish_a_round(app, client) -> None:
    with app.app_context():
        make_user("committee", username="com")
        _round("r1", "2027-03-31", {"u1": "S"})
        db.session.commit()
    login(client, "com")
    assert client.post("/rounds/r1/publish").status_code == 403
    # Its results page says who publishes it and offers no sign-off; approving it is refused.
    page = client.get("/results/r1").get_data(as_text=True)
    assert 'data-testid="round-no-signoff"' in page and "审定结果" not in page and "/rounds/r1" in page
    refused = client.post("/results/r1/approve", follow_redirects=True).get_data(as_text=True)
    assert "平时考核轮次不能这样操作" in refused
    with app.app_context():
        from survey.models import Approval
        assert db.session.query(Approval).count() == 0


# --- rounds are left out of the annual queries ---------------------------------------------


def test_rounds_are_left_out_of_annual_queries(ctx) -> None:
    from survey.campaigns import setup
    from survey.results import history

    annual = import_bundle(bundle("y2026", units=2, ballots=_ballots({"u1": "S", "u2": "B"})), status="closed")
    annual.year = 2026
    r = _round("r1", "2027-03-31", {"u1": "S", "u2": "U"})
    r.year = 2027
    rounds.publish(r, None)
    db.session.flush()
    assert setup.previous_campaign(2028) is annual  # the round is newer, but not last year's campaign
    assert setup.copy_sources()[1] is annual and setup.copy_sources(round_=True)[1] is r
    assert [p["campaign"] for p in history.history("u1")] == ["y2026 测试评议"]
    assert history.years_rated("u1") == 1


def test_copying_an_annual_campaign_keeps_its_pingshi_component_not_its_rounds(ctx) -> None:
    from survey.campaigns import setup

    annual = _annual()
    rounds.publish(_round("r1", "2027-03-31", {"u1": "S", "u2": "U"}), None)
    copy_ = setup.copy_campaign(annual, code="y2028", name="2028 年度评议", year=2028)
    assert rounds.rollup_code(copy_) == "pingshi" and rounds.scores_of(copy_) == []
    assert not copy_.state.is_round
    with pytest.raises(UserError, match="平时考核"):
        check_enterable(copy_, "pingshi", None)


def test_escalation_looks_back_at_annual_campaigns_only(ctx) -> None:
    from survey.results import escalation
    from tests.api.apikit import finalize

    import_bundle(bundle("y2026", units=2, ballots=_ballots({"u1": "S", "u2": "B"})), status="closed").year = 2026
    make_user("committee")
    finalize("y2026")
    r = _round("r26", "2026-11-30", {"u1": "D", "u2": "D"})
    r.year = 2026  # a later campaign of the same year, published: frozen too
    rounds.publish(r, None)
    now = import_bundle(bundle("y2027", units=2), status="closed")
    now.year = 2027
    db.session.flush()
    before = escalation._years_before(now, "u1", 2)
    assert [result["score"] for result, _overrides in before] == [100.0]  # the annual y2026, not the round


def test_a_planted_round_name_renders_escaped(app, client) -> None:
    markup = "<script>alert(1)</script>第1周"
    with app.app_context():
        _organizer(client)
        _annual()
        r = _round("r1", "2027-03-31", {"u1": "S", "u2": "B"})
        r.name = markup
        rounds.publish(r, None)
        db.session.commit()
    for path in ("/rounds", "/rounds/r1", "/campaigns/y2027/pingshi", "/"):
        text = client.get(path).get_data(as_text=True)
        assert markup not in text and "&lt;script&gt;alert(1)&lt;/script&gt;第1周" in text, path


def test_a_decided_appeal_follows_into_later_annual_campaigns_only(ctx, monkeypatch) -> None:
    from survey.results import carrying, snapshots

    annual = import_bundle(bundle("y2026", units=2, ballots=_ballots({"u1": "S", "u2": "B"})), status="closed")
    annual.year = 2026
    r = _round("r1", "2027-03-31", {"u1": "S", "u2": "U"})
    r.year = 2027
    rounds.publish(r, None)  # published: frozen, a year later
    db.session.flush()
    read: list[str] = []
    real = snapshots.results_for
    monkeypatch.setattr(snapshots, "results_for", lambda c: read.append(c.code) or real(c))
    carrying.follow_appeal_in_later_years(annual, "u1", dt.date(2027, 6, 1), "申诉改判")
    assert read == []  # the round is no later annual campaign: its results are never read
