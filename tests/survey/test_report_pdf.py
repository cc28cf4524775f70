"""The 评议结果报告 (PDF): every page A4, its Chinese text drawn and extracted
alike by poppler (pdftotext), Ghostscript (txtwrite) and PDFium (pypdfium2),
a planted name printed as text, the 草稿 watermark on every page before 定稿
and the approvers after; the results page's download and the command line."""
from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import pypdfium2
from sqlalchemy import select

from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import Ballot, Campaign
from survey.results import report, snapshots
from tests.factories import bundle, login, make_user
from tests.survey.test_results_support import committee_bundle

TITLE = "2026年度市直机关作风评议"
MARKUP = "<b>markup</b>市税务局"
UNITS = {"u1": "市公安局", "u2": MARKUP, "u3": "市住房和城乡建设局"}
A4 = (595.28, 841.89)


def _campaign(code: str = "t2026", status: str = "closed") -> Campaign:
    doc = committee_bundle(code)
    doc["campaign"]["name"] = TITLE
    for unit in doc["units"]:
        unit["name"] = UNITS[unit["code"]]
    campaign = import_bundle(doc, status=status)
    db.session.commit()
    return campaign


def _finalize(client: Any, campaign: Campaign, approvers: list[str]) -> None:
    for name in approvers:
        make_user("committee", username=name)
    for name in approvers:
        login(client, name)
        assert client.post(f"/results/{campaign.code}/approve").status_code == 302
        client.post("/logout")
    login(client, approvers[0])
    client.post(f"/results/{campaign.code}/finalize", data={"confirmed": "1"})
    db.session.expire_all()
    assert campaign.state.is_frozen


# --- the three readers ---------------------------------------------------------


def _poppler(path: Path) -> list[str]:
    """pdftotext's text, page by page (pages end with a form feed)."""
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode("utf-8").split("\f")[:-1]


def _ghostscript(path: Path) -> str:
    out = subprocess.run(["gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=txtwrite", "-sOutputFile=-",
                          str(path)], capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def _pdfium(data: bytes) -> list[str]:
    pdf = pypdfium2.PdfDocument(data)
    try:
        return [pdf[k].get_textpage().get_text_range() for k in range(len(pdf))]
    finally:
        pdf.close()


def _fonts(path: Path) -> list[tuple[str, bool]]:
    """pdffonts' list: each font's name and whether it is embedded."""
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True).stdout
    rows = [line.split() for line in out.splitlines()[2:] if line.strip()]
    return [(row[0], row[-5] == "yes") for row in rows]


def _flat(text: str) -> str:
    """Text without the whitespace and line breaks each reader puts in its own places."""
    return re.sub(r"\s+", "", text)


def _page_facts(data: bytes) -> list[tuple[float, float, float]]:
    """Each page's width and height (pt) and the share of its pixels that are not white, rendered by PDFium."""
    pdf = pypdfium2.PdfDocument(data)
    facts = []
    try:
        for k in range(len(pdf)):
            page = pdf[k]
            width, height = page.get_size()
            histogram = page.render(scale=0.5).to_pil().convert("L").histogram()
            facts.append((width, height, sum(histogram[:200]) / sum(histogram)))
    finally:
        pdf.close()
    return facts


def _pdf(client: Any, campaign: Campaign, tmp_path: Path) -> tuple[bytes, Path]:
    response = client.get(f"/results/{campaign.code}/report.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == f"attachment; filename=pingyi-{campaign.code}.pdf"
    path = tmp_path / "report.pdf"
    path.write_bytes(response.data)
    return response.data, path


def _readers(data: bytes, path: Path) -> dict[str, str]:
    return {"pdftotext": _flat("".join(_poppler(path))), "gs txtwrite": _flat(_ghostscript(path)),
            "pdfium": _flat("".join(_pdfium(data)))}


# --- the tests ----------------------------------------------------------------------


def test_the_draft_report_is_a4_readable_by_all_three_and_marked_draft_on_every_page(app, client, ctx,
                                                                                      tmp_path) -> None:
    campaign = _campaign()
    make_user("organizer")
    login(client, "organizer")
    data, path = _pdf(client, campaign, tmp_path)
    facts = _page_facts(data)
    assert len(facts) >= 4  # cover, method, ranking, returns, consequences, sign-off
    for width, height, ink in facts:
        assert abs(width - A4[0]) <= 1 and abs(height - A4[1]) <= 1, (width, height)
        assert ink > 0.002, "a page renders blank"
    for reader, text in _readers(data, path).items():
        for wanted in (TITLE, "评议结果报告", *UNITS.values(), "行政执法类", "社会服务类", "服务对象", "专家学者",
                       "民主评议工作领导小组办公室"):
            assert _flat(wanted) in text, (reader, wanted)
    pages = _poppler(path)
    assert len(pages) == len(facts)
    for reader, texts in (("pdftotext", pages), ("pdfium", _pdfium(data))):
        for k, page in enumerate(texts, start=1):
            # the watermark and the running header's mark (the cover says it once more)
            assert _flat(page).count("草稿") >= 2, f"{reader}: page {k} lacks the 草稿 watermark"
            assert "草稿·尚未定稿" in _flat(page), f"{reader}: page {k} has no draft header"
    # the planted name is text, never markup: printed with its angle brackets, never in bold
    assert _flat(MARKUP) in _flat("".join(pages))
    # the charts' words are text too (SVG with its text kept, the CJK font embedded)
    assert "行政执法类综合得分与95%区间" in _flat("".join(pages))
    assert "各评议主体回收率" in _flat("".join(pages))
    fonts = _fonts(path)
    assert fonts and all(embedded for _name, embedded in fonts), fonts
    assert any("Noto-Sans-CJK-SC" in name for name, _embedded in fonts), fonts


def test_the_final_report_has_the_approvers_and_no_draft_mark(app, client, ctx, tmp_path) -> None:
    campaign = _campaign()
    _finalize(client, campaign, ["zhang", "wang"])
    data, path = _pdf(client, campaign, tmp_path)
    pages = _poppler(path)
    for width, height, ink in _page_facts(data):
        assert abs(width - A4[0]) <= 1 and abs(height - A4[1]) <= 1 and ink > 0.002
    for k, page in enumerate(pages, start=1):
        assert "尚未定稿" not in _flat(page), f"page {k} still says draft"
    assert not any(_flat(p).count("草稿") > _flat(p).count("（草稿）") for p in pages)  # only consequence texts
    text = _flat("".join(pages))
    assert "定稿第1版" in text and "审定人" in text
    assert text.count("committee测试") == 2  # both approvers (display name "committee 测试"), nobody else
    assert snapshots.final_snapshot(campaign).results_sha256 in text
    assert "通报批评" in text  # the consequences made at 定稿 (u3 is 不满意)
    for reader, flat in _readers(data, path).items():
        assert _flat(TITLE) in flat and _flat(MARKUP) in flat, reader


def test_per_indicator_highlights_when_the_results_have_items(app, client, ctx, tmp_path, monkeypatch) -> None:
    """SCORING.md section 5a's per-unit ``items``: rendered from the analysis's
    own figures, with set figures in the order they rank, skipped where the
    results carry none (results stored before section 5a)."""
    doc = committee_bundle()
    doc["items"] = [{"code": "i0", "label": "总体评价", "weight": 1.0}, {"code": "i1", "label": "办事效率", "weight": 1.0},
                    {"code": "i2", "label": "<i>服务态度</i>", "weight": 1.0}]
    campaign = import_bundle(doc, status="closed")
    db.session.commit()
    make_user("committee")
    login(client, "committee")
    _data, path = _pdf(client, campaign, tmp_path)
    plain = _flat("".join(_poppler(path)))
    assert "分项指标" in plain and "得分最低的指标" in plain  # the analysis computes them (section 5a)

    real = report.parsed

    def without_items(snap: Any) -> dict[str, Any]:
        results = copy.deepcopy(real(snap))
        for unit in results["units"]:
            unit.pop("items", None)
        return results

    monkeypatch.setattr(report, "parsed", without_items)
    _data, path = _pdf(client, campaign, tmp_path)
    plain = _flat("".join(_poppler(path)))
    assert "分项指标" not in plain and "得分最低的指标" not in plain
    scores = {"i0": 80.0, "i1": 55.5, "i2": 91.0}

    def with_items(snap: Any) -> dict[str, Any]:
        results = copy.deepcopy(real(snap))
        for k, unit in enumerate(results["units"]):
            unit["items"] = {code: {"n": 10, "score": s - k, "group_scores": {}, "shares": None, "ci95": [s - 5, s + 5]}
                             for code, s in scores.items()}
        return results

    monkeypatch.setattr(report, "parsed", with_items)
    _data, path = _pdf(client, campaign, tmp_path)
    text = _flat("".join(_poppler(path)))
    assert "分项指标" in text and "各单位得分最低的指标" in text
    assert "<i>服务态度</i>" in text
    # u1 (k = 0): 办事效率 55.50 the weakest, then 总体评价 80.00
    assert "市第1局办事效率55.50（50.5–60.5）总体评价80.00" in text


def test_the_command_line_writes_the_report_and_refuses_clearly(app, ctx, tmp_path) -> None:
    campaign = _campaign()
    runner = app.test_cli_runner()
    target = tmp_path / "out.pdf"
    result = runner.invoke(args=["results", "report", campaign.code, str(target)])
    assert result.exit_code == 0, result.output
    assert "草稿" in result.output and str(target) in result.output
    data = target.read_bytes()
    assert data.startswith(b"%PDF-")
    text = _flat("".join(_pdfium(data)))
    assert _flat(TITLE) in text and "尚未定稿" in text
    assert "评议方法" in text and "Method" not in text

    missing = runner.invoke(args=["results", "report", "nope", str(tmp_path / "x.pdf")])
    assert missing.exit_code == 2 and "没有代码为 nope 的评议活动" in missing.output
    assert not (tmp_path / "x.pdf").exists()

    empty = import_bundle(bundle("e2026"), status="closed")
    db.session.commit()
    assert db.session.scalar(select(Ballot.id).where(Ballot.campaign_id == empty.id)) is None
    refused = runner.invoke(args=["results", "report", "e2026", str(tmp_path / "y.pdf")])
    assert refused.exit_code == 2 and "评议活动 e2026 还没有收到评议票，不能生成评议结果报告" in refused.output
    assert not (tmp_path / "y.pdf").exists()


def test_the_download_of_a_campaign_without_ballots_is_refused_with_the_reason(app, client, ctx) -> None:
    import_bundle(bundle("e2026"), status="closed")
    db.session.commit()
    make_user("committee")
    login(client, "committee")
    response = client.get("/results/e2026/report.pdf")
    assert response.status_code == 400
    assert "还没有收到评议票" in response.get_data(as_text=True)


def test_the_method_says_the_rules_the_results_were_computed_with(app, ctx) -> None:
    rules = {"trim_per_end": 0.1, "ballot_share": 0.7, "objective_components": {"work": 0.3},
             "thresholds": {"satisfied": 90, "basic": 70}, "bottom": {"n": 1, "below": 75},
             "max_dissatisfied_share": 0.25, "bootstrap": {"replicates": 200, "seed": 7}}
    doc = committee_bundle(rules=rules)
    doc["units"][1]["name"] = MARKUP
    campaign = import_bundle(doc, status="closed")
    db.session.commit()
    with app.test_request_context("/"):
        page = report.html(campaign)
    text = _flat(re.sub(r"<[^>]+>", "", page))
    for wanted in ("问卷测评得分占70%", "工作考核分项“work”占30%", "去掉最高和最低的各10%", "≥90为“满意”", "≥70为“基本满意”",
                   "“不满意”票占比达到25%", "得分最低的1个单位，得分低于75的", "200次重抽样，随机种子7",
                   "剔除标记为以下情形的评议票：重复提交", "服务对象0.660.0%", "专家学者0.440.0%"):
        assert wanted in text, wanted
    assert "&lt;b&gt;markup&lt;/b&gt;市税务局" in page and "<b>markup" not in page
