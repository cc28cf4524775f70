"""The one family of user-facing errors, and the pages that show them.

A service raises a `UserError` (or a subclass) with a message in the user's
language when it refuses what was asked: the request idiom of survey/web.py
rolls the transaction back and shows the message; anywhere else the handlers
registered here answer with the subclass's 4xx status and the message, as a
page or, under /api/ and /b/…/draft, as JSON."""
from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException


class UserError(Exception):
    """A refusal the user can act on; `message` is already in the user's language."""

    #: The HTTP status when the error reaches a handler of its own.
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(UserError):
    status_code = 404


class Forbidden(UserError):
    status_code = 403


class Conflict(UserError):
    """What was asked contradicts the state of the data (a campaign's status,
    an entry made meanwhile by someone else)."""

    status_code = 409


class TooLarge(UserError):
    status_code = 413


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


#: The word for each status in JSON answers.
ERROR_WORDS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 410: "gone", 413: "too_large", 429: "too_many_requests"}


def _default_message(status: int) -> str:
    from flask import current_app
    from flask_babel import gettext as _

    if status == 413:
        return str(_("提交的内容超过 %(mb)d MB，未被接收。请把文件分成几个较小的文件再上传。",
                     mb=current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)))
    return str({403: _("您的角色无权办理此事项"), 404: _("没有找到所请求的内容"), 429: _("操作过于频繁，请稍后再试")}
               .get(status, _("请求无法办理")))


def _page(status: int, message: str | None) -> Any:
    if message is None and (status == 413 or _wants_json()):
        message = _default_message(status)
    if _wants_json():
        return jsonify(error=ERROR_WORDS.get(status, "error"), message=message), status
    template = {403: "403.html", 404: "404.html"}.get(status, "error.html")
    return render_template(template, status=status, message=message), status


def register_error_handlers(app: Flask) -> None:
    """The app's 4xx pages: one template per status family, the user's message where there is one."""

    @app.errorhandler(UserError)
    def user_error(error: UserError) -> Any:
        return _page(error.status_code, error.message)

    for status in (400, 403, 404, 405, 409, 410, 413, 429):

        def http_error(error: HTTPException, status: int = status) -> Any:
            # Werkzeug's own descriptions are English: the page says it in the user's language.
            return _page(status, None)

        app.register_error_handler(status, http_error)
