"""A real HTTP server on loopback standing in for an SMS provider: the
`sms_gateway` fixture (registered for every test by tests/conftest.py) and
the settings that point survey.sms's HTTP gateway at it."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def accept(request: Request, n: int) -> tuple[int, bytes]:
    """The default answer: 200 and the message id at data.msg_id."""
    return 200, json.dumps({"code": 0, "data": {"msg_id": f"gw-{n}"}}).encode()


@dataclass
class FakeProvider:
    """What arrived, and how to answer: `answer(request, n) -> (status, body)`."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    answer: Callable[[Request, int], tuple[int, bytes]] = accept
    lock: threading.Lock = field(default_factory=threading.Lock)

    def config(self, **extra: object) -> dict[str, object]:
        """App settings of an HTTP gateway that posts JSON to this server."""
        return {"PINGYI_SMS_URL": f"{self.url}/send", "PINGYI_SMS_AUTH_HEADER": "Authorization: Bearer test-key",
                "PINGYI_SMS_ID_PATH": "data.msg_id", "PINGYI_SMS_TIMEOUT": 5.0, **extra}


@pytest.fixture
def sms_gateway() -> Iterator[FakeProvider]:
    provider = FakeProvider()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
            with provider.lock:
                provider.requests.append(request)
                n = len(provider.requests)
            status, body = provider.answer(request, n)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", f"{provider.url}/elsewhere")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield provider
    server.shutdown()
    server.server_close()
