"""No evaluator token in any log: the redaction itself, and the real gunicorn
server's stdout and stderr after an error on a token path and requests
that spell the path with percent-escapes."""
from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from survey.logs import RedactTokens, redact
from tests.smtp import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TOKEN = "AbC-12_xyzAbC-12_xyzAbC1"


@pytest.mark.parametrize("text", [
    f"GET /b/{TOKEN} HTTP/1.1", f"GET /b%2F{TOKEN} HTTP/1.1", f"GET /b%2f{TOKEN}/draft HTTP/1.1",
    f"GET /%62/{TOKEN} HTTP/1.1", f"GET /%2562/{TOKEN} HTTP/1.1", f"referer https://h/%62%2F{TOKEN}",
])
def test_redaction_decodes_before_it_looks(text: str) -> None:
    assert TOKEN not in redact(text) and "/b/[token]" in redact(text)


def test_text_without_a_link_is_left_alone() -> None:
    assert redact("GET /campaigns/2026%20x HTTP/1.1") == "GET /campaigns/2026%20x HTTP/1.1"


def test_the_filter_redacts_message_arguments_and_traceback() -> None:
    try:
        raise ValueError(f"bad form at /b/{TOKEN}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "Exception on %s [%s]",
                                   (f"/b/{TOKEN}", "POST"), sys.exc_info())
    RedactTokens().filter(record)
    text = logging.Formatter().format(record)
    assert TOKEN not in text and "Exception on /b/[token] [POST]" in text and "bad form at /b/[token]" in text


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:  # not listening yet
        return 0


@pytest.mark.slow
def test_the_real_server_logs_no_token_after_an_error_on_a_token_path(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PINGYI_TEST_DATABASE_URL")}
    env.update(PINGYI_INSTANCE_PATH=str(tmp_path / "instance"), PINGYI_BIND=f"127.0.0.1:{port}",
               PINGYI_PUBLIC_URL=base, PINGYI_WORKERS="1", PINGYI_THREADS="2")
    flask = [str(BIN / "flask"), "--app", "survey"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*flask, "demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    links = (tmp_path / "instance" / "demo-links.txt").read_text(encoding="utf-8").split()
    token = links[0].rsplit("/", 1)[1]
    # An error on the form's path: the drafts table is gone, so the form cannot be read.
    with sqlite3.connect(tmp_path / "instance" / "pingyi.sqlite") as conn:
        conn.execute("ALTER TABLE ballot_draft RENAME TO ballot_draft_gone")
    with (tmp_path / "stdout.log").open("w") as out, (tmp_path / "stderr.log").open("w") as err:
        server = subprocess.Popen([str(BIN / "gunicorn"), "-c", "python:survey.serving", "survey:create_app()"],
                                  cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while _get(f"{base}/healthz") != 200:
            assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
            time.sleep(0.3)
        assert _get(f"{base}/b/{token}") == 500
        for path in (f"/b%2F{token}", f"/%62/{token}", f"/b/{token}/draft"):
            _get(base + path)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    logged = (tmp_path / "stdout.log").read_text() + (tmp_path / "stderr.log").read_text()
    assert "Exception on /b/[token] [GET]" in logged  # the error was logged, redacted
    assert "ballot_draft" in logged  # with its traceback
    assert token not in logged


KEY = "pyk_" + "Zx9-_" * 8 + "abc"  # as survey/api/keys.py makes them: the prefix and 43 characters


@pytest.mark.parametrize("text", [
    f"GET /api/v1/campaigns?access_token={KEY} HTTP/1.1", f"GET /api/v1/campaigns?key={KEY.replace('_', '%5F')} x",
    f"Authorization: Bearer {KEY}", f"secret whsec_{KEY[4:]} given",
])
def test_api_keys_and_webhook_secrets_are_redacted(text: str) -> None:
    assert KEY[4:] not in redact(text) and "[key]" in redact(text)


def test_a_keys_hint_is_left_alone() -> None:
    assert redact("key pyk_Zx9- (报表系统)") == "key pyk_Zx9- (报表系统)"


def test_the_access_log_redacts_a_key_in_the_query_and_the_authorization_header() -> None:
    import datetime
    import types

    from gunicorn.config import Config

    from survey.serving import RedactingLogger

    response = types.SimpleNamespace(status="401 UNAUTHORIZED", response_length=10, sent=10, headers=[])
    request = types.SimpleNamespace(headers=[("AUTHORIZATION", f"Bearer {KEY}")])
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/api/v1/campaigns?access_token={KEY}",
               "PATH_INFO": "/api/v1/campaigns", "QUERY_STRING": f"access_token={KEY}",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "192.0.2.1"}
    atoms = RedactingLogger(Config()).atoms(response, request, environ, datetime.timedelta(seconds=1))
    assert atoms["r"] == "GET /api/v1/campaigns?access_token=pyk_[key] HTTP/1.1"
    assert atoms["{authorization}i"] == "Bearer pyk_[key]"
    assert not [name for name, value in atoms.items() if KEY[4:] in str(value)]
