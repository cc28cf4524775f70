"""The per-process caches of the results pages (parsed snapshots, ranking
tables, chart bytes): reused while what they show is unchanged, never shown
once the snapshot is recomputed or an override changes a class."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from survey import charts
from survey.extensions import db
from survey.models import Campaign
from survey.results import services
from tests.factories import login, make_user
from tests.survey.test_results_support import make_committee_campaign, unit_result


def _veto_u1(campaign: Campaign) -> None:
    """A veto makes u1 不满意: the results change, so the snapshot is recomputed."""
    services.add_veto(campaign, services.campaign_unit(campaign, "u1"), "发生重大安全责任事故",
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


def test_a_chart_is_drawn_once_and_redrawn_after_a_recomputation(client, ctx, monkeypatch):
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    charts.forget_rendered()
    drawn = _count_draws(monkeypatch)
    url = f"/results/{campaign.code}/charts/ranking-law.png"
    first = client.get(url).data
    assert client.get(url).data == first and drawn == ["png"]  # the second request reuses the bytes
    assert client.get(url.replace(".png", ".svg")).status_code == 200 and drawn == ["png", "svg"]
    before_sha = services.current_snapshot(campaign).results_sha256

    # A new snapshot, so a new chart (its u1 bar turns red).
    _veto_u1(campaign)
    db.session.commit()
    after = client.get(url).data
    assert services.current_snapshot(db.session.get(Campaign, campaign.id)).results_sha256 != before_sha
    assert drawn == ["png", "svg", "png"] and after != first
    # What is served is what drawing the new results gives.
    charts.forget_rendered()
    assert _pixels(client.get(url).data).tolist() == _pixels(after).tolist()
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
    old = unit_result(services.results_for(campaign), "u1")
    _veto_u1(campaign)
    db.session.commit()
    new = unit_result(services.results_for(db.session.get(Campaign, campaign.id)), "u1")
    assert (old["class"], new["class"]) == ("satisfied", "dissatisfied")
    ranking = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    row = ranking[ranking.index('<tr data-unit="u1">'):]
    row = row[:row.index("</tr>")]
    assert 'data-class="dissatisfied"' in row and "一票否决" in row
    unit = client.get(f"/results/{campaign.code}/units/u1").get_data(as_text=True)
    assert 'data-class="dissatisfied"' in unit


def test_parsed_results_follow_the_snapshot_hash(ctx):
    campaign = make_committee_campaign()
    snap = services.current_snapshot(campaign)
    db.session.commit()
    first, first_sha = services.parsed(snap), snap.results_sha256
    assert services.parsed(snap) is first  # parsed once
    _veto_u1(campaign)
    db.session.commit()
    fresh = services.current_snapshot(db.session.get(Campaign, campaign.id))
    assert fresh.results_sha256 != first_sha and services.parsed(fresh) is not first
    assert unit_result(services.parsed(fresh), "u1")["class"] == "dissatisfied"
    assert unit_result(first, "u1")["class"] == "satisfied"  # the old document was not touched
