"""The SMTP adapter: personal links go out through a real mail server.

Configured by ``PINGYI_SMTP_*`` keys of the app config (instance/config.py),
or the environment variables of the same names: HOST, PORT, STARTTLS, SSL,
USER, PASSWORD, SENDER, TIMEOUT. One connection serves a whole batch.
Without ``PINGYI_SMTP_HOST`` nothing is sent (:class:`NotConfigured`); a
server that cannot be reached or refuses the login raises
:class:`Unreachable` before any message is handed over.
"""
from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from types import TracebackType
from typing import Any

from survey.settings import BY_NAME

_TRUE = ("1", "true", "yes", "on")


class NotConfigured(Exception):
    """No SMTP server is configured (PINGYI_SMTP_HOST): nothing may be sent."""


class Unreachable(Exception):
    """The server could not be reached or refused the login: no message was handed over."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    #: Upgrade a plain connection with STARTTLS (port 587, usually).
    starttls: bool = False
    #: Connect with TLS from the start (SMTPS, port 465, usually).
    ssl: bool = False
    user: str | None = None
    password: str | None = None
    sender: str = "pingyi@localhost"
    #: Display name of the sender, e.g. 市评议办.
    sender_name: str | None = None
    timeout: float = 30.0


def _get(config: Mapping[str, Any], key: str) -> Any:
    name = f"PINGYI_SMTP_{key}"
    if name in config and config[name] is not None:
        return config[name]
    return os.environ.get(name, BY_NAME[name].default)  # the default declared in survey/settings.py


def configured_host(config: Mapping[str, Any]) -> str | None:
    """The SMTP server as 'host:port', or None where none is configured."""
    host = _get(config, "HOST")
    return f"{host}:{_get(config, 'PORT')}" if host else None


def settings_from(config: Mapping[str, Any]) -> SmtpSettings:
    """The SMTP settings from the app config, falling back to the environment;
    NotConfigured without a host."""

    def get(key: str) -> Any:
        return _get(config, key)

    if not get("HOST"):
        raise NotConfigured("PINGYI_SMTP_HOST")

    def flag(key: str) -> bool:
        value = get(key)
        return value if isinstance(value, bool) else str(value).strip().lower() in _TRUE

    settings = SmtpSettings(
        host=str(get("HOST")), port=int(get("PORT")),
        starttls=flag("STARTTLS"), ssl=flag("SSL"),
        user=get("USER") or None, password=get("PASSWORD") or None,
        sender=str(get("SENDER")), sender_name=get("SENDER_NAME") or None,
        timeout=float(get("TIMEOUT")),
    )
    if settings.starttls and settings.ssl:
        raise ValueError("PINGYI_SMTP_STARTTLS 与 PINGYI_SMTP_SSL 只能选一 (choose one of STARTTLS and SSL)")
    return settings


def build_message(settings: SmtpSettings, to: str, subject: str, text: str, *,
                  to_name: str | None = None, html: str | None = None) -> EmailMessage:
    """A message with a plain text body and, if given, its HTML alternative
    (whose text the caller has escaped)."""
    message = EmailMessage()
    message["From"] = formataddr((settings.sender_name, settings.sender)) if settings.sender_name \
        else settings.sender
    message["To"] = formataddr((to_name, to)) if to_name else to
    message["Subject"] = subject
    domain = settings.sender.rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


class Mailer:
    """One SMTP session: ``with Mailer(settings) as m: m.send(...)``.

    A send that fails leaves the session closed; the next send reconnects.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        try:
            return self._open()
        except (OSError, smtplib.SMTPException) as exc:  # refused, unknown host, TLS, login
            raise Unreachable(f"{self.settings.host}:{self.settings.port}: {exc}") from None

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        if s.ssl:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
        if s.user:
            smtp.login(s.user, s.password or "")
        return smtp

    def send(self, message: EmailMessage) -> str:
        """Send one message; returns its Message-ID. Raises on refusal."""
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            refused = self._smtp.send_message(message)
        except Exception:
            self.close()
            raise
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
        return str(message["Message-ID"])

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except Exception:  # the connection is gone already; nothing to tell
                self._smtp.close()
            self._smtp = None
