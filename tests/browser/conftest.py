"""Browser fixtures for the evaluator's pages: a phone and a desktop viewport,
pages without JavaScript, and axe-core (shipped inside the axe-playwright-python
wheel, injected from disk: nothing is downloaded)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

#: A loaded CI machine renders a page after a POST in seconds, not milliseconds: every
#: expect() (the way these tests read a page after a click) waits up to 15 s.
expect.set_options(timeout=15_000)

ARTIFACTS = Path(__file__).parent.parent.parent / "test-artifacts"

#: A small Android phone (360 CSS px wide, the narrowest we promise) and a desktop.
VIEWPORTS: dict[str, dict[str, Any]] = {
    "phone": {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 2},
    "desktop": {"viewport": {"width": 1280, "height": 900}},
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(params=sorted(VIEWPORTS), ids=lambda name: name)
def device(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def new_page(browser, device: str, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Open pages in fresh browser contexts (each its own cookies, as another
    browser or a reopened phone would be) at the test's viewport. The last
    screen of each page is kept in test-artifacts/."""
    contexts: list[Any] = []
    pages: list[Any] = []

    def open_page(*, javascript: bool = True, context: Any = None) -> Any:
        if context is None:
            context = browser.new_context(locale="zh-CN", java_script_enabled=javascript,
                                          **VIEWPORTS[device])
            contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        pages.append(page)
        return page

    yield open_page
    ARTIFACTS.mkdir(exist_ok=True)
    for k, page in enumerate(pages):
        if not page.is_closed():
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{k}.png"), full_page=True)
    for context in contexts:
        context.close()


AXE_JS = None


def axe_script() -> str:
    global AXE_JS
    if AXE_JS is None:
        import axe_playwright_python

        AXE_JS = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")
    return AXE_JS


@pytest.fixture
def axe() -> Callable[[Any], list[dict[str, Any]]]:
    """Run axe-core (WCAG 2.x A and AA rules) on a page; return the serious
    and critical violations."""

    def run(page: Any) -> list[dict[str, Any]]:
        page.evaluate(axe_script())
        result = page.evaluate(
            "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})")
        return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                 "nodes": [n["target"] for n in v["nodes"]][:5]}
                for v in result["violations"] if v["impact"] in ("serious", "critical")]

    return run

