"""The async API on Redis: native redis.asyncio, one client per event loop,
and what a backend does with only one kind of client.

The contract suite itself runs through the async API in test_contract_redis.py
and test_cluster.py (including a backend that has no blocking client at all).
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import redis
import redis.asyncio

from redis_semcache import ConfigurationError, LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend

from ..fakes import CountingEmbedder, near, unit


def test_each_event_loop_gets_its_own_connections(redis_url, cache_names):
    """redis.asyncio connections belong to the loop that opened them: a second
    asyncio.run() on the same cache must not reuse the first loop's ("Event loop is closed")."""
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new())
    cache = LLMCachingManager(backend, embedder=None, strict=True)

    async def write_then_read(i: int) -> object:
        assert await cache.aset(f"q{i}", f"a{i}")
        return await cache.aget(f"q{i}")

    assert [asyncio.run(write_then_read(i)) for i in range(3)] == ["a0", "a1", "a2"]
    assert cache.get("q1") == "a1"  # and the blocking client still works alongside


def test_aclose_closes_this_loops_connection_and_a_later_loop_reconnects(redis_url, cache_names, redis_client):
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new())
    cache = LLMCachingManager(backend, embedder=None, strict=True)

    def connections() -> int:
        return len(redis_client.client_list())

    async def use_then_close() -> tuple[int, int]:
        await cache.aset("q", "a")
        open_before = connections()
        await cache.aclose()
        return open_before, connections()

    before, after = asyncio.run(use_then_close())
    # The server notices the closed socket a moment later: poll for it (generous bound), never a fixed window.
    deadline = time.monotonic() + 10
    # Two close: this loop's connection and the blocking one (the search-module check made it when built).
    while after > before - 2 and time.monotonic() < deadline:
        time.sleep(0.01)
        after = connections()
    assert after == before - 2

    async def read() -> object:
        return await cache.aget("q")

    assert asyncio.run(read()) == "a"


def test_only_a_blocking_client_runs_the_async_api_in_a_worker_thread(redis_url, cache_names):
    client = redis.Redis.from_url(redis_url)
    cache = LLMCachingManager(RedisCacheBackend(client=client, name=cache_names.new()), embedder=None, strict=True)

    async def calls() -> tuple:
        return await cache.aset("q", "a"), await cache.aget("q"), await cache.aget_statistics()

    stored, got, stats = asyncio.run(calls())
    assert stored and got == "a" and stats["exact_hits"] == 1
    client.close()


def test_only_an_async_client_refuses_the_sync_api_with_a_clear_error(redis_url, cache_names):
    async_client = redis.asyncio.Redis.from_url(redis_url)
    backend = RedisCacheBackend(async_client=async_client, name=cache_names.new())
    cache = LLMCachingManager(backend, embedder=None)  # fail-open must not hide a usage error

    async def write() -> bool:
        stored = await cache.aset("q", "a")
        await async_client.aclose()
        return stored

    assert asyncio.run(write())
    with pytest.raises(ConfigurationError, match="a-prefixed methods"):
        cache.get("q")


def test_client_and_url_together_are_refused(redis_url):
    with pytest.raises(ConfigurationError):
        RedisCacheBackend(url=redis_url, async_client=redis.asyncio.Redis.from_url(redis_url))


def test_sync_and_async_callers_share_entries_counters_and_eviction(redis_url, cache_names):
    """The two drivers run the same plans on the same keys: what one writes the other reads."""
    name = cache_names.new()
    rng = np.random.default_rng(3)
    v = unit(rng, 8)
    sync_cache = LLMCachingManager(
        RedisCacheBackend(url=redis_url, name=name, max_size=3), embedder=None, strict=True, enable_semantic=True
    )
    async_cache = LLMCachingManager(
        RedisCacheBackend(url=redis_url, name=name, max_size=3), embedder=None, strict=True, enable_semantic=True
    )
    sync_cache.set("stored", "S", embedding=v)

    async def from_async() -> tuple:
        exact = await async_cache.aget("stored")
        similar = await async_cache.aget("near", embedding=near(v, 0.99, rng))
        for i in range(4):  # overflows max_size=3: the oldest-used entries go
            await async_cache.aset(f"fill {i}", i)
        return exact, similar, await async_cache.aget_statistics()

    exact, similar, stats = asyncio.run(from_async())
    assert exact == "S" and similar == "S"
    assert stats["exact_hits"] == 1 and stats["semantic_hits"] == 1 and stats["cache_size"] == 3
    assert sync_cache.get_statistics()["evictions"] == 2 and sync_cache.get("fill 3") == 3


def test_awarm_aset_many_and_aget_many_on_redis(redis_url, cache_names):
    """The async bulk paths: one embedding batch per call, exact hits without embedding, semantic
    hits for paraphrases, misses for the rest; stats and tags as the sync paths leave them."""
    embedder = CountingEmbedder(dim=64)
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new())
    cache = LLMCachingManager(backend, embedder=embedder, enable_semantic=True, semantic_threshold=0.8, strict=True)

    async def main() -> tuple:
        warmed = await cache.awarm([("how do I boil an egg", "boil"), ("how do I fry an egg", "fry")], progress=False)
        stored = await cache.aset_many({"capital of france": "Paris", "capital of spain": "Madrid"}, tags=["geo"])
        embedded = embedder.calls
        got = await cache.aget_many(
            ["how do I boil an egg", "capital of spain", "how do I boil an egg please", "why is the sky blue"]
        )
        return warmed, stored, embedded, got, await cache.aget_statistics(), await cache.ainvalidate(tags=["geo"])

    warmed, stored, embedded, got, stats, invalidated = asyncio.run(main())
    assert (warmed, stored, embedded) == (2, 2, 2)  # one embedding batch per bulk write
    assert got == ["boil", "Madrid", "boil", None]
    assert embedder.calls == embedded + 1  # the two exact misses, embedded in one batch
    assert (stats["exact_hits"], stats["semantic_hits"], stats["misses"], stats["cache_size"]) == (2, 1, 1, 4)
    assert invalidated == 2 and cache.get("capital of france") is None
