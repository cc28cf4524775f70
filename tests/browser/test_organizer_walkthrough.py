"""An organizer in Chromium, from an empty database: creates a campaign (categories, units,
groups, questionnaire, scale, rules), previews the form and submits a test ballot, opens it (the
test ballot purged), imports a roster with errors, sees them, fixes
the file, imports it, sends an SMS batch through the HTTP gateway test server and an e-mail
batch to the SMTP test server, schedules reminders that the job thread sends (the old link then
says it was replaced), adds a QR poster, and reads the return board of a group with personal
and open channels (issue #11's whole walk)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from survey.clock import to_beijing, utcnow
from survey.extensions import db
from survey.models import Batch
from survey.models import TestBallot as StoredTestBallot
from tests.factories import browser_login, confirm_in_dialog, make_user
from tests.smtp import smtp_config

LINK = re.compile(r"http://127\.0\.0\.1:\d+/b/[A-Za-z0-9_-]+")

HEADER = ["姓名", "手机", "邮箱", "工作单位", "评议主体", "所在单位代码", "区域"]


def csv_file(rows: list[list[str]], name: str) -> dict:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    # GB18030, as Excel in China saves a CSV.
    return {"name": name, "mimeType": "text/csv", "buffer": out.getvalue().encode("gb18030")}


def send_batch(page, group: str, channel: str, code: str, count: int) -> None:
    """Create a batch on the batches page, look at the preview, send, and wait for the job."""
    page.get_by_label("评议主体").select_option(label=group)
    page.get_by_label("发放渠道").select_option(channel)
    page.get_by_label("批次代码（可不填）").fill(code)
    page.get_by_role("button", name="创建批次").click()
    expect(page.get_by_test_id("issued")).to_have_text(str(count))
    page.get_by_role("button", name="发送待发消息…").click()
    expect(page.get_by_test_id("recipients")).to_be_visible()
    page.get_by_role("button", name=f"确认发送 {count} 条").click()
    expect(page.get_by_test_id("job-status")).to_contain_text("已全部发出", timeout=20_000)
    expect(page.get_by_test_id("delivery-sent")).to_have_text(str(count))


def wait_for(found, timeout: float = 20.0):
    """Poll until `found()` returns something (a background job's effect)."""
    end = time.monotonic() + timeout
    while not (value := found()):
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)
    return value


def answer(browser, url: str) -> list[str]:
    """An evaluator on a phone rates every unit on the form 满意 and submits; the units rated."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    try:
        evaluator = context.new_page()
        evaluator.goto(url)
        units = evaluator.locator(".card h3").all_inner_texts()
        for unit in units:
            evaluator.locator(".card", has=evaluator.get_by_role("heading", name=unit)).get_by_label(
                "满意", exact=True).check()
        evaluator.get_by_role("button", name="提交评议").click()
        thanks = evaluator.get_by_role("heading", level=1, name=re.compile(r"^感谢您参加"))
        expect(evaluator.get_by_test_id("confirm").or_(thanks)).to_be_visible()  # the next page, whichever
        if evaluator.get_by_test_id("confirm").count():  # the form's review step
            evaluator.get_by_test_id("confirm").click()
        expect(thanks).to_be_visible()
        return units
    except Exception:
        evaluator.screenshot(path="test-artifacts/test_organizer_walkthrough-evaluator.png", full_page=True)
        raise
    finally:
        context.close()


@pytest.mark.walk
def test_organizer_sets_up_imports_and_watches(app, live_server, browser, sms_gateway, smtp_server) -> None:
    handler, port = smtp_server
    app.config.update(**sms_gateway.config(), **smtp_config(port), PINGYI_PUBLIC_URL=live_server,
                      PINGYI_JOBS_THREAD=True)
    with app.app_context():
        make_user("organizer")
        db.session.remove()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    base = live_server
    try:
        browser_login(page, base, "organizer")
        page.locator("main").get_by_role("link", name="新建评议活动").click()
        page.get_by_label("活动代码").fill("w2026")
        page.get_by_label("活动名称").fill("2026年度行风评议")
        page.get_by_label("年度").fill("2026")
        page.get_by_label("回收率目标（%）").fill("90")
        # Two days from now (Beijing time), so that a reminder schedule is due during the test.
        deadline = to_beijing(utcnow() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
        page.get_by_label("截止时间（北京时间，可空）").fill(deadline)
        page.get_by_role("button", name="创建").click()
        expect(page.get_by_role("status")).to_contain_text("已创建评议活动", use_inner_text=True)
        expect(page.get_by_test_id("campaign-status")).to_have_text("草稿", use_inner_text=True)
        expect(page.get_by_test_id("readiness")).to_contain_text("还没有被评议单位", use_inner_text=True)

        # Categories and units.
        page.get_by_role("link", name="类别与单位").click()
        for code, label in (("law", "行政执法类"), ("svc", "社会服务类")):
            form = page.locator("#category-form")
            form.get_by_label("类别代码").fill(code)
            form.get_by_label("类别名称（已有类别可不填）").fill(label)
            form.get_by_role("button", name="添加类别").click()
        for category, code, name in (("行政执法类", "tax", "市税务局"), ("社会服务类", "med", "市医保局")):
            form = page.locator("#unit-form")
            form.get_by_label("类别", exact=True).select_option(label=category)
            form.get_by_label("单位代码").fill(code)
            form.get_by_label("单位名称（已有单位可不填）").fill(name)
            form.get_by_role("button", name="添加单位").click()
        expect(page.get_by_test_id("units").locator("tbody tr")).to_have_count(2)

        # Groups, with a weight the form refuses and explains first.
        page.get_by_role("link", name="评议主体", exact=True).click()
        form = page.locator("#group-form")
        form.get_by_label("评议主体代码").fill("client")
        form.get_by_label("评议主体名称（已有的可不填）").fill("服务对象")
        form.get_by_label("权重").fill("0")
        form.get_by_role("button", name="添加评议主体").click()
        expect(page.locator("#group-form")).to_contain_text("权重必须是正数（大于 0）", use_inner_text=True)
        page.locator("#group-form").get_by_label("权重").fill("3")
        page.locator("#group-form").get_by_role("button", name="添加评议主体").click()
        form = page.locator("#group-form")
        form.get_by_label("评议主体代码").fill("npc")
        form.get_by_label("评议主体名称（已有的可不填）").fill("人大代表")
        form.get_by_label("权重").fill("1")
        form.get_by_role("button", name="添加评议主体").click()
        expect(page.get_by_test_id("share-client")).to_have_text("75.0%", use_inner_text=True)
        expect(page.get_by_test_id("share-npc")).to_have_text("25.0%", use_inner_text=True)

        # The questionnaire: one item, four options (不了解 without points).
        page.get_by_role("link", name="评议表").click()
        form = page.locator("#item-form")
        form.get_by_label("指标代码").fill("overall")
        form.get_by_label("指标名称").fill("总体评价")
        form.get_by_role("button", name="添加指标").click()
        for code, label, points in (("S", "满意", "100"), ("B", "基本满意", "75"), ("D", "不满意", "55"),
                                    ("U", "不了解", "")):
            form = page.locator("#option-form")
            form.get_by_label("选项代码").fill(code)
            form.get_by_label("选项名称").fill(label)
            form.locator("input[name=points]").fill(points)
            form.get_by_role("button", name="添加选项").click()
        expect(page.get_by_test_id("scale").locator("tbody tr")).to_have_count(4)

        # Rules: a bad value is explained, then fixed.
        page.get_by_role("link", name="计分规则").click()
        page.locator("#trim_per_end").fill("0.5")
        page.locator("#satisfied").fill("60")
        page.get_by_role("button", name="保存计分规则").click()
        expect(page.locator("#rules-form")).to_contain_text("每端去除比例必须不小于 0 且小于 0.5", use_inner_text=True)
        expect(page.locator("#rules-form")).to_contain_text("必须高于基本满意阈值", use_inner_text=True)
        page.screenshot(path="test-artifacts/test_organizer_walkthrough-rules.png", full_page=True)
        page.locator("#trim_per_end").fill("0.1")
        page.locator("#satisfied").fill("85")
        page.locator("#bottom_n").fill("1")
        page.locator("#bottom_below").fill("75")
        page.get_by_role("button", name="保存计分规则").click()
        expect(page.get_by_role("status")).to_contain_text("已保存计分规则", use_inner_text=True)

        # The preview: the real form of a group in a phone frame, and a test ballot through it.
        page.get_by_role("link", name="预览与测试").click()
        form = page.frame_locator('[data-testid="phone-frame"]')
        expect(form.get_by_role("heading", level=1)).to_have_text("2026年度行风评议")
        for unit in form.locator(".card h3").all_inner_texts():
            form.locator(".card", has=form.get_by_role("heading", name=unit, exact=True)).get_by_label(
                "满意", exact=True).check()
        form.get_by_role("button", name="提交评议").click()
        form.get_by_role("button", name="确认提交").click()
        expect(form.get_by_test_id("test-recorded")).to_be_visible()
        page.reload()
        expect(page.get_by_test_id("test-count")).to_contain_text("共 1 张测试票")

        # Open it: the test ballot is purged, and counts nowhere.
        page.get_by_role("link", name="基本信息与状态").click()
        page.get_by_role("button", name="开始评议").click()
        confirm_in_dialog(page, "开始评议")  # it cannot be undone: asked first
        expect(page.get_by_test_id("campaign-status")).to_have_text("进行中", use_inner_text=True)
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(StoredTestBallot)) == 0

        # The roster: a file with errors, then the fixed file.
        page.get_by_role("link", name="评议代表名单").click()
        bad = [HEADER, ["张三", "13800138000", "", "某公司", "client", "", "东区"],
               ["李四", "", "", "某协会", "服务对象", "", "西区"],
               ["王五", "13900139000", "wang@", "", "市民", "tax", ""]]
        page.locator("input[type=file]").set_input_files(csv_file(bad, "名单.csv"))
        page.get_by_role("button", name="导入").click()
        expect(page.get_by_test_id("roster-problems")).to_contain_text("有 3 处问题，未导入任何人", use_inner_text=True)
        problems = page.get_by_test_id("roster-problems").inner_text()
        assert "手机和邮箱都没有填写" in problems and "邮箱格式不对" in problems and "未知评议主体“市民”" in problems
        expect(page.get_by_test_id("roster-count-client")).to_have_text("0", use_inner_text=True)
        good = [HEADER, ["张三", "13800138000", "", "某公司", "client", "", "东区"],
                ["李四", "13700137000", "", "某协会", "服务对象", "", "西区"],
                ["王五", "13900139000", "wang@example.cn", "", "人大代表", "tax", ""]]
        page.locator("input[type=file]").set_input_files(csv_file(good, "名单.csv"))
        page.get_by_role("button", name="导入").click()
        expect(page.get_by_role("status")).to_contain_text("已导入 3 名评议代表", use_inner_text=True)
        expect(page.get_by_test_id("roster-count-client")).to_have_text("2", use_inner_text=True)
        expect(page.get_by_test_id("roster-count-npc")).to_have_text("1", use_inner_text=True)

        # 服务对象 by SMS, through the HTTP gateway test server; 人大代表 by e-mail, to the SMTP test server.
        page.goto(f"{base}/distribution/w2026/batches")
        send_batch(page, "服务对象", "sms", "sms1", 2)
        sms_links = {r.json()["phone"]: LINK.search(r.json()["text"]).group(0) for r in sms_gateway.requests}
        assert set(sms_links) == {"13800138000", "13700137000"}
        page.goto(f"{base}/distribution/w2026/batches")
        send_batch(page, "人大代表", "email", "mail1", 1)
        assert [m.rcpt_tos for m in handler.messages] == [["wang@example.cn"]]
        mail_link = LINK.search(handler.messages[0].body).group(0)

        page.goto(f"{base}/campaigns/w2026/returns")
        expect(page.get_by_test_id("total-returned")).to_have_text("0", use_inner_text=True)
        expect(page.get_by_test_id("batches-rate-sms1")).to_have_text("0.0%", use_inner_text=True)
        expect(page.get_by_test_id("unanswered-sms1")).to_have_text("2 / 2", use_inner_text=True)

        # 张三 answers from the SMS on a phone, 王五 from the e-mail.
        assert answer(browser, sms_links["13800138000"]) == ["市税务局", "市医保局"]
        assert answer(browser, mail_link) == ["市医保局"]  # 王五 works at 市税务局: not his own unit

        # Reminders from the batch page: the deadline is two days away, so "from 3 days before"
        # is due at once, and the job thread reminds the one who has not answered (李四).
        page.goto(f"{base}/distribution/w2026/batches/sms1")
        page.get_by_label("截止前几天开始催办").fill("3")
        page.get_by_label("每隔几天催办一次").fill("2")
        page.get_by_role("button", name="保存定时催办").click()
        expect(page.get_by_test_id("schedule")).to_contain_text("截止前 3 天起，每 2 天")
        reminder = wait_for(lambda: [r.json() for r in sms_gateway.requests[2:]])
        assert [r["phone"] for r in reminder] == ["13700137000"]
        # The old link says it was replaced, and by which message; the new one opens the form.
        old = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
        old_page = old.new_page()
        old_page.goto(sms_links["13700137000"])
        expect(old_page.get_by_test_id("replaced")).to_contain_text("催办短信中有一个新的个人链接")
        old.close()
        answer(browser, LINK.search(reminder[0]["text"]).group(0))

        # An open channel beside the personal ones: a QR poster for 服务对象, and one ballot through it.
        page.goto(f"{base}/distribution/w2026/batches")
        page.get_by_label("评议主体").select_option(label="服务对象")
        page.get_by_label("发放渠道").select_option("qr")
        page.get_by_label("批次代码（可不填）").fill("poster")
        page.get_by_role("button", name="创建批次").click()
        with app.app_context():
            code = db.session.scalar(select(Batch.public_code).where(Batch.code == "poster"))
        answer(browser, f"{base}/q/{code}")

        # The board: the group's rate is over its personal channels (2 of 2 SMS answered), with
        # the open channel's ballots beside it, not "开放/—".
        page.goto(f"{base}/campaigns/w2026/returns")
        expect(page.get_by_test_id("total-returned")).to_have_text("4", use_inner_text=True)
        expect(page.get_by_test_id("batches-rate-sms1")).to_have_text("100.0%", use_inner_text=True)
        expect(page.get_by_test_id("groups-rate-client")).to_have_text("100.0%", use_inner_text=True)
        expect(page.get_by_test_id("groups-open-client")).to_have_text("1", use_inner_text=True)
        expect(page.get_by_test_id("groups-rate-npc")).to_have_text("100.0%", use_inner_text=True)
        expect(page.get_by_test_id("units-returned-tax")).to_have_text("3", use_inner_text=True)
        assert page.get_by_test_id("returns-chart").evaluate("img => img.naturalWidth") > 0
        page.screenshot(path="test-artifacts/test_organizer_walkthrough-board.png", full_page=True)
        # An anonymous campaign's non-respondents are counts, never names.
        page.get_by_test_id("unanswered-sms1").click()
        expect(page.get_by_test_id("unanswered-count")).to_have_text("0", use_inner_text=True)
        assert "张三" not in page.content() and "李四" not in page.content()
    finally:
        page.screenshot(path="test-artifacts/test_organizer_walkthrough.png", full_page=True)
        context.close()
