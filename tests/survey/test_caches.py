"""The one cache helper: every per-process cache is listed and reset together."""
from __future__ import annotations

import survey  # noqa: F401  (imports the app's modules, which register their caches)
from survey import caches, create_app


def test_least_recently_used_go_first_by_count_and_by_weight() -> None:
    counted: caches.Cache[str, int] = caches.Cache("test.counted", 2)
    counted.put("a", 1)
    counted.put("b", 2)
    assert counted.get("a") == 1  # a is now the most recent
    counted.put("c", 3)
    assert (counted.get("a"), counted.get("b"), counted.get("c")) == (1, None, 3)
    weighed: caches.Cache[str, bytes] = caches.Cache("test.weighed", 10, weigh=len)
    weighed.put("x", b"12345")
    weighed.put("y", b"123456")  # 11 bytes together: x goes
    assert weighed.get("x") is None and weighed.get("y") == b"123456"
    weighed.put("z", b"0123456789ab")  # heavier than the bound alone: kept, the others go
    assert len(weighed) == 1 and weighed.get("z") is not None


def test_every_cache_of_the_app_is_listed_and_cleared_together(tmp_path) -> None:
    create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})
    listed = set(caches.names())
    assert {"board.tallies", "results.artifacts", "results.parsed"} <= listed, listed
    kept: caches.Cache[str, int] = caches.Cache("test.cleared", 5)
    kept.put("k", 1)
    caches.clear_all()
    assert kept.get("k") is None
