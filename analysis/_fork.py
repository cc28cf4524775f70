"""The command line's helper processes (POSIX fork): started and ended one way."""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
from collections.abc import Callable
from typing import Any

__all__ = ["start", "end", "compute", "Outcome"]


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


class Outcome:
    """A helper that computes one value (:func:`compute`) and sends it back pickled."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd = pid, fd

    def get(self) -> Any:
        """Wait for the helper's value (None where it failed), reap it."""
        try:
            with os.fdopen(self.fd, "rb") as got:
                self.fd = -1
                try:
                    return pickle.load(got)
                except (EOFError, pickle.UnpicklingError):
                    return None  # the helper ended without a whole value
        finally:
            self.close()

    def close(self) -> None:
        """Stop the helper if it still runs and reap it (safe to call twice)."""
        if self.pid:
            end(self.pid, *([self.fd] if self.fd >= 0 else []))
            self.pid, self.fd = 0, -1


def compute(work: Callable[[], Any]) -> Outcome:
    """Fork a helper that computes ``work()`` and sends its value back (None where it raised anything)."""
    read_fd, write_fd = os.pipe()

    def body() -> None:  # in the helper
        os.close(read_fd)
        try:
            value = work()
        except BaseException:  # anything: the parent does the work itself
            value = None
        with os.fdopen(write_fd, "wb") as out:
            pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
    pid = start(body)
    os.close(write_fd)
    return Outcome(pid, read_fd)
