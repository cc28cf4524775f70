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
    """A thread-safe LRU mapping, registered by name, of at most `maxsize`
    entries or, given `weigh`, of entries weighing at most `maxsize` together
    (the newest entry is kept even if it alone weighs more)."""

    def __init__(self, name: str, maxsize: int, weigh: Callable[[V], int] | None = None) -> None:
        self.name = name
        self.maxsize = maxsize
        self._weigh = weigh or (lambda _value: 1)
        self._weight = 0
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
            old = self._entries.pop(key, None)
            if old is not None:
                self._weight -= self._weigh(old)
            self._entries[key] = value
            self._weight += self._weigh(value)
            while self._weight > self.maxsize and len(self._entries) > 1:
                _key, evicted = self._entries.popitem(last=False)
                self._weight -= self._weigh(evicted)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._weight = 0

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
