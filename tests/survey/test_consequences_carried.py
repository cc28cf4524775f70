"""Issue #13, “Consequences carried out” and “The best units”: each
consequence has an owner, a deadline, a state and its proof, and turns red
when overdue; escalation rules (the two-years-at-the-bottom rule one of them)
follow the latest final version of each year; 回头看 closes or reopens a
rectification; the positive tier names 先进 candidates, the committee decides,
stars show on the 公示 page; the rules travel in the bundle's extensions."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from analysis import BundleError
from survey import clock
from survey.bundles import export_bundle, import_bundle
from survey.extensions import db
from survey.models import AuditEntry, Campaign, Consequence, FollowUp, Honour, User
from survey.results import (
    ResultsError,
    carrying,
    escalation,
    honours,
    lookback,
    publication,
    queries,
    rectification,
    signoff,
    snapshots,
)
from tests.factories import login, make_user
from tests.survey.test_results_support import committee_bundle, make_committee_campaign

TODAY = dt.date(2026, 12, 1)
MARKUP = '<script>alert(1)</script>"><img src=x onerror=alert(1)>{{7*7}}'


def _member() -> User:
    user = db.session.scalar(select(User).where(User.username == "committee"))
    return user if user is not None else make_user("committee")


def _finalize(campaign: Campaign, today: dt.date = TODAY) -> None:
    member = _member()
    signoff.approve(campaign, member)
    signoff.finalize(campaign, today, member)
    db.session.commit()


def _live(campaign: Campaign) -> dict[tuple[str, str], Consequence]:
    return {(c.campaign_unit.code, c.kind): c for c in rectification.consequences_of(campaign, cancelled=False)}


def _actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# --- carried out ------------------------------------------------------------------------


@pytest.mark.db
def test_owners_and_deadlines_of_the_rules_fill_new_consequences(ctx):
    campaign = make_committee_campaign()
    member = _member()
    carrying.save_rules(campaign, {"owners": {"bonus_linkage": "市财政局绩效科"},
                                   "due_days": {"criticism_notice": 30}}, member)
    db.session.commit()
    _finalize(campaign)
    rows = _live(campaign)
    assert rows[("u3", "bonus_linkage")].owner == "市财政局绩效科"
    assert rows[("u3", "criticism_notice")].due_on == TODAY + dt.timedelta(days=30)
    assert rows[("u2", "self_examination")].due_on == TODAY + dt.timedelta(days=15)  # its own setting wins
    assert all(c.state == "pending" and c.done_at is None for c in rows.values())


@pytest.mark.db
def test_a_consequence_is_carried_out_with_its_proof(ctx):
    campaign = make_committee_campaign()
    _finalize(campaign)
    organizer = make_user("organizer")
    rows = _live(campaign)
    inspection, bonus, leader = rows[("u2", "self_examination")], rows[("u3", "bonus_linkage")], \
        rows[("u3", "leader_handling")]
    with pytest.raises(ResultsError, match="请填写证明材料"):
        carrying.carry_out(campaign, inspection, organizer, proof="  ")
    with pytest.raises(ResultsError, match="扣减的金额或比例"):
        carrying.carry_out(campaign, bonus, organizer, proof="财务通知")
    with pytest.raises(ResultsError, match="主要负责人和直接责任人员"):
        carrying.carry_out(campaign, leader, organizer, proof="组织部函〔2027〕1 号")
    carrying.carry_out(campaign, inspection, organizer, proof="收到书面检查（2026-12-10）")
    carrying.carry_out(campaign, bonus, organizer, amount=120000, percent=20)
    carrying.carry_out(campaign, leader, organizer, proof="组织部函〔2027〕1 号", persons="局长 张某：诫勉谈话")
    db.session.commit()
    db.session.expire_all()
    rows = _live(campaign)
    assert rows[("u2", "self_examination")].state == "received"  # a document received: 已收到
    assert rows[("u3", "bonus_linkage")].state == "executed"
    assert (rows[("u3", "bonus_linkage")].amount, rows[("u3", "bonus_linkage")].percent) == (120000, 20)
    assert rows[("u3", "leader_handling")].persons == "局长 张某：诫勉谈话"
    assert rows[("u3", "leader_handling")].done_by_id == organizer.id
    assert rows[("u3", "criticism_notice")].state == "pending"
    with pytest.raises(ResultsError, match="已办结"):
        carrying.carry_out(campaign, rows[("u2", "self_examination")], organizer, proof="again")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "consequence.carry_out")
                              .order_by(AuditEntry.id.desc()).limit(1))
    assert entry.after["persons"] == "局长 张某：诫勉谈话" and entry.before == {"state": "pending", "red": False}
    # the liaison, the auditor and an admin may not; the committee and the office may
    with pytest.raises(Exception, match="只有评议领导小组和评议办"):
        carrying.carry_out(campaign, rows[("u3", "media_list")], make_user("auditor"), proof="x")


@pytest.mark.db
def test_overdue_consequences_turn_red_and_read_cleared_when_done(client, ctx):
    campaign = make_committee_campaign()
    _finalize(campaign)
    rows = _live(campaign)
    notice = rows[("u3", "criticism_notice")]
    notice.due_on = clock.today() - dt.timedelta(days=2)
    db.session.commit()
    login(client, "committee")
    page = client.get(f"/results/{campaign.code}/consequences").get_data(as_text=True)
    assert f'data-testid="red-{notice.id}"' in page and "红字（逾期）" in page
    assert "其中逾期 1 项" in page
    db.session.expire_all()
    notice = db.session.get(Consequence, notice.id)
    assert notice.marked_red_at is not None
    assert _actions().count("consequence.mark_red") == 1
    client.get(f"/results/{campaign.code}/consequences")  # marked once
    assert _actions().count("consequence.mark_red") == 1
    response = client.post(f"/results/{campaign.code}/consequences/{notice.id}/done",
                           data={"proof": "市评议办通〔2027〕2 号"})
    assert response.status_code == 302
    page = client.get(f"/results/{campaign.code}/consequences").get_data(as_text=True)
    assert f'data-testid="red-{notice.id}"' not in page and "已消红" in page and "市评议办通〔2027〕2 号" in page
    assert not db.session.get(Consequence, notice.id).overdue(clock.today())
    # the owner and the deadline of a pending one
    media = _live(campaign)[("u3", "media_list")]
    client.post(f"/results/{campaign.code}/consequences/{media.id}/assign",
                data={"owner": "市委宣传部", "due_on": "2027-01-15"})
    db.session.expire_all()
    media = db.session.get(Consequence, media.id)
    assert (media.owner, media.due_on) == ("市委宣传部", dt.date(2027, 1, 15))


@pytest.mark.db
def test_the_organizer_carries_out_but_the_auditor_only_reads(client, ctx):
    campaign = make_committee_campaign()
    _finalize(campaign)
    make_user("organizer")
    make_user("auditor")
    target = _live(campaign)[("u3", "media_list")]
    login(client, "auditor")
    assert client.get(f"/results/{campaign.code}/consequences").status_code == 200
    assert client.post(f"/results/{campaign.code}/consequences/{target.id}/done",
                       data={"proof": "x"}).status_code == 403
    client.post("/logout")
    login(client, "organizer")
    client.post(f"/results/{campaign.code}/consequences/{target.id}/done", data={"proof": "《日报》2027-01-05 第 3 版"})
    db.session.expire_all()
    assert db.session.get(Consequence, target.id).state == "executed"


@pytest.mark.db
def test_the_cli_marks_overdue_consequences_red(app, ctx):
    campaign = make_committee_campaign()
    _finalize(campaign)
    _live(campaign)[("u3", "media_list")].due_on = dt.date.today() - dt.timedelta(days=1)
    db.session.commit()
    out = app.test_cli_runner().invoke(args=["results", "mark-overdue"])
    assert "已标红 1 项逾期未落实的处理事项" in out.output
    db.session.expire_all()
    assert _live(campaign)[("u3", "media_list")].marked_red_at is not None


# --- escalation rules -----------------------------------------------------------------------


def test_rules_are_checked_where_they_are_wrong():
    with pytest.raises(escalation.RuleProblem) as exc:
        escalation.parse_rules([{"basis": "class", "value": "dissatisfied", "count": 3, "years": 2,
                                 "consequence": "organizational_handling"}])
    assert exc.value.where == "escalation[0].count"
    with pytest.raises(escalation.RuleProblem) as exc:
        escalation.parse_rules([{"basis": "visits", "value": "complaint", "count": 1, "years": 1,
                                 "consequence": "criticism_notice"}])
    assert exc.value.where == "escalation[0].basis"
    with pytest.raises(escalation.RuleProblem) as exc:  # the register's basis: its kinds and verdicts
        escalation.parse_rules([{"basis": "cases", "value": "complaint", "verdicts": ["属实"], "count": 1,
                                 "years": 1, "consequence": "criticism_notice"}])
    assert exc.value.where == "escalation[0].verdicts"
    with pytest.raises(escalation.RuleProblem) as exc:
        escalation.parse_rules([{"basis": "cases", "value": "gossip", "count": 1, "years": 1,
                                 "consequence": "criticism_notice"}])
    assert exc.value.where == "escalation[0].value"
    with pytest.raises(escalation.RuleProblem) as exc:
        escalation.parse_rules([{"basis": "class", "value": "awful", "count": 1, "years": 1,
                                 "consequence": "criticism_notice"}])
    assert exc.value.where == "escalation[0].value"
    rule = {"basis": "class", "value": "dissatisfied", "count": 2, "years": 3, "consequence": "media_list"}
    with pytest.raises(escalation.RuleProblem, match="相同"):
        escalation.parse_rules([rule, rule])
    assert escalation.parse_rules([rule])[0].as_json() == rule
    assert escalation.rules_of({"escalate_bottom_two_years": True}) == [escalation.BOTTOM_RULE]


@pytest.mark.db
def test_verified_cases_of_a_kind_escalate_over_the_window(ctx):
    """The register's basis: a unit's 属实/部分属实 complaints counted for this year's campaign and
    last year's; a 不属实 one, another kind or another unit does not count."""
    from survey.models import SupervisionCase, Unit

    last_year = make_committee_campaign("t2025", year=2025)
    campaign = make_committee_campaign()
    units = {u.code: u.id for u in db.session.scalars(select(Unit))}

    def case(n: int, c: Campaign, unit: str, kind: str, verdict: str) -> None:
        db.session.add(SupervisionCase(code=f"DC-{n}", kind=kind, source="热线", occurred_on=dt.date(c.year, 3, 1),
                                       unit_id=units[unit], summary="推诿", step="closed", verdict=verdict,
                                       campaign_id=c.id))

    case(1, campaign, "u1", "complaint", "founded")
    case(2, last_year, "u1", "complaint", "partly")
    case(3, campaign, "u1", "complaint", "unfounded")
    case(4, campaign, "u1", "hotline", "founded")
    case(5, campaign, "u2", "complaint", "founded")
    case(6, last_year, "u2", "complaint", "unfounded")
    carrying.save_rules(campaign, {"escalation": [
        {"basis": "cases", "value": "complaint", "count": 2, "years": 2, "consequence": "criticism_notice",
         "text": "{单位} 两年内属实投诉 2 件以上，予以通报批评。"}]}, _member())
    db.session.commit()
    _finalize(campaign)
    live = _live(campaign)
    assert live[("u1", "criticism_notice")].rule.startswith("cases:complaint:2/2")
    assert live[("u1", "criticism_notice")].text == "市第1局 两年内属实投诉 2 件以上，予以通报批评。"
    assert ("u2", "criticism_notice") not in live  # one counting case in the window


@pytest.mark.db
def test_a_registered_basis_counts_like_the_built_in_ones(ctx):
    """The supervision register adds `cases` this way: a counter per unit."""
    counted = []

    def cases(campaign, cu, results, classes, rule):
        counted.append((cu.code, rule.value, rule.verdicts))
        return 3 if cu.code == "u1" else 0

    escalation.register_basis("test_cases", escalation.Basis("测试案件", (), cases, yearly=False))
    try:
        campaign = make_committee_campaign()
        carrying.save_rules(campaign, {"escalation": [
            {"basis": "test_cases", "value": "complaint", "verdicts": ["属实"], "count": 2, "years": 1,
             "consequence": "criticism_notice", "text": "{单位} 属实投诉较多，予以通报批评。"}]}, _member())
        db.session.commit()
        _finalize(campaign)
        row = _live(campaign)[("u1", "criticism_notice")]
        assert row.text == "市第1局 属实投诉较多，予以通报批评。" and row.rule.startswith("test_cases:complaint|属实")
        assert ("u1", "complaint", ("属实",)) in counted
    finally:
        escalation.BASES.pop("test_cases")


@pytest.mark.db
def test_a_class_rule_counts_the_years_in_its_window(ctx):
    rule = {"basis": "class", "value": "dissatisfied", "count": 2, "years": 2, "consequence": "organizational_handling"}
    last_year = make_committee_campaign("c2025")
    _finalize(last_year)
    assert ("u3", "organizational_handling") not in _live(last_year)
    campaign = make_committee_campaign("c2026")
    carrying.save_rules(campaign, {"escalation": [rule]}, _member())
    queries.settings_for(campaign).consequences = {**queries.settings_for(campaign).consequences,
                                                   "escalate_bottom_two_years": False}
    db.session.commit()
    _finalize(campaign)
    row = _live(campaign)[("u3", "organizational_handling")]
    assert row.rule == "class:dissatisfied:2/2:organizational_handling"
    assert "近 2 年内 2 次评为“不满意”" in row.text and "共 2 次" in row.text
    assert ("u2", "organizational_handling") not in _live(campaign)
    # how often each window counts: this year alone, or with 2025 (2024 has no campaign)
    results = snapshots.results_for(campaign)
    met = escalation.escalations(campaign, queries.campaign_unit(campaign, "u3"), results,
                                 queries.final_classes(campaign, results),
                                 [escalation.EscalationRule("class", "dissatisfied", 1, 1, "media_list"),
                                  escalation.EscalationRule("class", "dissatisfied", 2, 3, "media_list"),
                                  escalation.EscalationRule("class", "dissatisfied", 3, 3, "media_list")])
    assert [(r.count, r.years, n) for r, n in met] == [(1, 1, 1), (2, 3, 2)]


@pytest.mark.db
def test_last_years_decided_appeal_changes_what_this_year_counts(ctx):
    rule = {"basis": "class", "value": "dissatisfied", "count": 2, "years": 2, "consequence": "organizational_handling"}
    last_year = make_committee_campaign("c2025")
    _finalize(last_year)
    member = _member()
    appeal = publication.file_appeal(last_year, queries.campaign_unit(last_year, "u3"), "申请复核", member)
    publication.decide_appeal(last_year, appeal, "changed", "核实后调整", "basically_satisfied", member, TODAY)
    db.session.commit()
    campaign = make_committee_campaign("c2026")
    carrying.save_rules(campaign, {"escalation": [rule]}, member)
    db.session.commit()
    _finalize(campaign)
    assert ("u3", "organizational_handling") not in _live(campaign)  # 2025's latest version: 基本满意


@pytest.mark.db
def test_an_appeal_decided_after_the_next_year_was_finalized_changes_its_escalations(ctx):
    rule = {"basis": "class", "value": "dissatisfied", "count": 2, "years": 2, "consequence": "organizational_handling"}
    last_year = make_committee_campaign("c2025")
    _finalize(last_year)
    member = _member()
    appeal = publication.file_appeal(last_year, queries.campaign_unit(last_year, "u3"), "申请复核", member)
    db.session.commit()
    campaign = make_committee_campaign("c2026")
    carrying.save_rules(campaign, {"escalation": [rule]}, member)
    db.session.commit()
    _finalize(campaign)
    assert ("u3", "organizational_handling") in _live(campaign)  # 2025 and 2026 不满意
    publication.decide_appeal(last_year, appeal, "changed", "核实后调整", "basically_satisfied", member, TODAY)
    db.session.commit()
    assert ("u3", "organizational_handling") not in _live(campaign)
    gone = next(c for c in rectification.consequences_of(campaign) if c.kind == "organizational_handling")
    assert gone.cancelled_at is not None and "申诉复核" in gone.note
    assert ("u3", "criticism_notice") in _live(campaign)  # this year's own class is untouched
    assert "consequence.follow_appeal" in _actions()


@pytest.mark.db
def test_a_decided_appeal_makes_the_consequences_follow_the_new_class(ctx):
    rule = {"basis": "class", "value": "basically_satisfied", "count": 1, "years": 1, "consequence": "media_list"}
    campaign = make_committee_campaign()
    member = _member()
    carrying.save_rules(campaign, {"escalation": [rule]}, member)
    db.session.commit()
    _finalize(campaign)
    carrying.carry_out(campaign, _live(campaign)[("u3", "criticism_notice")], member, proof="通〔2027〕1 号")
    appeal = publication.file_appeal(campaign, queries.campaign_unit(campaign, "u3"), "申请复核", member)
    publication.decide_appeal(campaign, appeal, "changed", "核实后调整", "basically_satisfied", member, TODAY)
    db.session.commit()
    live = {kind for code, kind in _live(campaign) if code == "u3"}
    assert live == {"self_examination", "media_list"}  # the class's, and the escalation rule's for it
    cancelled = [c for c in rectification.consequences_of(campaign) if c.cancelled_at is not None]
    assert {c.kind for c in cancelled} == {"criticism_notice", "media_list", "bonus_linkage", "leader_handling"}
    executed = next(c for c in cancelled if c.kind == "criticism_notice")
    assert executed.state == "executed" and "申诉复核" in executed.note  # the record is kept


@pytest.mark.db
def test_the_rules_page_adds_and_removes_rules(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    base = f"/results/{campaign.code}/consequence-rules"
    client.post(f"{base}/escalation", data={"basis": "class", "value": "dissatisfied", "count": "2", "years": "3",
                                            "consequence": "organizational_handling", "text": MARKUP})
    client.post(f"{base}/escalation", data={"basis": "class", "value": "dissatisfied", "count": "4", "years": "3",
                                            "consequence": "media_list"})
    page = client.get(base).get_data(as_text=True)
    assert "近 3 年内 2 次评为“不满意” → 组织处理" in page
    assert "近 2 年内 2 次评议末位 → 组织处理" in page  # the built-in rule, switched on the settings page
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    rules = carrying.rules_view(campaign)["escalation"]
    assert [r["count"] for r in rules] == [2]  # 4 times in 3 years was refused
    client.post(f"{base}/owners", data={"owner_bonus_linkage": "财政局", "days_bonus_linkage": "20"})
    assert carrying.rules_view(campaign)["owners"] == {"bonus_linkage": "财政局"}
    assert carrying.rules_view(campaign)["due_days"] == {"bonus_linkage": 20}
    client.post(f"{base}/escalation/0/delete")
    assert carrying.rules_view(campaign)["escalation"] == []
    assert carrying.rules_view(campaign)["owners"] == {"bonus_linkage": "财政局"}
    # the settings page keeps them when it saves the class rules
    client.post(f"/results/{campaign.code}/settings", data={"min_group_ballots": "5", "self_examination_days": "15",
                                                             "public_detail": "classes"})
    assert carrying.rules_view(campaign)["owners"] == {"bonus_linkage": "财政局"}
    assert "consequence.rules" in _actions()


# --- 回头看 -------------------------------------------------------------------------------


@pytest.mark.db
def test_a_review_closes_or_reopens_the_rectification(client, ctx):
    campaign = make_committee_campaign()
    _finalize(campaign)
    member = _member()
    u2, u3 = queries.campaign_unit(campaign, "u2"), queries.campaign_unit(campaign, "u3")
    first = rectification.schedule_follow_up(campaign, u3, dt.date(2027, 3, 1), "检查窗口")
    second = rectification.schedule_follow_up(campaign, u2, dt.date(2027, 3, 2), "")
    db.session.commit()
    with pytest.raises(ResultsError, match="整改尚未验收"):
        lookback.record_findings(campaign, first, "已整改", "closed", member, TODAY)
    rect = rectification.rectification_of(u3)
    rectification.submit_rectification(campaign, u3, "report", "已增设导办员")
    rectification.accept_rectification(campaign, rect, member)
    db.session.commit()
    with pytest.raises(ResultsError, match="截止日期"):
        lookback.record_findings(campaign, first, "问题反弹", "reopened", member, TODAY)
    login(client, "committee")
    client.post(f"/results/{campaign.code}/follow-ups/{first.id}/findings",
                data={"findings": "窗口排队问题反弹 " + MARKUP, "outcome": "reopened", "new_due": "2027-04-30"})
    db.session.expire_all()
    rect = rectification.rectification_of(queries.campaign_unit(campaign, "u3"))
    assert rect.accepted_at is None and rect.due_on == dt.date(2027, 4, 30) and rect.marked_red_at is None
    assert rect.is_returned and rect.review_comment.startswith("窗口排队问题反弹")  # the liaison reads why
    first = db.session.get(FollowUp, first.id)
    assert first.outcome == "reopened" and first.done_at is not None and first.new_due == dt.date(2027, 4, 30)
    page = client.get(f"/results/{campaign.code}/lookback").get_data(as_text=True)
    assert "整改不到位，重新整改" in page and "<script>alert(1)" not in page and "&lt;script&gt;" in page
    # the reopened rectification runs again: past its new deadline it turns red again
    rectification.mark_overdue(campaign, dt.date(2027, 5, 1))
    assert rect.is_red
    # the review of u2 (accepted later) closes it
    rect2 = rectification.rectification_of(u2)
    rectification.submit_rectification(campaign, u2, "report", "整改完成")
    rectification.accept_rectification(campaign, rect2, member)
    lookback.record_findings(campaign, db.session.get(FollowUp, second.id), "整改到位", "closed", member, TODAY)
    db.session.commit()
    assert rect2.accepted_at is not None and db.session.get(FollowUp, second.id).outcome == "closed"
    with pytest.raises(ResultsError, match="已记录结果"):
        lookback.record_findings(campaign, db.session.get(FollowUp, second.id), "again", "noted", member, TODAY)
    assert _actions().count("follow_up.findings") == 2


# --- the best units -----------------------------------------------------------------------


@pytest.mark.db
def test_the_best_units_are_candidates_the_committee_decides_and_the_public_sees(client, ctx):
    campaign = make_committee_campaign()
    member = _member()
    with pytest.raises(ResultsError, match="stars"):
        honours.save_rule(campaign, {"top_k": 1, "stars": [{"min_score": 80, "stars": 3},
                                                           {"min_score": 90, "stars": 4}]}, member)
    honours.save_rule(campaign, {"top_k": 1, "stars": [{"min_score": 90, "stars": 5},
                                                       {"min_score": 60, "stars": 3}],
                                 "public_stars": True}, member)
    db.session.commit()
    assert honours.candidates(campaign, snapshots.results_for(campaign)) == []  # not before 定稿
    _finalize(campaign)
    results = snapshots.results_for(campaign)
    scores = {u["code"]: u["score"] for u in results["units"]}
    cands = honours.candidates(campaign, results)
    # u1 (满意, first of 行政执法类); u2 is first of 社会服务类 but 基本满意; u3 不满意
    assert [c.row.code for c in cands] == ["u1"]
    assert cands[0].stars == (5 if scores["u1"] >= 90 else 3)
    # the score rule: at u1's score it is named, just above it not
    at = [c.row.code for c in honours.candidates(campaign, results, honours.HonourRule(min_score=scores["u1"]))]
    above = honours.candidates(campaign, results, honours.HonourRule(min_score=scores["u1"] + 0.01))
    assert at == ["u1"] and above == []
    with pytest.raises(ResultsError, match="不在先进候选名单中"):
        honours.decide(campaign, queries.campaign_unit(campaign, "u2"), results, "awarded", member)
    login(client, "committee")
    client.post(f"/results/{campaign.code}/honours/u1", data={"decision": "awarded", "title": MARKUP,
                                                              "amount": "50000", "note": MARKUP})
    row = db.session.scalar(select(Honour))
    assert (row.decision, row.amount, row.title) == ("awarded", 50000, MARKUP[:100])
    page = client.get(f"/results/{campaign.code}/honours").get_data(as_text=True)
    assert "奖励 50000.00 元" in page and "<script>alert(1)" not in page and "&lt;script&gt;" in page
    assert "honour.decide" in _actions()
    # a rule changed later names nobody new, and the unit decided on stays listed with its decision
    honours.save_rule(campaign, {"min_score": 100}, member)
    listed = honours.candidates(campaign, results)
    assert [(c.row.code, c.honour.decision) for c in listed] == [("u1", "awarded")]
    honours.save_rule(campaign, {"top_k": 1, "stars": [{"min_score": 90, "stars": 5},
                                                       {"min_score": 60, "stars": 3}], "public_stars": True}, member)
    # the 公示 page: stars and the awarded units
    today = clock.today()
    publication.publish(campaign, True, today - dt.timedelta(days=1), today + dt.timedelta(days=7), member)
    db.session.commit()
    client.post("/logout")
    public = client.get(f"/public/{campaign.code}").get_data(as_text=True)
    assert 'data-testid="stars-u1"' in public and "★" in public
    assert 'data-testid="honours"' in public and "市第1局" in public
    assert "<script>alert(1)" not in public and "&lt;script&gt;" in public
    assert "50000" not in public  # amounts stay internal


@pytest.mark.db
def test_stars_stay_off_the_public_page_unless_asked(client, ctx):
    campaign = make_committee_campaign()
    member = _member()
    honours.save_rule(campaign, {"min_score": 0, "stars": [{"min_score": 0, "stars": 1}]}, member)
    _finalize(campaign)
    today = clock.today()
    publication.publish(campaign, True, today - dt.timedelta(days=1), today + dt.timedelta(days=7), member)
    db.session.commit()
    public = client.get(f"/public/{campaign.code}").get_data(as_text=True)
    assert 'data-testid="stars-' not in public and 'data-testid="honours"' not in public


# --- the bundle ----------------------------------------------------------------------------


@pytest.mark.db
def test_the_rules_travel_in_the_bundles_extensions(ctx):
    campaign = make_committee_campaign("t2026")
    member = _member()
    carrying.save_rules(campaign, {"escalation": [{"basis": "class", "value": "dissatisfied", "count": 2,
                                                   "years": 3, "consequence": "organizational_handling",
                                                   "text": "{单位} 多次不满意"}],
                                   "owners": {"bonus_linkage": "市财政局"}, "due_days": {"media_list": 10}}, member)
    queries.settings_for(campaign).consequences = {**queries.settings_for(campaign).consequences,
                                                   "media_list": False, "leader_handling": "免职"}
    honours.save_rule(campaign, {"top_k": 2, "min_score": 85, "stars": [{"min_score": 90, "stars": 4}],
                                 "public_stars": True, "title": "群众满意单位"}, member)
    db.session.commit()
    doc = json.loads(json.dumps(export_bundle(campaign)))
    assert doc["extensions"]["consequences"] == {
        "escalation": [{"basis": "class", "value": "dissatisfied", "count": 2, "years": 3,
                        "consequence": "organizational_handling", "text": "{单位} 多次不满意"}],
        "owners": {"bonus_linkage": "市财政局"}, "due_days": {"media_list": 10},
        "media_list": False, "leader_handling": "免职"}
    assert doc["extensions"]["honours"] == {"top_k": 2, "min_score": 85.0, "stars": [{"min_score": 90, "stars": 4}],
                                            "public_stars": True, "title": "群众满意单位"}
    doc["campaign"]["code"] = "copy2026"
    copy = import_bundle(doc)
    db.session.commit()
    again = json.loads(json.dumps(export_bundle(copy)))
    again["campaign"]["code"] = "copy2026"
    assert again == doc
    assert queries.consequence_rules(queries.settings_for(copy))["media_list"] is False
    # a campaign with the default rules exports no such extension
    plain = export_bundle(make_committee_campaign("plain2026"))
    assert not {"consequences", "honours"} & set(plain.get("extensions", {}))


@pytest.mark.db
def test_a_bad_rule_in_the_bundle_is_refused_where_it_is(ctx):
    doc = committee_bundle("bad2026")
    doc["extensions"] = {"consequences": {"escalation": [{"basis": "class", "value": "dissatisfied", "count": 2,
                                                          "years": 1, "consequence": "media_list"}],
                                          "media_list": "yes"},
                         "honours": {"top_k": 0}}
    with pytest.raises(BundleError) as exc:
        import_bundle(doc)
    paths = {p.path for p in exc.value.problems}
    assert {"extensions.consequences.media_list", "extensions.consequences.escalation[0].count",
            "extensions.honours.top_k"} <= paths
    assert db.session.scalar(select(Campaign).where(Campaign.code == "bad2026")) is None


@pytest.mark.db
def test_the_draft_report_lists_the_escalation_rules(app, ctx):
    from survey.results import report

    campaign = make_committee_campaign()
    carrying.save_rules(campaign, {"escalation": [{"basis": "class", "value": "dissatisfied", "count": 2,
                                                   "years": 3, "consequence": "organizational_handling"}]}, _member())
    db.session.commit()
    with app.test_request_context():
        text = report.html(campaign)
    assert "加重处理：近 2 年内 2 次评议末位 → 组织处理；" in text
    assert "加重处理：近 3 年内 2 次评为“不满意” → 组织处理；" in text
