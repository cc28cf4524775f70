"""Pingyi (评议): the Flask application factory."""
from __future__ import annotations

import functools
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from survey import backup, database, policy, security, settings
from survey.accounts.auth import login_manager
from survey.ballots import i18n
from survey.errors import register_error_handlers
from survey.extensions import babel, csrf, db, migrate
from survey.logs import protect

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
    # Every <int:…> in a route is a row id within what the databases store (survey/web.py).
    from survey.web import RowIdConverter

    app.url_map.converters["int"] = RowIdConverter
    app.config.from_mapping(
        # None: read from instance/secret_key, made on a development start (see _secret_key).
        SECRET_KEY=None,
        SQLALCHEMY_DATABASE_URI="sqlite:///" + os.path.join(app.instance_path, "pingyi.sqlite"),
        # No SQL parameters in exception messages: they would put a ballot's address,
        # time and batch into the error log beside the request's path.
        # JSON columns (the audit log's details among them) keep Chinese as itself, never \uXXXX.
        SQLALCHEMY_ENGINE_OPTIONS={"hide_parameters": True,
                                   "json_serializer": functools.partial(json.dumps, ensure_ascii=False)},
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
    app.config["SECRET_KEY"] = _secret_key(app)
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["PINGYI_MAX_UPLOAD_MB"]) * 1024 * 1024
    protect(app.logger, logging.lastResort)
    hops = int(app.config["PINGYI_PROXY_HOPS"])
    if hops:
        # The address a ballot records (source, flags, the public channel's cap) is the client's.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    babel.init_app(app)
    login_manager.init_app(app)
    register_error_handlers(app)
    security.init_app(app)
    policy.init_app(app)  # who may use which endpoint (one table)
    i18n.init_app(app)  # the language switch: locale selector, its cookie, html_lang
    from survey.web import refuse_nul

    app.before_request(refuse_nul)  # NUL in a query or form value: a 400 in the user's language, never a 500

    from survey import models  # noqa: F401  (registers the tables)
    from survey.accounts.admin import bp as admin_bp
    from survey.accounts.routes import bp as accounts_bp
    from survey.accounts.webhooks import bp as webhooks_bp
    from survey.api import bp as api_bp
    from survey.ballots.preview import bp as preview_bp
    from survey.ballots.routes import bp as ballots_bp
    from survey.campaigns.routes import bp as campaigns_bp
    from survey.campaigns.setup_routes import bp as setup_bp
    from survey.distribution.routes import bp as distribution_bp
    from survey.health import bp as health_bp
    from survey.opinions.routes import bp as opinions_bp
    from survey.register.routes import bp as register_bp
    from survey.results.routes import bp as results_bp
    from survey.roster.routes import bp as roster_bp
    from survey.rounds.routes import bp as rounds_bp
    from survey.sessions.routes import bp as sessions_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(ballots_bp)
    app.register_blueprint(preview_bp)
    app.register_blueprint(campaigns_bp)
    app.register_blueprint(setup_bp)
    app.register_blueprint(distribution_bp)
    app.register_blueprint(results_bp)
    app.register_blueprint(roster_bp)
    app.register_blueprint(register_bp)
    app.register_blueprint(opinions_bp)
    app.register_blueprint(rounds_bp)
    app.register_blueprint(sessions_bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)  # the API authenticates by key, never by cookie: no CSRF to guard against
    # App-wide behaviour of the staff pages, registered here rather than hooked in by a blueprint.
    from survey.campaigns import setup_routes
    from survey.distribution import routes as distribution_routes

    setup_routes.init_app(app)  # a campaign past its deadline is closed on the next staff request
    distribution_routes.init_app(app)  # channel_labels in every template

    from survey.models.account import ROLE_LABELS

    app.jinja_env.globals["role_labels"] = ROLE_LABELS
    from survey.clock import format_beijing

    app.jinja_env.globals["format_beijing"] = format_beijing  # times on staff pages: Beijing time

    from survey.cli import register_cli

    register_cli(app)
    backup.init_app(app)  # flask backup / restore
    from survey.jobs import jobs_cli

    app.cli.add_command(jobs_cli)
    return app


class ConfigurationError(RuntimeError):
    """The app refuses to start; the message says what to set, and where."""


#: The shortest secret key a production start accepts, in bytes.
MIN_SECRET_BYTES = 32


def _secret_key(app: Flask) -> str | bytes:
    """The key that signs sessions, CSRF tokens, remember-me, ballot start times and
    the open channel's device cookies. In production (PINGYI_ENV=production) it must
    be configured (SECRET_KEY in the environment or instance/config.py; the same on
    every node) and at least MIN_SECRET_BYTES long; otherwise one is made once in
    instance/secret_key (mode 0600) and reused by every later start."""
    key: str | bytes | None = app.config.get("SECRET_KEY")
    if app.config["PINGYI_ENV"] == "production":
        if key is None or key in ("dev", b"dev") or len(
                key.encode("utf-8") if isinstance(key, str) else key) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                "PINGYI_ENV=production 需要配置 SECRET_KEY（至少 32 字节的随机值），例如在 instance/config.py 写入 "
                "SECRET_KEY = \"…\"，或设置环境变量 SECRET_KEY；多个节点须使用同一个值。生成方法："
                "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'. "
                "(Production needs SECRET_KEY: at least 32 random bytes, in instance/config.py or the environment, "
                "the same on every node.)")
        return key
    if key:
        return key
    path = Path(app.instance_path) / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text(encoding="ascii").strip()


def _env_path(name: str) -> str | None:
    value = settings.server_setting(name, os.environ)
    return os.path.abspath(value) if value else None


def normalise_database_url(url: str) -> str:
    """Accept the usual ``postgres://`` / ``postgresql://`` URLs and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
