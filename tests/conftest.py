"""Shared fixtures: an app on a fresh database per test (SQLite by default,
PostgreSQL when PINGYI_TEST_DATABASE_URL is set), a live server, Chromium."""
from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import flask_migrate
import pytest
from flask import Flask
from sqlalchemy import create_engine, make_url, text
from werkzeug.routing import Rule
from werkzeug.serving import make_server

from survey import caches, create_app
from survey.extensions import db

PG_URL = os.environ.get("PINGYI_TEST_DATABASE_URL")
DATA = Path(__file__).parent / "data"
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"

# Fixtures kept in modules of their own, for every test.
pytest_plugins = ["tests.smtp", "tests.querycount", "tests.smsgateway"]

# Every test makes its own app, and most of create_app's time (~0.15 s of ~0.17 s, 1,100 rules)
# is werkzeug generating and compiling each rule's URL builder from an AST. The function it
# makes depends only on what the key below holds (the rule reaches it as its `.self` argument
# when it is called), so the tests compile each builder once per session: the same function,
# minutes less over the suite's two passes. The application itself is not patched.
_BUILDERS: dict[tuple[object, ...], object] = {}
_compile_builder = Rule._compile_builder


def _cached_builder(self: Rule, append_unknown: bool = True):  # type: ignore[no-untyped-def]
    key = (self.rule, tuple(self._trace), append_unknown,
           tuple(sorted((str(k), repr(v)) for k, v in (self.defaults or {}).items())))
    builder = _BUILDERS.get(key)
    if builder is None:
        builder = _BUILDERS[key] = _compile_builder(self, append_unknown)
    return builder


Rule._compile_builder = _cached_builder  # type: ignore[method-assign]


def pytest_report_header(config: pytest.Config) -> str:
    return f"database under test: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite (a fresh file per test)'}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "app" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def _config(uri: str, instance: Path, **extra: object) -> dict[str, object]:
    return {"SQLALCHEMY_DATABASE_URI": uri, "TESTING": True, "SECRET_KEY": "test-secret",
            "INSTANCE_PATH": str(instance), "WTF_CSRF_ENABLED": False, **extra}


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[str | None]:
    """A database of this test run's own in the PostgreSQL cluster, so that
    several runs against one server never see each other's rows."""
    if not PG_URL:
        yield None
        return
    server = make_url(PG_URL)
    name = f"pingyi_test_{os.getpid()}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def _database_template(tmp_path_factory: pytest.TempPathFactory, _pg_database: str | None) -> str:
    """The schema, made once by the real migrations; tests copy or truncate it."""
    instance = tmp_path_factory.mktemp("instance")
    if _pg_database:
        app = create_app(_config(_pg_database, instance))
        with app.app_context():
            flask_migrate.upgrade()
            db.engine.dispose()
        return _pg_database
    path = instance / "template.sqlite"
    app = create_app(_config(f"sqlite:///{path}", instance))
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()
    return str(path)


@pytest.fixture
def app(_database_template: str, tmp_path: Path) -> Iterator[Flask]:
    instance = tmp_path / "instance"
    instance.mkdir()
    if PG_URL:
        uri = _database_template
    else:
        target = instance / "pingyi.sqlite"
        shutil.copyfile(_database_template, target)
        uri = f"sqlite:///{target}"
    app = create_app(_config(uri, instance))
    # Each test's app is a new process as far as the results' memory goes.
    caches.clear_all()
    yield app
    with app.app_context():
        db.session.remove()
        if PG_URL:
            tables = ", ".join(t.name for t in db.metadata.sorted_tables)
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served over HTTP on a free loopback port, in a thread."""
    app.config["WTF_CSRF_ENABLED"] = True
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no browser download, ever)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
