"""What follows the results, through the API: comments and answers,
consequences, rectifications, the audit log and per-item results give what
their pages give (the same services), and a liaison's key only what the
liaison's page shows."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import select

from survey import caches
from survey.extensions import db
from survey.models import AuditEntry, Campaign, CampaignUnit, Rectification, ResultSnapshot, User, WebhookDelivery
from survey.results import comments, queries, rectification, snapshots
from tests.api.apikit import bearer, finalize, key_for
from tests.factories import login

API = "/api/v1"


def _get(client: Any, path: str, key: str | None, status: int = 200) -> Any:
    response = client.get(API + path, headers=bearer(key))
    assert response.status_code == status, (path, response.get_json())
    return response.get_json()


def _campaign() -> Campaign:
    campaign = db.session.scalar(select(Campaign).where(Campaign.code == "t2026"))
    assert campaign is not None
    return campaign


def _unit(code: str) -> CampaignUnit:
    cu = queries.campaign_unit(_campaign(), code)
    assert cu is not None
    return cu


def _all(client: Any, path: str, key: str, limit: int = 5) -> list[dict[str, Any]]:
    """Every item of a list, page by page."""
    items, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        page = _get(client, f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""), key)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


# --- comments ------------------------------------------------------------------------------


def test_the_committee_reads_every_comment_with_its_group_and_answer(app, client, role_keys) -> None:
    key = role_keys["committee"]
    before = _all(client, "/campaigns/t2026/units/u3/comments", key)
    with app.app_context():
        received = comments.comments_of(_campaign(), _unit("u3"))
        assert [(c["id"], c["text"], c["group"]) for c in before] == [(c.id, c.text, g) for c, g in received]
        assert {c["group_label"] for c in before} == {"服务对象", "专家学者"}
        assert all(c["answer"] is None for c in before)
        finalize()
        liaison = db.session.scalar(select(User).where(User.username == "liaison"))
        liaison.unit = _unit("u3").unit
        first = received[0][0].id
        comments.answer_comment(_campaign(), _unit("u3"), first, "improve", "已增设窗口", liaison)
        db.session.commit()
    after = _get(client, "/campaigns/t2026/units/u3/comments", key)
    assert after["withheld"] == 0 and len(after["items"]) == 15
    answered = after["items"][0]
    assert answered["id"] == first
    assert {k: answered["answer"][k] for k in ("kind", "kind_label", "text")} == {
        "kind": "improve", "kind_label": "改进服务", "text": "已增设窗口"}
    assert answered["answer"]["answered_at"].endswith("+08:00")


def test_a_liaisons_key_reads_its_comments_as_its_page_shows_them(app, client, role_keys) -> None:
    with app.app_context():
        own = key_for("liaison", username="liaison3", unit_code="u3")
    _get(client, "/campaigns/t2026/units/u3/comments", own, 404)  # not before the results are final
    with app.app_context():
        finalize()
        view = comments.liaison_view(_campaign(), _unit("u3"),
                                     queries.unit_result(snapshots.results_for(_campaign()), "u3"))
    page = _get(client, "/campaigns/t2026/units/u3/comments", own)
    # The expert group (3 ballots, below the minimum of 5, no pool large enough): withheld, as on the page.
    assert page["withheld"] == view.withheld_comments == 3
    assert [(c["id"], c["text"], c["group_label"]) for c in page["items"]] == [
        (c["id"], c["text"], c["group"]) for c in view.comments]
    assert {c["group"] for c in page["items"]} == {"client"}
    login(client, "liaison3")
    html = client.get("/my/t2026").get_data(as_text=True)
    assert all(c["text"] in html for c in page["items"])
    _get(client, "/campaigns/t2026/units/u1/comments", own, 404)  # another unit
    assert _get(client, "/campaigns/t2026/units/u1/comments", role_keys["liaison"])["items"][0]["text"] == "窗口服务很好"


# --- consequences and rectification ------------------------------------------------------


def test_consequences_as_the_pages_list_them(app, client, role_keys) -> None:
    assert _get(client, "/campaigns/t2026/consequences", role_keys["organizer"])["items"] == []
    with app.app_context():
        finalize()
        rows = rectification.consequences_of(_campaign())
        expected = [(r.id, r.campaign_unit.code, r.kind) for r in rows]
        # A decided appeal cancelled one of u3's (kept, with its note).
        rows[-1].cancelled_at, rows[-1].note = rows[-1].created_at, "申诉复核"
        db.session.commit()
    listed = _all(client, "/campaigns/t2026/consequences", role_keys["auditor"], limit=2)
    assert [(c["id"], c["unit"], c["kind"]) for c in listed] == expected
    assert {c["unit"] for c in listed} == {"u2", "u3"}  # 基本满意 and 不满意
    assert listed[-1]["note"] == "申诉复核" and listed[-1]["cancelled_at"] is not None
    assert all(c["kind_label"] and c["text"] for c in listed)
    with app.app_context():
        own = key_for("liaison", username="liaison3", unit_code="u3")
    mine = _get(client, "/campaigns/t2026/consequences", own)["items"]
    assert [c["id"] for c in mine] == [i for i, unit, _kind in expected[:-1] if unit == "u3"]  # not the cancelled
    assert _get(client, "/campaigns/t2026/consequences", role_keys["liaison"])["items"] == []  # u1 is 满意


def test_rectifications_mark_overdue_as_the_page_does(app, client, role_keys) -> None:
    with app.app_context():
        finalize()
        from survey import webhooks

        webhooks.register("https://receiver.example/hook", ["rectification.overdue"])
        rect = rectification.rectification_of(_unit("u2"))
        rect.due_on = dt.date(2020, 1, 1)
        rect.plan = "整改方案"
        db.session.commit()
    listed = _get(client, "/campaigns/t2026/rectifications", role_keys["committee"])["items"]
    assert [r["unit"] for r in listed] == ["u1", "u2", "u3"]
    late = listed[1]
    assert (late["overdue"], late["due_on"], late["plan"], late["report"]) == (True, "2020-01-01", "整改方案", None)
    assert late["marked_red_at"] is not None and not listed[0]["overdue"]
    assert (late["review_state"], late["returned_at"], late["review_comment"]) == ("plan", None, None)
    with app.app_context():
        rectification.return_rectification(_campaign(), db.session.get(Rectification, late["id"]),
                                           db.session.scalar(select(User).where(User.role == "committee")), "补充时限")
        db.session.commit()
    late = _get(client, "/campaigns/t2026/rectifications", role_keys["committee"])["items"][1]
    assert (late["review_state"], late["review_comment"]) == ("returned", "补充时限") and late["returned_at"]
    with app.app_context():
        marked = db.session.get(Rectification, late["id"])
        assert marked.marked_red_at is not None  # recorded, as the rectification page records it
        [delivery] = db.session.scalars(select(WebhookDelivery)).all()
        assert json.loads(delivery.body)["data"]["unit"]["code"] == "u2"
    mine = _get(client, "/campaigns/t2026/rectifications", role_keys["liaison"])["items"]
    assert [r["unit"] for r in mine] == ["u1"]


# --- the audit log -----------------------------------------------------------------------


def test_the_audit_log_oldest_first_with_after_and_target(app, client, role_keys) -> None:
    # An API write is the act of the key's account, in the log as a page's is.
    response = client.post(API + "/campaigns/t2026/objective-scores", headers=bearer(role_keys["organizer"]),
                           json={"scores": [{"unit": "u1", "component": "work", "score": 90, "evidence": "考核表"}]})
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        ids = list(db.session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))
        assert len(ids) == 6  # the five keys of the fixture, the score
    key = role_keys["auditor"]
    entries = _all(client, "/audit", key, limit=4)
    assert [e["id"] for e in entries] == ids
    assert [e["action"] for e in entries] == ["api_key.create"] * 5 + ["objective_score.set"]
    assert entries[-1] == {**entries[-1], "username": "organizer", "target": "campaign:t2026/unit:u1",
                           "before": None, "after": {"component": "work", "score": 90.0, "raw": 90.0, "full_marks": 100.0,
                                                     "evidence": "考核表"}}
    assert entries[-1]["at"].endswith("+08:00")
    assert [e["id"] for e in _get(client, f"/audit?after={ids[-3]}", key)["items"]] == ids[-2:]
    assert _get(client, f"/audit?after={ids[-1]}", key)["items"] == []
    scoped = _get(client, "/audit?target=campaign:t2026", key)["items"]
    assert scoped and all("campaign:t2026" in e["target"] for e in scoped)
    assert _get(client, "/audit?target=100%25", key)["items"] == []  # % is a character, not a wildcard
    assert _get(client, "/audit", role_keys["admin"])["items"]  # the admin reads it, as the page
    for role in ("committee", "organizer", "liaison"):
        assert _get(client, "/audit", role_keys[role], 403)["code"] == "forbidden"
    assert _get(client, f"/audit?after={2**31}", key, 400)["errors"][0]["path"] == "query.after"
    assert _get(client, "/audit?target=a%00b", key, 400)["errors"][0]["path"] == "query.target"  # no column takes NUL


# --- per-item results ---------------------------------------------------------------------


def test_per_item_results_are_the_stored_results_items(app, client, role_keys) -> None:
    """The unit's `items` of the stored results (SCORING.md section 5a, as the
    analysis computed them); a liaison's key does not see the groups its page hides."""
    key = role_keys["committee"]

    def stored(code: str) -> dict[str, Any]:
        document = json.loads(client.get(API + "/campaigns/t2026/results", headers=bearer(key)).data)
        unit: dict[str, Any] = next(u for u in document["units"] if u["code"] == code)
        return unit

    def as_stored(answer: dict[str, Any]) -> dict[str, Any]:
        return {i["code"]: {"n": i["n"], "score": i["score"], "shares": i["shares"], "ci95": i["ci95"],
                            "group_scores": {g["code"]: g["score"] for g in i["group_scores"]}}
                for i in answer["items"]}

    answer = _get(client, "/campaigns/t2026/units/u2/items", key)
    assert (answer["available"], answer["final"], answer["hidden_groups"]) == (True, False, 0)
    assert as_stored(answer) == stored("u2")["items"]
    [item] = answer["items"]
    assert (item["code"], item["label"], item["n"]) == ("i0", "总体评价", 15)
    assert [(g["code"], g["label"]) for g in item["group_scores"]] == [("client", "服务对象"), ("expert", "专家学者")]
    with app.app_context():
        finalize()
    final = _get(client, "/campaigns/t2026/units/u1/items", key)
    assert final["final"] is True and as_stored(final) == stored("u1")["items"]
    assert not any(i["hidden"] for i in final["items"])
    mine = _get(client, "/campaigns/t2026/units/u1/items", role_keys["liaison"])
    # The expert group (3 ballots, below the minimum of 5) is left out, as the liaison's page leaves it out.
    assert mine["hidden_groups"] == 1
    assert [[g["code"] for g in i["group_scores"]] for i in mine["items"]] == [["client"]]
    assert [i["score"] for i in mine["items"]] == [i["score"] for i in final["items"]]
    with app.app_context():
        campaign, cu = _campaign(), _unit("u1")
        view = comments.liaison_view(campaign, cu, queries.unit_result(snapshots.results_for(campaign), "u1"))
        page_rows = queries.item_rows(queries.unit_result(snapshots.results_for(campaign), "u1"),
                                      queries.labels_of(campaign).items, min_ballots=5,
                                      shown_groups=[g["code"] for g in view.shown_groups])
    assert [(i["code"], i["hidden"], i["score"], {g["code"]: g["score"] for g in i["group_scores"]})
            for i in mine["items"]] == [(r.code, r.hidden, r.score, r.group_scores) for r in page_rows]
    _get(client, "/campaigns/t2026/units/u2/items", role_keys["liaison"], 404)


def test_an_item_rated_by_too_few_is_hidden_from_a_liaison(app, client, role_keys) -> None:
    """As on the liaison's page: an item fewer valid ballots rated (scored) than
    the committee's minimum shows no figures to the unit's liaison."""
    with app.app_context():
        from survey.models import OutcomeSettings

        finalize()
        settings = db.session.scalar(select(OutcomeSettings))
        settings.min_group_ballots = 16  # more than the 15 ballots that rated u1's item
        db.session.commit()
    [item] = _get(client, "/campaigns/t2026/units/u1/items", role_keys["liaison"])["items"]
    assert (item["hidden"], item["n"], item["score"], item["shares"], item["ci95"], item["group_scores"]) == (
        True, 15, None, None, None, [])
    [full] = _get(client, "/campaigns/t2026/units/u1/items", role_keys["committee"])["items"]
    assert full["hidden"] is False and full["score"] is not None


def test_results_stored_before_per_item_figures_say_so(app, client, role_keys) -> None:
    """Final results stored before the analysis added section 5a carry no `items`:
    the answer says they are not available rather than inventing them."""
    with app.app_context():
        finalize()
        first = db.session.scalar(select(ResultSnapshot).where(ResultSnapshot.kind == "final"))
        results = json.loads(first.results_json)
        for unit in results["units"]:
            del unit["items"]
        text = json.dumps(results, ensure_ascii=False)
        # A later version of the final record (a final version never changes).
        db.session.add(ResultSnapshot(
            campaign_id=first.campaign_id, kind="final", version=2, fingerprint=first.fingerprint,
            bundle_sha256=first.bundle_sha256, bundle_chunks=first.bundle_chunks, results_json=text,
            results_sha256=hashlib.sha256(text.encode()).hexdigest(), quorum=first.quorum,
            overrides_json=first.overrides_json, note="before 5a"))
        db.session.commit()
        caches.clear_all()
    answer = _get(client, "/campaigns/t2026/units/u1/items", role_keys["auditor"])
    assert (answer["available"], answer["items"], answer["final"]) == (False, [], True)
