"""The command line's helper processes (POSIX fork): started and ended one way."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable

__all__ = ["start", "end"]


def start(body: Callable[[], None]) -> int:
    """Fork a helper that runs `body` and exits; its pid.

    Whatever `body` does or raises, the helper ends with ``os._exit`` and
    never returns into the parent's code (no flush, no handlers).
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the helper (its work is checked through the parent)
        try:
            body()
        finally:
            os._exit(0)
    return pid


def end(pid: int, *fds: int) -> None:
    """Close the parent's ends of the helper's pipes, stop the helper and reap it (safe to call twice)."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
