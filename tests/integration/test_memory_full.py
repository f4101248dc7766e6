"""A full Redis with ``maxmemory-policy noeviction`` (the policy docker/README.md
recommends): it refuses every write that needs memory.  Reads must not depend
on their bookkeeping writes, and health_check() must say what is going on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend

from ..redis_server import LocalRedis

ENTRIES = 40


@pytest.fixture
def small_redis() -> Iterator[LocalRedis]:
    """A server with little memory; LocalRedis already pins noeviction."""
    with LocalRedis(extra_args=("--maxmemory", "8mb")) as server:
        yield server


def fill_until_full(client: redis.Redis) -> int:
    """Write filler keys until the server refuses even small writes with OOM; how many went in.

    Big values first, then small ones: a refused big value frees its own
    request buffer and leaves room under maxmemory again.
    """
    written = 0
    for size in (65536, 1024, 16):
        blob = b"x" * size
        while True:
            try:
                client.set(f"filler:{written}", blob)
            except redis.exceptions.OutOfMemoryError:
                break
            written += 1
    return written


def test_a_full_server_still_serves_every_entry_and_health_says_why(small_redis):
    backend = RedisCacheBackend(url=small_redis.url, name="full", max_size=None)
    cache = LLMCachingManager(backend, embedder=None)
    for i in range(ENTRIES):
        assert cache.set(f"question {i}", f"answer {i}")
    assert cache.health_check()["status"] == "healthy"
    admin = redis.Redis(port=small_redis.port)
    assert fill_until_full(admin) > 0
    # Freed request buffers can leave room for a few small writes: put the limit well below use.
    limit = int(admin.info("memory")["used_memory"]) // 2
    admin.config_set("maxmemory", limit)

    served = sum(cache.get(f"question {i}") == f"answer {i}" for i in range(ENTRIES))
    assert served == ENTRIES  # was 0: the hit bookkeeping was refused, so the whole lookup failed
    assert cache.get("never stored") is None
    assert cache.get_statistics()["errors"] == 0
    assert backend.partition.unbooked_hits == ENTRIES

    health = cache.health_check()
    assert health["status"] == "degraded" and "out of memory" in health["reason"]
    assert health["memory"]["writes_accepted"] is False and health["memory"]["unbooked_hits"] == ENTRIES
    assert health["memory"]["policy"] == "noeviction" and health["memory"]["max_bytes"] == limit

    # Writes fail open as before; invalidation frees memory, so it still works.
    assert cache.set("new question", "new answer") is False
    assert cache.invalidate(keys=[cache.get_top_entries(1)[0]["key"]]) == 1

    # Once memory is freed, bookkeeping resumes and health recovers.
    admin.flushdb()
    admin.config_set("maxmemory", "8mb")
    assert cache.set("after", "A") and cache.get("after") == "A"
    assert backend.partition.unbooked_hits == ENTRIES
    assert cache.health_check()["status"] == "healthy"


def test_a_full_server_does_not_fail_reads_over_their_counters(small_redis):
    """A long prompt's skipped-long count and get_or_compute's outcome count are
    bookkeeping too: refused by a full server, they must not fail the call."""
    from ..chat_contract import WindowedEmbedder

    backend = RedisCacheBackend(url=small_redis.url, name="full-counters", max_size=None)
    cache = LLMCachingManager(backend, enable_semantic=True, embedder=WindowedEmbedder())
    long = "shared context " * 10 + "question"
    assert cache.set(long, "stored answer") and cache.set("short", "short answer")
    admin = redis.Redis(port=small_redis.port)
    assert fill_until_full(admin) > 0
    # Freed request buffers can leave room for a small write: put the limit well below use.
    admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) // 2)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        admin.hincrby("probe", "n", 1)

    assert cache.get(long + " other") is None  # exact-only miss; its counters are refused
    assert cache.get_or_compute(long, lambda: "computed") == "stored answer"
    assert cache.get_or_compute("short", lambda: "computed") == "short answer"
    assert cache.get_statistics()["errors"] == 0
    assert cache.health_check()["status"] == "degraded"  # degraded, not down: the breaker never opened
