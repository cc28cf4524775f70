"""Consequences carried out, escalation rules, 回头看 and 先进 through the
API: the same services as the pages, the same roles (survey/policy.py), the
refusals named by their place."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from survey.extensions import db
from survey.models import AuditEntry, Campaign, Consequence
from survey.results import queries, rectification
from tests.api.apikit import bearer, finalize

API = "/api/v1"


def _call(client: Any, method: str, path: str, key: str, status: int = 200, body: Any = None) -> Any:
    response = client.open(API + path, method=method, headers=bearer(key), json=body)
    assert response.status_code == status, (path, response.get_json())
    return response.get_json()


def _campaign() -> Campaign:
    campaign = db.session.scalar(select(Campaign).where(Campaign.code == "t2026"))
    assert campaign is not None
    return campaign


def _consequence(unit: str, kind: str) -> Consequence:
    return next(c for c in rectification.consequences_of(_campaign(), cancelled=False)
                if c.campaign_unit.code == unit and c.kind == kind)


def test_consequences_are_assigned_and_carried_out(app, client, role_keys) -> None:
    with app.app_context():
        finalize()
        bonus = _consequence("u3", "bonus_linkage").id
    listing = _call(client, "GET", "/campaigns/t2026/consequences", role_keys["auditor"])
    entry = next(c for c in listing["items"] if c["id"] == bonus)
    assert (entry["state"], entry["state_label"], entry["owner"], entry["overdue"]) == ("pending", "待办", None, False)
    # the auditor reads, never writes; the liaison neither
    _call(client, "POST", f"/campaigns/t2026/consequences/{bonus}/assign", role_keys["auditor"], 403,
          {"owner": "财政局", "due_on": "2027-01-31"})
    out = _call(client, "POST", f"/campaigns/t2026/consequences/{bonus}/assign", role_keys["organizer"],
                body={"owner": "市财政局", "due_on": "2027-01-31"})
    assert (out["owner"], out["due_on"]) == ("市财政局", "2027-01-31")
    refused = _call(client, "POST", f"/campaigns/t2026/consequences/{bonus}/done", role_keys["organizer"], 400,
                    {"proof": "财务通知"})
    assert "扣减的金额或比例" in refused["errors"][0]["reason"]
    _call(client, "POST", f"/campaigns/t2026/consequences/{bonus}/done", role_keys["organizer"], 400,
          {"percent": 120})
    done = _call(client, "POST", f"/campaigns/t2026/consequences/{bonus}/done", role_keys["committee"],
                 body={"amount": 80000, "percent": 20})
    assert (done["state"], done["amount"], done["percent"]) == ("executed", 80000, 20)
    assert done["done_at"] is not None
    _call(client, "POST", "/campaigns/t2026/consequences/999999/done", role_keys["organizer"], 404, {"proof": "x"})
    _call(client, "POST", "/campaigns/t2026/consequences/abc/done", role_keys["organizer"], 404, {"proof": "x"})
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"consequence.assign", "consequence.carry_out"} <= actions


def test_a_liaison_key_reads_its_units_consequences_and_carries_none_out(app, client, role_keys) -> None:
    with app.app_context():
        finalize()
        notice = _consequence("u3", "criticism_notice").id
    listing = _call(client, "GET", "/campaigns/t2026/consequences", role_keys["liaison"])  # the liaison of u1
    assert all(c["unit"] == "u1" for c in listing["items"])
    _call(client, "POST", f"/campaigns/t2026/consequences/{notice}/done", role_keys["liaison"], 403, {"proof": "x"})


def test_the_rules_are_read_and_replaced(app, client, role_keys) -> None:
    rules = _call(client, "GET", "/campaigns/t2026/consequence-rules", role_keys["auditor"])
    assert [r["builtin"] for r in rules["rules"]] == [True]
    assert rules["rules"][0]["description"] == "近 2 年内 2 次评议末位 → 组织处理"
    body = {"escalation": [{"basis": "class", "value": "dissatisfied", "count": 2, "years": 3,
                            "consequence": "organizational_handling"}],
            "owners": {"bonus_linkage": "市财政局"}, "due_days": {"criticism_notice": 30}}
    _call(client, "POST", "/campaigns/t2026/consequence-rules", role_keys["organizer"], 403, body)
    saved = _call(client, "POST", "/campaigns/t2026/consequence-rules", role_keys["committee"], body=body)
    assert [r["key"] for r in saved["rules"]] == ["bottom::2/2:organizational_handling",
                                                  "class:dissatisfied:2/3:organizational_handling"]
    assert saved["owners"] == {"bonus_linkage": "市财政局"} and saved["due_days"] == {"criticism_notice": 30}
    bad = {"escalation": [{"basis": "visits", "value": "complaint", "count": 1, "years": 1,
                           "consequence": "media_list"}]}
    refused = _call(client, "POST", "/campaigns/t2026/consequence-rules", role_keys["committee"], 400, bad)
    assert "consequences.escalation[0].basis" in refused["errors"][0]["reason"]
    _call(client, "POST", "/campaigns/t2026/consequence-rules", role_keys["committee"], 400,
          {"escalation": [], "owners": {"nothing": "x"}})


def test_follow_ups_and_honours(app, client, role_keys) -> None:
    with app.app_context():
        finalize()
        campaign = _campaign()
        cu = queries.campaign_unit(campaign, "u3")
        review = rectification.schedule_follow_up(campaign, cu, dt.date(2027, 3, 1), "检查窗口")
        db.session.commit()
        review_id = review.id
    reviews = _call(client, "GET", "/campaigns/t2026/follow-ups", role_keys["auditor"])
    assert [(f["unit"], f["outcome"]) for f in reviews["items"]] == [("u3", None)]
    refused = _call(client, "POST", f"/campaigns/t2026/follow-ups/{review_id}/findings", role_keys["committee"], 400,
                    {"findings": "整改到位", "outcome": "closed"})
    assert "整改尚未验收" in refused["errors"][0]["reason"]
    out = _call(client, "POST", f"/campaigns/t2026/follow-ups/{review_id}/findings", role_keys["committee"],
                body={"findings": "问题反弹", "outcome": "reopened", "new_due": "2099-04-30"})
    assert (out["outcome"], out["new_due"]) == ("reopened", "2099-04-30")
    # 先进
    assert _call(client, "GET", "/campaigns/t2026/honours", role_keys["auditor"])["candidates"] == []
    rule = _call(client, "POST", "/campaigns/t2026/honour-rule", role_keys["committee"],
                 body={"top_k": 1, "stars": [{"min_score": 0, "stars": 2}]})
    assert [c["unit"] for c in rule["candidates"]] == ["u1"] and rule["candidates"][0]["stars"] == 2
    decided = _call(client, "POST", "/campaigns/t2026/honours/u1", role_keys["committee"],
                    body={"decision": "awarded", "amount": 30000})
    assert decided["candidates"][0]["decision"] == "awarded" and decided["candidates"][0]["amount"] == 30000
    assert decided["candidates"][0]["title"] == "先进单位"
    _call(client, "POST", "/campaigns/t2026/honours/u3", role_keys["committee"], 400, {"decision": "awarded"})
    _call(client, "POST", "/campaigns/t2026/honours/u1", role_keys["organizer"], 403, {"decision": "declined"})


def test_an_id_beyond_what_the_database_stores_is_404_not_500(app, client, role_keys) -> None:
    """PostgreSQL's integer stops at 2**31 - 1; a larger id in a path names no row
    (found by schemathesis on the PostgreSQL pass: it was a 500)."""
    with app.app_context():
        finalize()
    for huge in ("2147483648", "9999999999"):
        _call(client, "POST", f"/campaigns/t2026/consequences/{huge}/assign", role_keys["organizer"], 404,
              {"owner": "财政局", "due_on": "2027-01-31"})
    # the pages' <int:…> as well: every such rule stops at the same bound
    with app.app_context():
        from tests.factories import login, make_user
        make_user("organizer", username="org-pages")
        db.session.commit()
    login(client, "org-pages")
    assert client.get("/distribution/jobs/2147483647").status_code == 404
    assert client.get("/distribution/jobs/99999999999").status_code == 404
    assert client.post("/results/t2026/vetoes/99999999999/delete").status_code == 404


def test_nul_in_a_body_a_query_or_a_form_is_a_400_naming_where(app, client, role_keys) -> None:
    """No database column holds NUL (PostgreSQL refuses it): schemathesis put one in an owner's
    name on the PostgreSQL pass, and finalization then failed with a 500."""
    body = {"escalation": [], "owners": {"bonus_linkage": "市财政局\x00绩效科"}}
    refused = _call(client, "POST", "/campaigns/t2026/consequence-rules", role_keys["committee"], 400, body)
    assert refused["errors"][0]["path"] == "body.owners.bonus_linkage"
    assert "NUL" in refused["errors"][0]["reason"]
    assert "bonus_linkage" not in _call(client, "GET", "/campaigns/t2026/consequence-rules",
                                        role_keys["auditor"])["owners"]  # nothing saved
    query = client.get(API + "/opinions?unit=u1%00", headers=bearer(role_keys["organizer"]))
    assert query.status_code == 400 and query.get_json()["errors"][0]["path"] == "query.unit"
    with app.app_context():
        from tests.factories import login, make_user
        make_user("handler", username="nul-handler")
        db.session.commit()
    login(client, "nul-handler")
    page = client.post("/opinions", data={"source": "forum", "raised_on": "2026-03-01", "unit": "u1",
                                          "summary": "座谈会\x00意见"})
    assert page.status_code == 400 and "U+0000" in page.get_data(as_text=True)
