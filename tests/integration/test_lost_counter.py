"""A write counter (``seq``) that vanished or went back does not let a sweep skip old entries.

An eviction policy (or a stray DEL) can take the counter: entries written
before hold higher seqs than the restarted counter, and a sweep bounded by
the counter's value would skip them as "written during the sweep".
"""

from __future__ import annotations

import logging

import redis

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend

from ..redis_server import LocalRedis


def _filled(url: str, name: str) -> tuple[LLMCachingManager, RedisCacheBackend]:
    backend = RedisCacheBackend(url=url, name=name)
    manager = LLMCachingManager(backend, strict=True)
    for i in range(50):
        assert manager.set(f"q{i}", f"a{i}", model="m", tags=["t"])
    return manager, backend


def test_a_deleted_counter_mid_life_still_invalidates_every_match(redis_url, cache_names, caplog):
    client = redis.Redis.from_url(redis_url)
    manager, backend = _filled(redis_url, cache_names.new())
    client.delete(backend._layout.seq(0))  # lost, as an eviction would lose it
    for i in range(3):  # new writes restart it at 1, 2, 3: below the old entries' seqs
        assert manager.set(f"new {i}", "x", model="m", tags=["other"])
    with caplog.at_level(logging.WARNING, logger="redis_semcache.redis"):
        assert manager.invalidate(tags=["t"]) == 50
    assert "went back" in caplog.text
    assert all(manager.get(f"q{i}", model="m") is None for i in range(50))
    assert manager.get("new 0", model="m") == "x"
    # A fresh process never saw the old counter: a vanished one is unbounded too.
    client.delete(backend._layout.seq(0))
    fresh = LLMCachingManager(RedisCacheBackend(url=redis_url, name=backend.name), strict=True)
    assert fresh.invalidate(tags=["other"]) == 3
    client.close()


def test_health_check_warns_when_the_policy_can_evict_bookkeeping():
    with LocalRedis() as server:
        manager = LLMCachingManager(RedisCacheBackend(url=server.url, name="policy"))
        assert "warning" not in manager.health_check()  # noeviction
        redis.Redis(port=server.port).config_set("maxmemory-policy", "volatile-lru")
        assert "warning" not in manager.health_check()  # only keys with a TTL: entries, never bookkeeping
        redis.Redis(port=server.port).config_set("maxmemory-policy", "allkeys-random")
        report = manager.health_check()
        assert "allkeys-random" in report["warning"] and report["status"] == "healthy"
        manager.close()


def test_a_counter_lost_after_a_bulk_load_is_noticed_from_the_loads_last_seq(redis_url, cache_names):
    """set_many stores a chunk of entries per script call, and the call replies with the seq of its
    chunk's first entry; the process must remember the chunk's last one, or a counter restarted by
    fewer new writes than the load holds looks like it only moved forward, and the sweep skips the
    load's newest entries."""
    client = redis.Redis.from_url(redis_url)
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new())
    manager = LLMCachingManager(backend, strict=True)
    assert manager.set_many([(f"old {i}", f"a{i}") for i in range(120)], model="m", tags=["t"]) == 120
    client.delete(backend._layout.seq(0))  # lost, as an eviction would lose it
    # The restarted counter ends between the last chunk's first seq and the load's last seq.
    assert manager.set_many([(f"new {i}", "x") for i in range(110)], model="m", tags=["other"]) == 110
    assert manager.invalidate(tags=["t"]) == 120
    assert all(manager.get(f"old {i}", model="m") is None for i in range(120))
    client.close()
