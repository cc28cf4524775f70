"""Keeping evaluator tokens, API keys and webhook secrets out of every log.

A personal link's token is the evaluator's key: a log line that holds it next
to an address and a time ties a ballot to a person. Every record on every
stream (the app's, gunicorn's error and access logs, the root logger's) goes
through `RedactTokens`, which replaces a token in a link's path — after
percent-decoding, since `/b%2F<token>` and `/%62/<token>` reach the same
form — and in the formatted traceback. An API key (``pyk_…``) or a webhook
signing secret (``whsec_…``) is replaced wherever it appears: a client that
puts its key in the query string (``?access_token=pyk_…``, which the API
refuses) would otherwise leave it in the access log's request line, and an
access-log format that names the Authorization header would print it. SQL
parameters are kept out of exception messages by the engine's
`hide_parameters` (create_app)."""
from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote

#: A personal link's path segment, wherever it appears (request line, path, referer).
TOKEN_IN_PATH = re.compile(r"(/b/)[A-Za-z0-9_\-]+")
#: An API key (survey/api/keys.py) or a webhook secret (survey/webhooks.py); not a key's
#: hint (``pyk_`` and four characters), which listings show.
SECRET = re.compile(r"\b(pyk_|whsec_)[A-Za-z0-9_\-]{8,}")
_ESCAPED = re.compile(r"%[0-9A-Fa-f]{2}")


def redact(text: str) -> str:
    """`text` with every personal link's token replaced by ``[token]``, every
    API key and webhook secret by ``pyk_[key]``, ``whsec_[key]``. Text with
    percent-escapes is decoded first (repeatedly: escapes may be escaped)."""
    decoded = text
    for _ in range(4):
        if not _ESCAPED.search(decoded):
            break
        decoded = unquote(decoded)
    if decoded is not text and (TOKEN_IN_PATH.search(decoded) or SECRET.search(decoded)):
        text = decoded
    return SECRET.sub(r"\1[key]", TOKEN_IN_PATH.sub(r"\1[token]", text))


class RedactTokens(logging.Filter):
    """A handler filter: the record's message, arguments and traceback, redacted."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactTokens()


def protect(*loggers: logging.Logger | Any) -> None:
    """Put the filter on every handler of these loggers (and of the root logger)."""
    for logger in (*loggers, logging.getLogger()):
        for handler in getattr(logger, "handlers", ()):
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
