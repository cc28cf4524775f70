"""A 现场测评 session in Chromium (issue #14, Done when): the organizer sets
it up and opens it, twelve phones open the links their slips' QR codes
encode and submit, the projector's count rises without a reload, the
organizer closes the session, and the projector shows the tally that
`python -m analysis evaluate` computes on the session's sub-bundle."""
from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import segno
from playwright.sync_api import expect

from survey.clock import to_beijing, utcnow
from tests.factories import browser_login, confirm_in_dialog, make_campaign, make_user

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
CHOICES = ["满意", "基本满意", "不满意"]


def test_session_in_the_room(app, live_server, browser, tmp_path: Path) -> None:
    app.config.update(PINGYI_PUBLIC_URL=live_server)
    with app.app_context():
        # Twelve ballots grade: the test lowers min_valid_per_unit (SCORING.md §6) and the bootstrap.
        campaign, _tokens = make_campaign(invitations=0, units=4, items=1,
                                          rules={"min_valid_per_unit": 4, "bootstrap": {"replicates": 100}})
        units = [campaign.units[k].name for k in (0, 1, 3)]
        left_out = campaign.units[2].name
        groups = [g.label for g in campaign.groups]
        make_user("organizer")
    desk = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = desk.new_page()
    page.set_default_timeout(15_000)
    browser_login(page, live_server, "organizer")
    page.goto(f"{live_server}/distribution/t2026/sessions")
    page.get_by_label("场次代码").fill("jm1")
    page.get_by_label("场次名称").fill("经贸系统专场")
    page.get_by_label("地点").fill("市政府第一会议室")
    page.get_by_label("时间（北京时间）").fill((to_beijing(utcnow()) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    for name in units:
        page.get_by_label(name, exact=True).check()
    page.get_by_label(groups[0], exact=True).fill("8")
    page.get_by_label(groups[1], exact=True).fill("4")
    page.get_by_label("当场公布", exact=False).check()
    page.get_by_role("button", name="创建场次").click()
    expect(page.get_by_test_id("session-state")).to_have_text("未开始")
    page.get_by_role("button", name="开始场次").click()
    expect(page.get_by_test_id("session-state")).to_have_text("进行中")

    # The slips: each QR (inline SVG) encodes the link printed under it.
    slips = desk.new_page()
    slips.goto(f"{live_server}/distribution/t2026/sessions/jm1/slips")
    cards = slips.get_by_test_id("slip")
    expect(cards).to_have_count(12)
    links = []
    for k in range(12):
        link = cards.nth(k).get_by_test_id("slip-link").inner_text().strip()
        drawn = cards.nth(k).get_by_test_id("slip-qr").locator("svg path").get_attribute("d")
        encoded = segno.make(link, error="m").svg_inline(scale=3, border=2)
        assert drawn and f'd="{drawn}"' in encoded
        links.append(link)
    assert len(set(links)) == 12 and all(link.startswith(f"{live_server}/b/") for link in links)

    projector = desk.new_page()
    projector.goto(f"{live_server}/distribution/t2026/sessions/jm1/projector")
    expect(projector.get_by_test_id("live-expected")).to_have_text("12")
    expect(projector.get_by_test_id("live-returned")).to_have_text("0")
    projector.evaluate("window.__notReloaded = true")

    phones: list[Any] = []
    for k, link in enumerate(links):
        phone = browser.new_context(locale="zh-CN", **PHONE)
        phones.append(phone)
        p = phone.new_page()
        p.set_default_timeout(15_000)
        p.goto(link)
        assert left_out not in p.content()  # the session's units only
        for j, unit in enumerate(units):
            card = p.locator(".card", has=p.get_by_role("heading", name=unit, exact=True))
            card.locator("fieldset").first.get_by_label(CHOICES[(k + j * (k // 3)) % 3], exact=True).check()
        p.get_by_role("button", name="提交评议").click()
        p.get_by_role("button", name="确认提交").click()
        expect(p.get_by_test_id("receipt")).to_be_visible()
        if k in (0, 5, 11):
            expect(projector.get_by_test_id("live-returned")).to_have_text(str(k + 1))
    for phone in phones:
        phone.close()
    assert projector.evaluate("window.__notReloaded === true")  # counted without a reload
    expect(projector.get_by_test_id("tally")).to_be_hidden()

    page.bring_to_front()
    page.get_by_role("button", name="结束场次").click()
    confirm_in_dialog(page, "结束场次")
    expect(page.get_by_test_id("session-state")).to_have_text("已结束")

    # The projector shows the tally, still without a reload.
    expect(projector.get_by_test_id("tally")).to_be_visible(timeout=20_000)
    assert projector.evaluate("window.__notReloaded === true")
    bundle = desk.request.get(f"{live_server}/distribution/t2026/sessions/jm1/bundle.json")
    path = tmp_path / "session.json"
    path.write_bytes(bundle.body())
    assert len(json.loads(bundle.body())["ballots"]) == 12
    run = subprocess.run([sys.executable, "-m", "analysis", "evaluate", str(path)], capture_output=True,
                         text=True, check=True, cwd=Path(__file__).parent.parent.parent)
    expected = {u["code"]: u for u in json.loads(run.stdout)["units"]}
    assert len(expected) == 3 and all(u["score_ballot"] is not None for u in expected.values())
    live = desk.request.get(f"{live_server}/distribution/t2026/sessions/jm1/live").json()
    assert {u["code"]: u["score"] for u in live["tally"]["units"]} == \
        {code: u["score_ballot"] for code, u in expected.items()}
    assert {u["code"]: u["n"] for u in live["tally"]["units"]} == {code: u["n_valid"] for code, u in expected.items()}
    for code, u in expected.items():
        row = projector.locator(f"#tally-table tr[data-unit='{code}']")
        expect(row.locator("td.score")).to_have_text(f"{u['score_ballot']:.2f}")
        for option, share in u["shares"].items():
            shown = "—" if share is None else f"{share * 100:.1f}%"
            expect(row.locator(f"td.share-{option}")).to_have_text(shown)
    assert re.search(r"现场结果", projector.content())
    desk.close()
