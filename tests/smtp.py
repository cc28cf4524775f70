"""A real SMTP server (aiosmtpd) on loopback for the tests: the `smtp_server`
fixture (registered for every test by tests/conftest.py) and its settings."""
from __future__ import annotations

import email
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: Message

    @property
    def body(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


@dataclass
class SinkHandler:
    """Keeps what arrives; refuses recipients listed in `refuse` with 550."""

    messages: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted"


@pytest.fixture
def smtp_server() -> Iterator[tuple[SinkHandler, int]]:
    """A real SMTP server on 127.0.0.1 and a free port."""
    handler = SinkHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def smtp_config(port: int) -> dict[str, object]:
    return {"PINGYI_SMTP_HOST": "127.0.0.1", "PINGYI_SMTP_PORT": port,
            "PINGYI_SMTP_SENDER": "pingyi@office.example.cn", "PINGYI_SMTP_SENDER_NAME": "市评议办"}
