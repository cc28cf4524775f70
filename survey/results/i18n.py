"""The translation function for results code that also runs outside a request
(command line, finalization from a script): there it gives the Chinese source text."""
from __future__ import annotations

from typing import Any

from flask import has_request_context
from flask_babel import gettext as babel_gettext


def gettext(text: str, **variables: Any) -> str:
    if has_request_context():
        return str(babel_gettext(text, **variables))
    return text % variables if variables else text
