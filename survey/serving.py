"""Production serving (gunicorn): settings for `make run` and a logger that
keeps evaluator tokens out of the access and error logs (survey/logs.py).

    gunicorn -c python:survey.serving 'survey:create_app()'
"""
from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger

from survey.logs import protect, redact
from survey.settings import server_setting


class RedactingLogger(Logger):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn's logger with every token replaced, in access-log lines (request
    line, path, referer) and in every record of the error log."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        protect(self.error_log, self.access_log)

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key, value in list(atoms.items()):
            if isinstance(value, str):
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
