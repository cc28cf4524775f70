"""Opinions from outside the ballots (issue #13): staff enter them (座谈会、
走访、接访、热线) with the raiser kept apart; they are handed to a unit with a
deadline, turn red past it and are cleared by the liaison's answer; whoever
raised one reads the answer on the public page by a lookup code (rate-limited,
one message for any miss); the raiser reaches only the handler's pages and
keys (the organizer works opinions without it), never the audit log, a liaison, the public page
or a webhook. Also issue #13's ``case.overdue``: a register case turning red
is a webhook event."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import select

from survey import webhooks
from survey.api import keys
from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import AuditEntry, Campaign, Opinion, OpinionRaiser, Unit, WebhookDelivery
from survey.opinions import services
from survey.register import services as register
from tests.factories import bundle, login, make_user

pytestmark = pytest.mark.db
NAME, PHONE = "反映人李某某", "13712345678"
SUMMARY = "社区座谈会上反映办证窗口午休无人"
TODAY = dt.date(2026, 6, 15)
MISSING = re.compile(r'<p class="notice" role="alert" data-testid="lookup-missing">[^<]*</p>')
CODE = re.compile(r'data-testid="lookup-code">([0-9A-Z-]{19})<')


def _campaign(code: str = "t2026", period: tuple[str, str] = ("2026-01-01", "2026-12-31")) -> Campaign:
    campaign = import_bundle(bundle(code, units=2), status="open")
    campaign.period_start, campaign.period_end = (dt.date.fromisoformat(d) for d in period)
    db.session.commit()
    return campaign


def _unit(code: str) -> Unit:
    unit = db.session.scalar(select(Unit).where(Unit.code == code))
    assert unit is not None
    return unit


def _opinion(unit: str = "u1", day: str = "2026-03-10", summary: str = SUMMARY,
             raiser: dict[str, str] | None = None, source: str = "forum") -> tuple[Opinion, str]:
    opinion, code = services.new_opinion(None, source=source, source_detail="东区座谈会",
                                         raised_on=dt.date.fromisoformat(day), unit=_unit(unit), summary=summary,
                                         today=TODAY, raiser=raiser)
    db.session.commit()
    return opinion, code


def _lookup(client, code: str):
    return client.post("/opinion", data={"code": code})


def test_entry_red_mark_answer_and_public_lookup(ctx, client) -> None:
    campaign = _campaign()
    make_user("handler")
    make_user("organizer")
    make_user("liaison", unit_code="u1")
    make_user("liaison", username="other", unit_code="u2")
    endpoint = webhooks.register("https://receiver.example/hook", ["opinion.overdue"])
    login(client, "handler")
    answer = client.post("/opinions", data={
        "source": "forum", "source_detail": "东区座谈会", "raised_on": "2026-03-10", "unit": "u1",
        "summary": SUMMARY, "raiser_name": NAME, "raiser_phone": PHONE})
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"  # shown once: no back button, no disk cache
    match = CODE.search(answer.get_data(as_text=True))
    assert match is not None, "the lookup code is shown once, on the answer to the entry"
    code = match.group(1)
    opinion = db.session.scalar(select(Opinion))
    assert opinion is not None and opinion.step == "registered" and opinion.campaign_id == campaign.id
    assert opinion.lookup_hash == services.hash_code(code.replace("-", ""))
    assert code.replace("-", "") not in json.dumps([opinion.code, opinion.summary, opinion.source_detail])
    assert db.session.scalar(select(OpinionRaiser.name)) == NAME
    page = client.get(f"/opinions/{opinion.id}").get_data(as_text=True)
    assert NAME in page and PHONE in page
    # A step out of order is refused; nothing changes.
    client.post(f"/opinions/{opinion.id}/step/close")
    db.session.expire_all()
    assert db.session.get(Opinion, opinion.id).step == "registered"
    assert client.post(f"/opinions/{opinion.id}/step/assign", data={"due_on": "2099-01-01"}).status_code == 302
    db.session.expire_all()
    opinion = db.session.get(Opinion, opinion.id)
    assert opinion.step == "assigned" and opinion.due_on == dt.date(2099, 1, 1)
    # Past the deadline it turns red (红字), once, and a webhook says so (nobody's name in it).
    assert services.mark_overdue(dt.date(2099, 1, 2)) == [opinion]
    assert services.mark_overdue(dt.date(2099, 1, 3)) == []
    db.session.commit()
    deliveries = list(db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)))
    assert [d.event for d in deliveries] == ["opinion.overdue"]
    body = json.loads(deliveries[0].body)["data"]
    assert body["opinion"]["code"] == opinion.code and body["unit"]["code"] == "u1"
    assert body["campaign"]["code"] == campaign.code
    assert NAME not in deliveries[0].body and PHONE not in deliveries[0].body and SUMMARY not in deliveries[0].body
    listing = client.get("/opinions?red=1").get_data(as_text=True)
    assert opinion.code in listing and 'class="redmark"' in listing
    assert opinion.code not in client.get("/opinions?status=closed").get_data(as_text=True)
    assert opinion.code not in client.get("/opinions?unit=u2").get_data(as_text=True)
    # Before the answer the public page shows the opinion as handed over, unanswered.
    client.post("/logout")
    before = _lookup(client, code).get_data(as_text=True)
    assert SUMMARY in before and "尚未答复" in before and NAME not in before
    # Another unit's liaison neither sees it nor answers it.
    login(client, "other")
    assert opinion.code not in client.get("/my/opinions").get_data(as_text=True)
    assert client.post(f"/my/opinions/{opinion.id}/answer", data={"answer": "越权答复"}).status_code == 404
    client.post("/logout")
    login(client, "liaison")
    mine = client.get("/my/opinions").get_data(as_text=True)
    assert opinion.code in mine and NAME not in mine and PHONE not in mine
    assert client.post(f"/my/opinions/{opinion.id}/answer", data={"answer": "已安排午间轮岗"}).status_code == 302
    db.session.expire_all()
    opinion = db.session.get(Opinion, opinion.id)
    assert opinion.step == "answered" and opinion.was_cleared and not opinion.is_red  # 消红
    client.post("/logout")
    # The raiser reads the unit's answer by the code (typed in lower case, without hyphens).
    found = _lookup(client, code.replace("-", "").lower())
    text = found.get_data(as_text=True)
    assert found.status_code == 200 and "已安排午间轮岗" in text and opinion.code in text
    assert NAME not in text and PHONE not in text
    # Any miss reads the same, whatever was typed.
    misses = {MISSING.search(_lookup(client, typed).get_data(as_text=True)).group(0)  # type: ignore[union-attr]
              for typed in ("0000-0000-0000-0000", "ZZZZ-ZZZZ-ZZZZ-ZZZZ", "not a code")}
    assert len(misses) == 1 and "没有找到这个查询码对应的意见" in misses.pop()
    # The organizer handles it without seeing the raiser (as the register's complainants), and closes it.
    login(client, "organizer")
    page = client.get(f"/opinions/{opinion.id}").get_data(as_text=True)
    assert opinion.code in page and NAME not in page and PHONE not in page
    client.post(f"/opinions/{opinion.id}/step/close")
    db.session.expire_all()
    assert db.session.get(Opinion, opinion.id).step == "closed"
    # The audit log names the opinion by its number, never the raiser or the summary.
    entries = list(db.session.scalars(select(AuditEntry).where(AuditEntry.target.like("opinion:%"))))
    assert {e.action for e in entries} >= {"opinion.create", "opinion.assigned", "opinion.mark_red",
                                           "opinion.answered", "opinion.closed"}
    audit_text = json.dumps([[e.target, e.before, e.after] for e in entries], ensure_ascii=False, default=str)
    assert NAME not in audit_text and PHONE not in audit_text and SUMMARY not in audit_text


def test_an_opinion_belongs_to_the_campaign_whose_period_contains_its_date(ctx) -> None:
    first = _campaign("t2026")
    second = _campaign("t2027", period=("2027-01-01", "2027-12-31"))
    assert services.campaign_for(dt.date(2026, 3, 1)) == first
    assert services.campaign_for(dt.date(2027, 3, 1)) == second
    assert services.campaign_for(dt.date(2025, 12, 31)) is None
    opinion, _code = _opinion(day="2025-12-31")
    assert opinion.campaign_id is None


def test_bad_entries_are_refused_with_what_and_where(ctx, client) -> None:
    _campaign()
    make_user("handler")
    login(client, "handler")
    base = {"source": "visit", "raised_on": "2026-03-10", "unit": "u1", "summary": SUMMARY}
    for change, message in (({"source": "letter"}, "未知的意见来源"), ({"summary": "  "}, "意见摘要"),
                            ({"raised_on": "2026-13-01"}, "日期"), ({"unit": "nope"}, "没有这个单位"),
                            ({"raised_on": "2099-01-01"}, "不能晚于今天")):
        answer = client.post("/opinions", data={**base, **change}, follow_redirects=True)
        assert message in answer.get_data(as_text=True), change
    assert db.session.scalar(select(Opinion)) is None  # nothing written
    opinion, _code = _opinion()
    answer = client.post(f"/opinions/{opinion.id}/step/assign", data={"due_on": "2000-01-01"}, follow_redirects=True)
    assert "答复期限不能早于今天" in answer.get_data(as_text=True)


def test_the_lookup_is_rate_limited_per_address(ctx, client) -> None:
    _campaign()
    _opinion_row, code = _opinion()
    assert _lookup(client, code).status_code == 200
    for _ in range(services.LOOKUP_LIMIT):
        assert _lookup(client, "0000-0000-0000-0000").status_code == 200
    refused = _lookup(client, code)
    assert refused.status_code == 429 and SUMMARY not in refused.get_data(as_text=True)
    # Another address is not affected.
    other = client.post("/opinion", data={"code": code}, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 200 and SUMMARY in other.get_data(as_text=True)


def test_a_reissued_code_replaces_the_old_one(ctx, client) -> None:
    _campaign()
    opinion, old = _opinion()
    make_user("handler")
    login(client, "handler")
    answer = client.post(f"/opinions/{opinion.id}/code")
    new = CODE.search(answer.get_data(as_text=True))
    assert answer.status_code == 200 and new is not None and new.group(1) != old
    client.post("/logout")
    assert SUMMARY in _lookup(client, new.group(1)).get_data(as_text=True)
    assert SUMMARY not in _lookup(client, old).get_data(as_text=True)


def test_the_api_scopes_opinions_and_shows_the_raiser_to_the_handler_only(ctx, client) -> None:
    _campaign()
    assigned, _c1 = _opinion(raiser={"name": NAME, "phone": PHONE})
    services.assign(assigned, dt.date(2099, 1, 1), TODAY)
    _not_yet, _c2 = _opinion(summary="尚未交办的意见")
    other_unit, _c3 = _opinion(unit="u2", summary="别的单位")
    services.assign(other_unit, dt.date(2099, 1, 1), TODAY)
    db.session.commit()
    key = {role: keys.issue(make_user(role, unit_code="u1" if role == "liaison" else None), "t")[1]
           for role in ("handler", "organizer", "liaison", "committee")}

    def get(url: str, role: str):
        return client.get(url, headers={"Authorization": f"Bearer {key[role]}"})

    as_handler = get("/api/v1/opinions", "handler").get_json()
    assert len(as_handler["items"]) == 3
    by_code = {o["code"]: o for o in as_handler["items"]}
    assert by_code[assigned.code]["raiser"] == {"name": NAME, "phone": PHONE, "contact": None}
    as_organizer = get(f"/api/v1/opinions/{assigned.code}", "organizer").get_json()
    assert as_organizer["code"] == assigned.code and as_organizer["raiser"] is None
    as_liaison = get("/api/v1/opinions", "liaison").get_json()
    assert [o["code"] for o in as_liaison["items"]] == [assigned.code]  # the own unit's, once handed over
    assert as_liaison["items"][0]["raiser"] is None
    assert NAME not in json.dumps(as_liaison, ensure_ascii=False)
    assert get(f"/api/v1/opinions/{other_unit.code}", "liaison").status_code == 404
    assert get(f"/api/v1/opinions/{_not_yet.code}", "liaison").status_code == 404
    assert get("/api/v1/opinions?unit=u2", "liaison").get_json()["items"] == []
    assert get("/api/v1/opinions?unit=nope", "handler").get_json()["items"] == []
    assert get("/api/v1/opinions", "committee").status_code == 403
    filtered = get("/api/v1/opinions?status=registered&unit=u1", "handler").get_json()
    assert [o["code"] for o in filtered["items"]] == [_not_yet.code]
    assert get("/api/v1/opinions?red=true", "handler").get_json()["items"] == []


def test_planted_markup_on_the_opinion_pages_is_escaped(ctx, client) -> None:
    markup = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>"
    _campaign()
    opinion, code = services.new_opinion(None, source="hotline", source_detail=markup, raised_on=TODAY,
                                         unit=_unit("u1"), summary=markup, today=TODAY,
                                         raiser={"name": markup, "phone": "<b>1</b>", "contact": markup})
    services.assign(opinion, dt.date(2099, 1, 1), TODAY)
    services.answer(opinion, None, markup)
    db.session.commit()
    make_user("handler")
    make_user("liaison", unit_code="u1")
    for role, urls in (("handler", ["/opinions", f"/opinions/{opinion.id}"]), ("liaison", ["/my/opinions"])):
        login(client, role)
        for url in urls:
            text = client.get(url).get_data(as_text=True)
            assert "<script>alert(1)" not in text and "<img src=x" not in text and "<b>1" not in text, (role, url)
        client.post("/logout")
    text = _lookup(client, code).get_data(as_text=True)
    assert "&lt;script&gt;" in text and "<script>alert(1)" not in text and "<img src=x" not in text


def test_a_register_case_turning_red_is_a_webhook_event(ctx) -> None:
    endpoint = webhooks.register("https://receiver.example/hook", ["case.overdue"])
    case = register.register_case(None, kind="complaint", source="12345", occurred_on=dt.date(2026, 3, 1),
                                  unit=_unit_or_new("u1"), summary=SUMMARY, complainant={"name": NAME})
    register.accept(case)
    register.assign(case, dt.date(2026, 4, 1), dt.date(2026, 3, 2))
    db.session.commit()
    assert register.mark_overdue(dt.date(2026, 4, 2)) == [case]
    assert register.mark_overdue(dt.date(2026, 4, 3)) == []  # marked once, sent once
    db.session.commit()
    deliveries = list(db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)))
    assert [d.event for d in deliveries] == ["case.overdue"]
    data = json.loads(deliveries[0].body)["data"]
    assert data == {"unit": {"code": "u1", "name": case.unit.name},
                    "case": {"code": case.code, "kind": "complaint", "date": "2026-03-01", "due_on": "2026-04-01"}}
    assert NAME not in deliveries[0].body and SUMMARY not in deliveries[0].body


def _unit_or_new(code: str) -> Unit:
    unit = db.session.scalar(select(Unit).where(Unit.code == code))
    if unit is None:
        unit = Unit(code=code, name=f"单位 {code}")
        db.session.add(unit)
        db.session.flush()
    return unit


def test_the_command_line_marks_cases_and_opinions_red(app, ctx) -> None:
    _campaign()
    opinion, _code = _opinion()
    services.assign(opinion, TODAY, TODAY)
    opinion.due_on = dt.date(2020, 1, 1)  # long past
    case = register.register_case(None, kind="hotline", source="12345", occurred_on=dt.date(2026, 3, 1),
                                  unit=_unit("u2"), summary="热线")
    register.accept(case)
    register.assign(case, TODAY, TODAY)
    case.due_on = dt.date(2020, 1, 1)
    db.session.commit()
    output = app.test_cli_runner().invoke(args=["results", "mark-overdue"]).output
    assert "已标红 1 件逾期未答复的督查案件" in output and "已标红 1 条逾期未答复的群众意见" in output
    db.session.expire_all()
    assert db.session.get(Opinion, opinion.id).is_red


def test_the_api_schema_enumerates_the_sources_and_statuses() -> None:
    from typing import get_args

    from survey.api.opinions import OpinionQuery
    from survey.api.schemas import OpinionOut
    from survey.models.opinion import OPINION_SOURCES, OPINION_STATUSES

    assert get_args(OpinionOut.model_fields["source"].annotation) == tuple(OPINION_SOURCES)
    assert get_args(OpinionOut.model_fields["status"].annotation) == tuple(OPINION_STATUSES)
    assert get_args(get_args(OpinionQuery.model_fields["source"].annotation)[0]) == tuple(OPINION_SOURCES)


def test_the_public_lookup_speaks_english(ctx, client) -> None:
    _campaign()
    _row, code = _opinion()
    assert "Follow up an opinion" in client.get("/opinion?lang=en").get_data(as_text=True)
    text = client.post("/opinion?lang=en", data={"code": code}).get_data(as_text=True)
    assert "The unit's answer" in text and "Not answered yet" in text and "Forum" in text
