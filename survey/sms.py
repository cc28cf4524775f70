"""The SMS adapter: short personal links through a gateway.

A gateway is any object with ``send(phone, text) -> message id`` that raises
when the message was not accepted. ``PINGYI_SMS_BACKEND`` chooses it:

- ``"http"``: :class:`HttpGateway`, a generic HTTP gateway configured by the
  ``PINGYI_SMS_*`` settings (method, URL, a body with ``{phone}`` and
  ``{text}``, one auth header; success is a 2xx answer, with the provider's
  message id at an optional JSON path). The default when ``PINGYI_SMS_URL``
  is set.
- ``"module:Class"``: a provider's own class (one that signs its requests,
  say; subclassing :class:`HttpGateway` and overriding ``sign`` is enough),
  built with ``from_config(config)`` if it has that class method.
- ``"log"``: :class:`LogGateway`, for development only: it sends nothing,
  writes each message to the log and keeps it in memory. It is used only
  when chosen by name.

Unset and without ``PINGYI_SMS_URL`` there is no gateway: SMS batches are
refused before anything is sent (:class:`NotConfigured`), so no link is
marked delivered that nobody received.
"""
from __future__ import annotations

import importlib
import itertools
import json
import logging
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from flask import Flask

log = logging.getLogger("pingyi.sms")

HTTP, LOG = "http", "log"
#: The most of a provider's answer quoted in a failure's reason.
EXCERPT = 200


@runtime_checkable
class SmsGateway(Protocol):
    def send(self, phone: str, text: str) -> str:
        """Hand one message to the provider; return its message id, raise if refused."""
        ...


class NotConfigured(Exception):
    """No SMS gateway is configured: nothing may be sent."""


class Refused(Exception):
    """The gateway answered and did not accept the message (a non-2xx status,
    or no message id where ``PINGYI_SMS_ID_PATH`` expects one)."""


class Unreachable(Exception):
    """The gateway could not be reached: the request was never handed over,
    so the message was certainly not sent and may be sent again later."""


@dataclass(frozen=True)
class SentSms:
    message_id: str
    phone: str
    text: str


class LogGateway:
    """Writes messages to the log instead of sending them (development, tests)."""

    def __init__(self) -> None:
        self.sent: list[SentSms] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def send(self, phone: str, text: str) -> str:
        with self._lock:
            message_id = f"log-{next(self._ids)}"
            self.sent.append(SentSms(message_id, phone, text))
        log.warning("SMS %s to %s (development log gateway, not sent): %s", message_id, phone, text)
        return message_id


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A gateway that redirects is misconfigured: its 3xx is an answer, not a success."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        return None


_URL = re.compile(r"https?://\S+")


def _excerpt(data: bytes, phone: str = "", message: str = "") -> str:
    """The start of a provider's answer, for the reason shown to the organizer. A provider that
    echoes the request back must not put the evaluator's link (a ballot credential) or number in
    the database or on the page: the message's links and the phone number are blanked first."""
    text = data.decode("utf-8", "replace").strip()
    secrets = [m.group(0).rstrip(".,;:!?）)」』。，；") for m in _URL.finditer(message)]
    for url in secrets:
        for form in (url, urllib.parse.quote(url, safe=""), urllib.parse.quote_plus(url),
                     json.dumps(url)[1:-1]):
            text = text.replace(form, "[链接]")
        token = url.rstrip("/").rsplit("/", 1)[-1]
        if len(token) >= 16:  # the token alone, as a provider may quote a path or a field
            text = text.replace(token, "[链接]")
    if phone:
        text = text.replace(phone, "[号码]")
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "…"


def _in_url(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _in_json(value: str) -> str:
    """A string's contents as they go between the quotes of a JSON string."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _at_path(document: Any, path: str) -> Any:
    """The value at a dotted path (list items by their index), or None."""
    for part in path.split("."):
        if isinstance(document, dict) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            return None
    return document


class HttpGateway:
    """A provider reached with one HTTP request per message.

    ``{phone}`` and ``{text}`` are replaced as text, escaped for where they go:
    URL-encoded in the URL, JSON string contents in a JSON body, URL-encoded in
    a form body. A provider that signs its requests subclasses this and
    overrides :meth:`sign`.
    """

    def __init__(self, url: str, *, method: str = "POST", body: str = "", content_type: str = "application/json",
                 auth_header: str | None = None, id_path: str | None = None, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"PINGYI_SMS_URL 应以 http:// 或 https:// 开头，而不是 {url!r} (expected an http(s) URL)")
        self.url, self.method, self.body = url, method.upper(), body
        self.content_type, self.id_path, self.timeout = content_type, id_path or None, timeout
        self.headers: dict[str, str] = {}
        if auth_header:
            name, sep, value = auth_header.partition(":")
            if not sep or not name.strip():
                raise ValueError("PINGYI_SMS_AUTH_HEADER 应写作 “名称: 值” (expected 'Name: value')")
            self.headers[name.strip()] = value.strip()
        self._opener = urllib.request.build_opener(_NoRedirect)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HttpGateway:
        url = config.get("PINGYI_SMS_URL")
        if not url:
            raise NotConfigured("PINGYI_SMS_URL")
        return cls(str(url), method=str(config.get("PINGYI_SMS_METHOD") or "POST"),
                   body=str(config.get("PINGYI_SMS_BODY") or ""),
                   content_type=str(config.get("PINGYI_SMS_CONTENT_TYPE") or "application/json"),
                   auth_header=config.get("PINGYI_SMS_AUTH_HEADER"), id_path=config.get("PINGYI_SMS_ID_PATH"),
                   timeout=float(config.get("PINGYI_SMS_TIMEOUT") or 10.0))

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).netloc

    @staticmethod
    def _fill(template: str, phone: str, text: str, escape: Callable[[str], str]) -> str:
        return template.replace("{phone}", escape(phone)).replace("{text}", escape(text))

    def build_request(self, phone: str, text: str) -> urllib.request.Request:
        url = self._fill(self.url, phone, text, _in_url)
        data = None
        headers = dict(self.headers)
        if self.body and self.method != "GET":
            escape = _in_json if "json" in self.content_type else urllib.parse.quote_plus
            data = self._fill(self.body, phone, text, escape).encode("utf-8")
            headers["Content-Type"] = f"{self.content_type}; charset=utf-8"
        return urllib.request.Request(url, data=data, headers=headers, method=self.method)

    def sign(self, request: urllib.request.Request) -> urllib.request.Request:
        """A provider's signature (headers, a query parameter); none here."""
        return request

    def send(self, phone: str, text: str) -> str:
        request = self.sign(self.build_request(phone, text))
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, answer = response.status, response.read(65536)
        except urllib.error.HTTPError as exc:
            raise Refused(f"HTTP {exc.code} {_excerpt(exc.read(2000), phone, text)}".strip()) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (ConnectionRefusedError, socket.gaierror)):
                raise Unreachable(f"{self.host}: {exc.reason}") from None
            raise
        if not 200 <= status < 300:
            raise Refused(f"HTTP {status} {_excerpt(answer, phone, text)}".strip())
        if self.id_path is None:
            return f"http-{status}"
        try:
            message_id = _at_path(json.loads(answer), self.id_path)
        except ValueError:
            message_id = None
        if message_id is None or message_id == "" or isinstance(message_id, (dict, list)):
            raise Refused(f"{self.id_path}? {_excerpt(answer, phone, text)}")
        return str(message_id)


@dataclass(frozen=True)
class GatewayInfo:
    """What the batch page says about the gateway, without building it.

    kind: "http", "log", "custom" or "none"."""

    kind: str
    #: The HTTP gateway's host, or the class's 'module:Class'.
    where: str = ""

    @property
    def ready(self) -> bool:
        return self.kind != "none"


def describe(config: Mapping[str, Any]) -> GatewayInfo:
    spec = str(config.get("PINGYI_SMS_BACKEND") or "").strip()
    if spec == LOG:
        return GatewayInfo(LOG)
    if spec == HTTP or (not spec and config.get("PINGYI_SMS_URL")):
        url = str(config.get("PINGYI_SMS_URL") or "")
        return GatewayInfo(HTTP, urllib.parse.urlsplit(url).netloc) if url else GatewayInfo("none")
    if spec:
        return GatewayInfo("custom", spec)
    return GatewayInfo("none")


def load_gateway(config: Mapping[str, Any]) -> SmsGateway:
    """Build the gateway that the settings choose; NotConfigured when none."""
    spec = str(config.get("PINGYI_SMS_BACKEND") or "").strip()
    info = describe(config)
    if info.kind == "none":
        raise NotConfigured("PINGYI_SMS_BACKEND")
    if info.kind == LOG:
        return LogGateway()
    if info.kind == HTTP:
        return HttpGateway.from_config(config)
    module_name, _, class_name = spec.partition(":")
    if not class_name:
        raise ValueError(f"PINGYI_SMS_BACKEND 应写作 “http”“log” 或 “模块:类名”，而不是 {spec!r} "
                         "(expected 'http', 'log' or 'module:Class')")
    cls = getattr(importlib.import_module(module_name), class_name)
    gateway = cls.from_config(config) if hasattr(cls, "from_config") else cls()
    if not isinstance(gateway, SmsGateway):
        raise TypeError(f"{spec} 没有 send(phone, text) 方法 (not an SMS gateway)")
    return gateway


def gateway_for(app: Flask) -> SmsGateway:
    """The app's gateway, built once and kept in ``app.extensions['pingyi_sms']``."""
    gateway = app.extensions.get("pingyi_sms")
    if gateway is None:
        gateway = app.extensions["pingyi_sms"] = load_gateway(app.config)
    return gateway
