"""Pingyi (评议): the Flask application factory."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from survey import settings
from survey.accounts.auth import login_manager
from survey.errors import register_error_handlers
from survey.extensions import babel, csrf, db, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        # PINGYI_INSTANCE_PATH moves the database and local files (tests, several instances).
        instance_path=(test_config or {}).get("INSTANCE_PATH") or _env_path("PINGYI_INSTANCE_PATH"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_mapping(
        SECRET_KEY="dev",
        SQLALCHEMY_DATABASE_URI="sqlite:///" + os.path.join(app.instance_path, "pingyi.sqlite"),
        SQLALCHEMY_ENGINE_OPTIONS={},
        # An evaluator may keep the form open for hours: the CSRF token lives
        # as long as the session, not one hour.
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE="zh_Hans_CN",
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
        # Every PINGYI_* setting, documented where it is declared.
        **settings.app_defaults(),
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        if os.environ.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
        app.config.from_mapping(settings.from_environ(os.environ))
        if os.environ.get("DATABASE_URL"):
            app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(os.environ["DATABASE_URL"])
    else:
        app.config.from_mapping(test_config)

    os.makedirs(app.instance_path, exist_ok=True)
    hops = int(app.config["PINGYI_PROXY_HOPS"])
    if hops:
        # The address a ballot records (source, flags, the public channel's cap) is the client's.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    babel.init_app(app)
    login_manager.init_app(app)
    register_error_handlers(app)

    from survey import models  # noqa: F401  (registers the tables)
    from survey.accounts.admin import bp as admin_bp
    from survey.accounts.routes import bp as accounts_bp
    from survey.ballots.routes import bp as ballots_bp
    from survey.campaigns.routes import bp as campaigns_bp
    from survey.campaigns.setup_routes import bp as setup_bp
    from survey.distribution.routes import bp as distribution_bp
    from survey.health import bp as health_bp
    from survey.results.routes import bp as results_bp
    from survey.roster.routes import bp as roster_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(ballots_bp)
    app.register_blueprint(campaigns_bp)
    app.register_blueprint(setup_bp)
    app.register_blueprint(distribution_bp)
    app.register_blueprint(results_bp)
    app.register_blueprint(roster_bp)
    if os.environ.get("PINGYI_BENCH_FLOOR") == "1":
        # bench/submit.py's reference route, on the server it measures.
        from survey.ballots.floor import bp as bench_floor_bp

        app.register_blueprint(bench_floor_bp)

    from survey.models.account import ROLE_LABELS

    app.jinja_env.globals["role_labels"] = ROLE_LABELS

    from survey.cli import register_cli

    register_cli(app)
    __import__("survey.backup").backup.init_app(app)
    from survey.jobs import jobs_cli

    app.cli.add_command(jobs_cli)
    return app


def _env_path(name: str) -> str | None:
    value = settings.server_setting(name, os.environ)
    return os.path.abspath(value) if value else None


def normalise_database_url(url: str) -> str:
    """Accept the usual ``postgres://`` / ``postgresql://`` URLs and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite: WAL (readers never block the writer), foreign keys, and a busy
    timeout so that concurrent writers wait for each other instead of failing."""
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        if cursor.execute("PRAGMA database_list").fetchone()[2]:  # a file, not :memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
