"""Trust, item 3: the sign-off. Each test reproduces one reported defect:
the admin's approval counted; deactivating a committee member lowered the
quorum; class overrides were accepted after 定稿 and after 公示 (with
"已已公示" in a refusal); and what a decided appeal changes after 定稿 (a new
numbered version of the final snapshot, the earlier ones kept; the unit's
consequences cancelled with a note and generated anew); only committee
members approve, finalize, publish and decide appeals."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from survey.campaigns import setup
from survey.clock import today as beijing_today
from survey.errors import Forbidden
from survey.extensions import db
from survey.models import Approval, Campaign, ClassOverride, Consequence, ResultSnapshot, User
from survey.models.outcome import FrozenCampaignError
from survey.results import ResultsError, frozen, publication, queries, rectification, signoff, snapshots
from tests.factories import login, make_user
from tests.survey.test_results_support import make_committee_campaign

TODAY = dt.date(2026, 12, 1)


def _user(name: str) -> User:
    return db.session.scalar(select(User).where(User.username == name))


def _closed_by_organizer(*members: str) -> Campaign:
    """An open campaign with its ballots, ``members`` on the committee, closed by the organizer."""
    campaign = make_committee_campaign(status="open")
    for name in members:
        make_user("committee", username=name)
    setup.change_status(campaign, "closed")
    db.session.commit()
    return campaign


def _finalized(client, *members: str, publish: bool = False) -> Campaign:
    """Closed by the organizer, approved by ``members`` and finalized (and
    published, for a week from yesterday) on the results page by the first."""
    campaign = _closed_by_organizer(*members)
    for name in members:
        login(client, name)
        client.post(f"/results/{campaign.code}/approve")
    client.post(f"/results/{campaign.code}/finalize", data={"confirmed": "1"})
    if publish:
        today = dt.date.today()
        client.post(f"/results/{campaign.code}/publish",
                    data={"public": "y", "public_from": (today - dt.timedelta(days=1)).isoformat(),
                          "public_until": (today + dt.timedelta(days=7)).isoformat(), "confirmed": "1"})
    client.post("/logout")
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign.id)
    assert campaign.state.is_published if publish else campaign.state.is_finalized
    return campaign


def _deactivate(client, admin: str, name: str) -> None:
    """The admin deactivates an account on the accounts page (the admin still manages accounts)."""
    login(client, admin)
    response = client.post(f"/admin/users/{_user(name).id}/active", follow_redirects=True)
    assert f"账号 {name} 已停用" in response.get_data(as_text=True)
    client.post("/logout")
    db.session.expire_all()
    assert not _user(name).active


# --- the admin's approval -------------------------------------------------------


def test_the_admins_approval_is_refused_and_never_counts(client, ctx):
    campaign = _closed_by_organizer("wang", "li")
    make_user("admin")
    login(client, "admin")
    assert client.get(f"/results/{campaign.code}").status_code == 200  # the admin reads …
    assert client.post(f"/results/{campaign.code}/approve").status_code == 403  # … and does not approve
    assert db.session.scalar(select(Approval.id)) is None
    assert campaign.quorum == 2  # the committee members, not the admin
    with pytest.raises(Forbidden, match="只有评议领导小组成员才能审定"):
        signoff.approve(campaign, _user("admin"))
    # An admin's approval already in the database (given before this fix) does not count either.
    db.session.add(Approval(campaign_id=campaign.id, user_id=_user("admin").id, role="admin",
                            results_sha256=snapshots.current_snapshot(campaign).results_sha256))
    signoff.approve(campaign, _user("wang"))
    db.session.commit()
    assert [a.user.username for a in signoff.valid_approvals(campaign)] == ["wang"]
    with pytest.raises(ResultsError, match="需要 2 人，已有 1 人"):
        signoff.finalize(campaign, TODAY, _user("wang"))
    db.session.rollback()
    client.post("/logout")
    login(client, "wang")
    page = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    assert "当前有效审定 1 人" in page and "非领导小组成员，不计入" in page


# --- the quorum, fixed at 截止 ------------------------------------------------------


def test_deactivating_a_member_who_has_not_approved_keeps_the_quorum(client, ctx):
    campaign = _closed_by_organizer("wang", "li", "zhao")
    make_user("admin")
    assert signoff.quorum(campaign) == 3
    for name in ("wang", "li"):
        login(client, name)
        client.post(f"/results/{campaign.code}/approve")
    _deactivate(client, "admin", "zhao")
    campaign = db.session.get(Campaign, campaign.id)
    assert signoff.quorum(campaign) == 3
    login(client, "wang")
    response = client.post(f"/results/{campaign.code}/finalize", data={"confirmed": "1"}, follow_redirects=True)
    assert "审定人数不足：需要 3 人，已有 2 人" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).state.is_closed
    assert campaign.quorum == 3
    # Nor does a new member, or a new setting, move it once closed.
    make_user("committee", username="zhou")
    assert signoff.quorum(db.session.get(Campaign, campaign.id)) == 3
    with pytest.raises(ResultsError, match="已固定为 3 人"):
        signoff.save_settings(campaign, {"quorum": 2, "min_group_ballots": 5, "rectification_due": None,
                                         "consequences": {}})
    db.session.rollback()


def test_deactivating_a_member_who_approved_keeps_the_approval(client, ctx):
    campaign = _closed_by_organizer("wang", "li")
    make_user("admin")
    for name in ("wang", "li"):
        login(client, name)
        client.post(f"/results/{campaign.code}/approve")
    _deactivate(client, "admin", "li")
    campaign = db.session.get(Campaign, campaign.id)
    login(client, "wang")
    page = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    assert "定稿需要 2 名领导小组成员审定，当前有效审定 2 人" in page
    assert {a.user.username for a in signoff.valid_approvals(campaign)} == {"wang", "li"}
    client.post(f"/results/{campaign.code}/finalize", data={"confirmed": "1"})
    db.session.expire_all()
    snap = snapshots.final_snapshot(campaign)
    assert snap.quorum == 2 and snap.version == 1  # the quorum is copied into the final snapshot


def test_the_deadline_job_fixes_the_quorum_too(ctx):
    campaign = make_committee_campaign(status="open")
    make_user("committee", username="wang")
    make_user("committee", username="li")
    queries.settings_for(campaign).quorum = None
    campaign.closes_at = dt.datetime(2026, 11, 20)
    db.session.commit()
    assert setup.close_due_campaigns(now=dt.datetime(2026, 11, 21)) == [campaign.code]
    db.session.commit()
    make_user("committee", username="zhao")  # a member added after 截止 does not raise it
    assert campaign.state.is_closed and signoff.quorum(campaign) == 2
    assert campaign.quorum == 2


def test_the_setting_is_the_quorum_fixed_at_the_close(ctx):
    campaign = make_committee_campaign(status="open")
    for name in ("wang", "li", "zhao"):
        make_user("committee", username=name)
    queries.settings_for(campaign).quorum = 1
    setup.change_status(campaign, "closed")
    queries.settings_for(campaign).quorum = None  # a later change of the setting does not move it
    db.session.commit()
    assert signoff.quorum(campaign) == 1
    assert campaign.quorum == 1


# --- after 定稿: no override, the final snapshot unchanged -------------------------------


@pytest.mark.parametrize("published", [False, True], ids=["finalized", "published"])
def test_overrides_are_refused_after_finalization(client, ctx, published):
    campaign = _finalized(client, "wang", publish=published)
    login(client, "wang")
    response = client.post(f"/results/{campaign.code}/override",
                           data={"unit": "u2", "new_class": "satisfied", "reason": "经研究调整"}, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "评议结果定稿后不能再调整评定等次；如有异议，只能通过申诉复核变更。" in text
    assert "已已" not in text
    assert db.session.scalar(select(ClassOverride.id)) is None
    snap = snapshots.final_snapshot(campaign)
    before = (snap.results_sha256, snap.overrides_json)
    with pytest.raises(ResultsError, match="定稿后不能再调整评定等次") as refused:
        signoff.override_class(campaign, queries.campaign_unit(campaign, "u2"), "satisfied", "x", _user("wang"))
    assert "已已" not in refused.value.message
    db.session.rollback()
    # Underneath the services: an override row, or the final snapshot, cannot be changed either.
    db.session.add(ClassOverride(campaign_unit=queries.campaign_unit(campaign, "u2"), computed_class="basically_satisfied",
                                 new_class="satisfied", reason="x"))
    with pytest.raises(FrozenCampaignError):
        db.session.flush()
    db.session.rollback()
    snapshots.final_snapshot(campaign).results_json = "{}"
    with pytest.raises(FrozenCampaignError):
        db.session.flush()
    db.session.rollback()
    snap = snapshots.final_snapshot(campaign)
    assert (snap.results_sha256, snap.overrides_json) == before and snap.version == 1


def test_an_override_before_finalization_is_kept_in_version_1(ctx):
    campaign = _closed_by_organizer("wang")
    signoff.override_class(campaign, queries.campaign_unit(campaign, "u2"), "satisfied", "专项整治成效显著",
                           _user("wang"))
    signoff.approve(campaign, _user("wang"))
    snap = signoff.finalize(campaign, TODAY, _user("wang"))
    db.session.commit()
    assert json.loads(snap.overrides_json) == [{"unit": "u2", "computed_class": "basically_satisfied",
                                               "new_class": "satisfied", "reason": "专项整治成效显著"}]


# --- a decided appeal: a new version, the consequences follow -----------------------------


def _appeal_u3(client, campaign: Campaign, decision: dict[str, str]) -> None:
    make_user("liaison", unit_code="u3")
    login(client, "liaison")
    client.post(f"/my/{campaign.code}/appeal", data={"text": "部分评议票针对的是已撤并的窗口，申请复核"})
    client.post("/logout")
    login(client, "wang")
    appeal = publication.appeals_of(campaign)[0]
    client.post(f"/results/{campaign.code}/appeals/{appeal.id}", data=decision)
    db.session.expire_all()


def test_a_decided_appeal_makes_version_2_and_version_1_stays_readable(client, ctx):
    campaign = _finalized(client, "wang", publish=True)
    login(client, "wang")
    v1_bundle = client.get(f"/results/{campaign.code}/bundle.json").get_data(as_text=True)
    v1_results = client.get(f"/results/{campaign.code}/results.json").get_data(as_text=True)
    _appeal_u3(client, campaign, {"decision": "changed", "outcome": "核实后调整", "new_class": "basically_satisfied"})
    # The published page shows the class decided …
    public = client.get(f"/public/{campaign.code}").get_data(as_text=True)
    assert "申诉复核：核实后调整" in public
    assert '<tr data-unit="u3"><td>市第3局</td><td><span class="cls cls-basically_satisfied"' in public
    # … and version 1 is still there to read, beside version 2.
    assert client.get(f"/results/{campaign.code}/bundle.json?version=1").get_data(as_text=True) == v1_bundle
    assert client.get(f"/results/{campaign.code}/results.json?version=1").get_data(as_text=True) == v1_results
    assert client.get(f"/results/{campaign.code}/final.json?version=1").json["overrides"] == []
    versions = snapshots.final_versions(campaign)
    assert [v.version for v in versions] == [1, 2]
    v1, v2 = versions
    # Version 1 is as it was; version 2 has the same bundle and results, and the override.
    assert (frozen.bundle_text(v1), v1.results_json, json.loads(v1.overrides_json)) == (v1_bundle, v1_results, [])
    assert frozen.bundle_text(v2) == v1_bundle and v2.bundle_chunks == v1.bundle_chunks and v2.results_sha256 == v1.results_sha256 and v2.quorum == v1.quorum
    assert json.loads(v2.overrides_json) == [{"unit": "u3", "computed_class": "dissatisfied",
                                             "new_class": "basically_satisfied", "reason": "申诉复核：核实后调整"}]
    assert "由“不满意”变更为“基本满意”" in v2.note
    latest = client.get(f"/results/{campaign.code}/final.json").json
    assert latest["version"] == 2 and latest["overrides"][0]["new_class"] == "basically_satisfied"
    assert client.get(f"/results/{campaign.code}/bundle.json?version=3").status_code == 404
    page = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    assert 'data-version="1"' in page and 'data-version="2"' in page and "第 2 版" in page


def test_the_consequences_follow_the_new_class(client, ctx):
    campaign = _finalized(client, "wang")
    u3 = queries.campaign_unit(campaign, "u3")
    live = {c.kind for c in rectification.consequences_of(campaign, u3)}
    assert {"criticism_notice", "media_list", "bonus_linkage", "leader_handling"} <= live
    _appeal_u3(client, campaign, {"decision": "changed", "outcome": "核实后调整", "new_class": "basically_satisfied"})
    rows = db.session.scalars(select(Consequence).where(Consequence.campaign_unit_id == u3.id)).all()
    assert "self_examination" in {c.kind for c in rows}  # generated anew for 基本满意
    cancelled = [c for c in rows if c.kind in live]
    assert {c.kind for c in cancelled} == live
    assert all("申诉复核" in c.note and "由“不满意”变更为“基本满意”" in c.note for c in cancelled)
    assert [c.kind for c in rectification.consequences_of(campaign, u3, cancelled=False)] == ["self_examination"]
    # The other units' consequences are untouched.
    assert all(c.cancelled_at is None for c in db.session.scalars(select(Consequence))
               if c.campaign_unit_id != u3.id)
    page = client.get(f"/results/{campaign.code}/consequences").get_data(as_text=True)
    assert "data-cancelled" in page and "已取消" in page
    # A second appeal back to 不满意: version 3, and the consequences follow again.
    make_user("liaison", username="l2", unit_code="u3")
    login(client, "l2")
    client.post(f"/my/{campaign.code}/appeal", data={"text": "再次申请复核"})
    login(client, "wang")
    appeal = [a for a in publication.appeals_of(campaign) if a.decision is None][0]
    client.post(f"/results/{campaign.code}/appeals/{appeal.id}",
                data={"decision": "changed", "outcome": "复核后恢复", "new_class": "dissatisfied"})
    db.session.expire_all()
    assert [v.version for v in snapshots.final_versions(campaign)] == [1, 2, 3]
    assert json.loads(snapshots.final_snapshot(campaign).overrides_json) == []  # back to the computed class
    assert {c.kind for c in rectification.consequences_of(campaign, u3, cancelled=False)} == live


def test_an_appeal_upheld_changes_nothing(client, ctx):
    campaign = _finalized(client, "wang")
    _appeal_u3(client, campaign, {"decision": "upheld", "outcome": "维持", "new_class": ""})
    assert [v.version for v in snapshots.final_versions(campaign)] == [1]
    assert all(c.cancelled_at is None for c in db.session.scalars(select(Consequence)))


# --- only the committee decides -----------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "organizer"])
def test_only_committee_members_finalize_publish_and_decide_appeals(client, ctx, role):
    campaign = _closed_by_organizer("wang")
    other = make_user(role, username="other")
    login(client, "wang")
    client.post(f"/results/{campaign.code}/approve")
    login(client, "other")
    code = campaign.code
    assert client.post(f"/results/{code}/finalize").status_code == 403
    db.session.expire_all()
    assert client.post(f"/results/{code}/override",
                       data={"unit": "u2", "new_class": "satisfied", "reason": "x"}).status_code == 403
    with pytest.raises(Forbidden, match="只有评议领导小组成员才能定稿"):
        signoff.finalize(campaign, TODAY, other)
    db.session.rollback()
    campaign = db.session.get(Campaign, campaign.id)
    assert campaign.state.is_closed
    signoff.finalize(campaign, TODAY, _user("wang"))
    db.session.commit()
    assert client.post(f"/results/{code}/publish", data={"public": "", "public_from": "", "public_until": ""}
                       ).status_code == 403
    with pytest.raises(Forbidden, match="只有评议领导小组成员才能公示"):
        publication.publish(campaign, False, None, None, other)
    db.session.rollback()
    cu = queries.campaign_unit(campaign, "u3")
    appeal = publication.file_appeal(campaign, cu, "申请复核", other)
    db.session.commit()
    assert client.post(f"/results/{code}/appeals/{appeal.id}",
                       data={"decision": "changed", "outcome": "x", "new_class": "satisfied"}).status_code == 403
    with pytest.raises(Forbidden, match="只有评议领导小组成员才能复核申诉"):
        publication.decide_appeal(campaign, appeal, "changed", "x", "satisfied", other, TODAY)
    db.session.rollback()
    assert db.session.get(type(appeal), appeal.id).decision is None
    assert [v.version for v in snapshots.final_versions(campaign)] == [1]
    assert db.session.scalar(select(ResultSnapshot.id).where(ResultSnapshot.version == 2)) is None
    # Reading stays open to them (the admin reads everything; the organizer is a reader).
    assert client.get(f"/results/{code}").status_code == 200
    assert client.get(f"/results/{code}/appeals").status_code == 200


def test_appeals_close_after_the_published_deadline(client, ctx):
    """The public page names the last day to appeal; after it the unit's page says so and a
    filing is refused (the deadline is a Beijing date: the whole day counts)."""
    campaign = _finalized(client, "wang", publish=True)
    make_user("liaison", unit_code="u3")
    settings = queries.settings_for(campaign)
    settings.appeal_until = beijing_today()  # today: still open
    db.session.commit()
    login(client, "liaison")
    page = client.get(f"/my/{campaign.code}").get_data(as_text=True)
    assert 'data-testid="appeal-until"' in page and "提出申诉" in page
    client.post(f"/my/{campaign.code}/appeal", data={"text": "申请复核"})
    assert len(publication.appeals_of(campaign)) == 1
    settings = queries.settings_for(campaign)
    settings.appeal_until = beijing_today() - dt.timedelta(days=1)
    db.session.commit()
    page = client.get(f"/my/{campaign.code}").get_data(as_text=True)
    assert 'data-testid="appeal-closed"' in page and "提出申诉</button>" not in page
    response = client.post(f"/my/{campaign.code}/appeal", data={"text": "再次申请复核"}, follow_redirects=True)
    assert "申诉期已于" in response.get_data(as_text=True)
    db.session.expire_all()
    assert [a.text for a in publication.appeals_of(campaign)] == ["申请复核"]
