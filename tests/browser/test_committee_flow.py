"""The committee's path in Chromium, on the demo campaign: review, exclude a
flag's ballots after seeing the effect, a veto, approval, finalization, a
class changed by hand, the XLSX and PDF downloads, publication, a liaison's
answers and report, a red item cleared."""
from __future__ import annotations

import datetime as dt
import io
import subprocess
from pathlib import Path

import openpyxl
import pypdfium2
from playwright.sync_api import expect
from sqlalchemy import select

from survey.demo import DEMO_PASSWORD, create_demo, create_demo_users
from survey.extensions import db
from survey.models import AuditEntry, Campaign, CampaignUnit, Rectification
from survey.results import snapshots
from survey.results.exports import BREAKDOWN_SHEETS, SHEETS
from tests.factories import browser_login, confirm_in_dialog

ARTIFACTS = Path(__file__).parent.parent.parent / "test-artifacts"


def _as(browser, base: str, username: str):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    browser_login(page, base, username, DEMO_PASSWORD)
    return context, page


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"committee-{name}.png"), full_page=True)


def test_a_demo_campaign_from_review_to_cleared_rectification(app, live_server, browser, tmp_path) -> None:
    with app.app_context():
        campaign, _links = create_demo()
        create_demo_users()
        campaign.status = "closed"
        db.session.commit()
        speeders = snapshots.results_for(campaign)["ballots"]["flags"]["speeder"]
        db.session.commit()
        db.session.remove()
    assert speeders > 0
    base = live_server

    # Review: the ranking with classes, intervals and charts.
    committee_ctx, cpage = _as(browser, base, "committee")
    cpage.goto(f"{base}/results/2026")
    expect(cpage.get_by_role("heading", name="行政执法类")).to_be_visible()
    expect(cpage.locator("table.ranking tr[data-unit]")).to_have_count(24)
    chart = cpage.locator('img[src$="ranking-law.svg"]')
    chart.scroll_into_view_if_needed()
    cpage.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=chart.element_handle())
    cpage.locator('tr[data-unit="u01"] a').click()
    expect(cpage.get_by_role("heading", name="评定依据")).to_be_visible()

    # Data quality: preview excluding speeders, then adopt.
    cpage.goto(f"{base}/results/2026/quality")
    cpage.get_by_label("答题过快").check()
    cpage.get_by_role("button", name="预览影响").click()
    expect(cpage.get_by_test_id("preview")).to_contain_text(f"按此规则将剔除 {speeders} 张（当前 0 张）",
                                                           use_inner_text=True)
    _shot(cpage, "preview")
    cpage.get_by_role("button", name="采用此规则").click()
    expect(cpage.get_by_role("status").first).to_contain_text("已采用新的剔除规则", use_inner_text=True)
    expect(cpage.get_by_test_id("excluded").locator("tbody tr")).to_have_count(speeders)

    # The organizer enters a veto with its evidence.
    organizer_ctx, opage = _as(browser, base, "organizer")
    opage.goto(f"{base}/results/2026/inputs")
    veto = opage.locator('form[action$="/vetoes"]')
    veto.get_by_label("被评议单位").select_option("u05")
    veto.get_by_label("否决事由").fill("发生重大安全生产责任事故")
    veto.get_by_label("证据").fill("市安委办〔2026〕18号通报")
    veto.get_by_role("button", name="登记一票否决").click()
    expect(opage.get_by_test_id("vetoes")).to_contain_text("市安委办〔2026〕18号通报", use_inner_text=True)
    organizer_ctx.close()

    # A class changed by hand before 定稿 (afterwards only an appeal changes it),
    # with its reason, shown beside the computed one.
    cpage.goto(f"{base}/results/2026")
    expect(cpage.locator('tr[data-unit="u05"] [data-class="dissatisfied"]')).to_have_count(1)
    override = cpage.locator('form[action$="/override"]')
    override.get_by_label("被评议单位").select_option("u02")
    override.get_by_label("调整为").select_option("dissatisfied")
    override.get_by_label("调整理由").fill("群众反映问题经核实属实")
    override.get_by_role("button", name="调整").click()
    expect(cpage.get_by_test_id("override-u02")).to_contain_text("群众反映问题经核实属实", use_inner_text=True)
    expect(cpage.locator('tr[data-unit="u02"] > td > [data-class="dissatisfied"]')).to_have_count(1)

    # Approve and finalize: the override is kept in the final snapshot, and its form is gone.
    cpage.get_by_role("button", name="审定结果").click()
    expect(cpage.get_by_test_id("approvals")).to_contain_text("王强", use_inner_text=True)
    cpage.get_by_role("button", name="定稿").click()
    confirm_in_dialog(cpage, "定稿")
    expect(cpage.get_by_test_id("status")).to_have_text("已定稿", use_inner_text=True)
    expect(cpage.locator('form[action$="/override"]')).to_have_count(0)
    expect(cpage.get_by_test_id("override-u02")).to_contain_text("群众反映问题经核实属实", use_inner_text=True)
    expect(cpage.get_by_test_id("versions")).to_contain_text("第 1 版", use_inner_text=True)

    # The exports download from the page's links.
    with cpage.expect_download() as xlsx_download:
        cpage.get_by_role("link", name="XLSX", exact=True).click()  # the results workbook, not the ballots'
    assert xlsx_download.value.suggested_filename == "pingyi-2026.xlsx"
    workbook = openpyxl.load_workbook(io.BytesIO(Path(xlsx_download.value.path()).read_bytes()))
    assert [name for name in workbook.sheetnames if name not in BREAKDOWN_SHEETS] == list(SHEETS)
    assert "群众反映问题经核实属实" in {c.value for row in workbook[SHEETS[0]].iter_rows() for c in row}
    # The report is laid out on request (WeasyPrint, charts): more than the default 30 s on a loaded machine.
    with cpage.expect_download(timeout=120_000) as pdf_download:
        cpage.get_by_role("link", name="PDF").click(timeout=120_000)
    assert Path(pdf_download.value.path()).read_bytes()[:5] == b"%PDF-"

    # Publish for a period that includes today.
    today = dt.date.today()
    cpage.get_by_label("公示开始日期").fill((today - dt.timedelta(days=1)).isoformat())
    cpage.get_by_label("公示结束日期").fill((today + dt.timedelta(days=7)).isoformat())
    cpage.get_by_role("button", name="发布").click()
    confirm_in_dialog(cpage, "发布")
    expect(cpage.get_by_test_id("status")).to_have_text("已公示", use_inner_text=True)

    # The public page, without signing in.
    public_ctx = browser.new_context(locale="zh-CN")
    ppage = public_ctx.new_page()
    ppage.goto(f"{base}/public/2026")
    expect(ppage.get_by_role("heading", level=1)).to_contain_text("结果公示", use_inner_text=True)
    expect(ppage.locator('tr[data-unit="u05"] [data-class="dissatisfied"]')).to_have_count(1)
    # On paper, as Chromium prints it with static/print.css: A4, no navigation, the results as text.
    u05 = ppage.locator('tr[data-unit="u05"] td').first.inner_text().strip()
    ppage.emulate_media(media="print")
    expect(ppage.locator("header.site")).to_be_hidden()
    printed = tmp_path / "public.pdf"
    printed.write_bytes(ppage.pdf(prefer_css_page_size=True))
    paper = pypdfium2.PdfDocument(str(printed))
    assert all(abs(paper[k].get_size()[0] - 595.3) < 1 and abs(paper[k].get_size()[1] - 841.9) < 1
               for k in range(len(paper)))
    paper.close()
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(printed), "-"], capture_output=True, check=True,
                          text=True).stdout
    assert "结果公示" in text and u05 in text and "申诉与复核" in text and "民主评议平台" not in text  # no site header
    public_ctx.close()

    # The committee moves u01's deadline to yesterday: it turns red.
    cpage.goto(f"{base}/results/2026/rectification")
    row = cpage.locator('tr[data-unit="u01"]')
    row.get_by_label("市公安局 整改截止日期").fill((today - dt.timedelta(days=1)).isoformat())
    row.get_by_role("button", name="改期").click()
    expect(cpage.locator('tr[data-unit="u01"].red')).to_have_count(1)
    expect(cpage.get_by_test_id("state-u01")).to_have_text("红字（逾期）", use_inner_text=True)

    # The liaison of u01 answers a comment and submits plan and report.
    liaison_ctx, lpage = _as(browser, base, "liaison")
    lpage.goto(f"{base}/my/2026")
    expect(lpage.get_by_role("heading", level=1)).to_have_text("市公安局", use_inner_text=True)
    expect(lpage.get_by_test_id("red")).to_be_visible()
    comment = lpage.locator(".card.comment").first
    comment.get_by_label("答复类别").select_option(label="改进服务")
    comment.get_by_label("答复及办理情况").fill("已增设周末服务窗口")
    comment.get_by_role("button", name="保存答复").click()
    expect(lpage.locator(".card.comment").first).to_contain_text("改进服务：已增设周末服务窗口", use_inner_text=True)
    lpage.get_by_label("整改方案").fill("一、增设窗口；二、压缩办理时限")
    lpage.get_by_role("button", name="提交整改方案").click()
    lpage.get_by_label("整改报告").fill("整改事项已全部完成")
    lpage.get_by_role("button", name="提交整改报告").click()
    expect(lpage.get_by_role("status").first).to_contain_text("已提交整改报告", use_inner_text=True)
    _shot(lpage, "liaison")
    liaison_ctx.close()

    # The committee accepts the report: the red mark is cleared.
    cpage.goto(f"{base}/results/2026/rectification")
    cpage.get_by_role("button", name="验收 市公安局").click()
    expect(cpage.get_by_test_id("state-u01")).to_have_text("已消红", use_inner_text=True)
    expect(cpage.locator('tr[data-unit="u01"].red')).to_have_count(0)
    _shot(cpage, "rectification")
    committee_ctx.close()

    with app.app_context():
        campaign = db.session.scalar(select(Campaign).where(Campaign.code == "2026"))
        assert campaign.status == "published" and campaign.rules["exclude_flags"] == ["duplicate", "speeder"]
        rect = db.session.scalar(select(Rectification).join(CampaignUnit)
                                 .where(CampaignUnit.campaign_id == campaign.id,
                                        CampaignUnit.position == 0))
        assert rect.was_cleared
        actions = set(db.session.scalars(select(AuditEntry.action)))
        assert {"rules.exclude_flags", "veto.create", "results.approve", "campaign.finalize", "class.override",
                "campaign.publish",
                "rectification.due", "rectification.mark_red", "comment.answer", "rectification.plan",
                "rectification.report", "rectification.accept"} <= actions
        db.session.remove()
