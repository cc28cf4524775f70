"""What the results pages keep (parsed snapshots per process; ranking tables
and chart bytes per process and beside the snapshot in the database): reused
while what they show is unchanged, by this process and by any other, never
shown once the snapshot is recomputed or an override changes a class."""
from __future__ import annotations

import datetime as dt
import io
import time
from collections import Counter

import numpy as np
from flask import template_rendered
from matplotlib.figure import Figure
from PIL import Image
from sqlalchemy import func, select

from survey import caches, charts, jobs
from survey.campaigns import setup
from survey.extensions import db
from survey.models import Campaign, Job, ResultArtifact, ResultSnapshot
from survey.results import artifacts, exports, inputs, queries, snapshots
from survey.results.queries import unit_result
from tests.factories import login, make_user
from tests.survey.test_results_support import make_committee_campaign


def _veto_u1(campaign: Campaign) -> None:
    """A veto makes u1 不满意: the results change, so the snapshot is recomputed."""
    inputs.add_veto(campaign, queries.campaign_unit(campaign, "u1"), "发生重大安全责任事故",
                      "市安委办〔2026〕12号")


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _red_pixels(png: bytes) -> int:
    """Pixels in the colour of 不满意 (charts.CLASS_COLOURS)."""
    red = np.array([0xB3, 0x26, 0x1E])
    return int((np.abs(_pixels(png).astype(int) - red).sum(axis=2) < 10).sum())


def _count_draws(monkeypatch) -> list[str]:
    drawn: list[str] = []
    real = charts.render

    def counting(fig, fmt):
        drawn.append(fmt)
        return real(fig, fmt)

    monkeypatch.setattr(charts, "render", counting)
    return drawn


def _count_saves(monkeypatch) -> list[str]:
    """Every figure saved in any format, whoever draws it (``charts.render`` or not)."""
    saved: list[str] = []
    real = Figure.savefig

    def counting(fig, *args, **kwargs):
        saved.append(str(kwargs.get("format")))
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", counting)
    return saved


def test_a_chart_is_drawn_once_and_redrawn_after_a_recomputation(client, ctx, monkeypatch):
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    caches.clear_all()
    drawn = _count_draws(monkeypatch)
    url = f"/results/{campaign.code}/charts/ranking-law.png"
    first = client.get(url).data
    assert client.get(url).data == first and drawn == ["png"]  # the second request reuses the bytes
    assert client.get(url.replace(".png", ".svg")).status_code == 200 and drawn == ["png", "svg"]
    before_sha = snapshots.current_snapshot(campaign).results_sha256

    # A new snapshot, so a new chart (its u1 bar turns red).
    _veto_u1(campaign)
    db.session.commit()
    after = client.get(url).data
    assert snapshots.current_snapshot(db.session.get(Campaign, campaign.id)).results_sha256 != before_sha
    assert drawn == ["png", "svg", "png"] and after != first
    # What is served is what drawing the new results gives.
    fresh = db.session.get(Campaign, campaign.id)
    drawn_now = charts.render(exports.chart(fresh, snapshots.results_for(fresh), "ranking-law"), "png")
    assert _pixels(drawn_now).tolist() == _pixels(after).tolist()
    assert _red_pixels(after) > _red_pixels(first)


def test_an_override_redraws_the_ranking_chart_and_table(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    url = f"/results/{campaign.code}/charts/ranking-law.svg"
    page = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    chart = client.get(url).data
    assert 'data-testid="override-u1"' not in page
    r = client.post(f"/results/{campaign.code}/override",
                    data={"unit": "u1", "new_class": "basically_satisfied", "reason": "群众反映问题核实"})
    assert r.status_code == 302
    page = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    assert 'data-testid="override-u1"' in page and "群众反映问题核实" in page
    assert client.get(url).data != chart  # the bar takes the overridden class's colour


def test_pages_show_the_recomputed_snapshot(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    ranking = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    unit = client.get(f"/results/{campaign.code}/units/u1").get_data(as_text=True)
    assert 'class="badge veto"' not in ranking and 'data-class="satisfied"' in unit
    old = unit_result(snapshots.results_for(campaign), "u1")
    _veto_u1(campaign)
    db.session.commit()
    new = unit_result(snapshots.results_for(db.session.get(Campaign, campaign.id)), "u1")
    assert (old["class"], new["class"]) == ("satisfied", "dissatisfied")
    ranking = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    row = ranking[ranking.index('<tr data-unit="u1">'):]
    row = row[:row.index("</tr>")]
    assert 'data-class="dissatisfied"' in row and "一票否决" in row
    unit = client.get(f"/results/{campaign.code}/units/u1").get_data(as_text=True)
    assert 'data-class="dissatisfied"' in unit


def test_parsed_results_follow_the_snapshot_hash(ctx):
    campaign = make_committee_campaign()
    snap = snapshots.current_snapshot(campaign)
    db.session.commit()
    first, first_sha = snapshots.parsed(snap), snap.results_sha256
    assert snapshots.parsed(snap) is first  # parsed once
    _veto_u1(campaign)
    db.session.commit()
    fresh = snapshots.current_snapshot(db.session.get(Campaign, campaign.id))
    assert fresh.results_sha256 != first_sha and snapshots.parsed(fresh) is not first
    assert unit_result(snapshots.parsed(fresh), "u1")["class"] == "dissatisfied"
    assert unit_result(first, "u1")["class"] == "satisfied"  # the old document was not touched


def _artifacts(campaign: Campaign) -> list[ResultArtifact]:
    return list(db.session.scalars(select(ResultArtifact).where(ResultArtifact.campaign_id == campaign.id)))


def test_a_chart_drawn_in_one_process_is_served_by_another_without_drawing(client, ctx, monkeypatch):
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    drawn = _count_draws(monkeypatch)
    url = f"/results/{campaign.code}/charts/shares-law.png"
    first = client.get(url).data
    assert drawn == ["png"]
    kept = [a for a in _artifacts(campaign) if a.media_type == "image/png"]
    sha = snapshots.current_snapshot(campaign).results_sha256
    assert [(a.body, a.results_sha256) for a in kept] == [(first, sha)]
    caches.clear_all()  # as in another process: nothing in memory
    assert client.get(url).data == first and drawn == ["png"]


def _templates_rendered(app) -> list[str]:
    names: list[str] = []
    template_rendered.connect(lambda sender, template, context, **kw: names.append(template.name), app, weak=False)
    return names


def test_results_tables_are_kept_beside_the_snapshot(app, client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    pages = [f"/results/{campaign.code}", f"/results/{campaign.code}/units/u2", f"/results/{campaign.code}/quality"]
    first = [client.get(p).get_data(as_text=True) for p in pages]
    rendered = _templates_rendered(app)
    caches.clear_all()  # another process: reads the kept tables, renders only the pages around them
    again = [client.get(p).get_data(as_text=True) for p in pages]
    assert again == first
    assert rendered == ["results/campaign.html", "results/unit.html", "results/quality.html"]
    assert 'data-testid="ballot-counts"' in first[0] and 'data-testid="excluded"' in first[2]
    assert {a.media_type for a in _artifacts(campaign)} == {"text/html"}


def test_the_charts_and_tables_of_a_new_snapshot_are_drawn_by_a_job(app, client, ctx, monkeypatch):
    last_year = make_committee_campaign("t2025")  # the same units: their pages show a history chart
    snapshots.current_snapshot(last_year)
    db.session.execute(Job.__table__.delete())
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    snap = snapshots.current_snapshot(campaign)
    db.session.commit()
    queued = db.session.scalars(select(Job).where(Job.kind == "draw_results")).all()
    assert [j.params for j in queued] == [{"campaign_id": campaign.id, "results_sha256": snap.results_sha256}]
    assert jobs.run_pending() == 1
    names = exports.chart_names(campaign, snapshots.parsed(snap))
    assert sorted(names) == ["history-u1", "history-u2", "history-u3", "ranking-law", "ranking-svc", "returns",
                             "shares-law", "shares-svc"]
    kinds = Counter(a.media_type for a in _artifacts(campaign))
    # Every chart in both formats and as the report's SVG (its words as text); the ranking
    # tables, the unit select, the quality panel and excluded list, each unit's result.
    assert kinds == {"image/svg+xml": 2 * len(names), "image/png": len(names), "text/html": 4 + 3}
    job = db.session.get(Job, queued[0].id, populate_existing=True)
    assert (job.state, job.done, job.total) == ("done", len(names) + 1, len(names) + 1)
    caches.clear_all()
    drawn = _count_draws(monkeypatch)
    saved = _count_saves(monkeypatch)
    rendered = _templates_rendered(app)
    for name in names:
        for fmt in ("svg", "png"):
            assert client.get(f"/results/{campaign.code}/charts/{name}.{fmt}").status_code == 200
    for page in ("", "/units/u1", "/units/u2", "/units/u3", "/quality", "/report.pdf"):
        assert client.get(f"/results/{campaign.code}{page}").status_code == 200
    assert drawn == [] and saved == []  # every one was kept by the job, the report's charts too
    assert not [name for name in rendered if name.startswith("results/_")]  # so was every table
    assert len(_artifacts(campaign)) == 3 * len(names) + 7  # and none was added


def test_a_recomputation_prunes_what_was_drawn_from_the_old_results(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    client.get(f"/results/{campaign.code}")
    client.get(f"/results/{campaign.code}/charts/ranking-law.svg")
    old_sha = snapshots.current_snapshot(campaign).results_sha256
    assert {a.results_sha256 for a in _artifacts(campaign)} == {old_sha}
    _veto_u1(campaign)
    db.session.commit()
    new_sha = snapshots.current_snapshot(db.session.get(Campaign, campaign.id)).results_sha256
    db.session.commit()
    assert new_sha != old_sha and _artifacts(campaign) == []
    # A job queued for the old results finds them gone and draws nothing.
    assert db.session.scalar(select(func.count(Job.id)).where(Job.kind == "draw_results")) == 2
    db.session.execute(Job.__table__.delete().where(Job.params["results_sha256"].as_string() == new_sha))
    db.session.commit()
    assert jobs.run_pending() == 1 and _artifacts(campaign) == []


def test_a_queued_job_starts_when_its_transaction_commits(app, ctx):
    app.config["PINGYI_JOBS_THREAD"] = True
    campaign = make_committee_campaign()
    snapshots.current_snapshot(campaign)
    db.session.commit()  # kicks the worker thread: no kick() call here
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        db.session.rollback()
        if db.session.scalar(select(Job.state).where(Job.kind == "draw_results")) == "done":
            break
        time.sleep(0.05)
    job = db.session.execute(select(Job.state, Job.done, Job.error_text).where(Job.kind == "draw_results")).one()
    assert tuple(job) == ("done", 6, None)  # no history charts: a first year
    assert len(_artifacts(campaign)) == 3 * 5 + 7  # 5 charts in 3 formats (exports.KEPT_TYPES), 7 tables



def test_an_open_campaign_draws_only_what_is_viewed(client, ctx):
    campaign = make_committee_campaign(status="open")
    queries.settings_for(campaign).interim_results = True  # results shown while open (中间结果)
    db.session.commit()
    make_user("committee")
    login(client, "committee")
    assert client.get(f"/results/{campaign.code}").status_code == 200
    assert db.session.scalar(select(func.count(Job.id))) == 0  # no job drawing every chart
    kinds = Counter(a.media_type for a in _artifacts(campaign))
    assert kinds == {"text/html": 2}  # the ranking tables and the unit select it showed
    assert client.get(f"/results/{campaign.code}/charts/ranking-law.svg").status_code == 200
    assert Counter(a.media_type for a in _artifacts(campaign))["image/svg+xml"] == 1


def test_closing_a_campaign_draws_the_results_computed_while_it_was_open(client, ctx):
    campaign = make_committee_campaign(status="open")
    queries.settings_for(campaign).interim_results = True  # results shown while open (中间结果)
    db.session.commit()
    make_user("committee")
    login(client, "committee")
    client.get(f"/results/{campaign.code}")  # computed while open: no drawing job
    assert db.session.scalar(select(func.count(Job.id))) == 0
    setup.change_status(db.session.get(Campaign, campaign.id), "closed")
    db.session.commit()
    snap = snapshots.current_snapshot(db.session.get(Campaign, campaign.id))  # still current: not recomputed
    jobs_queued = db.session.scalars(select(Job).where(Job.kind == "draw_results")).all()
    assert [j.params["results_sha256"] for j in jobs_queued] == [snap.results_sha256]
    assert jobs.run_pending() == 1
    assert Counter(a.media_type for a in _artifacts(campaign))["image/png"] == 5


def test_a_deploy_that_changes_the_drawing_draws_again(client, ctx, monkeypatch):
    """Keys include a digest of the templates, drawing code and translations:
    what was kept before a change of them is not shown after it."""
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    url = f"/results/{campaign.code}/charts/ranking-law.svg"
    client.get(url)
    drawn = _count_draws(monkeypatch)
    caches.clear_all()
    client.get(url)
    assert drawn == []
    monkeypatch.setattr(artifacts, "drawing_version", lambda: "another release")
    client.get(url)
    assert drawn == ["svg"]


def test_edits_that_keep_the_fingerprint_still_recompute(ctx):
    """Moving weight between two groups keeps their count and sum; changing an
    item's weight or an objective score in place is not counted at all: the
    cached results go all the same."""
    campaign = make_committee_campaign()
    client_group, expert_group = sorted(campaign.groups, key=lambda g: g.group.code)
    client_group.weight, expert_group.weight = 0.8, 0.2
    db.session.commit()
    first = snapshots.current_snapshot(campaign).results_sha256
    db.session.commit()
    client_group.weight, expert_group.weight = 0.2, 0.8
    db.session.commit()
    second = snapshots.current_snapshot(db.session.get(Campaign, campaign.id)).results_sha256
    db.session.commit()
    assert second != first
    bundle_before = snapshots.current_snapshot(db.session.get(Campaign, campaign.id)).bundle_sha256
    db.session.get(Campaign, campaign.id).items[0].weight = 3.0
    db.session.commit()
    assert db.session.scalar(select(func.count(ResultSnapshot.id))) == 0  # the cache went with the edit
    assert snapshots.current_snapshot(db.session.get(Campaign, campaign.id)).bundle_sha256 != bundle_before


def test_two_first_views_at_once_store_one_cache(ctx, monkeypatch):
    """Both find no cached results and compute them; the second to store finds
    the first's row (one per campaign) and uses it instead of failing."""
    campaign = make_committee_campaign()
    campaign_id = campaign.id
    real = snapshots.compute

    def meanwhile(c, *args):
        out = real(c, *args)
        with db.engine.begin() as other:  # the other request, on its own connection, stores first
            other.execute(ResultSnapshot.__table__.insert().values(
                campaign_id=campaign_id, kind="cache", fingerprint="x", bundle_sha256="x", results_json="{}",
                results_sha256="x", created_at=dt.datetime(2026, 11, 30)))
        return out

    monkeypatch.setattr(snapshots, "compute", meanwhile)
    snap = snapshots.current_snapshot(campaign)
    db.session.commit()
    rows = db.session.scalars(select(ResultSnapshot)).all()
    assert rows == [snap] and snap.results_sha256 == snapshots.sha256(snap.results_json) != "x"
