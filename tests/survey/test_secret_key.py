"""The secret key: made once per instance for development, required and checked in production."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from flask.sessions import SecureCookieSessionInterface

from survey import ConfigurationError, create_app


def _app(tmp_path: Path, **config: object):  # noqa: ANN202
    return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}", "TESTING": True,
                       "INSTANCE_PATH": str(tmp_path), **config})


def test_a_development_start_makes_a_key_once_and_reuses_it(tmp_path: Path) -> None:
    first = _app(tmp_path)
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    key = first.config["SECRET_KEY"]
    assert key != "dev" and len(key) >= 32 and key_file.read_text().strip() == key
    assert _app(tmp_path).config["SECRET_KEY"] == key


def test_a_cookie_signed_with_the_old_default_key_opens_no_session(tmp_path: Path) -> None:
    app = _app(tmp_path)
    forged = SecureCookieSessionInterface().get_signing_serializer(_app_with_key("dev", tmp_path / "other"))
    assert forged is not None
    cookie = forged.dumps({"_user_id": "1", "_fresh": True})
    with app.test_request_context(headers={"Cookie": f"session={cookie}"}):
        session = app.session_interface.open_session(app, __import__("flask").request)
        assert session is not None and "_user_id" not in session


def _app_with_key(key: str, folder: Path):  # noqa: ANN202
    folder.mkdir()
    return _app(folder, SECRET_KEY=key)


@pytest.mark.parametrize("key", [None, "dev", "x" * 31])
def test_production_refuses_a_missing_default_or_short_key(tmp_path: Path, key: str | None) -> None:
    config = {"PINGYI_ENV": "production"} | ({"SECRET_KEY": key} if key else {})
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        _app(tmp_path, **config)
    assert not (tmp_path / "secret_key").exists()


def test_production_takes_a_configured_key(tmp_path: Path) -> None:
    key = "k" * 32
    assert _app(tmp_path, PINGYI_ENV="production", SECRET_KEY=key).config["SECRET_KEY"] == key
    assert not (tmp_path / "secret_key").exists()
