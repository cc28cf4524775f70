"""Every per-process cache of the app, in one list, reset together.

A cache here keeps what is expensive to build and cheap to check: each entry
is keyed by everything it was built from (a snapshot's hash, the rows'
versions), so a stale entry is never found, only evicted; an edit on another
node is seen on the next request there. `clear_all()` empties every cache
(tests between cases, a restore)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_REGISTRY: dict[str, Callable[[], None]] = {}


class Cache(Generic[K, V]):
    """A thread-safe LRU mapping of at most `maxsize` entries, registered by name."""

    def __init__(self, name: str, maxsize: int) -> None:
        self.name = name
        self.maxsize = maxsize
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        register(name, self.clear)

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> V:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def register(name: str, clear: Callable[[], None]) -> None:
    """List a cache kept elsewhere (e.g. a functools.lru_cache's `cache_clear`)."""
    _REGISTRY[name] = clear


def names() -> list[str]:
    return sorted(_REGISTRY)


def clear_all() -> None:
    for clear in _REGISTRY.values():
        clear()
