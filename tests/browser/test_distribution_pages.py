"""The distribution pages in Chromium: an e-mail batch sent to a real local
SMTP server with a progress bar that survives a reload, paper forms printed
(serials, QR codes, one A4 page each), two forms keyed in twice with one
disagreement resolved, the refusal of an issued count below the returned
one, the public channel's device limit and flags, and the role check."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from survey.distribution import services
from survey.extensions import db
from survey.models import Campaign, Invitation, PaperEntry
from tests.factories import browser_login, confirm_in_dialog, make_user
from tests.smtp import smtp_config
from tests.survey.test_distribution_support import setup_campaign


@pytest.fixture
def desktop(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def office(app):
    with app.test_request_context():
        campaign = setup_campaign(evaluators=3, units=2, items=1)
        make_user("organizer")
        make_user("organizer", username="clerk2")
        make_user("committee")
        return {"client": campaign.groups[0].label, "expert": campaign.groups[1].label}


def test_email_batch_sent_with_progress(app, live_server, desktop, office, smtp_server) -> None:
    handler, port = smtp_server
    app.config.update(smtp_config(port), PINGYI_PUBLIC_URL=live_server, PINGYI_JOBS_THREAD=True)
    page = desktop
    browser_login(page, live_server, "organizer")
    page.goto(f"{live_server}/")
    page.get_by_role("link", name="发放与回收").click()
    page.get_by_role("link", name="t2026 测试评议").click()
    page.get_by_label("评议主体").select_option(label=office["client"])
    page.get_by_label("发放渠道").select_option("email")
    page.get_by_role("button", name="创建批次").click()
    expect(page.get_by_test_id("issued")).to_have_text("3")
    page.get_by_role("button", name="发送待发消息…").click()
    # Who it goes to and how the message reads, before anything is sent.
    expect(page.get_by_test_id("recipients")).to_contain_text("rep2@example.cn")
    expect(page.get_by_test_id("sample-subject")).to_contain_text("t2026 测试评议")
    assert handler.messages == []
    page.get_by_role("button", name="确认发送 3 条").click()
    expect(page.get_by_test_id("job-status")).to_contain_text("已全部发出", timeout=20_000)
    expect(page.locator("#progress")).to_have_class(re.compile("tone-ok"))
    page.reload()  # the progress is the job's, not the page's
    expect(page.get_by_test_id("job-progress")).to_have_attribute("value", "3")
    expect(page.get_by_test_id("delivery-sent")).to_have_text("3")
    assert sorted(m.rcpt_tos[0] for m in handler.messages) == [f"rep{k}@example.cn" for k in range(3)]
    message = next(m for m in handler.messages if m.rcpt_tos == ["rep2@example.cn"])
    assert "t2026 测试评议" in message.message["Subject"] and "代表2" in message.body
    link = re.search(rf"{re.escape(live_server)}/b/[A-Za-z0-9_-]+", message.body).group(0)
    page.goto(link)
    expect(page.get_by_role("heading", name="市第2局")).to_be_visible()


def test_print_paper_forms(app, live_server, desktop, office) -> None:
    page = desktop
    browser_login(page, live_server, "organizer")
    page.goto(f"{live_server}/distribution/t2026/batches")
    page.get_by_label("发放渠道").select_option("paper")
    page.get_by_label("批次代码（可不填）").fill("P")
    page.get_by_label("份数（不记名纸质表）").fill("3")
    page.get_by_role("button", name="创建批次").click()
    page.get_by_role("link", name="打印评议表").click()
    expect(page.get_by_test_id("serial")).to_have_text(["P-0001", "P-0002", "P-0003"])
    expect(page.locator("[data-testid=qr] svg")).to_have_count(3)
    page.emulate_media(media="print")
    expect(page.locator("header.site")).to_be_hidden()
    pdf = page.pdf(format="A4", prefer_css_page_size=True)
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 3
    page.emulate_media(media="screen")
    page.goto(f"{live_server}/distribution/t2026/batches/P")
    page.get_by_role("button", name="确认已印制").click()
    confirm_in_dialog(page, "确认已印制")
    expect(page.get_by_text("系统中的明文链接已清除")).to_be_visible()
    expect(page.get_by_role("link", name="打印评议表")).to_have_count(0)


def _key(page, base: str, serial: str, picks: list[str]) -> None:
    page.goto(f"{base}/distribution/t2026/paper")
    page.get_by_label("评议表编号").fill(serial)
    page.get_by_role("button", name="开始录入").click()
    expect(page.get_by_test_id("serial")).to_have_text(serial)
    for row, label in zip(page.locator("tr[data-row]").all(), picks, strict=True):
        row.get_by_label(label, exact=True).check()
    page.get_by_role("button", name="保存录入").click()


def test_double_entry_with_one_disagreement(app, live_server, browser, office) -> None:
    with app.test_request_context():
        campaign = db.session.scalar(db.select(Campaign))
        services.create_batch(campaign, campaign.groups[0], "paper", count=2, code="P")
        db.session.commit()
    pages = []
    for user in ("organizer", "clerk2"):
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        pages.append(context.new_page())
        browser_login(pages[-1], live_server, user)
    first, second = pages
    _key(first, live_server, "P-0001", ["满意", "基本满意"])
    expect(first.get_by_text("第一遍已录入")).to_be_visible()
    _key(first, live_server, "P-0002", ["满意", "满意"])
    _key(second, live_server, "P-0001", ["满意", "基本满意"])
    expect(second.get_by_text("两遍录入一致，已计入回收")).to_be_visible()
    _key(second, live_server, "P-0002", ["满意", "不满意"])
    expect(second.get_by_text("1 处不一致")).to_be_visible()
    second.get_by_role("link", name=re.compile("待核对的差异：1 份")).click()
    form = second.locator("form[data-serial='P-0002']")
    expect(form).to_contain_text("不满意")
    form.get_by_role("combobox").select_option(label="满意")
    form.get_by_role("button", name="核定并计入").click()
    expect(second.get_by_text("编号 P-0002 已核对，计入回收")).to_be_visible()
    second.goto(f"{live_server}/distribution/t2026/batches/P")
    expect(second.get_by_test_id("returned")).to_have_text("2")
    # Fewer forms issued than came back: refused, clearly.
    second.get_by_label("实际发放份数").fill("1")
    second.get_by_role("button", name="更正发放数").click()
    expect(second.locator(".flash-error")).to_contain_text("发放数不能少于已回收数：批次 P 已回收 2 份")
    expect(second.get_by_test_id("issued")).to_have_text("2")
    for p in pages:
        p.context.close()


def _vote_public(browser, url: str):
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(url)
    for card in page.locator(".card[id^=unit-]").all():
        card.get_by_label("满意", exact=True).check()
    page.get_by_test_id("review").click()
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("receipt")).to_be_visible()
    return page


def test_public_channel_device_limit_and_flags(app, live_server, browser, desktop, office) -> None:
    with app.test_request_context():
        campaign = db.session.scalar(db.select(Campaign))
        batch = services.create_batch(campaign, campaign.groups[1], "qr", code="poster1")
        db.session.commit()
        code = batch.public_code
    app.config["PINGYI_PUBLIC_URL"] = live_server
    browser_login(desktop, live_server, "organizer")
    desktop.goto(f"{live_server}/distribution/t2026/batches/poster1")
    desktop.get_by_role("link", name="打印二维码海报").click()
    expect(desktop.get_by_test_id("poster-qr").locator("svg")).to_have_count(1)
    expect(desktop.get_by_text(f"{live_server}/q/{code}")).to_be_visible()
    phone = _vote_public(browser, f"{live_server}/q/{code}")
    phone.goto(f"{live_server}/q/{code}")
    expect(phone.get_by_test_id("refused")).to_contain_text("同一设备 72 小时内只能提交一次")
    other = _vote_public(browser, f"{live_server}/q/{code}")  # another phone, same answers, same address
    desktop.goto(f"{live_server}/distribution/t2026/flags")
    expect(desktop.get_by_test_id("flag-duplicate")).to_have_text("1")
    expect(desktop.get_by_test_id("flag-burst")).to_have_text("0")
    for p in (phone, other):
        p.context.close()


def test_committee_cannot_open_distribution_pages(live_server, page, office) -> None:
    browser_login(page, live_server, "committee")
    for path in ("/distribution/t2026/batches", "/distribution/t2026/paper", "/distribution/t2026/flags"):
        page.goto(f"{live_server}{path}")
        expect(page.get_by_role("heading", name="无权访问")).to_be_visible()


def test_paper_entry_from_the_keyboard_at_390px(app, live_server, browser, axe) -> None:
    """A scanner types the QR link and Enter; digits pick the options row by
    row (0 = 未填, 1..n in scale order), Enter moves on; axe finds nothing
    serious at 390 px."""
    app.config["PINGYI_PUBLIC_URL"] = live_server
    with app.test_request_context():
        campaign = setup_campaign(evaluators=0, units=3, items=1)
        services.create_batch(campaign, campaign.groups[0], "paper", count=1, code="P")
        db.session.commit()
        make_user("organizer")
        link = services.link_for(db.session.scalar(db.select(Invitation.pending_token)))
        scale = [o.label for o in campaign.scale]
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(10_000)
    browser_login(page, live_server, "organizer")
    page.goto(f"{live_server}/distribution/t2026/paper")
    page.get_by_label("评议表编号").press_sequentially(link + "\n")  # as a keyboard-wedge scanner types
    expect(page.get_by_test_id("serial")).to_have_text("P-0001")
    assert page.url.endswith("/paper?serial=P-0001")  # the scanned token is in no address (history, proxy logs)
    assert axe(page) == []
    page.keyboard.press("2")  # row 1 (focused on arrival): the scale's second option
    page.keyboard.press("Enter")  # row 2 skipped: stays 未填
    page.keyboard.press("1")  # row 3: the first option; focus moves to the save button
    rows = page.locator("tr[data-row]")
    expect(rows.nth(0).get_by_label(scale[1], exact=True)).to_be_checked()
    expect(rows.nth(1).get_by_label("未填", exact=True)).to_be_checked()
    expect(rows.nth(2).get_by_label(scale[0], exact=True)).to_be_checked()
    expect(page.get_by_role("button", name="保存录入")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text("编号 P-0001 第一遍已录入")).to_be_visible()
    with app.app_context():
        entry = db.session.scalar(db.select(PaperEntry))
        labels = {o.id: o.label for o in db.session.scalar(db.select(Campaign)).scale}
        keyed = [labels.get(v, "未填") for _u, by in sorted(entry.answers.items(), key=lambda kv: int(kv[0]))
                 for v in by.values()]
        assert keyed == [scale[1], "未填", scale[0]]
    context.close()


def test_a_long_paper_form_labels_its_second_sheet(app, live_server, desktop) -> None:
    """24 units (as the demo's form) and a margin question: two A4 sheets,
    the second carrying the campaign, the serial and 第2页/共2页 (read back
    from Chromium's PDF with pdftotext)."""
    import subprocess
    import tempfile

    from survey.bundles import import_bundle
    from survey.demo import CATEGORIES, NAME
    from tests.factories import bundle
    from tests.survey.test_margins import raked

    with app.test_request_context():
        campaign = import_bundle(bundle(units=24, **raked()), status="open")
        campaign.name = NAME
        for unit, demo_name in zip(campaign.units, [n for *_c, names in CATEGORIES for n in names], strict=True):
            unit.name = demo_name  # the demo's names, long ones included
        services.create_batch(campaign, campaign.groups[0], "paper", count=1, code="P")
        db.session.commit()
        make_user("organizer")
        name = campaign.name
    page = desktop
    browser_login(page, live_server, "organizer")
    page.goto(f"{live_server}/distribution/t2026/batches/P/print")
    page.emulate_media(media="print")
    pdf = page.pdf(format="A4", prefer_css_page_size=True)
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf)
        f.flush()
        pages = subprocess.run(["pdftotext", "-layout", f.name, "-"], capture_output=True, text=True,
                               check=True, timeout=60).stdout.split("\f")
    pages = [p for p in pages if p.strip()]
    assert len(pages) == 2, [p[:200] for p in pages]
    assert "P-0001" in pages[1] and "第2页/共2页" in pages[1] and name in pages[1]
    assert "第1页/共2页" in pages[0] and "意见建议" in pages[0] and "意见建议" in pages[1]
    demo_units = [n for *_c, names in CATEGORIES for n in names]
    assert all(n in "".join(pages) for n in demo_units)  # no unit lost off the end of a sheet
