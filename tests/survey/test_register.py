"""The supervision register (issue #13): cases through their workflow with
red marks, the campaign a verdict counts for (assessment period, cut-off),
deductions that reach ``python -m analysis evaluate`` through the bundle's
objective_scores, complainants kept out of exports, the audit log and other
roles' API answers, the monthly 公示, and export(import(bundle)) unchanged."""
from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from survey.api import keys
from survey.bundles import export_bundle, import_bundle
from survey.extensions import db
from survey.models import AuditEntry, Campaign, Complainant, SupervisionCase, Unit
from survey.register import services
from survey.results import snapshots
from tests.factories import bundle, login, make_user

pytestmark = pytest.mark.db
ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 6, 15)
NAME, PHONE = "举报人王某某", "13912345678"


def _ballots(n: int = 10) -> list[dict[str, Any]]:
    """``n`` ballots of the client group: u1 all 满意 (100), u2 all 基本满意 (70)."""
    return [{"id": f"{k:04d}", "batch": "e1", "submitted_at": "2026-11-02T09:15:00+08:00",
             "answers": {"u1": {"i0": "S"}, "u2": {"i0": "B"}}} for k in range(n)]


def _campaign(code: str = "t2026", *, components: dict[str, float], ballot_share: float, status: str = "open",
              period: tuple[str, str] = ("2026-01-01", "2026-12-31")) -> Campaign:
    doc = bundle(code, units=2, ballots=_ballots(),
                 rules={"ballot_share": ballot_share, "objective_components": components, "min_valid_per_unit": 1,
                        "bootstrap": {"replicates": 0}})
    campaign = import_bundle(doc, status=status)
    campaign.period_start, campaign.period_end = (dt.date.fromisoformat(d) for d in period)
    db.session.commit()
    return campaign


def _unit(code: str) -> Unit:
    unit = db.session.scalar(select(Unit).where(Unit.code == code))
    assert unit is not None
    return unit


def _verified(kind: str, unit: str, verdict: str, day: str = "2026-03-10", points: float | None = None,
              complainant: dict[str, str] | None = None) -> SupervisionCase:
    case = services.register_case(None, kind=kind, source="12345 热线", occurred_on=dt.date.fromisoformat(day),
                                  unit=_unit(unit), summary="窗口推诿", points=points, complainant=complainant)
    services.accept(case)
    services.verify(case, verdict, TODAY)
    db.session.commit()
    return case


def _evaluate(campaign: Campaign, tmp_path: Path) -> dict[str, dict[str, Any]]:
    """The campaign's exported bundle through the command line: its units by code."""
    path = tmp_path / f"{campaign.code}.json"
    path.write_text(json.dumps(export_bundle(campaign), ensure_ascii=False), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "analysis", "evaluate", str(path)], cwd=ROOT,
                         capture_output=True, check=True)
    return {u["code"]: u for u in json.loads(out.stdout)["units"]}


def _register_setup(campaign: Campaign, base: float = 50.0) -> None:
    component = services.set_component(campaign, "complaints", "群众投诉", base)
    services.set_rule(component, "complaint", "founded", 2)
    services.set_rule(component, "hotline", "partly", 1)
    services.set_rule(component, "inspection", "founded", 5)
    db.session.commit()


def test_deductions_reach_the_analysis_through_the_bundle(ctx, tmp_path) -> None:
    campaign = _campaign(components={"complaints": 0.3}, ballot_share=0.7)
    before = _evaluate(campaign, tmp_path)
    # No register component yet: the component is missing, the composite is the ballot score alone.
    assert before["u1"]["score"] == pytest.approx(100.0) and before["u2"]["score"] == pytest.approx(70.0)
    _register_setup(campaign)
    _verified("complaint", "u1", "founded")
    _verified("complaint", "u1", "founded")
    _verified("hotline", "u1", "partly")
    _verified("complaint", "u1", "unfounded")  # no rule for 不属实: deducts nothing
    _verified("inspection", "u2", "founded", points=60)  # a finding's own points, not the rule's 5
    units = _evaluate(campaign, tmp_path)
    # u1: deductions 2 + 2 + 1 = 5 on a base of 50 → (50 − 5) / 50 × 100 = 90;
    #     composite (SCORING.md §5) = (0.7 × 100 + 0.3 × 90) / (0.7 + 0.3) = 70 + 27 = 97.
    assert units["u1"]["score_ballot"] == pytest.approx(100.0)
    assert units["u1"]["score"] == pytest.approx(97.0)
    # u2: 60 deducted from 50 → max(0, 50 − 60) / 50 × 100 = 0; composite 0.7 × 70 + 0.3 × 0 = 49.
    assert units["u2"]["score"] == pytest.approx(49.0)
    doc = export_bundle(campaign)
    assert {(s["unit"], s["component"], s["score"]) for s in doc["objective_scores"]} == {
        ("u1", "complaints", 90), ("u2", "complaints", 0)}
    # the raw values beside them: what is left of the base, and the base
    assert {(r["unit"], r["raw"], r["full_marks"]) for r in doc["extensions"]["objective_raw"]} == {
        ("u1", 45, 50), ("u2", 0, 50)}
    # The app's own results (every results computation reads the same bundle).
    db.session.expire_all()
    results = {u["code"]: u for u in snapshots.results_for(campaign)["units"]}
    assert results["u1"]["score"] == pytest.approx(97.0) and results["u2"]["score"] == pytest.approx(49.0)
    # A later verdict drops the cached results: one more 属实投诉 for u1 → 43/50 → 86 → 70 + 25.8 = 95.8.
    _verified("complaint", "u1", "founded")
    results = {u["code"]: u for u in snapshots.results_for(campaign)["units"]}
    assert results["u1"]["score"] == pytest.approx(95.8)


def test_the_register_travels_in_extensions_and_round_trips(ctx) -> None:
    campaign = _campaign(components={"complaints": 0.3}, ballot_share=0.7)
    _register_setup(campaign)
    _verified("complaint", "u1", "founded", complainant={"name": NAME, "phone": PHONE})
    _verified("inspection", "u2", "founded", points=7.5)
    doc = export_bundle(campaign)
    register = doc["extensions"]["register"]
    assert register["components"] == [{"code": "complaints", "label": "群众投诉", "base": 50, "rules": [
        {"kind": "complaint", "verdict": "founded", "points": 2}, {"kind": "hotline", "verdict": "partly", "points": 1},
        {"kind": "inspection", "verdict": "founded", "points": 5}]}]
    assert [set(c) for c in register["cases"]] == [{"id", "kind", "date", "unit", "verdict", "deductions"}] * 2
    assert register["cases"][1]["deductions"] == {"complaints": 7.5}
    text = json.dumps(doc, ensure_ascii=False)
    assert NAME not in text and PHONE not in text and "窗口推诿" not in text  # no complainant, no summary
    # export(import(bundle)) is the same document, extensions included.
    copy = json.loads(text)
    copy["campaign"]["code"] = "copy2026"
    again = export_bundle(import_bundle(copy))
    db.session.commit()
    assert again == copy


def test_a_bundle_whose_derived_scores_contradict_its_cases_is_refused(ctx) -> None:
    from analysis import BundleError

    campaign = _campaign(components={"complaints": 0.3}, ballot_share=0.7)
    _register_setup(campaign)
    _verified("complaint", "u1", "founded")
    doc = json.loads(json.dumps(export_bundle(campaign)))
    doc["campaign"]["code"] = "bad2026"
    doc["objective_scores"][0]["score"] = 100
    with pytest.raises(BundleError) as refused:
        import_bundle(doc)
    assert [p.path for p in refused.value.problems] == ["objective_scores[0].score"]
    doc["objective_scores"][0]["score"] = 96
    doc["extensions"]["register"]["cases"][0]["deductions"] = {"complaints": 3}
    with pytest.raises(BundleError) as refused:
        import_bundle(doc)
    assert [p.path for p in refused.value.problems] == ["extensions.register.cases[0].deductions"]


def test_a_verdict_counts_for_the_campaign_of_its_date_until_its_inputs_close(ctx) -> None:
    first = _campaign("y2026", components={}, ballot_share=1.0, period=("2026-01-01", "2026-12-31"))
    second = _campaign("y2027", components={}, ballot_share=1.0, status="draft",
                       period=("2027-01-01", "2027-12-31"))
    case = _verified("complaint", "u1", "founded", day="2026-05-01")
    assert case.campaign_id == first.id
    # The first campaign's own cut-off has passed: a case of its period goes to the next campaign.
    first.inputs_cutoff = TODAY - dt.timedelta(days=1)
    db.session.commit()
    assert _verified("complaint", "u1", "founded", day="2026-05-02").campaign_id == second.id
    # 截止 closes the inputs too.
    first.inputs_cutoff = None
    first.state.close()
    db.session.commit()
    assert _verified("complaint", "u1", "founded", day="2026-05-03").campaign_id == second.id
    # A date after every period: no campaign takes it.
    assert _verified("complaint", "u1", "founded", day="2030-01-01").campaign_id is None


def test_the_workflow_in_the_browser_with_red_marks_and_privacy(ctx, client) -> None:
    campaign = _campaign(components={"complaints": 0.3}, ballot_share=0.7)
    _register_setup(campaign)
    make_user("handler")
    make_user("liaison", unit_code="u1")
    make_user("organizer")
    login(client, "handler")
    answer = client.post("/register", data={
        "kind": "complaint", "source": "12345 热线 工单 A-17", "occurred_on": "2026-03-10", "unit": "u1",
        "summary": "办证窗口推诿", "complainant_name": NAME, "complainant_phone": PHONE,
        "attachments": (io.BytesIO(b"\x89PNG\r\n\x1a\nphoto"), "窗口.png", "image/png")},
        content_type="multipart/form-data")
    assert answer.status_code == 302
    case = db.session.scalar(select(SupervisionCase))
    assert case is not None and case.step == "registered" and len(case.attachments) == 1
    assert db.session.scalar(select(Complainant.name)) == NAME
    page = client.get(f"/register/{case.id}").get_data(as_text=True)
    assert NAME in page and PHONE in page
    # A step out of order is refused with the reason; nothing changes.
    client.post(f"/register/{case.id}/step/verify", data={"verdict": "founded"})
    assert db.session.get(SupervisionCase, case.id).step == "registered"
    client.post(f"/register/{case.id}/step/accept")
    client.post(f"/register/{case.id}/step/assign", data={"due_on": "2099-01-01"})
    db.session.expire_all()
    case = db.session.get(SupervisionCase, case.id)
    assert case.step == "assigned"
    # Past the reply's deadline the case turns red (红字) …
    assert services.mark_overdue(dt.date(2099, 1, 2)) == [case]
    db.session.commit()
    assert 'class="redmark"' in client.get("/register").get_data(as_text=True)
    client.post("/logout")
    login(client, "liaison")
    mine = client.get("/my/register").get_data(as_text=True)
    assert case.code in mine and NAME not in mine and PHONE not in mine
    assert client.post(f"/my/register/{case.id}/reply", data={"reply": "已整改，窗口增设引导员"}).status_code == 302
    db.session.expire_all()
    case = db.session.get(SupervisionCase, case.id)
    assert case.step == "replied" and case.was_cleared and not case.is_red  # … and the reply clears it (消红)
    client.post("/logout")
    login(client, "organizer")
    page = client.get(f"/register/{case.id}").get_data(as_text=True)
    assert case.code in page and NAME not in page and PHONE not in page
    client.post("/logout")
    login(client, "handler")
    client.post(f"/register/{case.id}/step/verify", data={"verdict": "founded"})
    client.post(f"/register/{case.id}/step/close")
    db.session.expire_all()
    case = db.session.get(SupervisionCase, case.id)
    assert (case.step, case.verdict, case.campaign_id) == ("closed", "founded", campaign.id)
    # The component's page shows the value with the case behind it.
    component_page = client.get(f"/results/{campaign.code}/register").get_data(as_text=True)
    assert case.code in component_page and "96.00" in component_page  # (50 − 2) / 50 × 100
    # The audit log names the case by its number, never the complainant.
    audit_text = json.dumps([[e.target, e.before, e.after] for e in db.session.scalars(select(AuditEntry))],
                            ensure_ascii=False)
    assert f"case:{case.code}" in audit_text and NAME not in audit_text and PHONE not in audit_text
    assert "办证窗口推诿" not in audit_text


def test_the_api_shows_complainants_to_the_case_handler_only(ctx, client) -> None:
    campaign = _campaign(components={"complaints": 0.3}, ballot_share=0.7)
    _register_setup(campaign)
    case = _verified("complaint", "u1", "founded", complainant={"name": NAME, "phone": PHONE})
    handler_key = keys.issue(make_user("handler"), "t")[1]
    organizer_key = keys.issue(make_user("organizer"), "t")[1]
    db.session.commit()

    def get(url: str, key: str) -> Any:
        return client.get(url, headers={"Authorization": f"Bearer {key}"})

    as_handler = get("/api/v1/register/cases", handler_key).get_json()
    assert as_handler["items"][0]["complainant"] == {"name": NAME, "phone": PHONE, "contact": None}
    as_organizer = get("/api/v1/register/cases", organizer_key)
    assert as_organizer.status_code == 200 and NAME not in as_organizer.get_data(as_text=True)
    assert as_organizer.get_json()["items"][0]["complainant"] is None
    values = get(f"/api/v1/campaigns/{campaign.code}/register-components", organizer_key).get_json()
    u1 = next(v for v in values["items"][0]["units"] if v["unit"] == "u1")
    assert (u1["deducted"], u1["raw"], u1["score"]) == (2, 48, 96) and u1["cases"] == [
        {"case": case.code, "points": 2}]
    one = get(f"/api/v1/register/cases/{case.code}", organizer_key).get_json()
    assert one["code"] == case.code and one["complainant"] is None


def test_the_monthly_publication_counts_by_unit_and_verdict(ctx, client) -> None:
    _campaign(components={}, ballot_share=1.0)
    _verified("complaint", "u1", "founded", day="2026-03-01", complainant={"name": NAME})
    _verified("hotline", "u1", "unfounded", day="2026-03-31")
    _verified("complaint", "u2", "partly", day="2026-04-01")  # another month
    services.register_case(None, kind="petition", source="信访件", occurred_on=dt.date(2026, 3, 5),
                           unit=_unit("u2"), summary="未受理的件")  # registered only: not counted
    db.session.commit()
    make_user("organizer")
    login(client, "organizer")
    assert client.post("/register/gongshi", data={"month": "2026-03"}).status_code == 302
    row = services.publication("2026-03")
    assert row is not None and row.counts == [{"unit": "u1", "name": "市第1局", "total": 2, "founded": 1,
                                               "partly": 0, "unfounded": 1, "open": 0}]
    client.post("/logout")
    public = client.get("/gongshi/register/2026-03")
    assert public.status_code == 200 and NAME not in public.get_data(as_text=True)
    assert client.get("/gongshi/register/2026-04").status_code == 404  # not published


def test_planted_markup_on_the_register_pages_is_escaped(ctx, client) -> None:
    markup = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>"
    campaign = _campaign(components={"complaints": 0.3}, ballot_share=0.7)
    services.set_component(campaign, "complaints", markup, 100)
    case = services.register_case(None, kind="inspection", source=markup, occurred_on=dt.date(2026, 3, 1),
                                  unit=_unit("u1"), summary=markup, place=markup, complainant={"name": markup})
    services.accept(case)
    services.assign(case, dt.date(2099, 1, 1), TODAY)
    db.session.commit()
    for role in ("handler", "organizer"):
        make_user(role)
    make_user("liaison", unit_code="u1")
    for role, urls in (("handler", ["/register", f"/register/{case.id}"]),
                       ("organizer", [f"/results/{campaign.code}/register", "/register/gongshi"]),
                       ("liaison", ["/my/register"])):
        login(client, role)
        for url in urls:
            text = client.get(url).get_data(as_text=True)
            assert "<script>alert(1)" not in text and "<img src=x" not in text, (role, url)
        client.post("/logout")


def test_an_inspection_finding_links_the_units_rectification(ctx, client) -> None:
    from survey.models import Rectification

    campaign = _campaign(components={}, ballot_share=1.0)
    cu1, cu2 = campaign.units[0], campaign.units[1]
    own, other = Rectification(campaign_unit=cu1, due_on=dt.date(2026, 9, 30)), \
        Rectification(campaign_unit=cu2, due_on=dt.date(2026, 9, 30))
    db.session.add_all([own, other])
    finding = services.register_case(None, kind="inspection", source="暗访组", occurred_on=dt.date(2026, 3, 1),
                                     unit=_unit("u1"), summary="窗口无人", place="政务中心 3 号窗口", points=3)
    db.session.commit()
    make_user("handler")
    login(client, "handler")
    client.post(f"/register/{finding.id}/step/link", data={"rectification": str(other.id)})  # another unit's
    assert db.session.get(SupervisionCase, finding.id).rectification_id is None
    client.post(f"/register/{finding.id}/step/link", data={"rectification": str(own.id)})
    db.session.expire_all()
    assert db.session.get(SupervisionCase, finding.id).rectification_id == own.id
    page = client.get(f"/register/{finding.id}").get_data(as_text=True)
    assert "政务中心 3 号窗口" in page and "2026-09-30" in page


def test_a_liaison_sees_and_answers_only_the_own_units_cases(ctx, client) -> None:
    _campaign(components={}, ballot_share=1.0)
    case = services.register_case(None, kind="hotline", source="12345", occurred_on=dt.date(2026, 3, 1),
                                  unit=_unit("u1"), summary="热线反映办事慢",
                                  attachments=[services.Attachment("单.pdf", "application/pdf", b"%PDF-1.4 x")])
    services.accept(case)
    services.assign(case, dt.date(2099, 1, 1), TODAY)
    db.session.commit()
    make_user("liaison", username="other", unit_code="u2")
    login(client, "other")
    assert case.code not in client.get("/my/register").get_data(as_text=True)
    client.post(f"/my/register/{case.id}/reply", data={"reply": "不是本单位的件"})
    assert db.session.get(SupervisionCase, case.id).step == "assigned"
    # the evidence is the register's (a liaison is refused it), downloaded as an attachment
    assert client.get(f"/register/{case.id}/attachments/{case.attachments[0].id}").status_code == 403
    client.post("/logout")
    make_user("handler")
    login(client, "handler")
    download = client.get(f"/register/{case.id}/attachments/{case.attachments[0].id}")
    assert download.status_code == 200 and download.data == b"%PDF-1.4 x"
    assert download.headers["Content-Disposition"] == "attachment"
    # an attachment of another kind is refused, naming the file
    answer = client.post(f"/register/{case.id}/step/attach", data={
        "attachments": (io.BytesIO(b"<html>"), "page.html", "text/html")},
        content_type="multipart/form-data", follow_redirects=True)
    assert "附件“page.html”的类型不可用" in answer.get_data(as_text=True)
    assert len(db.session.get(SupervisionCase, case.id).attachments) == 1


@pytest.mark.parametrize(("content_type", "data"), [
    ("image/png", b"<html><script>alert(1)</script></html>"),  # markup declared as a photo
    ("application/pdf", b"\x89PNG\r\n\x1a\nphoto"),            # a real PNG declared as a PDF
    ("image/jpeg", b"%PDF-1.4 x"),
])
def test_an_attachment_whose_bytes_are_not_its_declared_type_is_refused(ctx, client, content_type, data) -> None:
    campaign = _campaign(components={"complaints": 0.3}, ballot_share=0.7)
    _register_setup(campaign)
    make_user("handler")
    login(client, "handler")
    answer = client.post("/register", data={
        "kind": "complaint", "source": "12345 热线", "occurred_on": "2026-03-10", "unit": "u1",
        "summary": "办证窗口推诿", "attachments": (io.BytesIO(data), "证据", content_type)},
        content_type="multipart/form-data", follow_redirects=True)
    assert "的内容不是它声明的类型" in answer.get_data(as_text=True)
    assert db.session.scalar(select(SupervisionCase)) is None  # all or nothing: no case without its evidence
