"""The application shell: health check, migrations matching the models, the
production logger, the CLI's import/export with its refusals."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import request
from sqlalchemy import func, select

from survey import create_app, normalise_database_url, policy
from survey.extensions import db
from survey.logs import redact
from survey.models import Ballot, Campaign

CASES = Path(__file__).parent.parent / "data" / "conformance" / "cases"


def test_healthz_ok(client) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.json == {"status": "ok", "database": "ok"}


def test_healthz_503_when_database_unreachable(tmp_path) -> None:
    missing = tmp_path / "no-such-dir" / "db.sqlite"
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{missing}", "TESTING": True,
                      "INSTANCE_PATH": str(tmp_path)})
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 503 and answer.json["status"] == "unavailable"
    with app.app_context():
        db.engine.dispose()


def test_migrations_match_models(ctx) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_database_url_forms() -> None:
    assert normalise_database_url("postgres://u:p@h/d") == "postgresql+psycopg://u:p@h/d"
    assert normalise_database_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_database_url("sqlite:////x.db") == "sqlite:////x.db"


def test_access_log_redacts_tokens() -> None:
    line = 'GET /b/Zx_9-abcDEF1234567890abcd HTTP/1.1 "https://h/b/Zx_9-abcDEF1234567890abcd"'
    assert redact(line) == 'GET /b/[token] HTTP/1.1 "https://h/b/[token]"'
    assert redact("GET /campaigns/2026 HTTP/1.1") == "GET /campaigns/2026 HTTP/1.1"


def test_cli_import_export_round_trip(app, tmp_path) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["campaign", "import", str(CASES / "tiny.json")])
    assert result.exit_code == 0, result.output
    assert "已导入评议活动 tiny" in result.output
    out = tmp_path / "tiny.json"
    result = runner.invoke(args=["campaign", "export", "tiny", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads((CASES / "tiny.json").read_text("utf-8"))


def test_cli_refuses_bad_bundle_with_every_problem_and_writes_nothing(app) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["campaign", "import", "--json-errors", str(CASES / "invalid_zero_group_weight.json")])
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["format"] == "pingyi-errors/1"
    assert {"groups[1].weight", "ballots[2].answers.u1.overall", "ballots[20].batch"} <= {
        e["path"] for e in report["errors"]}
    assert "导入被拒绝" in result.stderr and "invalid_zero_group_weight.json: groups[1].weight" in result.stderr
    with app.app_context():
        assert db.session.scalar(select(func.count(Campaign.id))) == 0
        assert db.session.scalar(select(func.count(Ballot.id))) == 0


def test_cli_unreadable_file_and_unknown_campaign(app, tmp_path) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["campaign", "import", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "无法读取文件" in result.stderr
    result = runner.invoke(args=["campaign", "export", "nope", "-"])
    assert result.exit_code == 2 and "没有代码为 nope 的评议活动" in result.stderr


def test_demo_command(app) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    links = (Path(app.instance_path) / "demo-links.txt").read_text(encoding="utf-8").splitlines()
    assert len(links) >= 3 and all("/b/" in line for line in links)
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert campaign.name == "2026年度市直机关作风评议" and campaign.status == "open"
        assert len(campaign.units) == 24 and len(campaign.categories) == 3 and len(campaign.groups) == 5
        assert {b.channel for b in campaign.batches} >= {"paper", "email"}
        assert db.session.scalar(select(func.count(Ballot.id))) > 200
    again = runner.invoke(args=["demo", "--if-empty"])
    assert again.exit_code == 0 and "未载入演示数据" in again.output


def test_translation_works_outside_a_request(app) -> None:
    """The CLI and background jobs translate too (Chinese, the default)."""
    from flask_babel import gettext

    with app.app_context():
        assert gettext("提交评议") == "提交评议"


def test_migrations_have_one_head(app) -> None:
    """Branches written side by side are merged, so `flask db upgrade` needs no revision."""
    from alembic.script import ScriptDirectory

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        assert len(ScriptDirectory.from_config(config).get_heads()) == 1


@pytest.mark.parametrize("hops, seen", [(0, "10.0.0.9"), (1, "203.0.113.7")])
def test_client_address_behind_a_proxy_only_when_configured(tmp_path, monkeypatch, hops, seen) -> None:
    """A ballot records request.remote_addr: behind PINGYI_PROXY_HOPS proxies it
    is the client's (X-Forwarded-For); without, the header is not trusted."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}", "TESTING": True,
                      "SECRET_KEY": "t", "INSTANCE_PATH": str(tmp_path), "PINGYI_PROXY_HOPS": hops})
    app.add_url_rule("/_addr", "addr", lambda: request.remote_addr)
    monkeypatch.setitem(policy.POLICY, "addr", policy.PUBLIC)  # a route of this test only, open to anyone
    response = app.test_client().get("/_addr", headers={"X-Forwarded-For": "203.0.113.7"},
                                     environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert response.get_data(as_text=True) == seen
