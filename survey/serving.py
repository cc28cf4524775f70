"""Production serving (gunicorn): settings for `make run` and a logger that
keeps evaluator tokens out of the access log.

    gunicorn -c python:survey.serving 'survey:create_app()'
"""
from __future__ import annotations

import os
import re
from typing import Any

from gunicorn.glogging import Logger

from survey.settings import server_setting

#: A personal link's path segment, wherever it appears (request line, path, referer).
TOKEN_IN_PATH = re.compile(r"(/b/)[A-Za-z0-9_\-]+")


def redact(text: str) -> str:
    return TOKEN_IN_PATH.sub(r"\1[token]", text)


class RedactingLogger(Logger):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn's logger with every token in an access-log line replaced."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key, value in list(atoms.items()):
            if isinstance(value, str) and "/b/" in value:
                atoms[key] = redact(value)
        return atoms


# gunicorn settings (read by `-c python:survey.serving`).
bind = server_setting("PINGYI_BIND", os.environ)
workers = server_setting("PINGYI_WORKERS", os.environ)
worker_class = "gthread"
threads = server_setting("PINGYI_THREADS", os.environ)
logger_class = "survey.serving.RedactingLogger"
accesslog = "-"
errorlog = "-"
