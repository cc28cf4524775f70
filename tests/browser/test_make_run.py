"""`make run` as a newcomer uses it: it migrates a new database, loads the
demo, serves it with gunicorn and prints evaluator links; one of those links,
opened in Chromium, takes a ballot that then shows in the campaign's counts."""
from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.factories import browser_login

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def make_run(tmp_path: Path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PINGYI_TEST_DATABASE_URL")}
    env.update(PINGYI_INSTANCE_PATH=str(tmp_path / "instance"), PINGYI_BIND=f"127.0.0.1:{port}",
               PINGYI_PUBLIC_URL=base, PINGYI_WORKERS="1")
    log = (tmp_path / "make-run.log").open("w+", encoding="utf-8")
    proc = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (OSError, http.client.HTTPException):
                # Not up yet, or (the port was free when chosen) another test's server answered.
                pass
            assert proc.poll() is None, Path(log.name).read_text(encoding="utf-8")
            time.sleep(0.3)
        else:
            pytest.fail("make run did not serve /healthz in 120 s:\n" + Path(log.name).read_text())
        yield base, Path(log.name)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_make_run_serves_demo_and_printed_link_takes_a_ballot(make_run, page) -> None:
    base, log = make_run
    output = log.read_text(encoding="utf-8")
    links = re.findall(rf"{re.escape(base)}/b/[A-Za-z0-9_\-]+", output)
    assert len(links) == 3, output
    assert f"{base}/campaigns/2026" in output

    browser_login(page, base, "organizer", "pingyi-demo")
    page.goto(f"{base}/campaigns/2026")
    before = int(page.get_by_test_id("returned-total").inner_text())
    assert before > 200  # the demo comes with ballots already in

    evaluator = page.context.browser.new_context(locale="zh-CN")
    form = evaluator.new_page()
    form.goto(links[0])
    expect(form.get_by_role("heading", level=1)).to_have_text("2026年度市直机关作风评议", use_inner_text=True)
    cards = form.locator(".card")
    assert cards.count() == 24
    for k in range(cards.count()):
        cards.nth(k).get_by_label(["满意", "基本满意", "不了解"][k % 3], exact=True).check()
    form.get_by_role("button", name="提交评议").click()
    form.get_by_role("button", name="确认提交").click()
    expect(form.get_by_test_id("receipt")).to_be_visible()

    # The printed public form of the raked group asks the district, and refuses a ballot without it.
    public = f"{base}/p/2026/client-public"
    assert public in output
    form.goto(public)
    question = form.get_by_role("group", name="您居住或工作在哪个区？")
    expect(question).to_be_visible()
    rated = form.locator(".card", has=form.get_by_label("满意", exact=True))
    for k in range(rated.count()):
        rated.nth(k).get_by_label(["满意", "基本满意", "不了解"][k % 3], exact=True).check()
    form.evaluate("document.querySelectorAll('[required]').forEach(e => e.removeAttribute('required'))")
    form.get_by_role("button", name="提交评议").click()
    expect(form.get_by_test_id("problems")).to_contain_text("您居住或工作在哪个区")
    form.get_by_role("group", name="您居住或工作在哪个区？").get_by_label("南湖区").check()
    form.get_by_role("button", name="提交评议").click()
    form.get_by_role("button", name="确认提交").click()
    expect(form.get_by_test_id("receipt")).to_be_visible()
    evaluator.close()

    page.reload()
    assert int(page.get_by_test_id("returned-total").inner_text()) == before + 2
    # The access log never carries a token.
    output = log.read_text(encoding="utf-8")
    assert "GET /b/[token]" in output and "POST /b/[token]" in output
    token = links[0].rsplit("/", 1)[1]
    served = output.split("exec .venv/bin/gunicorn", 1)[1]
    assert token in output and token not in served
