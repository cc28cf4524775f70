"""Per-indicator figures (SCORING.md section 5a) where a unit acts on them: the
committee's unit page and the liaison's page list the indicators weakest
first, with the analysis's own figures; the liaison's page hides what the
campaign's minimum group size hides; the XLSX carries the same figures."""
from __future__ import annotations

import io
import re
from typing import Any

import openpyxl
import pytest

from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import Campaign
from survey.results import queries, signoff, snapshots
from tests.factories import login, make_user
from tests.survey.test_results_support import committee_bundle

pytestmark = pytest.mark.db

ITEMS = [("i0", "总体评价"), ("i1", "办事效率"), ("i2", "<b>服务态度</b>")]
#: u1's answers per item: 办事效率 its weakest, then 总体评价, then 服务态度.
U1 = {"i0": ["S", "B", "S"], "i1": ["D", "B", "D"], "i2": ["S", "S", "S"]}


def _campaign(status: str = "closed") -> Campaign:
    doc = committee_bundle()
    doc["items"] = [{"code": c, "label": label, "weight": 1.0} for c, label in ITEMS]
    for k, ballot in enumerate(doc["ballots"]):
        ballot["attributes"] = {"district": "东区" if k % 2 else "<i>西区</i>"}
        for unit, answers in ballot["answers"].items():
            option = answers["i0"]
            if unit == "u1":
                ballot["answers"][unit] = {code: options[k % 3] for code, options in U1.items()}
            else:
                ballot["answers"][unit] = {"i0": option, "i1": option, "i2": "B"}
    campaign = import_bundle(doc, status=status)
    db.session.commit()
    return campaign


def _cells(page: str, testid: str) -> list[list[str]]:
    table = re.search(rf'<table data-testid="{testid}">(.*?)</table>', page, re.S)
    assert table, testid
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.S)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
            for row in rows]


def _items_of(campaign: Campaign, unit: str) -> dict[str, Any]:
    return queries.unit_result(snapshots.results_for(campaign), unit)["items"]


def test_the_committee_sees_each_indicator_weakest_first_with_the_analysis_figures(client, ctx) -> None:
    campaign = _campaign()
    make_user("committee")
    login(client, "committee")
    page = client.get(f"/results/{campaign.code}/units/u1").get_data(as_text=True)
    items = _items_of(campaign, "u1")
    rows = _cells(page, "items")[1:]
    assert [r[0] for r in rows] == ["办事效率", "总体评价", "&lt;b&gt;服务态度&lt;/b&gt;"]  # weakest first, escaped
    for row, code in zip(rows, ("i1", "i0", "i2"), strict=True):
        figures = items[code]
        assert row[1] == str(figures["n"]) and row[2] == f"{figures['score']:.2f}"
        assert row[3] == f"{figures['ci95'][0]:.2f}–{figures['ci95'][1]:.2f}"
    assert items["i1"]["score"] < items["i0"]["score"] < items["i2"]["score"]
    # a chart of the indicators, drawn with the CJK font
    chart = client.get(f"/results/{campaign.code}/charts/items-u1.svg")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    assert f"/results/{campaign.code}/charts/items-u1.svg" in page
    # the breakdown by batch: the analysis's subsets
    by_batch = {r[0]: r for r in _cells(page, "by-batch")[1:]}
    batches = queries.unit_result(snapshots.results_for(campaign), "u1")["by_batch"]
    assert set(by_batch) == {code for code, f in batches.items() if f["n"]}
    for code, row in by_batch.items():
        assert row[1] == str(batches[code]["n"]) and row[2] == f"{batches[code]['score']:.2f}"
    # and by a ballot attribute (values escaped)
    districts = queries.unit_result(snapshots.results_for(campaign), "u1")["by_attribute"]["district"]
    by_district = {r[0]: r for r in _cells(page, "by-attribute-1")[1:]}
    assert set(by_district) == {"东区", "&lt;i&gt;西区&lt;/i&gt;"}
    assert by_district["东区"][2] == f"{districts['东区']['score']:.2f}"


def test_the_xlsx_has_the_same_indicator_figures(client, ctx) -> None:
    campaign = _campaign()
    make_user("committee")
    login(client, "committee")
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/results/{campaign.code}/export.xlsx").data))
    sheet = book["分项指标"]
    header = [c.value for c in sheet[2]]
    items = _items_of(campaign, "u1")
    found = 0
    for row in sheet.iter_rows(min_row=3, values_only=True):
        line = dict(zip(header, row, strict=False))
        if "市第1局" in str(line.get("单位")):
            code = next(c for c, label in ITEMS if label == line.get("指标"))
            assert line["得分"] == pytest.approx(items[code]["score"], abs=1e-12)
            found += 1
    assert found == 3
    # the breakdown by a ballot attribute, value by value (markup stays text)
    districts = queries.unit_result(snapshots.results_for(campaign), "u1")["by_attribute"]["district"]
    header = [c.value for c in book["分属性"][2]]
    rows = [dict(zip(header, row, strict=False)) for row in book["分属性"].iter_rows(min_row=3, values_only=True)]
    mine = {r["取值"]: r for r in rows if r["单位代码"] == "u1" and r["属性"] == "district"}
    assert set(mine) == {"东区", "<i>西区</i>"}
    for value, row in mine.items():
        assert row["有效票"] == districts[value]["n"] and row["得分"] == pytest.approx(districts[value]["score"])


def _finalized() -> Campaign:
    campaign = _campaign()
    committee = make_user("committee")
    signoff.approve(campaign, committee)
    import datetime as dt
    signoff.finalize(campaign, dt.date(2026, 12, 1), committee)
    db.session.commit()
    return campaign


def test_a_liaison_sees_the_indicators_without_small_groups(client, ctx) -> None:
    campaign = _finalized()
    make_user("liaison", username="l1", unit_code="u1")
    login(client, "l1")
    page = client.get(f"/my/{campaign.code}").get_data(as_text=True)
    rows = _cells(page, "items")
    # 12 client ballots shown (≥ 5), the 3 expert ballots not: no column for them
    header = rows[0]
    assert "服务对象" in " ".join(header) or len(header) == 4 + 3 + 1
    assert not any("专家" in h for h in header)
    assert [r[0] for r in rows[1:]] == ["办事效率", "总体评价", "&lt;b&gt;服务态度&lt;/b&gt;"]
    assert rows[1][2] == f"{_items_of(campaign, 'u1')['i1']['score']:.2f}"


def test_a_liaison_sees_no_indicator_score_below_the_minimum(client, ctx) -> None:
    campaign = _finalized()
    queries.settings_for(campaign).min_group_ballots = 16  # more than the unit's 15 ballots
    db.session.commit()
    make_user("liaison", username="l1", unit_code="u1")
    login(client, "l1")
    page = client.get(f"/my/{campaign.code}").get_data(as_text=True)
    rows = _cells(page, "items")[1:]
    assert len(rows) == 3 and all(r[2] == "—" and r[3] == "—" for r in rows)
    assert page.count('data-hidden="1"') == 3


def test_the_report_has_the_same_indicator_and_channel_figures(client, ctx, tmp_path) -> None:
    from tests.survey.test_report_pdf import _flat, _pdf, _poppler, _readers

    campaign = _campaign()
    make_user("committee")
    login(client, "committee")
    data, path = _pdf(client, campaign, tmp_path)
    text = _flat("".join(_poppler(path)))
    result = queries.unit_result(snapshots.results_for(campaign), "u1")
    weakest = result["items"]["i1"]
    assert f"办事效率{weakest['score']:.2f}" in text  # u1's weakest indicator, as the analysis scored it
    assert "各单位分渠道问卷得分" in text
    channels = [f for f in result["by_channel"].values() if f["n"]]
    assert len(channels) == 2
    row = "".join(f"{f['score']:.2f}（{f['n']}）" for f in channels)
    part = text[text.index("各单位分渠道问卷得分"):]
    assert row in part and "市第1局" in part  # (pdftotext reads the table's columns in its own order)
    for reader, flat in _readers(data, path).items():  # Ghostscript and PDFium read the tables too
        for cell in (f"办事效率{weakest['score']:.2f}", "各指标得分概况", "各单位分渠道问卷得分",
                     *(f"{f['score']:.2f}（{f['n']}）" for f in channels)):
            assert cell in flat, (reader, cell)
