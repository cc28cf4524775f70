"""The evaluator's form in Chromium, at a phone and a desktop viewport: fill
and submit, leave and resume, double clicks and two tabs, the campaign's
rules, closed links, receipts, the English switch and accessibility."""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Ballot, BallotDraft, Campaign
from tests.factories import make_campaign

CHOICES = ["满意", "基本满意", "不满意", "不了解"]
ARTIFACTS = Path(__file__).parent.parent.parent / "test-artifacts"


def setup(app: Flask, **kwargs: Any) -> tuple[list[str], list[str]]:
    """A campaign and its tokens; returns (tokens, unit names in form order)."""
    cap = kwargs.pop("cap", None)
    with app.app_context():
        campaign, tokens = make_campaign(**kwargs)
        campaign.max_dissatisfied_share_per_ballot = cap
        units = [cu.name for cu in campaign.units]
        db.session.commit()
        db.session.remove()
    return tokens, units


def count(app: Flask, model: type = Ballot) -> int:
    with app.app_context():
        n = db.session.scalar(select(func.count(model.id))) or 0
        db.session.remove()
        return n


def draft_comments(app: Flask, token: str) -> str:
    """The link's draft comments, opened with its token (a draft is sealed under it)."""
    from survey.ballots import drafts

    with app.app_context():
        campaign_id = db.session.scalar(select(Campaign.id))
        draft = drafts.find_draft(campaign_id, token=token) if campaign_id is not None else None
        db.session.remove()
        return " ".join(draft.comments.values()) if draft is not None else ""


def card(page: Any, unit: str) -> Any:
    return page.locator(".card", has=page.get_by_role("heading", name=unit, exact=True))


def choose(page: Any, unit: str, choice: str, item: int = 0) -> None:
    card(page, unit).locator("fieldset").nth(item).get_by_label(choice, exact=True).check()


def fill_all(page: Any, units: list[str], choice: str = "满意") -> None:
    for unit in units:
        choose(page, unit, choice)


def confirm(page: Any) -> str:
    """On the summary page: confirm, and return the receipt code."""
    expect(page.get_by_role("heading", level=1)).to_have_text("请确认您的评议", use_inner_text=True)
    page.get_by_role("button", name="确认提交").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^感谢您参加"), use_inner_text=True)
    receipt = page.get_by_test_id("receipt").inner_text()
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", receipt)
    return receipt


def test_fill_and_submit(app, live_server, new_page, device, axe) -> None:
    tokens, units = setup(app, units=4, invitations=1, items=2)
    page = new_page()
    page.goto(f"{live_server}/b/{tokens[0]}")
    expect(page.get_by_test_id("progress")).to_have_text("已完成 0 / 4 个单位", use_inner_text=True)
    # Readable at 360 px: nothing wider than the screen, touch targets ≥ 44 px.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    option = card(page, units[0]).get_by_text("基本满意", exact=True).first.locator("..")
    assert option.bounding_box()["height"] >= 44
    assert axe(page) == []
    for k, unit in enumerate(units):
        choose(page, unit, CHOICES[k], 0)
        choose(page, unit, "满意", 1)
    expect(page.get_by_test_id("progress")).to_have_text("已完成 4 / 4 个单位", use_inner_text=True)
    card(page, units[2]).get_by_role("textbox").fill("窗口等候时间太长")
    if device == "phone":
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ballot-phone-form.png"), full_page=True)
    page.get_by_role("button", name="提交评议").click()
    summary = page.locator("table.summary tr", has=page.get_by_role("rowheader", name=units[2]))
    assert "不满意" in summary.inner_text() and "窗口等候时间太长" in summary.inner_text()
    assert axe(page) == []
    assert count(app) == 0
    confirm(page)
    assert axe(page) == []
    assert count(app) == 1 and count(app, BallotDraft) == 0


def test_without_javascript(app, live_server, new_page) -> None:
    tokens, units = setup(app, units=3, invitations=1)
    page = new_page(javascript=False)
    page.goto(f"{live_server}/b/{tokens[0]}")
    fill_all(page, units[:2])
    page.get_by_role("button", name="提交评议").click()
    expect(page.get_by_test_id("problems")).to_contain_text("请为“市第3局”的“总体评价”选择一项", use_inner_text=True)
    expect(page.get_by_test_id("progress")).to_have_text("已完成 2 / 3 个单位", use_inner_text=True)
    choose(page, units[2], "不了解")
    page.get_by_role("button", name="提交评议").click()
    confirm(page)
    assert count(app) == 1


def test_leave_halfway_and_resume(app, live_server, new_page) -> None:
    tokens, units = setup(app, units=4, invitations=1)
    page = new_page()
    page.goto(f"{live_server}/b/{tokens[0]}")
    choose(page, units[0], "基本满意")
    choose(page, units[1], "不满意")
    card(page, units[1]).get_by_role("textbox").fill("态度生硬")
    # The draft is saved as the evaluator goes, without any button.
    page.get_by_text("已自动保存").wait_for()
    # The server has the comment too (typed last) before the tab goes.
    deadline = time.monotonic() + 15
    while "态度生硬" not in draft_comments(app, tokens[0]):
        assert time.monotonic() < deadline, "the autosave never reached the server"
        page.wait_for_timeout(200)
    page.context.close()  # the phone's tab is gone

    again = new_page()  # another browser, no cookie: the link alone finds the draft
    again.goto(f"{live_server}/b/{tokens[0]}")
    expect(again.get_by_test_id("resumed")).to_be_visible()
    assert card(again, units[0]).get_by_label("基本满意", exact=True).is_checked()
    assert card(again, units[1]).get_by_label("不满意", exact=True).is_checked()
    assert card(again, units[1]).get_by_role("textbox").input_value() == "态度生硬"
    expect(again.get_by_test_id("progress")).to_have_text("已完成 2 / 4 个单位", use_inner_text=True)
    fill_all(again, units[2:])
    again.get_by_role("button", name="提交评议").click()
    confirm(again)
    assert count(app) == 1 and count(app, BallotDraft) == 0


def test_save_draft_button_without_javascript(app, live_server, new_page) -> None:
    tokens, units = setup(app, units=2, invitations=1)
    page = new_page(javascript=False)
    page.goto(f"{live_server}/b/{tokens[0]}")
    choose(page, units[0], "不了解")
    page.get_by_role("button", name="保存草稿").click()
    expect(page.get_by_role("status").first).to_contain_text("已保存", use_inner_text=True)
    later = new_page(javascript=False)
    later.goto(f"{live_server}/b/{tokens[0]}")
    assert card(later, units[0]).get_by_label("不了解", exact=True).is_checked()


def test_double_click_submit(app, live_server, new_page) -> None:
    tokens, units = setup(app, units=3, invitations=1)
    page = new_page()
    page.goto(f"{live_server}/b/{tokens[0]}")
    fill_all(page, units)
    page.get_by_role("button", name="提交评议").click()
    page.get_by_role("button", name="确认提交").dblclick()
    page.get_by_test_id("receipt").wait_for()
    receipt = page.get_by_test_id("receipt").inner_text()
    # The page shown is a thank-you page with a receipt whichever request won.
    page.goto(f"{live_server}/receipt")
    page.get_by_label("回执码").fill(receipt)
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_test_id("receipt-found")).to_be_visible()
    assert count(app) == 1


def test_submit_in_two_tabs(app, live_server, new_page) -> None:
    tokens, units = setup(app, units=3, invitations=1)
    first = new_page()
    second = new_page(context=first.context)
    for tab, choice in ((first, "满意"), (second, "基本满意")):
        tab.goto(f"{live_server}/b/{tokens[0]}")
        fill_all(tab, units, choice)
        tab.get_by_role("button", name="提交评议").click()
        tab.get_by_role("button", name="确认提交").wait_for()
    confirm(first)
    second.get_by_role("button", name="确认提交").click()
    expect(second.get_by_role("alert")).to_contain_text("只能提交一次", use_inner_text=True)
    assert count(app) == 1
    with app.app_context():
        ballot = db.session.scalar(select(Ballot))
        assert {a.option.label for a in ballot.answers} == {"满意"}
        db.session.remove()


def test_own_unit_attempt(app, live_server, new_page) -> None:
    tokens, units = setup(app, units=3, invitations=1, own_unit="u2")
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        own = next(cu for cu in campaign.units if cu.code == "u2")
        field, value = f"a_{own.id}_{campaign.items[0].id}", campaign.scale[0].id
        db.session.remove()
    page = new_page()
    page.goto(f"{live_server}/b/{tokens[0]}")
    assert card(page, units[1]).count() == 0  # 市第2局 is not on the form
    fill_all(page, [units[0], units[2]])
    # A crafted request that rates it all the same is refused, with the reason.
    page.evaluate("""([name, value]) => {
        const input = document.createElement('input');
        input.type = 'hidden'; input.name = name; input.value = value;
        document.getElementById('ballot-form').appendChild(input);
    }""", [field, str(value)])
    page.get_by_role("button", name="提交评议").click()
    expect(page.get_by_test_id("problems")).to_contain_text("您不能评议本单位“市第2局”", use_inner_text=True)
    assert count(app) == 0


def test_dissatisfied_cap(app, live_server, new_page) -> None:
    tokens, units = setup(app, units=5, invitations=1, cap=0.6)
    page = new_page()
    page.goto(f"{live_server}/b/{tokens[0]}")
    expect(page.get_by_test_id("cap-rule")).to_contain_text("每票最多对 3 个单位", use_inner_text=True)
    fill_all(page, units[:4], "不满意")
    choose(page, units[4], "满意")
    page.get_by_role("button", name="提交评议").click()
    expect(page.get_by_test_id("problems")).to_contain_text(
        "您对 4 个单位的“总体评价”选择了“不满意”，本次评议每票最多 3 个", use_inner_text=True)
    choose(page, units[0], "基本满意")
    page.get_by_role("button", name="提交评议").click()
    confirm(page)
    assert count(app) == 1


def test_closed_campaign(app, live_server, new_page) -> None:
    tokens, units = setup(app, units=2, invitations=2)
    page = new_page()
    page.goto(f"{live_server}/b/{tokens[0]}")
    fill_all(page, units)
    with app.app_context():
        db.session.scalar(select(Campaign)).status = "closed"
        db.session.commit()
        db.session.remove()
    page.get_by_role("button", name="提交评议").click()
    expect(page.get_by_test_id("closed")).to_contain_text("本次评议已结束", use_inner_text=True)
    other = new_page()
    other.goto(f"{live_server}/b/{tokens[1]}")
    expect(other.get_by_role("alert")).to_contain_text("本次评议已结束", use_inner_text=True)
    other.goto(f"{live_server}/b/{'x' * 24}")
    expect(other.get_by_role("heading", level=1)).to_have_text("链接无效", use_inner_text=True)
    assert count(app) == 0


def test_receipt_check(app, live_server, new_page, axe) -> None:
    tokens, units = setup(app, units=2, invitations=1)
    page = new_page()
    page.goto(f"{live_server}/b/{tokens[0]}")
    fill_all(page, units, "不满意")
    page.get_by_role("button", name="提交评议").click()
    receipt = confirm(page)
    page.get_by_role("link", name="查询回执码").click()
    assert axe(page) == []
    page.get_by_label("回执码").fill(receipt.lower())
    page.get_by_role("button", name="查询").click()
    found = page.get_by_test_id("receipt-found").inner_text()
    assert receipt in found and "已收到并计入“t2026 测试评议”" in found and "不满意" not in found
    page.get_by_label("回执码").fill("ABCD")
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_role("alert")).to_contain_text("回执码应为 16 位字母和数字", use_inner_text=True)
    assert axe(page) == []


def test_english_switch(app, live_server, new_page, axe) -> None:
    tokens, units = setup(app, units=2, invitations=1)
    page = new_page()
    page.goto(f"{live_server}/b/{tokens[0]}")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("button", name="Submit", exact=True)).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "en"
    fill_all(page, units[:1], "Dissatisfied")
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page.get_by_test_id("problems")).to_contain_text("Please choose an answer for “Overall” of “市第2局”", use_inner_text=True)
    assert axe(page) == []
    page.get_by_role("link", name="中文").click()
    expect(page.get_by_role("button", name="提交评议")).to_be_visible()  # waits for the page it loads


def test_form_with_errors_is_accessible(app, live_server, new_page, axe) -> None:
    tokens, units = setup(app, units=3, invitations=1, items=3)
    page = new_page()
    page.goto(f"{live_server}/b/{tokens[0]}")
    page.keyboard.press("Tab")  # the keyboard reaches the options
    choose(page, units[0], "满意")
    page.get_by_role("button", name="提交评议").click()
    expect(page.get_by_test_id("problems")).to_be_visible()
    assert axe(page) == []


def test_axe_sees_violations(new_page, axe, device) -> None:
    """The accessibility check above can fail: it finds an unlabelled field
    and text too pale to read."""
    page = new_page()
    page.set_content('<html lang="zh-CN"><title>t</title><main><input type="text">'
                     '<p style="color:#eee;background:#fff">看不清</p></main></html>')
    assert {v["id"] for v in axe(page)} >= {"label", "color-contrast"}
