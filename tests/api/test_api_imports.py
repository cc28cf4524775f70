"""Writing through the API: the roster and objective scores, all or nothing,
through the pages' services, refused with every problem at its place in the
body (pingyi-errors/1), and only for the organizer's key."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from survey.extensions import db
from survey.models import AuditEntry, Campaign, Evaluator, ObjectiveScore
from survey.results import inputs
from tests.api.apikit import bearer, finalize

API = "/api/v1"


def _post(client: Any, path: str, key: str | None, body: Any, status: int = 200, **kwargs: Any) -> Any:
    response = client.post(API + path, headers=bearer(key), json=body, **kwargs)
    assert response.status_code == status, (path, response.get_json())
    return response.get_json()


def _refused(client: Any, path: str, key: str, body: Any, status: int = 400) -> dict[str, dict[str, str]]:
    """The problems of a refused body, by path."""
    answer = _post(client, path, key, body, status)
    assert answer["format"] == "pingyi-errors/1"
    assert all(e["reason"] and e["reason_en"] for e in answer["errors"])
    return {e["path"]: e for e in answer["errors"]}


def _campaign() -> Campaign:
    campaign = db.session.scalar(select(Campaign).where(Campaign.code == "t2026"))
    assert campaign is not None
    return campaign


def _evaluators() -> list[Evaluator]:
    return list(db.session.scalars(select(Evaluator).where(Evaluator.campaign_id == _campaign().id)
                                   .order_by(Evaluator.id)))


# --- the roster -----------------------------------------------------------------------------


def test_the_roster_is_imported_as_the_page_imports_a_file(app, client, role_keys) -> None:
    answer = _post(client, "/campaigns/t2026/roster", role_keys["organizer"], {"evaluators": [
        {"name": "张明", "phone": "+86 139-0000-0001", "organisation": "某公司", "group": "client",
         "attributes": {"区域": "东城区"}},
        {"name": "李华", "email": "li.hua@example.cn", "group": "专家学者", "own_unit": "u2",
         "attributes": {"行业": "教育"}},
    ]})
    assert answer == {"imported": 2, "per_group": {"服务对象": 1, "专家学者": 1}}
    with app.app_context():
        zhang, li = _evaluators()
        assert (zhang.name, zhang.phone, zhang.email, zhang.organisation, zhang.attributes) == (
            "张明", "13900000001", None, "某公司", {"区域": "东城区"})
        assert (li.email, li.attributes, li.own_unit_id is not None) == ("li.hua@example.cn", {"行业": "教育"}, True)
    # The same people again: every row refused, nothing imported.
    problems = _refused(client, "/campaigns/t2026/roster", role_keys["organizer"], {"evaluators": [
        {"name": "张明", "phone": "13900000001", "group": "client"}]})
    assert list(problems) == ["body.evaluators[0].phone"] and "已在名单中" in problems[
        "body.evaluators[0].phone"]["reason"]


def test_a_roster_with_problems_is_refused_whole_naming_each(app, client, role_keys) -> None:
    problems = _refused(client, "/campaigns/t2026/roster", role_keys["organizer"], {"evaluators": [
        {"name": "好人", "phone": "13900000002", "group": "client"},
        {"name": "甲", "phone": "1380013", "group": "client"},
        {"name": "乙", "phone": "13900000002", "group": "client"},
        {"name": "丙", "email": "not-an-address", "group": "专家"},
        {"name": "丁", "group": "client", "own_unit": "u99"},
        {"name": "戊", "phone": "13900000003", "group": "client", "attributes": {"区域": "x" * 3}},
    ]})
    assert sorted(problems) == ["body.evaluators[1].phone", "body.evaluators[2].phone", "body.evaluators[3].email",
                                "body.evaluators[3].group", "body.evaluators[4].own_unit",
                                "body.evaluators[4].phone"]
    assert "手机号码格式不对" in problems["body.evaluators[1].phone"]["reason"]
    assert "与第 2 行是同一人" in problems["body.evaluators[2].phone"]["reason"]
    assert "未知评议主体“专家”" in problems["body.evaluators[3].group"]["reason"]
    assert "未知单位代码“u99”" in problems["body.evaluators[4].own_unit"]["reason"]
    with app.app_context():
        assert _evaluators() == []  # not even the good rows


def test_a_roster_body_of_the_wrong_shape_is_refused_before_anything(app, client, role_keys) -> None:
    key = role_keys["organizer"]
    problems = _refused(client, "/campaigns/t2026/roster", key, {"evaluators": [
        {"name": "  ", "group": "client", "phone": 13900000001, "attributes": {"手机": "x", " 区域": "y"}},
        {"group": "client", "nickname": "x"}]})
    assert sorted(problems) == ["body.evaluators[0].attributes", "body.evaluators[0].name",
                                "body.evaluators[0].phone", "body.evaluators[1].name", "body.evaluators[1].nickname"]
    assert problems["body.evaluators[1].name"]["reason"] == "请求体 body.evaluators[1].name：必须填写"
    assert problems["body.evaluators[1].nickname"]["reason"].endswith("不认识的字段")
    assert problems["body.evaluators[0].name"]["reason"].endswith("不能为空")
    assert _refused(client, "/campaigns/t2026/roster", key, {"evaluators": []})[
        "body.evaluators"]["reason"].endswith("至少 1 项")
    not_json = client.post(API + "/campaigns/t2026/roster", headers=bearer(key), data="姓名,手机\n张,139",
                           content_type="text/csv")
    assert not_json.status_code == 400 and not_json.get_json()["errors"][0]["path"] == "body"
    broken = client.post(API + "/campaigns/t2026/roster", headers=bearer(key), data='{"evaluators": [',
                         content_type="application/json")
    assert broken.status_code == 400 and broken.get_json()["errors"][0]["reason"].startswith("请求体 body：不是有效的 JSON")


def test_only_the_organizer_imports_and_not_once_final(app, client, role_keys) -> None:
    body = {"evaluators": [{"name": "张明", "phone": "13900000001", "group": "client"}]}
    for role in ("committee", "auditor", "liaison", "admin"):
        assert _post(client, "/campaigns/t2026/roster", role_keys[role], body, 403)["code"] == "forbidden"
    assert _post(client, "/campaigns/t2026/roster", None, body, 401)["code"] == "unauthorized"
    assert _post(client, "/campaigns/nothing/roster", role_keys["organizer"], body, 404)["code"] == "not_found"
    with app.app_context():
        finalize()
    problems = _refused(client, "/campaigns/t2026/roster", role_keys["organizer"], body)
    assert problems["body"]["reason"] == "评议活动已定稿，不能再导入名单"
    with app.app_context():
        assert _evaluators() == []


# --- objective scores ---------------------------------------------------------------------------


def test_objective_scores_are_set_all_or_nothing(app, client, role_keys) -> None:
    key = role_keys["organizer"]
    with app.app_context():
        inputs.set_objective_score(_campaign(), _campaign().units[0], "work", 70.0, "旧的考核")
        db.session.commit()
    assert _post(client, "/campaigns/t2026/objective-scores", key, {"scores": [
        {"unit": "u1", "component": "work", "score": 88.5, "evidence": "考核办〔2026〕3 号"},
        {"unit": "u2", "score": 61, "evidence": "考核表"},
    ]}) == {"imported": 2}
    listed = client.get(API + "/campaigns/t2026/objective-scores", headers=bearer(role_keys["auditor"])).get_json()
    assert listed["items"] == [  # the raw score, its full marks (default 100) and the evidence beside it
        {"unit": "u1", "component": "work", "score": 88.5, "raw": 88.5, "full_marks": 100.0,
         "evidence": "考核办〔2026〕3 号"},
        {"unit": "u2", "component": "work", "score": 61.0, "raw": 61.0, "full_marks": 100.0, "evidence": "考核表"}]
    with app.app_context():
        assert [(s.campaign_unit.code, s.score) for s in inputs.objective_scores_of(_campaign())] == [
            ("u1", 88.5), ("u2", 61.0)]  # u1's replaced, as the page replaces it
        evidence = db.session.scalars(select(AuditEntry.after).where(AuditEntry.action == "objective_score.set")
                                      .order_by(AuditEntry.id)).all()
        assert [e["evidence"] for e in evidence] == ["旧的考核", "考核办〔2026〕3 号", "考核表"]
    problems = _refused(client, "/campaigns/t2026/objective-scores", key, {"scores": [
        {"unit": "u3", "component": "work", "score": 50, "evidence": "x"},
        {"unit": "u99", "component": "work", "score": 50, "evidence": "x"},
        {"unit": "u3", "component": "work", "score": 51, "evidence": "y"}]})
    assert sorted(problems) == ["body.scores[1].unit", "body.scores[2]"]
    assert "scores[0]" in problems["body.scores[2]"]["reason"]
    problems = _refused(client, "/campaigns/t2026/objective-scores", key, {"scores": [
        {"unit": "u3", "component": "工作", "score": -1, "evidence": ""}]})
    assert problems["body.scores[0].score"]["reason"] == "请求体 body.scores[0].score：不能小于 0"
    assert sorted(problems) == ["body.scores[0].component", "body.scores[0].evidence", "body.scores[0].score"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ObjectiveScore)) == 2  # nothing of u3
        finalize()
    problems = _refused(client, "/campaigns/t2026/objective-scores", key, {"scores": [
        {"unit": "u3", "component": "work", "score": 50, "evidence": "x"}]})
    assert problems["$"]["reason"] == "评议结果已定稿，不能再修改。"
    for role in ("committee", "auditor", "admin", "liaison"):
        _post(client, "/campaigns/t2026/objective-scores", role_keys[role], {"scores": []}, 403)
