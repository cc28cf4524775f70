"""Sign-off, finalization (a reproducible, frozen snapshot), overrides,
publication, appeals and consequences."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from analysis import evaluate_document
from survey.bundles import export_bundle
from survey.extensions import db
from survey.models import (
    Answer,
    Approval,
    Ballot,
    BundleChunk,
    Campaign,
    CampaignUnit,
    ClassOverride,
    Consequence,
    ObjectiveScore,
    Rectification,
    ResultSnapshot,
    User,
    Veto,
)
from survey.models.outcome import FrozenCampaignError
from survey.results import ResultsError, frozen, inputs, publication, queries, rectification, signoff, snapshots
from survey.results.queries import unit_result
from tests.factories import login, make_user
from tests.survey.test_results_support import make_committee_campaign

ROOT = Path(__file__).resolve().parent.parent.parent
TODAY = dt.date(2026, 12, 1)


def _finalize(campaign: Campaign, *members: str) -> ResultSnapshot:
    users = [db.session.scalar(select(User).where(User.username == name)) for name in members]
    for user in users:
        signoff.approve(campaign, user)
    snap = signoff.finalize(campaign, TODAY, users[0])
    db.session.commit()
    return snap


def _committee() -> User:
    return db.session.scalar(select(User).where(User.role == "committee").limit(1))


def test_finalize_needs_the_quorum_of_approvals(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee", username="wang")
    make_user("committee", username="li")
    make_user("committee", username="zhao")
    assert signoff.quorum(campaign) == 3  # default: every committee member
    queries.settings_for(campaign).quorum = 2
    db.session.commit()
    login(client, "wang")
    client.post(f"/results/{campaign.code}/approve")
    response = client.post(f"/results/{campaign.code}/finalize", data={"confirmed": "1"}, follow_redirects=True)
    assert "审定人数不足：需要 2 人，已有 1 人" in response.get_data(as_text=True)
    assert db.session.get(Campaign, campaign.id).status == "closed"
    client.post("/logout")
    login(client, "li")
    client.post(f"/results/{campaign.code}/approve")
    client.post(f"/results/{campaign.code}/finalize", data={"confirmed": "1"})
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == "finalized"
    assert len(db.session.scalars(select(Approval)).all()) == 2


def test_a_change_of_the_rules_voids_earlier_approvals(ctx):
    campaign = make_committee_campaign(speeders=6)
    make_user("committee", username="wang")
    signoff.approve(campaign, db.session.scalar(select(User)))
    db.session.commit()
    assert len(signoff.valid_approvals(campaign)) == 1
    inputs.adopt_exclude_flags(campaign, ["duplicate", "speeder"])
    db.session.commit()
    assert signoff.valid_approvals(campaign) == []
    with pytest.raises(ResultsError, match="审定人数不足"):
        signoff.finalize(campaign, TODAY, db.session.scalar(select(User)))


def test_final_snapshot_is_reproducible_and_equals_the_command_line(ctx, tmp_path):
    campaign = make_committee_campaign(speeders=6)
    make_user("committee")
    snap = _finalize(campaign, "committee")
    assert snap.kind == "final"
    # Frozen in the store (gzip pieces), not inline.
    assert snap.bundle_json is None and snap.bundle_chunks >= 1
    bundle_text = frozen.bundle_text(snap)
    assert snap.bundle_sha256 == hashlib.sha256(bundle_text.encode()).hexdigest()
    assert snap.results_sha256 == hashlib.sha256(snap.results_json.encode()).hexdigest()
    stored = json.loads(snap.results_json)
    again = evaluate_document(json.loads(bundle_text)).to_json()
    assert json.loads(json.dumps(again)) == stored
    # The stored bundle is what the campaign exports (and, frozen, keeps exporting) …
    assert json.loads(bundle_text) == json.loads(json.dumps(export_bundle(campaign)))
    # … and that exported file through the command line gives the same figures.
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(export_bundle(campaign), ensure_ascii=False), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "analysis", "evaluate", str(path)], cwd=ROOT,
                         capture_output=True, check=True)
    assert json.loads(out.stdout) == stored
    # and the page serves exactly the stored snapshot
    assert snapshots.results_for(campaign) == stored


def test_overrides_need_a_reason_and_show_beside_the_computed_class(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    client.post(f"/results/{campaign.code}/override", data={"unit": "u2", "new_class": "satisfied", "reason": " "})
    assert db.session.scalar(select(ClassOverride.id)) is None
    client.post(f"/results/{campaign.code}/override",
                data={"unit": "u2", "new_class": "satisfied", "reason": "专项整治成效显著，经领导小组研究调整"})
    row = db.session.scalar(select(ClassOverride))
    assert (row.computed_class, row.new_class) == ("basically_satisfied", "satisfied")
    client.post(f"/results/{campaign.code}/approve")
    client.post(f"/results/{campaign.code}/finalize", data={"confirmed": "1"})
    client.post(f"/results/{campaign.code}/publish",
                data={"public": "y", "public_from": "2026-01-01", "public_until": "2099-12-31", "confirmed": "1"})
    page = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    assert 'data-testid="override-u2"' in page and "专项整治成效显著" in page
    # computed class stays in the results; the published record shows the override beside it
    assert unit_result(snapshots.results_for(campaign), "u2")["class"] == "basically_satisfied"
    public = client.get(f"/public/{campaign.code}").get_data(as_text=True)
    assert '<tr data-unit="u2"><td>市第2局</td><td><span class="cls cls-satisfied"' in public
    assert "计算结果：基本满意；理由：专项整治成效显著" in public


def test_edits_after_finalization_are_refused(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    make_user("organizer")
    u1 = queries.campaign_unit(campaign, "u1")
    db.session.add(ObjectiveScore(campaign_unit=u1, position=0, component="work", score=80))
    db.session.add(Veto(campaign_unit=queries.campaign_unit(campaign, "u3"), position=0, reason="事故", evidence="文"))
    db.session.commit()
    _finalize(campaign, "committee")
    # through the services and the pages
    with pytest.raises(ResultsError):
        inputs.add_veto(campaign, u1, "x", "y")
    with pytest.raises(ResultsError):
        inputs.adopt_exclude_flags(campaign, ["speeder"])
    login(client, "organizer")
    response = client.post(f"/results/{campaign.code}/objective-scores",
                           data={"unit": "u1", "component": "work", "score": "99", "evidence": "x"},
                           follow_redirects=True)
    assert "评议结果已定稿，不能再修改" in response.get_data(as_text=True)
    # and at the model layer, whoever tries: ballots, answers, rules, objective scores, vetoes
    db.session.rollback()
    ballot = db.session.scalar(select(Ballot).where(Ballot.campaign_id == campaign.id).limit(1))
    edits = [
        lambda: setattr(db.session.scalar(select(ObjectiveScore)), "score", 99.0),
        lambda: db.session.delete(db.session.scalar(select(Veto))),
        lambda: setattr(db.session.get(Campaign, campaign.id), "rules", {"trim_per_end": 0.1}),
        lambda: setattr(ballot, "duration_s", 1.0),
        lambda: db.session.delete(db.session.scalar(select(Answer).where(Answer.ballot_id == ballot.id).limit(1))),
        lambda: db.session.add(Ballot(campaign_id=campaign.id, batch_id=ballot.batch_id, public_id="new",
                                      submitted_at=dt.datetime(2026, 11, 30))),
    ]
    for edit in edits:
        edit()
        with pytest.raises(FrozenCampaignError):
            db.session.flush()
        db.session.rollback()
    assert db.session.scalar(select(ObjectiveScore.score)) == 80
    # what may change after finalization still can: the status (publication)
    publication.publish(db.session.get(Campaign, campaign.id), False, None, None, _committee())
    db.session.commit()
    assert db.session.get(Campaign, campaign.id).status == "published"


def test_publication_period_and_internal_results(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    _finalize(campaign, "committee")
    assert client.get(f"/public/{campaign.code}").status_code == 404  # not published yet
    with pytest.raises(ResultsError, match="公示开始和结束日期"):
        publication.publish(campaign, True, None, None, _committee())
    today = dt.date.today()
    publication.publish(campaign, True, today - dt.timedelta(days=2), today + dt.timedelta(days=5), _committee())
    db.session.commit()
    page = client.get(f"/public/{campaign.code}").get_data(as_text=True)  # no sign-in
    assert "结果公示" in page and 'data-unit="u3"' in page and "不满意" in page and "提出申诉" in page
    settings = queries.settings_for(campaign)
    settings.public_from, settings.public_until = today - dt.timedelta(days=10), today - dt.timedelta(days=3)
    db.session.commit()
    page = client.get(f"/public/{campaign.code}").get_data(as_text=True)
    assert "已结束" in page and 'data-unit="u3"' not in page
    settings.public = False
    db.session.commit()
    assert client.get(f"/public/{campaign.code}").status_code == 404


def test_a_liaison_appeals_and_the_committee_decides(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    make_user("liaison", unit_code="u3")
    _finalize(campaign, "committee")
    login(client, "liaison")
    client.post(f"/my/{campaign.code}/appeal", data={"text": "部分评议票针对的是已撤并的窗口，申请复核"})
    client.post("/logout")
    login(client, "committee")
    page = client.get(f"/results/{campaign.code}/appeals").get_data(as_text=True)
    assert "申请复核" in page
    appeal = publication.appeals_of(campaign)[0]
    assert appeal.campaign_unit.code == "u3"
    client.post(f"/results/{campaign.code}/appeals/{appeal.id}",
                data={"decision": "changed", "outcome": "核实后调整", "new_class": "basically_satisfied"})
    db.session.expire_all()
    row = db.session.scalar(select(ClassOverride))
    assert row.new_class == "basically_satisfied" and row.computed_class == "dissatisfied"
    assert "申诉复核：核实后调整" in row.reason
    assert publication.appeals_of(campaign)[0].decision == "changed"


def test_consequences_follow_the_classes_and_two_years_at_the_bottom(ctx):
    bottom = {"bottom": {"n": 1, "below": 60}}
    last_year = make_committee_campaign("c2025", rules=bottom)
    make_user("committee")
    _finalize(last_year, "committee")
    assert "bottom" in unit_result(snapshots.results_for(last_year), "u3")["reasons"]
    campaign = make_committee_campaign("c2026", rules=bottom)
    _finalize(campaign, "committee")
    rows = {(c.campaign_unit.code, c.kind): c for c in rectification.consequences_of(campaign)}
    assert ("u2", "self_examination") in rows
    assert rows[("u2", "self_examination")].due_on == TODAY + dt.timedelta(days=15)
    for kind in ("criticism_notice", "media_list", "bonus_linkage", "leader_handling", "organizational_handling"):
        assert ("u3", kind) in rows
    assert "诫勉谈话" in rows[("u3", "leader_handling")].text
    assert not any(code == "u1" for code, _kind in rows)
    last = {(c.campaign_unit.code, c.kind) for c in rectification.consequences_of(last_year)}
    assert ("u3", "organizational_handling") not in last  # the first year at the bottom does not escalate
    # every unit has a rectification item due by the default deadline
    assert len(db.session.scalars(select(Rectification).join(CampaignUnit)
                                  .where(CampaignUnit.campaign_id == campaign.id)).all()) == 3


def test_consequences_are_configurable(ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    queries.settings_for(campaign).consequences = {"media_list": False, "leader_handling": None,
                                                    "self_examination": False}
    db.session.commit()
    _finalize(campaign, "committee")
    kinds = {(c.campaign_unit.code, c.kind) for c in db.session.scalars(select(Consequence))}
    assert kinds == {("u3", "criticism_notice"), ("u3", "bonus_linkage")}


def test_finalization_pseudonymises_the_sources_it_freezes(ctx):
    """docs/anonymity.md: the committee's finalization replaces every ballot's
    address by a pseudonym, in the ballots and in the stored bundle, and no
    figure changes (the approvals of the results before stay valid)."""
    campaign = make_committee_campaign()
    ballots = db.session.scalars(select(Ballot).where(Ballot.campaign_id == campaign.id)).all()
    real = {f"192.0.2.{k % 7 + 1}" for k in range(len(ballots))}
    for k, ballot in enumerate(ballots):
        ballot.source = f"192.0.2.{k % 7 + 1}"
    db.session.commit()
    make_user("committee", username="wang")
    before = snapshots.current_snapshot(campaign).results_sha256
    snap = _finalize(campaign, "wang")
    sources = {b.source for b in db.session.scalars(select(Ballot).where(Ballot.campaign_id == campaign.id))}
    assert len(sources) == len(real) and not sources & real
    assert all(s.startswith("10.") for s in sources)
    assert not any(ip in frozen.bundle_text(snap) for ip in real)
    assert snap.results_sha256 == before


def test_pseudonyms_are_consistent_across_the_rewrite_chunks(ctx, monkeypatch):
    """The sources are read and rewritten in chunks (a million ballots are never
    held whole): equal sources in different chunks get the same pseudonym, and
    a /24 shared across chunks stays one /24."""
    from survey.ballots import pseudonyms

    monkeypatch.setattr(pseudonyms, "REWRITE_CHUNK", 3)
    campaign = make_committee_campaign()
    ballots = db.session.scalars(select(Ballot).where(Ballot.campaign_id == campaign.id).order_by(Ballot.id)).all()
    assert len(ballots) >= 12
    given = {b.id: ("not an address" if k % 5 == 4 else f"198.51.{100 + k % 2}.{k % 3 + 1}")
             for k, b in enumerate(ballots)}
    for ballot in ballots:
        ballot.source = given[ballot.id]
    db.session.commit()
    assert pseudonyms.pseudonymise_sources(campaign) == len(ballots)
    db.session.commit()
    got = {b.id: b.source for b in db.session.scalars(select(Ballot).where(Ballot.campaign_id == campaign.id))}
    pairs = {(given[i], got[i]) for i in got}
    assert len(pairs) == len({g for g, _ in pairs}) == len({p for _, p in pairs})  # a bijection
    assert all(p.startswith("10.") for g, p in pairs if g[0].isdigit())
    nets = {(g.rsplit(".", 1)[0], p.rsplit(".", 1)[0]) for g, p in pairs if g[0].isdigit()}
    assert len(nets) == 2 == len({g for g, _ in nets}) == len({p for _, p in nets})


def test_finalize_refuses_results_other_than_those_approved(client, ctx, monkeypatch):
    """The sign-off counts approvals by the results' SHA-256: a recomputation at 定稿
    that differs (a change meanwhile, or arithmetic that differs between machines)
    freezes nothing and says so."""
    campaign = make_committee_campaign()
    make_user("committee", username="wang")
    login(client, "wang")
    client.post(f"/results/{campaign.code}/approve")
    real = signoff.compute

    def other(campaign, *args, **kwargs):
        bundle_sha256, results = real(campaign, *args, **kwargs)
        results["units"][0]["score"] = results["units"][0]["score"] + 1e-12  # the last bits
        return bundle_sha256, results

    monkeypatch.setattr(signoff, "compute", other)
    response = client.post(f"/results/{campaign.code}/finalize", data={"confirmed": "1"}, follow_redirects=True)
    assert "定稿时重新计算的结果与审定的结果不一致，未定稿" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == "closed"
    assert db.session.scalars(select(ResultSnapshot).where(ResultSnapshot.kind == "final")).all() == []
    assert db.session.scalars(select(Consequence)).all() == []
    assert db.session.scalars(select(BundleChunk)).all() == []  # the frozen bundle's pieces too
    monkeypatch.setattr(signoff, "compute", real)
    client.post(f"/results/{campaign.code}/finalize", data={"confirmed": "1"})
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == "finalized"
