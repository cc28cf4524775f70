"""Departmental objective scores (专项考核, issue #13): an assessing
department enters or imports its own component only, on any scale, with raw
score, full marks and evidence kept; the value reaches ``python -m analysis
evaluate`` through the bundle as 100 × raw / full marks clipped to [0, 100];
derived components cannot be entered; the committee sees what is missing."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from survey.api import keys
from survey.bundles import export_bundle, import_bundle
from survey.extensions import db
from survey.models import Campaign, ObjectiveScore
from survey.register import services
from tests.factories import bundle, login, make_user

pytestmark = pytest.mark.db
ROOT = Path(__file__).resolve().parents[2]


def _campaign(code: str = "t2026", status: str = "closed") -> Campaign:
    """u1 all 满意 (ballot score 100), u2 all 基本满意 (70), u3 no ballots;
    问卷 0.8 + 安全生产 (safety) 0.2."""
    ballots = [{"id": f"{k:04d}", "batch": "e1", "submitted_at": "2026-11-02T09:15:00+08:00",
                "answers": {"u1": {"i0": "S"}, "u2": {"i0": "B"}, "u3": {"i0": "S"}}} for k in range(10)]
    doc = bundle(code, units=3, ballots=ballots,
                 rules={"ballot_share": 0.8, "objective_components": {"safety": 0.2}, "min_valid_per_unit": 1,
                        "bootstrap": {"replicates": 0}})
    campaign = import_bundle(doc, status=status)
    db.session.commit()
    return campaign


def _evaluate(campaign: Campaign, tmp_path: Path) -> dict[str, dict[str, Any]]:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(export_bundle(campaign), ensure_ascii=False), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "analysis", "evaluate", str(path)], cwd=ROOT,
                         capture_output=True, check=True)
    return {u["code"]: u for u in json.loads(out.stdout)["units"]}


def _csv(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(r) for r in rows).encode("utf-8")


def test_an_import_on_a_1000_point_scale_reaches_the_analysis(ctx, client, tmp_path) -> None:
    campaign = _campaign()
    make_user("assessor")  # bound to "safety"
    login(client, "assessor")
    data = _csv([["单位代码", "得分", "满分", "依据"],
                 ["u1", "850", "1000", "安全生产考核（安委办〔2026〕5 号）"],
                 ["u2", "1100", "1000", "含加分项"]])
    answer = client.post(f"/assess/{campaign.code}/import", data={"file": (io.BytesIO(data), "安全生产.csv")},
                         content_type="multipart/form-data")
    assert answer.status_code == 302
    rows = {s.campaign_unit.code: s for s in db.session.scalars(select(ObjectiveScore))}
    assert (rows["u1"].raw, rows["u1"].full_marks, rows["u1"].score) == (850, 1000, 85)
    assert rows["u1"].evidence == "安全生产考核（安委办〔2026〕5 号）"
    assert rows["u2"].score == 100  # 100 × 1100 / 1000 = 110, clipped to 100
    units = _evaluate(campaign, tmp_path)
    # u1: (0.8 × 100 + 0.2 × 85) / (0.8 + 0.2) = 80 + 17 = 97
    assert units["u1"]["score"] == pytest.approx(97.0)
    # u2: 0.8 × 70 + 0.2 × 100 = 56 + 20 = 76
    assert units["u2"]["score"] == pytest.approx(76.0)
    # u3 has no safety score: the composite is its ballot score alone (100), with a warning
    assert units["u3"]["score"] == pytest.approx(100.0)
    doc = export_bundle(campaign)
    assert {"unit": "u1", "component": "safety", "raw": 850, "full_marks": 1000,
            "evidence": "安全生产考核（安委办〔2026〕5 号）"} in doc["extensions"]["objective_raw"]
    # export(import(bundle)) keeps the raw scores and their evidence.
    doc["campaign"]["code"] = "copy2026"
    assert export_bundle(import_bundle(json.loads(json.dumps(doc)))) == doc
    # the committee sees u3 missing before 定稿
    make_user("committee")
    client.post("/logout")
    login(client, "committee")
    page = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    assert 'data-testid="missing-components"' in page and "safety：市第3局" in page


def test_one_entry_by_the_organizer_on_a_deduction_base(ctx, client, tmp_path) -> None:
    campaign = _campaign()
    make_user("organizer")
    login(client, "organizer")
    assert client.post(f"/results/{campaign.code}/objective-scores", data={
        "unit": "u1", "component": "safety", "score": "36", "full_marks": "40",
        "evidence": "扣 4 分"}).status_code == 302
    row = db.session.scalar(select(ObjectiveScore))
    assert row is not None and (row.raw, row.full_marks, row.score) == (36, 40, 90)
    # u1: 0.8 × 100 + 0.2 × 90 = 80 + 18 = 98
    assert _evaluate(campaign, tmp_path)["u1"]["score"] == pytest.approx(98.0)


def test_a_bad_file_is_refused_whole_with_each_row_and_column(ctx, client) -> None:
    campaign = _campaign()
    make_user("assessor")
    login(client, "assessor")
    book = Workbook()
    sheet = book.active
    for row in (["单位代码", "考核项目", "得分", "满分", "依据"], ["u1", "safety", "90", "100", "记录"],
                ["u9", "safety", "abc", "0", ""], ["u2", "work", "80", "100", "记录"],
                ["u1", "safety", "70", "100", "重复"]):
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    answer = client.post(f"/assess/{campaign.code}/import", data={"file": (io.BytesIO(buffer.getvalue()), "s.xlsx")},
                         content_type="multipart/form-data")
    assert answer.status_code == 400
    text = answer.get_data(as_text=True)
    for row, column in ((3, "单位代码"), (3, "得分"), (3, "满分"), (3, "依据"), (4, "考核项目"), (5, "单位代码")):
        assert f"<td>{row}</td><td>{column}</td>" in text, (row, column)
    assert db.session.scalar(select(ObjectiveScore.id)) is None  # all or nothing


def test_an_assessor_enters_only_its_component_and_nobody_enters_a_derived_one(ctx, client) -> None:
    campaign = _campaign(status="open")
    services.set_component(campaign, "complaints", "群众投诉", 100)
    db.session.commit()
    make_user("assessor")
    login(client, "assessor")
    client.post(f"/assess/{campaign.code}/scores", data={"component": "work", "unit": "u1", "raw": "90",
                                                          "full_marks": "100", "evidence": "x"})
    row = db.session.scalar(select(ObjectiveScore))
    assert row is not None and row.component == "safety"  # the account's component, whatever the form says
    client.post("/logout")
    make_user("organizer")
    login(client, "organizer")
    answer = client.post(f"/assess/{campaign.code}/scores", data={
        "component": "complaints", "unit": "u1", "raw": "90", "full_marks": "100", "evidence": "x"},
        follow_redirects=True)
    assert "由督查登记的扣分生成" in answer.get_data(as_text=True)
    assert db.session.scalar(select(ObjectiveScore).where(ObjectiveScore.component == "complaints")) is None
    # … nor through the API, whoever's key
    key = keys.issue(make_user("assessor", username="dept2", component="complaints"), "t")[1]
    db.session.commit()
    api = client.post(f"/api/v1/campaigns/{campaign.code}/objective-scores",
                      json={"scores": [{"unit": "u1", "component": "complaints", "score": 90, "evidence": "x"}]},
                      headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 400 and "由督查登记的扣分生成" in api.get_data(as_text=True)


def test_planted_markup_on_the_assessment_page_is_escaped(ctx, client) -> None:
    campaign = _campaign(status="open")
    make_user("assessor")
    login(client, "assessor")
    markup = "<script>alert(1)</script>"
    client.post(f"/assess/{campaign.code}/scores", data={"unit": "u1", "raw": "90", "full_marks": "100",
                                                          "evidence": markup})
    text = client.get(f"/assess/{campaign.code}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)" in text and markup not in text


def test_a_dated_score_belongs_to_the_campaign_whose_period_contains_it(ctx, client) -> None:
    import datetime as dt

    campaign = _campaign()
    campaign.period_start, campaign.period_end = dt.date(2026, 1, 1), dt.date(2026, 12, 31)
    db.session.commit()
    make_user("assessor")
    login(client, "assessor")
    late = _csv([["单位代码", "得分", "依据", "考核日期"], ["u1", "90", "考核表", "2027-01-05"]])
    answer = client.post(f"/assess/{campaign.code}/import", data={"file": (io.BytesIO(late), "s.csv")},
                         content_type="multipart/form-data")
    assert answer.status_code == 400 and "不在本次评议的考核期（2026-01-01 至 2026-12-31）内" in answer.get_data(
        as_text=True)
    good = _csv([["单位代码", "得分", "依据", "考核日期"], ["u1", "90", "考核表", "2026-12-20"]])
    client.post(f"/assess/{campaign.code}/import", data={"file": (io.BytesIO(good), "s.csv")},
                content_type="multipart/form-data")
    row = db.session.scalar(select(ObjectiveScore))
    assert row is not None and row.assessed_on == dt.date(2026, 12, 20)
    doc = export_bundle(campaign)
    assert doc["extensions"]["objective_raw"] == [{"unit": "u1", "component": "safety", "raw": 90,
                                                   "full_marks": 100, "evidence": "考核表", "date": "2026-12-20"}]
    assert doc["extensions"]["period"] == {"start": "2026-01-01", "end": "2026-12-31"}  # the period travels too
    doc["campaign"]["code"] = "copy2026"
    copy = import_bundle(json.loads(json.dumps(doc)))
    assert (copy.period_start, copy.period_end) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert export_bundle(copy) == doc


def test_the_admin_binds_an_assessing_department_to_one_component(ctx, client) -> None:
    from survey.models import User

    make_user("admin")
    login(client, "admin")
    account = {"username": "anjian", "display_name": "安监局考核科", "role": "assessor", "unit": "",
               "password": "评议办2026年度", "confirm": "评议办2026年度"}
    answer = client.post("/admin/users", data={**account, "component": ""})
    assert answer.status_code == 400 and "专项考核部门必须填写考核项目代码" in answer.get_data(as_text=True)
    answer = client.post("/admin/users", data={**account, "role": "organizer", "component": "safety"})
    assert answer.status_code == 400 and "只有专项考核部门才填写考核项目代码" in answer.get_data(as_text=True)
    assert client.post("/admin/users", data={**account, "component": "safety"}).status_code == 302
    user = db.session.scalar(select(User).where(User.username == "anjian"))
    assert user is not None and (user.role, user.component) == ("assessor", "safety")
