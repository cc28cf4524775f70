"""Planted markup (Trust, item 2): every string a user supplies (set-up labels
and their English labels, roster names and organisations, comments and their
answers, appeals and their outcomes, rectification plans and reports, vetoes,
overrides, follow-ups, account names, the public page's office, contact and
appeal text) holds markup, a template expression, mathtext and spreadsheet
formulas. Every GET page of every role, in Chinese
and in English, the ballot's form and summary, every chart, the XLSX, every
CSV and the PDF show them as data: escaped, literal, never executed, never a
formula, never a crash."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select

from survey import charts
from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import (
    Appeal,
    Ballot,
    Comment,
    Consequence,
    Evaluator,
    FollowUp,
    Honour,
    Invitation,
    OutcomeSettings,
    Rectification,
    User,
)
from survey.results import queries
from survey.results.exports import CHART_TYPES
from survey.spreadsheets import FORMULA_STARTS
from survey.tokens import hash_token, new_token
from tests.factories import make_user
from tests.survey.test_authorization import _sign_in
from tests.survey.test_results_support import committee_bundle

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TEMPLATE = "{{7*7}}"
MATH = r"市$\frac$局"
#: Markup, a template expression and mathtext in one (73 characters).
MARKUP = SCRIPT + IMG + TEMPLATE + MATH
#: Starts a spreadsheet reads as a formula.
STARTS = ['=HYPERLINK("http://x","y")', "@SUM(A1)", "+1", "-2"]
#: What must never reach a page raw: the markup unescaped, the expression evaluated.
RAW = (SCRIPT, "<img src=x onerror", "49" + MATH[:1])


def planted(k: int) -> str:
    """A formula start and the markup: at most 99 characters (an option's label takes 100)."""
    return STARTS[k % len(STARTS)] + MARKUP


def _planted_bundle(code: str, **kwargs: Any) -> dict[str, Any]:
    doc = committee_bundle(code, **kwargs)
    doc["campaign"]["name"] = planted(0)
    for key, field in (("scale", "label"), ("items", "label"), ("categories", "label"), ("units", "name"),
                       ("groups", "label")):
        for k, record in enumerate(doc[key]):
            record[field] = planted(k)
    doc["extensions"] = {"labels_en": {key: {r["code"]: planted(k + 1) for k, r in enumerate(doc[key])}
                                       for key in ("scale", "items", "categories", "units")}}
    doc["vetoes"] = [{"unit": "u2", "reason": planted(2)}]
    return doc


def _roster(campaign: Any, n: int) -> list[str]:
    """``n`` personal links in batch e1 for evaluators with planted names and organisations."""
    batch = next(b for b in campaign.batches if b.code == "e1")
    tokens = []
    for k in range(n):
        token = new_token()
        evaluator = Evaluator(group=batch.group.group, name=planted(k), organisation=planted(k + 1),
                              email=f"p{k}@example.cn", attributes={"district": planted(k + 2)})
        db.session.add(Invitation(campaign_id=campaign.id, batch=batch, evaluator=evaluator,
                                  token_hash=hash_token(token)))
        tokens.append(token)
    db.session.commit()
    return tokens


def _post(client: Any, user_id: int, url: str, data: dict[str, Any]) -> None:
    _sign_in(client, user_id)
    response = client.post(url, data=data)
    assert response.status_code < 400, (url, response.status_code)


def _plant_campaigns(app: Any, client: Any) -> tuple[dict[str | None, int | None], list[str]]:
    """A published campaign (t2026) with every kind of text planted, and an
    open one (o2026) whose ballot links are returned; the users by role."""
    with app.app_context():
        campaign = import_bundle(_planted_bundle("t2026"), status="closed")
        units = {cu.code: cu for cu in campaign.units}
        for k, ballot in enumerate(db.session.scalars(select(Ballot).where(Ballot.campaign_id == campaign.id))):
            db.session.add(Comment(ballot_id=ballot.id, campaign_unit_id=units["u3" if k % 2 else "u1"].id,
                                   text=planted(k)))
        u3_comment = db.session.scalar(select(Comment.id).where(Comment.campaign_unit_id == units["u3"].id)
                                       .order_by(Comment.id).limit(1))
        _roster(campaign, 2)
        users = {role: make_user(role, unit_code="u3" if role == "liaison" else None).id
                 for role in ("admin", "organizer", "committee", "liaison", "auditor")}
        for k, user in enumerate(db.session.scalars(select(User))):
            user.display_name = planted(k)
        open_campaign = import_bundle(_planted_bundle("o2026"), status="open")
        queries.settings_for(open_campaign).interim_results = True  # its results shown while open, as 中间结果
        tokens = _roster(open_campaign, 3)
    committee, liaison = users["committee"], users["liaison"]
    base = "/results/t2026"
    _post(client, users["organizer"], f"{base}/vetoes", {"unit": "u1", "reason": planted(1), "evidence": planted(2)})
    _post(client, committee, f"{base}/override", {"unit": "u2", "new_class": "satisfied", "reason": planted(3)})
    _post(client, committee, f"{base}/approve", {})
    _post(client, committee, f"{base}/finalize", {"confirmed": "1"})
    _post(client, committee, f"{base}/settings", {  # the public page's options, shown on /public/t2026
        "min_group_ballots": "5", "self_examination_days": "15", "public_detail": "scores",
        "public_office": planted(0), "public_contact": planted(1), "appeal_how": planted(2)})
    today = dt.date.today()
    _post(client, committee, f"{base}/publish", {"public": "y", "public_from": (today - dt.timedelta(days=1)).isoformat(),
                                                 "public_until": (today + dt.timedelta(days=7)).isoformat(),
                                                 "confirmed": "1"})
    _post(client, liaison, f"/my/t2026/comments/{u3_comment}", {"kind": "explain", "text": planted(0)})
    for part in ("plan", "report"):
        _post(client, liaison, f"/my/t2026/{part}", {"text": planted(1)})
    _post(client, liaison, "/my/t2026/appeal", {"text": planted(2)})
    _post(client, committee, f"{base}/follow-ups", {"unit": "u3", "scheduled_on": (today + dt.timedelta(days=30)).isoformat(),
                                                     "note": planted(3)})
    # consequences carried out, escalation rules, 回头看, 先进 (survey/results/carrying_routes.py)
    _post(client, committee, f"{base}/consequence-rules/escalation", {
        "basis": "class", "value": "dissatisfied", "count": "1", "years": "1", "consequence": "media_list",
        "text": planted(0)})
    _post(client, committee, f"{base}/consequence-rules/owners", {"owner_media_list": planted(1)[:100]})
    _post(client, committee, f"{base}/honours/rule", {"top_k": "1", "title": planted(2), "stars": "0:3",
                                                      "public_stars": "y"})
    _post(client, committee, f"{base}/honours/u2", {"decision": "awarded", "title": planted(3), "amount": "1",
                                                    "note": planted(0)})
    with app.app_context():
        consequence = db.session.scalar(select(Consequence).where(Consequence.kind == "criticism_notice").limit(1))
        follow_up = db.session.scalar(select(FollowUp))
        assert consequence is not None and follow_up is not None
        consequence_id, follow_up_id = consequence.id, follow_up.id
    _post(client, committee, f"{base}/consequences/{consequence_id}/assign", {"owner": planted(1)[:100]})
    _post(client, committee, f"{base}/consequences/{consequence_id}/done", {"proof": planted(2)})
    _post(client, committee, f"{base}/follow-ups/{follow_up_id}/findings", {"findings": planted(3), "outcome": "noted"})
    with app.app_context():
        assert db.session.scalar(select(Honour.note)) == planted(0), "the honour was not planted"
        assert db.session.get(Consequence, consequence_id).proof == planted(2)
        appeal = db.session.scalar(select(Appeal))
        rect = db.session.scalar(select(Rectification).where(Rectification.plan.is_not(None)))
        assert appeal is not None and appeal.text == planted(2), "the appeal was not planted"
        assert rect is not None and rect.plan == planted(1) and rect.report == planted(1)
        options = db.session.scalar(select(OutcomeSettings).where(OutcomeSettings.public_office.is_not(None)))
        assert options is not None and (options.public_contact, options.appeal_how) == (planted(1), planted(2))
        appeal_id = appeal.id
    _post(client, committee, f"{base}/appeals/{appeal_id}", {"decision": "upheld", "outcome": planted(0)})
    return {None: None, **users}, tokens


def _value(name: str, code: str, token: str) -> Any:
    samples = {"code": code, "campaign_code": code, "bcode": "e1", "batch_code": "e1", "unit_code": "u3",
               "token": token, "public_code": "nothing", "part": "plan", "name": "ranking-all", "fmt": "png",
               "user_id": 1, "job_id": 1, "comment_id": 1, "group_code": "client"}
    return samples.get(name, 1)


def _get_urls(app: Any, tokens: list[str]) -> list[str]:
    from flask import url_for

    urls = set()
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint == "static" or "GET" not in (rule.methods or set()):
                continue
            for code in ("t2026", "o2026"):
                urls.add(url_for(rule.endpoint, **{n: _value(n, code, tokens[0]) for n in rule.arguments}))
    return sorted(urls)


def _check_html(url: str, text: str) -> list[str]:
    return [f"{url}: {raw!r} raw in the page" for raw in RAW if raw in text]


def _check_csv(url: str, text: str) -> list[str]:
    wrong = []
    for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))):
        wrong += [f"{url}: CSV cell {cell!r}" for cell in row if cell.startswith(FORMULA_STARTS)]
    return wrong


def _check_xlsx(url: str, data: bytes) -> list[str]:
    wrong = []
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        for name in book.namelist():
            if name.startswith("xl/worksheets/") and re.search(rb"<f[ >]", book.read(name)):
                wrong.append(f"{url}: a formula in {name}")
    for sheet in load_workbook(io.BytesIO(data)).worksheets:
        wrong += [f"{url}: {sheet.title}!{c.coordinate} is a formula" for row in sheet.iter_rows()
                  for c in row if c.data_type == "f"]
    return wrong


def _check(url: str, response: Any) -> list[str]:
    if response.status_code >= 500:
        return [f"{url}: {response.status_code}"]
    kind = response.mimetype or ""
    if kind == "text/html":
        return _check_html(url, response.get_data(as_text=True))
    if kind == "text/csv":
        return _check_csv(url, response.get_data(as_text=True))
    if kind.endswith("spreadsheetml.sheet") and response.status_code == 200:
        return _check_xlsx(url, response.data)
    if kind == "application/pdf" and response.status_code == 200 and not response.data.startswith(b"%PDF"):
        return [f"{url}: not a PDF"]
    return []


def test_planted_markup_is_shown_as_data_everywhere(app, client) -> None:
    users, tokens = _plant_campaigns(app, client)
    urls = _get_urls(app, tokens)
    wrong: list[str] = []
    for role, user_id in users.items():
        # English changes what the evaluator's pages show (English labels); staff pages are read in Chinese.
        for lang in ("zh", "en") if role is None else ("zh",):
            _sign_in(client, user_id)
            client.set_cookie("pingyi_lang", lang)
            for url in urls:
                wrong += _check(f"{url} ({role}, {lang})", client.get(url))
    assert wrong == [], "\n".join(wrong)


def test_the_ballot_shows_planted_labels_as_text(app, client) -> None:
    """The evaluator's form and summary, in Chinese and in English: the labels
    (and their English labels) escaped, the markup visible as typed."""
    _users, tokens = _plant_campaigns(app, client)
    _sign_in(client, None)
    for lang in ("zh", "en"):
        client.set_cookie("pingyi_lang", lang)
        form = client.get(f"/b/{tokens[1]}")
        html = form.get_data(as_text=True)
        assert form.status_code == 200 and _check_html("/b/", html) == []
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "{{7*7}}" in html and MATH in html
        fields = {m[0]: m[1] for m in re.findall(r'name="(csrf_token|receipt|receipt_mac|started)"[^>]*value="([^"]*)"',
                                                 html)}
        for name in sorted(set(re.findall(r'name="(a_\d+_\d+)"', html))):
            fields[name] = re.search(rf'name="{name}"[^>]*value="(\d+)"', html).group(1)
        review = client.post(f"/b/{tokens[1]}", data={**fields, "action": "review"})
        text = review.get_data(as_text=True)
        assert review.status_code == 200 and 'id="confirm-form"' in text, text[:2000]
        assert _check_html("/b/ (review)", text) == [] and "&lt;script&gt;" in text


def test_every_chart_and_export_of_planted_names(app, client) -> None:
    users, _tokens = _plant_campaigns(app, client)
    _sign_in(client, users["committee"])
    base = "/results/t2026"
    for name in ("ranking-law", "shares-law", "ranking-svc", "shares-svc", "returns"):
        for fmt in CHART_TYPES:
            chart = client.get(f"{base}/charts/{name}.{fmt}")
            assert chart.status_code == 200 and chart.mimetype.startswith("image/"), (name, fmt, chart.status_code)
    pdf = client.get(f"{base}/report.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    xlsx = client.get(f"{base}/export.xlsx")
    assert xlsx.status_code == 200 and _check_xlsx("export.xlsx", xlsx.data) == []
    texts = [c.value for sheet in load_workbook(io.BytesIO(xlsx.data)).worksheets for row in sheet.iter_rows()
             for c in row if isinstance(c.value, str)]
    assert planted(0) in texts  # the formula start kept as text, shown as typed
    _sign_in(client, users["organizer"])
    returns = client.get("/campaigns/t2026/returns.png")
    assert returns.status_code == 200 and returns.mimetype == "image/png"
    template = client.get("/campaigns/t2026/roster/template.csv")
    assert template.status_code == 200 and _check_csv("template.csv", template.get_data(as_text=True)) == []


def test_every_chart_function_draws_planted_names_literally() -> None:
    """Each chart (the history too, drawn from a second year on) with planted
    names, titles and legends, in every format: no mathtext error, the text as typed."""
    names = [planted(k) for k in range(4)] + [MATH, "$x^$", r"$\undefined{x}$", "a$$b"]
    units = [{"name": n, "score": 50.0 + k, "ci95": [40.0, 60.0], "class": "satisfied", "shares": {"S": 0.5}}
             for k, n in enumerate(names)]
    labels = {"satisfied": MATH, "basically_satisfied": MATH}
    figures = [charts.ranking_chart(units, {"satisfied": 85, "basic": 60}, MATH, labels),
               charts.shares_chart(units, [("S", MATH)], MATH),
               charts.return_rate_chart([{"label": n, "return_rate": 0.5} for n in names], 0.9, MATH),
               charts.history_chart([{"year": 2025, "score": 50.0, "class": "satisfied"}], {"basic": 60}, MATH),
               charts.returns_over_time_chart({MATH: [(dt.date(2026, 11, 2), 3)]}, MATH, MATH, MATH)]
    for fig in figures:
        for fmt in ("png", "svg", "pdf"):
            assert charts.render(fig, fmt)
    ticks = [t.get_text() for t in figures[0].axes[0].get_yticklabels()]
    assert MATH in ticks and planted(0) in ticks
