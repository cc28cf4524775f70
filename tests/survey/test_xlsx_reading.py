"""The results workbook laid out for reading (issue #12, "Results out"): a
title row with the 草稿 mark before 定稿, styled headers, frozen panes,
autofilters, number formats, widths that fit Chinese text, Beijing times,
and SCORING.md section 5a's sheets (分项指标, 分批次, 分渠道) where the
results have them. Read back with openpyxl. (The sheets' figures:
test_exports.py.)"""
from __future__ import annotations

import copy
import datetime as dt
import io
import re
import zipfile
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import select

from survey.bundles import import_bundle
from survey.clock import to_beijing
from survey.extensions import db
from survey.models import Batch, Rectification
from survey.results import exports, queries, snapshots
from survey.results.queries import unit_result
from tests.factories import login, make_user
from tests.survey.test_results_support import committee_bundle, make_committee_campaign

pytestmark = pytest.mark.db

DRAFT = "草稿 / 尚未定稿"
EVIL = "=cmd|' /C calc'!A0"
SCRIPT = "<script>alert(1)</script>"


def _workbook(client: Any, code: str) -> tuple[bytes, Any]:
    response = client.get(f"/results/{code}/export.xlsx")
    assert response.status_code == 200
    return response.data, load_workbook(io.BytesIO(response.data))


def _column(sheet: Any, header: str) -> int:
    """The column (1-based) of a header in the header row (row 2)."""
    heads = [c.value for c in sheet[2]]
    assert header in heads, (sheet.title, header, heads)
    return heads.index(header) + 1


def _formats(sheet: Any, header: str) -> set[str]:
    """The number formats of a column's filled cells below the header."""
    col = _column(sheet, header)
    return {row[0].number_format for row in sheet.iter_rows(min_row=3, min_col=col, max_col=col)
            if row[0].value is not None}


def _values(sheet: Any) -> list[tuple[Any, ...]]:
    return list(sheet.iter_rows(min_row=3, values_only=True))


def test_each_sheet_has_a_title_header_panes_filter_and_formats_before_finalization(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    _data, wb = _workbook(client, campaign.code)
    for sheet in wb.worksheets:
        title = sheet["A1"]
        assert title.value == f"{campaign.name} · {sheet.title}　{DRAFT}", sheet.title
        assert title.font.b and title.font.color.rgb.endswith("B3261E")
        heads = [c.value for c in sheet[2]]
        assert heads[0] and all(heads)
        for cell in sheet[2]:
            assert cell.font.b and cell.fill.fgColor.rgb.endswith("D9E2EC") and cell.alignment.wrap_text
        assert sheet.freeze_panes == "B3"  # the title and header rows, and the first column
        assert sheet.auto_filter.ref == f"A2:{get_column_letter(len(heads))}{max(sheet.max_row, 2)}"
        assert sheet.page_setup.orientation == "landscape" and sheet.print_title_rows == "$1:$2"
    ws = wb["评议结果"]
    rows = _values(ws)
    assert [r[1] for r in rows] == ["u1", "u3", "u2"]  # category law (u1, u3), then svc (u2)
    for header in ("有效票", "名次"):
        assert _formats(ws, header) == {"0"}, header
    for header in ("问卷得分", "综合得分", "95%区间下限", "95%区间上限"):
        assert _formats(ws, header) == {"0.00"}, header
    assert _formats(ws, "稳定性") == {"0.0%"}
    # figures stay unrounded: the format only shows them rounded
    results = snapshots.results_for(campaign)
    assert rows[0][5] == unit_result(results, "u1")["score"]
    assert _formats(wb["选项占比"], "满意") == {"0.0%"} == _formats(wb["选项占比"], "不满意")
    assert _formats(wb["分组得分"], "得分") == {"0.00"} and _formats(wb["分组得分"], "有效票") == {"0"}
    returns = wb["回收率"]
    assert _formats(returns, "回收率") == {"0.0%"}
    assert _formats(returns, "发放") == _formats(returns, "回收") == _formats(returns, "有效") == {"0"}


def test_a_rate_column_is_a_percentage_by_its_header():
    formats = exports._column_formats([("S", "满意")])
    assert exports._format_of("个人渠道回收率", formats) == exports._format_of("满意", formats) == "0.0%"
    assert exports._format_of("综合得分", formats) == "0.00" and exports._format_of("有效票", formats) == "0"
    assert exports._format_of("单位", formats) is None and exports._format_of(None, formats) is None


def test_columns_fit_chinese_text_and_long_text_wraps(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    _data, wb = _workbook(client, campaign.code)
    ws = wb["评议结果"]
    unit = get_column_letter(_column(ws, "单位"))
    # "市第1局": four characters, three of them wide: 7 columns of text, and a margin
    assert ws.column_dimensions[unit].width == 9
    category = get_column_letter(_column(ws, "类别"))
    assert ws.column_dimensions[category].width == len("行政执法类") * 2 + 2
    comments = wb["意见与答复"]
    text = get_column_letter(_column(comments, "意见"))
    widest = max(sum(2 if ord(ch) > 0x2E80 else 1 for ch in r[3]) for r in _values(comments))
    assert widest > max(len(r[3]) for r in _values(comments))
    assert comments.column_dimensions[text].width == min(widest + 2, exports.WIDEST)
    # a header wider than ONE_LINE_HEADER (this one: 20) wraps instead of widening its (empty) column
    rect = wb["整改情况"]
    accepted = get_column_letter(_column(rect, "验收时间（北京时间）"))
    assert rect.column_dimensions[accepted].width == exports.ONE_LINE_HEADER + 2


def test_after_finalization_no_draft_mark_dates_and_beijing_times(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    make_user("liaison", unit_code="u3")
    login(client, "committee")
    client.post(f"/results/{campaign.code}/approve")
    client.post(f"/results/{campaign.code}/finalize", data={"confirmed": "1"})
    client.post("/logout")
    login(client, "liaison")
    long_plan = "整改方案：" + "加强窗口建设，压缩办理时限，" * 8
    client.post(f"/my/{campaign.code}/plan", data={"text": long_plan})
    client.post("/logout")
    login(client, "committee")
    _data, wb = _workbook(client, campaign.code)
    for sheet in wb.worksheets:
        assert sheet["A1"].value == f"{campaign.name} · {sheet.title}"
        assert DRAFT not in sheet["A1"].value
    rect = wb["整改情况"]
    rows = {r[0]: r for r in _values(rect)}
    stored = db.session.scalar(select(Rectification).where(Rectification.plan.is_not(None)))
    assert stored.plan == long_plan
    due = _column(rect, "截止日期")
    assert _formats(rect, "截止日期") == {"yyyy-mm-dd"}
    assert rows["u3"][due - 1].date() == stored.due_on
    shown = rows["u3"][_column(rect, "方案提交时间（北京时间）") - 1]
    assert abs(shown - to_beijing(stored.plan_at)) < dt.timedelta(seconds=1)
    assert abs(shown - stored.plan_at - dt.timedelta(hours=8)) < dt.timedelta(seconds=1)
    assert _formats(rect, "方案提交时间（北京时间）") == {"yyyy-mm-dd hh:mm"}
    plan = next(c for c in rect[_row_of(rect, "u3")] if c.value == long_plan)
    assert plan.alignment.wrap_text and rect.column_dimensions[plan.column_letter].width == exports.WIDEST


def _row_of(sheet: Any, code: str) -> int:
    return next(row[0].row for row in sheet.iter_rows(min_row=3) if row[0].value == code)


# --- SCORING.md section 5a -----------------------------------------------------------------

SHARES = {"S": 0.5, "B": 0.375, "D": 0.125}


def _with_breakdowns(real: Any) -> Any:
    """FIXTURE, not computed: a real result with the per-unit keys SCORING.md
    section 5a adds (``items``, ``by_batch``, ``by_channel``) written in by
    hand, in the spec's shapes, with made-up figures (empty subsets as the
    spec gives them), until the analysis computes them."""

    def parsed(snap: Any) -> dict[str, Any]:
        results = copy.deepcopy(real(snap))
        for k, unit in enumerate(results["units"]):
            unit["items"] = {code: {"n": 14 - j, "score": 80.25 - k - j, "group_scores": {"client": 81.0, "expert": None},
                                    "shares": SHARES, "ci95": [70.5 - k, 90.125 - k]}
                             for j, code in enumerate(("i1", "i0"))}  # not in questionnaire order
            unit["by_batch"] = {"p1": {"n": 0, "score": None, "shares": None},
                                "e1": {"n": 12, "score": 77.5 + k, "shares": SHARES}}
            unit["by_channel"] = {"public": {"n": 0, "score": None, "shares": None},
                                  "email": {"n": 12, "score": 77.5 + k, "shares": SHARES}}
        return results

    return parsed


def _breakdown_campaign(client: Any, monkeypatch: Any, **names: str) -> Any:
    doc = committee_bundle(items=[{"code": "i0", "label": names.get("i0", "总体评价"), "weight": 1.0},
                                  {"code": "i1", "label": names.get("i1", "办事效率"), "weight": 1.0}])
    if "campaign" in names:
        doc["campaign"]["name"] = names["campaign"]
    campaign = import_bundle(doc, status="closed")
    batch = db.session.scalar(select(Batch).where(Batch.campaign_id == campaign.id, Batch.code == "e1"))
    batch.opens_at, batch.closes_at = dt.datetime(2026, 11, 1, 1, 30), dt.datetime(2026, 11, 20, 15, 59)  # UTC
    db.session.commit()
    make_user("committee")
    login(client, "committee")
    monkeypatch.setattr(exports, "parsed", _with_breakdowns(exports.parsed))
    return campaign


def test_per_item_batch_and_channel_sheets_where_the_results_have_them(client, ctx, monkeypatch):
    campaign = _breakdown_campaign(client, monkeypatch)
    _data, wb = _workbook(client, campaign.code)
    assert wb.sheetnames == ["评议结果", "分组得分", "选项占比", "分项指标", "分批次", "分渠道", "回收率", "意见与答复",
                             "整改情况"]
    items = wb["分项指标"]
    assert [c.value for c in items[2]] == ["单位代码", "单位", "指标代码", "指标", "有效票", "得分", "95%区间下限",
                                          "95%区间上限", "满意", "基本满意", "不满意"]
    rows = _values(items)
    assert len(rows) == 3 * 2  # one row per unit and item
    assert rows[:2] == [("u1", "市第1局", "i0", "总体评价", 13, 79.25, 70.5, 90.125, 0.5, 0.375, 0.125),
                        ("u1", "市第1局", "i1", "办事效率", 14, 80.25, 70.5, 90.125, 0.5, 0.375, 0.125)]
    assert _formats(items, "有效票") == {"0"} and _formats(items, "得分") == {"0.00"} == _formats(items, "95%区间下限")
    assert _formats(items, "满意") == {"0.0%"}
    assert items.freeze_panes == "B3" and items.auto_filter.ref == "A2:K8"
    assert items["A1"].value == f"{campaign.name} · 分项指标　{DRAFT}"

    batches = wb["分批次"]
    assert [c.value for c in batches[2]][:9] == ["单位代码", "单位", "批次", "评议主体", "渠道", "开始时间（北京时间）",
                                                "结束时间（北京时间）", "有效票", "得分"]
    rows = _values(batches)
    assert [r[:5] for r in rows[:2]] == [("u1", "市第1局", "e1", "服务对象", "电子邮件"),
                                         ("u1", "市第1局", "p1", "专家学者", "公开渠道")]  # batch order, not the keys'
    assert rows[0][5:] == (dt.datetime(2026, 11, 1, 9, 30), dt.datetime(2026, 11, 20, 23, 59), 12, 77.5, 0.5, 0.375,
                           0.125)
    assert rows[1][5:] == (None, None, 0, None, None, None, None)  # an empty subset: n 0, no figures
    assert _formats(batches, "开始时间（北京时间）") == {"yyyy-mm-dd hh:mm"} and _formats(batches, "得分") == {"0.00"}

    channels = wb["分渠道"]
    rows = _values(channels)
    assert rows[:2] == [("u1", "市第1局", "电子邮件", 12, 77.5, 0.5, 0.375, 0.125),
                        ("u1", "市第1局", "公开渠道", 0, None, None, None, None)]
    assert len(rows) == 3 * 2 and _formats(channels, "不满意") == {"0.0%"}


def test_planted_text_stays_text_in_every_sheet(client, ctx, monkeypatch):
    """A campaign name, an item label and a unit's name that a spreadsheet would
    run as a command or a page as a script: text in the cells, no formula."""
    name = EVIL + SCRIPT
    campaign = _breakdown_campaign(client, monkeypatch, campaign=name, i0=SCRIPT, i1=EVIL)
    cu = queries.campaign_unit(campaign, "u2")
    cu.name = EVIL
    db.session.commit()
    data, wb = _workbook(client, campaign.code)
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        for part in book.namelist():
            if part.startswith("xl/worksheets/"):
                assert not re.search(rb"<f[ >]", book.read(part)), part
    for sheet in wb.worksheets:
        title = sheet["A1"]
        assert title.value.startswith(name) and title.data_type == "s" and title.quotePrefix
        assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    labels = {r[2]: r[3] for r in _values(wb["分项指标"])}
    assert labels == {"i0": SCRIPT, "i1": EVIL}
    planted = next(c for c in wb["分项指标"]["D"] if c.value == EVIL)
    assert planted.data_type == "s" and planted.quotePrefix
    assert EVIL in [r[2] for r in _values(wb["评议结果"])]
