"""Exports: the XLSX workbook, the results JSON (the PDF report: test_report_pdf.py)."""
from __future__ import annotations

import io
import json

from openpyxl import load_workbook

from survey.results import comments, exports, queries, snapshots
from survey.results.queries import unit_result
from tests.factories import login, make_user
from tests.survey.test_results_support import make_committee_campaign


def _finalized_with_answers(client):
    campaign = make_committee_campaign()
    make_user("committee")
    make_user("liaison", unit_code="u3")
    login(client, "committee")
    client.post(f"/results/{campaign.code}/override",
                data={"unit": "u2", "new_class": "satisfied", "reason": "经领导小组研究调整"})
    client.post(f"/results/{campaign.code}/approve")
    client.post(f"/results/{campaign.code}/finalize", data={"confirmed": "1"})
    client.post("/logout")
    login(client, "liaison")
    cu = queries.campaign_unit(campaign, "u3")
    result = unit_result(snapshots.results_for(campaign), "u3")
    first = comments.liaison_view(campaign, cu, result).comments[0]
    client.post(f"/my/{campaign.code}/comments/{first['id']}", data={"kind": "coordinate", "text": "已协调解决"})
    client.post("/logout")
    login(client, "committee")
    return campaign, first


def test_the_workbook_has_the_sheets_figures_and_charts(client, ctx):
    campaign, first = _finalized_with_answers(client)
    response = client.get(f"/results/{campaign.code}/export.xlsx")
    assert response.status_code == 200
    wb = load_workbook(io.BytesIO(response.data))
    # (and SCORING.md section 5a's sheets once the analysis gives them: test_xlsx_reading.py)
    assert [name for name in wb.sheetnames if name not in exports.BREAKDOWN_SHEETS] == list(exports.SHEETS) == [
        "评议结果", "分组得分", "选项占比", "回收率", "意见与答复", "整改情况"]
    results = snapshots.results_for(campaign)
    rows = list(wb["评议结果"].iter_rows(min_row=3, values_only=True))
    by_code = {r[1]: r for r in rows if r[1]}
    for code in ("u1", "u2", "u3"):
        r = unit_result(results, code)
        assert by_code[code][5] == r["score"] and by_code[code][6] == r["rank"]
    assert by_code["u2"][7:10] == ("基本满意", "满意", "经领导小组研究调整")
    assert len(wb["评议结果"]._images) == 2  # one ranking chart per category
    assert len(wb["回收率"]._images) == 1
    group_rows = list(wb["分组得分"].iter_rows(min_row=3, values_only=True))
    assert ("u3", "市第3局", "服务对象", 12, unit_result(results, "u3")["group_scores"]["client"]) in group_rows
    returns = {r[0]: r for r in wb["回收率"].iter_rows(min_row=3, values_only=True)}
    assert returns["服务对象"][1:5] == (20, 12, 12, 0.6)
    comments = list(wb["意见与答复"].iter_rows(min_row=3, values_only=True))
    answered = [r for r in comments if r[5]]
    assert answered == [("u3", "市第3局", "服务对象", first["text"], "协调解决", "已协调解决")]
    status = {r[0]: r[5] for r in wb["整改情况"].iter_rows(min_row=3, values_only=True)}
    assert status == {"u1": "进行中", "u2": "进行中", "u3": "进行中"}
    shares = list(wb["选项占比"].iter_rows(min_row=2, max_row=2, values_only=True))[0]
    assert shares == ("单位代码", "单位", "评议主体", "满意", "基本满意", "不满意")


def test_the_results_json_is_pingyi_results(client, ctx):
    campaign, _first = _finalized_with_answers(client)
    data = json.loads(client.get(f"/results/{campaign.code}/results.json").data)
    assert data["format"] == "pingyi-results/1"
    assert data == json.loads(snapshots.final_snapshot(campaign).results_json)


def test_text_from_users_is_never_a_formula_in_the_workbook(client, ctx):
    import zipfile

    campaign, first = _finalized_with_answers(client)
    client.post("/logout")
    login(client, "liaison")
    evil = '=HYPERLINK("http://evil.example","点此查看")'
    second = comments.liaison_view(campaign, queries.campaign_unit(campaign, "u3"),
                                   unit_result(snapshots.results_for(campaign), "u3")).comments[1]
    client.post(f"/my/{campaign.code}/comments/{second['id']}", data={"kind": "coordinate", "text": evil})
    client.post(f"/my/{campaign.code}/plan", data={"text": "=cmd|' /C calc'!A0"})
    client.post("/logout")
    login(client, "committee")
    data = client.get(f"/results/{campaign.code}/export.xlsx").data
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        for name in book.namelist():
            if name.startswith("xl/worksheets/sheet"):
                xml = book.read(name).decode("utf-8")
                assert "<f>" not in xml and "<f " not in xml, name
    wb = load_workbook(io.BytesIO(data))
    texts = [c for row in wb["意见与答复"].iter_rows(values_only=True) for c in row]
    assert evil in texts
    plans = [c for row in wb["整改情况"].iter_rows(values_only=True) for c in row]
    assert "=cmd|' /C calc'!A0" in plans


def test_the_return_rate_sheet_and_chart_show_the_personal_channels_rate(client, ctx):
    """A group with an open channel: pingyi-results/1's return_rate stays null; beside it the
    app's own rate over the personal channels, the open channels' ballots, and the quota."""
    from survey.bundles import import_bundle
    from survey.extensions import db
    from tests.survey.test_board import _mixed_bundle

    campaign = import_bundle(_mixed_bundle(), status="closed")
    db.session.commit()
    make_user("committee")
    login(client, "committee")
    wb = load_workbook(io.BytesIO(client.get(f"/results/{campaign.code}/export.xlsx").data))
    sheet = list(wb["回收率"].iter_rows(min_row=2, values_only=True))  # row 1: the title
    assert sheet[0][5:] == ("个人渠道发放", "个人渠道回收", "个人渠道回收率", "开放渠道回收", "名额", "对名额的比例")
    returns = {r[0]: r for r in sheet[1:] if r[0]}
    assert returns["服务对象"][4:] == (None, 20, 4, 0.2, 3, None, None)
    assert returns["专家学者"][4:] == (None, 0, 0, None, 5, 10, 0.5)
    draw, (groups, _target, _title) = exports.chart_spec(campaign, snapshots.results_for(campaign), "returns")
    assert [(g["return_rate"], g["quota"], g["open_returned"]) for g in groups] == [(0.2, False, 3), (0.5, True, 5)]
    draw(groups, 0.9, "回收率")  # draws with both kinds of label
