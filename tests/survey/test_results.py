"""The committee's results pages: ranking, unit detail, the cached snapshot,
the data-quality panel with its preview, objective scores and vetoes."""
from __future__ import annotations

import json

from sqlalchemy import select

from analysis import evaluate_document
from survey.bundles import export_bundle
from survey.extensions import db
from survey.models import AuditEntry, Campaign, ObjectiveScore, ResultSnapshot, Veto
from survey.results import history, inputs, queries, snapshots
from survey.results.queries import unit_result
from tests.factories import login, make_user
from tests.survey.test_results_support import make_committee_campaign


def test_results_equal_evaluating_the_exported_bundle(ctx):
    campaign = make_committee_campaign()
    results = snapshots.results_for(campaign)
    assert results == json.loads(json.dumps(evaluate_document(export_bundle(campaign)).to_json()))
    assert [unit_result(results, u)["class"] for u in ("u1", "u2", "u3")] == [
        "satisfied", "basically_satisfied", "dissatisfied"]


def test_ranking_page_shows_classes_intervals_and_borderline(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    page = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    results = snapshots.results_for(campaign)
    for code, _label in (("u1", "满意"), ("u2", "基本满意"), ("u3", "不满意")):
        r = unit_result(results, code)
        assert f'data-unit="{code}"' in page
        assert f"{r['score']:.2f}" in page
        assert f"{r['ci95'][0]:.1f}–{r['ci95'][1]:.1f}" in page
    assert 'data-class="dissatisfied"' in page and "基本满意" in page
    borderline = [u for u in results["units"] if u["borderline"]]
    assert page.count('class="badge borderline"') == len(borderline)


def test_unit_page_explains_the_class_and_lists_comments(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    page = client.get(f"/results/{campaign.code}/units/u2").get_data(as_text=True)
    r = unit_result(snapshots.results_for(campaign), "u2")
    assert "分数阈值" in page  # class_set_by: threshold
    assert f"{r['explain']['distance']['satisfied']:.2f}" in page
    assert "服务对象" in page and "专家学者" in page
    page3 = client.get(f"/results/{campaign.code}/units/u3").get_data(as_text=True)
    assert page3.count("办事要跑好几趟") == 15  # the committee sees every comment
    assert client.get(f"/results/{campaign.code}/units/u99").status_code == 404


def test_the_snapshot_is_reused_until_the_data_change(ctx):
    campaign = make_committee_campaign()
    first = snapshots.current_snapshot(campaign)
    db.session.commit()
    first_id, first_sha, first_at = first.id, first.results_sha256, first.created_at
    db.session.expire_all()
    again = snapshots.current_snapshot(campaign)
    assert (again.id, again.created_at) == (first_id, first_at)
    stored = db.session.scalars(select(ResultSnapshot)).all()
    assert len(stored) == 1 and stored[0].kind == "cache"
    u1 = queries.campaign_unit(campaign, "u1")
    inputs.add_veto(campaign, u1, "发生重大安全责任事故", "市安委办〔2026〕12号")
    db.session.commit()
    fresh = snapshots.current_snapshot(campaign)
    assert fresh.results_sha256 != first_sha
    r = unit_result(json.loads(fresh.results_json), "u1")
    assert r["class"] == "dissatisfied" and r["reasons"] == ["veto"]


def test_readers_and_roles(client, ctx):
    campaign = make_committee_campaign()
    make_user("liaison", unit_code="u1")
    make_user("auditor")
    assert client.get(f"/results/{campaign.code}").status_code == 302  # anonymous: sign in first
    login(client, "liaison")
    assert client.get(f"/results/{campaign.code}").status_code == 403
    assert client.get(f"/results/{campaign.code}/units/u1").status_code == 403
    client.post("/logout")
    login(client, "auditor")
    assert client.get(f"/results/{campaign.code}").status_code == 200
    assert client.post(f"/results/{campaign.code}/approve").status_code == 403


def test_data_quality_panel_preview_and_adoption(client, ctx):
    campaign = make_committee_campaign(speeders=6)
    make_user("committee")
    login(client, "committee")
    page = client.get(f"/results/{campaign.code}/quality").get_data(as_text=True)
    assert snapshots.results_for(campaign)["ballots"]["flags"]["speeder"] == 6
    assert '<tr data-flag="speeder"><td>答题过快</td><td class="num">6</td>' in page
    assert unit_result(snapshots.results_for(campaign), "u1")["class"] == "basically_satisfied"
    preview = client.get(f"/results/{campaign.code}/quality",
                         query_string={"flags": ["duplicate", "speeder"], "preview": "1"}).get_data(as_text=True)
    assert "按此规则将剔除 6 张（当前 0 张）" in preview
    assert 'data-unit="u1"' in preview and 'data-class="satisfied"' in preview
    assert db.session.scalar(select(Campaign.rules).where(Campaign.id == campaign.id)) in ({}, None)
    response = client.post(f"/results/{campaign.code}/quality", data={"flags": ["duplicate", "speeder"]})
    assert response.status_code == 302
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign.id)
    assert campaign.rules["exclude_flags"] == ["duplicate", "speeder"]
    results = snapshots.results_for(campaign)
    assert results["ballots"]["excluded"] == 6 and unit_result(results, "u1")["class"] == "satisfied"
    assert sorted(b["id"] for b in results["explain"]["excluded"]) == [f"9{k:03d}" for k in range(6)]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "rules.exclude_flags"))
    assert entry.username == "committee" and entry.after["rules"]["exclude_flags"] == ["duplicate", "speeder"]


def test_preview_lists_the_classes_that_change(ctx):
    campaign = make_committee_campaign(speeders=6)
    preview = inputs.preview_exclude_flags(campaign, ["speeder"])
    direct = evaluate_document(export_bundle(campaign), {"exclude_flags": ["speeder"]}).to_json()
    current = snapshots.results_for(campaign)
    changed = {u["code"] for u in direct["units"] if u["class"] != unit_result(current, u["code"])["class"]}
    assert {c["code"] for c in preview["changes"]} == changed == {"u1"}
    assert preview["excluded"] == direct["ballots"]["excluded"]


def test_organizer_enters_objective_scores_and_vetoes_with_evidence(client, ctx):
    campaign = make_committee_campaign()
    make_user("organizer")
    make_user("committee")
    login(client, "committee")
    assert client.post(f"/results/{campaign.code}/vetoes",
                       data={"unit": "u1", "reason": "x", "evidence": "y"}).status_code == 403
    client.post("/logout")
    login(client, "organizer")
    r = client.post(f"/results/{campaign.code}/vetoes", data={"unit": "u1", "reason": "重大安全事故", "evidence": ""})
    assert r.status_code == 302 and db.session.scalar(select(Veto.id)) is None  # evidence is required
    client.post(f"/results/{campaign.code}/vetoes",
                data={"unit": "u1", "reason": "发生重大安全责任事故", "evidence": "市安委办〔2026〕12号"})
    client.post(f"/results/{campaign.code}/objective-scores",
                data={"unit": "u2", "component": "work", "score": "91.5", "evidence": "2026年度工作考核表"})
    veto = db.session.scalar(select(Veto))
    assert veto.evidence == "市安委办〔2026〕12号" and veto.campaign_unit.code == "u1"
    score = db.session.scalar(select(ObjectiveScore))
    assert score.score == 91.5 and score.component == "work"
    page = client.get(f"/results/{campaign.code}/inputs").get_data(as_text=True)
    assert "市安委办〔2026〕12号" in page and "91.5" in page
    results = snapshots.results_for(db.session.get(Campaign, campaign.id))
    assert unit_result(results, "u1")["class"] == "dissatisfied"
    actions = [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == ["veto.create", "objective_score.set"]
    evidence = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "objective_score.set")).after
    assert evidence == {"component": "work", "score": 91.5, "raw": 91.5, "full_marks": 100.0,
                        "evidence": "2026年度工作考核表"}  # no full marks given: a score out of 100


def test_a_units_history_spans_campaigns_sharing_its_record(client, ctx):
    last_year = make_committee_campaign("c2025")
    this_year = make_committee_campaign("t2026", speeders=6)
    points = history.history("u1")
    assert [(p["year"], p["class"]) for p in points] == [(2025, "satisfied"), (2026, "basically_satisfied")]
    assert points[0]["score"] == unit_result(snapshots.results_for(last_year), "u1")["score"]
    make_user("committee")
    login(client, "committee")
    page = client.get(f"/results/{this_year.code}/units/u1").get_data(as_text=True)
    assert f"/results/{this_year.code}/charts/history-u1.svg" in page
    assert client.get(f"/results/{this_year.code}/charts/history-u1.png").status_code == 200
