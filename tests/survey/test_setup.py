"""Campaign setup pages: creating a campaign and its parts, the edits each status allows,
the scoring rules' validation, copying last year's, and the status changes."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from analysis import validate_bundle
from survey.bundles import export_bundle
from survey.campaigns import setup
from survey.clock import utcnow
from survey.extensions import db
from survey.models import Campaign, Category, GroupUnit, Unit
from tests.factories import login, make_campaign, make_user


@pytest.fixture
def rctx(app):
    """Services speak Chinese through the request's locale."""
    with app.test_request_context():
        yield


@pytest.fixture
def organizer(app, client):
    with app.app_context():
        make_user("organizer")
    login(client, "organizer")
    return client


def _campaign(code: str) -> Campaign:
    db.session.expire_all()
    return db.session.scalar(select(Campaign).where(Campaign.code == code))


def build_from_scratch(client, code: str = "c2027") -> None:
    """Every part through the pages, as an organizer would."""
    answer = client.post("/campaigns/new", data={
        "code": code, "name": "2027年度作风评议", "year": "2027", "anonymous": "y", "return_target": "90",
        "opens_at": "2027-11-01T09:00", "closes_at": "2027-11-30T18:00", "copy_from": ""})
    assert answer.status_code == 302, answer.text
    base = f"/campaigns/{code}/setup"
    for cat_code, label in (("law", "行政执法类"), ("svc", "社会服务类")):
        assert client.post(f"{base}/categories", data={"code": cat_code, "label": label}).status_code == 302
    with client.application.app_context():
        c = _campaign(code)
        law, svc = c.categories[0].id, c.categories[1].id
    for unit_code, name, cat in (("u1", "市税务局", law), ("u2", "市公安局", law), ("u3", "市医保局", svc)):
        assert client.post(f"{base}/units", data={"category": cat, "code": unit_code, "name": name}).status_code == 302
    for gcode, label, weight, quota in (("client", "服务对象", "2", "400"), ("npc", "人大代表", "1", "")):
        assert client.post(f"{base}/groups", data={"code": gcode, "label": label, "weight": weight,
                                                   "quota": quota}).status_code == 302
    assert client.post(f"{base}/items", data={"code": "overall", "label": "总体评价", "weight": "1"}).status_code == 302
    for ocode, label, points in (("S", "满意", "100"), ("B", "基本满意", "70"), ("D", "不满意", "0"), ("U", "不了解", "")):
        assert client.post(f"{base}/options", data={"code": ocode, "label": label, "points": points}).status_code == 302


def test_create_a_campaign_from_scratch(app, organizer) -> None:
    build_from_scratch(organizer)
    with app.app_context():
        c = _campaign("c2027")
        assert c.status == "draft" and c.anonymous and c.return_target == pytest.approx(0.9)
        # Typed in Beijing time, kept in UTC.
        assert c.opens_at == dt.datetime(2027, 11, 1, 1, 0)
        assert [u.code for u in c.units] == ["u1", "u2", "u3"]
        assert [(g.code, g.weight, g.quota) for g in c.groups] == [("client", 2.0, 400), ("npc", 1.0, None)]
        assert [(o.code, o.points) for o in c.scale] == [("S", 100), ("B", 70), ("D", 0), ("U", None)]
        assert validate_bundle(export_bundle(c)) == []
    page = organizer.get("/campaigns/c2027/setup/groups").text
    # The normalisation is shown: 2 and 1 are 66.7% and 33.3%.
    assert "66.7%" in page and "33.3%" in page


def test_units_and_categories_are_reused_across_years(app, organizer) -> None:
    build_from_scratch(organizer, "c2027")
    build_from_scratch(organizer, "c2028")
    with app.app_context():
        assert db.session.scalar(select(func.count(Unit.id))) == 3
        assert db.session.scalar(select(func.count(Category.id))) == 2
    # An existing unit is picked by its code alone; a new code needs a name.
    c = None
    with app.app_context():
        c = _campaign("c2027")
        cat = c.categories[0].id
        setup.remove_unit(c, c.units[0])
        db.session.commit()
    assert organizer.post("/campaigns/c2027/setup/units", data={"category": cat, "code": "u1", "name": ""}).status_code == 302
    answer = organizer.post("/campaigns/c2027/setup/units", data={"category": cat, "code": "u9", "name": ""})
    assert answer.status_code == 400 and "单位 u9 是新单位，请填写名称" in answer.text
    answer = organizer.post("/campaigns/c2027/setup/units", data={"category": cat, "code": "u2", "name": ""})
    assert answer.status_code == 400 and "单位 u2 已在本次评议中" in answer.text


@pytest.mark.parametrize("data,message", [
    ({"code": "g", "label": "某组", "weight": "0"}, "权重必须是正数"),
    ({"code": "g", "label": "某组", "weight": "-1"}, "权重必须是正数"),
    ({"code": "g x", "label": "某组", "weight": "1"}, "代码只能由字母、数字"),
    ({"code": "g", "label": "某组", "weight": "1", "quota": "-3"}, "名额不能为负数"),
])
def test_group_form_explains_bad_input(app, organizer, data, message) -> None:
    build_from_scratch(organizer)
    answer = organizer.post("/campaigns/c2027/setup/groups", data=data)
    assert answer.status_code == 400 and message in answer.text


def test_rated_units_are_stored_only_when_not_all(app, organizer) -> None:
    build_from_scratch(organizer)
    with app.app_context():
        c = _campaign("c2027")
        group, units = c.groups[0], [u.id for u in c.units]
    url = f"/campaigns/c2027/setup/groups/{group.id}/units"
    assert organizer.post(url, data={"units": units[:2]}).status_code == 302
    with app.app_context():
        rows = db.session.scalars(select(GroupUnit.campaign_unit_id).where(GroupUnit.campaign_group_id == group.id)).all()
        assert sorted(rows) == sorted(units[:2])
    assert organizer.post(url, data={"units": units}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(GroupUnit.id))) == 0


RULES = {"ballot_share": "0.7", "objective_components": "work=0.3", "satisfied": "90", "basic": "60",
         "max_dissatisfied_share": "", "bottom_n": "1", "bottom_below": "75", "min_valid_per_unit": "8",
         "trim_per_end": "0.1", "nonresponse_adjust": "y", "weight_cap": "5", "exclude_flags": ["duplicate"],
         "burst_limit": "20", "overall_item": "", "replicates": "1000", "seed": "20261123"}


def test_rules_are_stored_as_differences_from_the_defaults(app, organizer) -> None:
    build_from_scratch(organizer)
    answer = organizer.post("/campaigns/c2027/setup/rules", data=RULES)
    assert answer.status_code == 302
    with app.app_context():
        c = _campaign("c2027")
        assert c.rules == {"ballot_share": 0.7, "objective_components": {"work": 0.3},
                           "thresholds": {"satisfied": 90, "basic": 60}, "bottom": {"n": 1, "below": 75},
                           "trim_per_end": 0.1}
        assert validate_bundle(export_bundle(c)) == []
    # The form shows them back.
    page = organizer.get("/campaigns/c2027/setup/rules").text
    assert 'value="0.7"' in page and "work=0.3" in page


@pytest.mark.parametrize("change,message", [
    ({"satisfied": "60", "basic": "85"}, "满意阈值（60）必须高于基本满意阈值（85）"),
    ({"satisfied": "70", "basic": "70"}, "必须高于基本满意阈值"),
    ({"trim_per_end": "0.5"}, "每端去除比例必须不小于 0 且小于 0.5"),
    ({"trim_per_end": "-0.1"}, "每端去除比例必须不小于 0 且小于 0.5"),
    ({"bottom_n": "0"}, "末位名数 n 至少为 1"),
    ({"bottom_below": ""}, "末位规则需要同时填写名数 n 和分数线"),
    ({"ballot_share": "0"}, "问卷测评占比必须是正数"),
    ({"objective_components": "work"}, "请写成 代码=占比"),
    ({"weight_cap": "0"}, "权重上限必须是正数"),
    ({"max_dissatisfied_share": "1.5"}, "不满意率上限应在 0 到 1 之间"),
])
def test_rules_validation_explains_itself(app, organizer, change, message) -> None:
    build_from_scratch(organizer)
    answer = organizer.post("/campaigns/c2027/setup/rules", data={**RULES, **change})
    assert answer.status_code == 400
    assert message in answer.text and "计分规则有误" in answer.text
    with app.app_context():
        assert _campaign("c2027").rules == {}


def test_rules_refuse_an_unknown_overall_item(app, rctx) -> None:
    campaign, _tokens = make_campaign(status="draft")
    with pytest.raises(setup.SetupRefused, match="未知评价项目 nope"):
        setup.set_rules(campaign, {"overall_item": "nope"})


def test_opening_needs_a_complete_setup(app, organizer) -> None:
    organizer.post("/campaigns/new", data={"code": "e1", "name": "空活动", "year": "2027", "return_target": "90"})
    answer = organizer.post("/campaigns/e1/status", data={"target": "open"}, follow_redirects=True)
    assert "还不能开始评议" in answer.text and "还没有被评议单位" in answer.text
    with app.app_context():
        assert _campaign("e1").status == "draft"


def test_status_moves_draft_open_closed_and_not_to_finalized(app, organizer) -> None:
    build_from_scratch(organizer)
    # 开始评议 asks first and changes nothing until confirmed.
    asked = organizer.post("/campaigns/c2027/status", data={"target": "open"})
    assert asked.status_code == 200 and "此操作不能撤销" in asked.text and 'name="confirmed" value="1"' in asked.text
    assert 'name="target" value="open"' in asked.text  # the confirmation posts the same fields again
    with app.app_context():
        assert _campaign("c2027").status == "draft"
    # The deadline is in 2027: still ahead.
    assert organizer.post("/campaigns/c2027/status", data={"target": "open", "confirmed": "1"}).status_code == 302
    with app.app_context():
        assert _campaign("c2027").status == "open"
    organizer.post("/campaigns/c2027/status", data={"target": "finalized", "confirmed": "1"})
    with app.app_context():
        assert _campaign("c2027").status == "open"
    asked = organizer.post("/campaigns/c2027/status", data={"target": "closed"})
    assert asked.status_code == 200 and "停止接受提交" in asked.text
    with app.app_context():
        assert _campaign("c2027").status == "open"
    organizer.post("/campaigns/c2027/status", data={"target": "closed", "confirmed": "1"})
    with app.app_context():
        assert _campaign("c2027").status == "closed"


def test_the_status_buttons_carry_their_dialog(app, organizer) -> None:
    """With JavaScript the question is a dialog (static/staff.js reads data-confirm)."""
    build_from_scratch(organizer)
    page = organizer.get("/campaigns/c2027/setup").text
    assert "staff.js" in page and 'data-confirm="开始评议后' in page


@pytest.mark.parametrize("status", ["open", "closed"])
def test_once_open_edits_that_alter_ballots_are_refused(app, rctx, status) -> None:
    campaign, _tokens = make_campaign(status=status)
    for change in (lambda: setup.remove_unit(campaign, campaign.units[0]),
                   lambda: setup.remove_item(campaign, campaign.items[0]),
                   lambda: setup.remove_option(campaign, campaign.scale[0]),
                   lambda: setup.update_option(campaign, campaign.scale[1], label="基本满意", points=60),
                   lambda: setup.add_option(campaign, code="X", label="弃权", points=None),
                   lambda: setup.set_rated_units(campaign, campaign.groups[0], {campaign.units[0].id})):
        with pytest.raises(setup.SetupRefused, match="会改变评议表或已回收评议票的含义"):
            change()
    # What does not touch a ballot is still allowed: weights, quotas, labels, rules, new units.
    setup.update_group(campaign, campaign.groups[0], label="服务对象", weight=3, quota=500)
    setup.update_option(campaign, campaign.scale[0], label="很满意", points=100)
    setup.set_rules(campaign, {"trim_per_end": 0.05})
    setup.add_unit(campaign, category=campaign.categories[0], code="u9", name="市新设局")
    db.session.commit()
    assert campaign.groups[0].weight == 3 and campaign.rules == {"trim_per_end": 0.05}


def test_refusal_is_shown_on_the_page(app, organizer) -> None:
    with app.app_context():
        campaign, _tokens = make_campaign(status="open")
        unit_id = campaign.units[0].id
    answer = organizer.post(f"/campaigns/t2026/setup/units/{unit_id}/delete", follow_redirects=True)
    assert "会改变评议表或已回收评议票的含义" in answer.text
    with app.app_context():
        assert len(_campaign("t2026").units) == 3


@pytest.mark.parametrize("status", ["finalized", "published"])
def test_a_finalized_campaign_refuses_every_edit(app, rctx, status) -> None:
    campaign, _tokens = make_campaign(status=status)
    for change in (lambda: setup.update_group(campaign, campaign.groups[0], label="x", weight=1, quota=None),
                   lambda: setup.update_item(campaign, campaign.items[0], label="x", weight=2),
                   lambda: setup.set_rules(campaign, {"trim_per_end": 0.1}),
                   lambda: setup.add_category(campaign, code="new", label="新类别"),
                   lambda: setup.update_campaign(campaign, name="x", year=2026, anonymous=True, return_target=0.8,
                                                 opens_at=None, closes_at=None)):
        with pytest.raises(setup.SetupRefused, match="不能再作任何修改"):
            change()
    with pytest.raises(setup.SetupRefused):
        setup.change_status(campaign, "open")


def test_copy_from_last_year(app, organizer) -> None:
    build_from_scratch(organizer, "c2027")
    organizer.post("/campaigns/c2027/setup/rules", data=RULES)
    with app.app_context():
        c = _campaign("c2027")
        setup.set_rated_units(c, c.groups[1], {c.units[0].id})
        db.session.commit()
    answer = organizer.post("/campaigns/new", data={"code": "c2028", "name": "2028年度作风评议", "year": "2028",
                                                    "return_target": "85", "copy_from": "c2027"})
    assert answer.status_code == 302
    with app.app_context():
        old, new = _campaign("c2027"), _campaign("c2028")
        assert new.status == "draft" and new.return_target == pytest.approx(0.85)
        old_doc, new_doc = export_bundle(old), export_bundle(new)
        for key in ("scale", "items", "categories", "units", "groups", "rules"):
            assert new_doc[key] == old_doc[key], key
        assert new_doc["batches"] == [] and new_doc["ballots"] == []
        assert setup.rated_units(new.groups[1]) == {new.units[0].id}
        assert setup.rates_all_units(new.groups[0])


def test_copy_leaves_batches_and_ballots_behind(app, rctx) -> None:
    from survey.models import MessageTemplate
    from survey.results import queries

    source, _tokens = make_campaign(status="closed")
    settings = queries.settings_for(source)
    settings.min_group_ballots, settings.public_scores, settings.public_office = 8, True, "市评议办"
    settings.consequences = {"bottom_years": 3}
    settings.public_from, settings.appeal_until, settings.quorum = dt.date(2026, 12, 1), dt.date(2026, 12, 8), 3
    settings.published_at = utcnow()
    db.session.add(MessageTemplate(campaign_id=source.id, kind="invite", channel="sms", body="【市评议办】{链接}"))
    db.session.flush()
    copy = setup.copy_campaign(source, code="t2027", name="下一年", year=2027)
    db.session.commit()
    assert copy.batches == [] and setup.ballot_count(copy) == 0
    assert [u.code for u in copy.units] == [u.code for u in source.units]
    # Last year's standing settings come along; its dates, quorum and publication do not.
    new = queries.settings_for(copy)
    assert (new.min_group_ballots, new.public_scores, new.public_office, new.consequences) == (
        8, True, "市评议办", {"bottom_years": 3})
    assert (new.public_from, new.appeal_until, new.quorum, new.published_at) == (None, None, None, None)
    texts = db.session.scalars(select(MessageTemplate).where(MessageTemplate.campaign_id == copy.id)).all()
    assert [(t.kind, t.channel, t.body) for t in texts] == [("invite", "sms", "【市评议办】{链接}")]


def test_a_deadline_passed_shows_as_closed(app, rctx) -> None:
    campaign, _tokens = make_campaign(status="open")
    campaign.closes_at = dt.datetime(2020, 1, 1)
    db.session.commit()
    assert campaign.state.effective() == "closed" and not campaign.state.accepting_ballots()
    with pytest.raises(setup.SetupRefused, match="截止时间已过"):
        campaign.status = "closed"
        setup.change_status(campaign, "open")


@pytest.mark.parametrize("data,message", [
    ({"return_target": "150"}, "回收率目标应在 1% 到 100% 之间"),
    ({"opens_at": "2027-11-30T09:00", "closes_at": "2027-11-01T09:00"}, "截止时间必须晚于开始时间"),
    ({"code": "2027 年"}, "代码只能由字母、数字、- 和 _ 组成"),
    ({"name": ""}, "请填写活动名称"),
])
def test_new_campaign_form_explains_bad_input(app, organizer, data, message) -> None:
    base = {"code": "c2027", "name": "2027年度作风评议", "year": "2027", "return_target": "90"}
    answer = organizer.post("/campaigns/new", data={**base, **data})
    assert answer.status_code == 400 and message in answer.text
    with app.app_context():
        assert _campaign("c2027") is None


def test_duplicate_campaign_code_is_refused(app, organizer) -> None:
    build_from_scratch(organizer)
    answer = organizer.post("/campaigns/new", data={"code": "c2027", "name": "又一个", "year": "2027",
                                                    "return_target": "90"})
    assert answer.status_code == 400 and "评议活动代码 c2027 已存在" in answer.text


def test_late_links_say_the_campaign_is_closed(app, client) -> None:
    """At the deadline, or when closed by hand, a personal link answers 410 and says so."""
    with app.app_context():
        campaign, tokens = make_campaign(status="open", invitations=2)
        campaign.closes_at = dt.datetime(2020, 1, 1)
        db.session.commit()
    answer = client.get(f"/b/{tokens[0]}")
    assert answer.status_code == 410 and "已截止" in answer.text
    with app.app_context():
        campaign = _campaign("t2026")
        campaign.closes_at = None
        db.session.commit()
    assert client.get(f"/b/{tokens[1]}").status_code == 200
    with app.app_context():
        make_user("organizer")
    login(client, "organizer")
    assert client.post("/campaigns/t2026/status", data={"target": "closed", "confirmed": "1"}).status_code == 302
    answer = client.get(f"/b/{tokens[1]}")
    assert answer.status_code == 410 and "已截止" in answer.text


def test_a_campaign_past_its_deadline_is_closed_for_everyone(app, organizer) -> None:
    with app.app_context():
        campaign, _tokens = make_campaign(status="open")
        campaign.closes_at = dt.datetime(2020, 1, 1)
        db.session.commit()
    page = organizer.get("/")
    assert page.status_code == 200 and "已截止" in page.text
    with app.app_context():
        assert _campaign("t2026").status == "closed"


def test_close_due_campaigns_leaves_the_others(app, rctx) -> None:
    campaign, _tokens = make_campaign(status="open")
    campaign.closes_at = dt.datetime(2030, 1, 1)
    db.session.commit()
    assert setup.close_due_campaigns(dt.datetime(2029, 12, 31)) == []
    assert setup.close_due_campaigns(dt.datetime(2030, 1, 1)) == ["t2026"] and campaign.status == "closed"


def test_a_deadline_reached_closes_the_campaign_in_the_log_as_the_systems_act(app, client) -> None:
    """The first staff request after the deadline closes it: the log says 系统 did, not that user."""
    from survey.models import AuditEntry

    with app.app_context():
        campaign, _tokens = make_campaign(status="open")
        campaign.closes_at = utcnow() - dt.timedelta(minutes=1)
        make_user("organizer")
        make_user("auditor")
        db.session.commit()
    login(client, "organizer")
    client.get("/")
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "campaign.close_due")).one()
        assert (entry.target, entry.user_id, entry.username, entry.after["状态"]) == ("campaign:t2026", None, None,
                                                                                    "已截止")
    client.post("/logout")
    login(client, "auditor")
    page = client.get("/audit", query_string={"action": "campaign.close_due"}).get_data(as_text=True)
    assert "到期自动截止" in page and "<td>系统</td>" in page


def test_a_time_outside_the_years_the_database_takes_is_refused_by_the_form(app, client) -> None:
    with app.app_context():
        make_user("organizer")
    login(client, "organizer")
    response = client.post("/campaigns/new", data={"code": "y2026", "name": "年度评议", "year": "2026",
                                                   "return_target": "90", "anonymous": "y",
                                                   "closes_at": "9999-12-01T10:00"})
    assert response.status_code == 400 and "2000 年到 2100 年之间" in response.get_data(as_text=True)
