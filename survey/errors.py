"""The one family of user-facing errors, and the pages that show them.

A service raises a `UserError` (or a subclass) with a message in the user's
language when it refuses what was asked: the request idiom of survey/web.py
rolls the transaction back and shows the message; anywhere else the handlers
registered here answer with the subclass's 4xx status and the message, as a
page or, under /api/ and /b/…/draft, as JSON. The versioned API (/api/v1/)
answers every error as a pingyi-errors/1 document with a ``code`` (docs/api.md):

    {"format": "pingyi-errors/1", "code": "not_found",
     "errors": [{"path": "$", "reason": "没有找到所请求的内容", "reason_en": "not found"}]}"""
from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from analysis._errors import ERRORS_FORMAT

#: Where the versioned JSON API lives; its errors are pingyi-errors/1 documents
#: (ERRORS_FORMAT: the format of a refused bundle, SCORING.md section 1).
API_PREFIX = "/api/v1/"


@dataclass(frozen=True)
class Problem:
    """One reason a request is refused, as pingyi-errors/1 gives it: where
    (``$`` for the request as a whole, ``query.limit`` for a parameter), and
    why in Chinese and in English."""

    path: str
    reason: str
    reason_en: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason, "reason_en": self.reason_en}


class UserError(Exception):
    """A refusal the user can act on; `message` is already in the user's language."""

    #: The HTTP status when the error reaches a handler of its own.
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def api_problems(self) -> list[Problem]:
        """The refusal as the API answers it: the message, about the request as
        a whole (its English is the status's, unless a subclass knows better)."""
        return [Problem("$", self.message, API_REASONS_EN.get(self.status_code, API_REASONS_EN[400]))]


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


class InvalidRequest(UserError):
    """What a request carried is refused (an API's query parameter, say):
    every problem, each with where it is and why, in both languages."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("；".join(p.reason for p in problems))
        self.problems = list(problems)

    def api_problems(self) -> list[Problem]:
        return self.problems


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


#: The word for each status in JSON answers.
ERROR_WORDS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 410: "gone", 413: "too_large", 429: "too_many_requests"}


def _default_message(status: int) -> str:
    from flask_babel import gettext as _

    if status == 413:
        return str(_("提交的内容超过 %(mb)d MB，未被接收。请把文件分成几个较小的文件再上传。",
                     mb=current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)))
    return str({401: _("需要有效的 API 密钥（Authorization: Bearer …）"), 403: _("您的角色无权办理此事项"),
                404: _("没有找到所请求的内容"), 405: _("不支持此请求方法"), 409: _("与数据的当前状态冲突"),
                429: _("操作过于频繁，请稍后再试")}
               .get(status, _("请求无法办理")))


#: The English of each status's default reason (an API error carries both languages).
API_REASONS_EN = {400: "the request cannot be handled", 401: "a valid API key is required",
                  403: "the role of this key may not use this endpoint", 404: "not found",
                  405: "method not allowed", 409: "conflicts with the current state of the data", 410: "gone",
                  413: "the request is too large", 429: "too many requests, try again later"}


def in_chinese() -> AbstractContextManager[None]:
    """Messages rendered in Chinese whatever the request's language: an API
    error's `reason` is Chinese (its `reason_en` English) by its format."""
    from flask_babel import force_locale

    return force_locale(current_app.config["BABEL_DEFAULT_LOCALE"])  # type: ignore[no-any-return]


def api_error(status: int, problems: Sequence[Problem] | None = None, headers: dict[str, str] | None = None,
              ) -> Response:
    """An error of the versioned API: a pingyi-errors/1 document with the status's ``code``."""
    if not problems:
        with in_chinese():
            problems = [Problem("$", _default_message(status), API_REASONS_EN.get(status, API_REASONS_EN[400]))]
    body = {"format": ERRORS_FORMAT, "code": ERROR_WORDS.get(status, "error"), "errors": [p.to_json() for p in problems]}
    response: Response = current_app.response_class(json.dumps(body, ensure_ascii=False), status=status,
                                                    headers=headers, mimetype="application/json")
    return response


def _page(status: int, message: str | None, error: Exception | None = None) -> Any:
    if request.path.startswith(API_PREFIX):
        problems = error.api_problems() if isinstance(error, UserError) else None
        # A 405 keeps the methods the URL takes (Allow), as HTTP asks.
        headers = dict(error.get_headers()) if isinstance(error, HTTPException) and status == 405 else {}
        headers.pop("Content-Type", None)
        return api_error(status, problems, headers)
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
        return _page(error.status_code, error.message, error)

    for status in (400, 403, 404, 405, 409, 410, 413, 429):

        def http_error(error: HTTPException, status: int = status) -> Any:
            # Werkzeug's own descriptions are English: the page says it in the user's language.
            return _page(status, None, error)

        app.register_error_handler(status, http_error)
