"""The SMS adapter: short personal links through a pluggable gateway.

A gateway is any class with ``send(phone, text) -> message id`` (raising on
failure), chosen by ``PINGYI_SMS_BACKEND = "package.module:Class"``. The
class is built with the app config if it has a ``from_config`` class method,
otherwise without arguments. The default, :class:`LogGateway`, sends
nothing: it writes each message to the app log and keeps it in memory.
"""
from __future__ import annotations

import importlib
import itertools
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from flask import Flask

DEFAULT_BACKEND = "survey.sms:LogGateway"
log = logging.getLogger("pingyi.sms")


@runtime_checkable
class SmsGateway(Protocol):
    def send(self, phone: str, text: str) -> str:
        """Hand one message to the provider; return its message id, raise if refused."""
        ...


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
        log.info("SMS %s to %s: %s", message_id, phone, text)
        return message_id


def load_gateway(config: Mapping[str, Any]) -> SmsGateway:
    """Build the gateway that ``PINGYI_SMS_BACKEND`` names."""
    spec = config.get("PINGYI_SMS_BACKEND") or DEFAULT_BACKEND
    module_name, _, class_name = str(spec).partition(":")
    if not class_name:
        raise ValueError(f"PINGYI_SMS_BACKEND 应写作 “模块:类名”，而不是 {spec!r} (expected 'module:Class')")
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
