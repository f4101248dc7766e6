"""Async calls under a fresh ``asyncio.run()`` per batch leave no connections behind.

Counted on the server (a private redis-server: ``connected_clients`` minus the
counting connection), so no other socket of the test process interferes.
"""

from __future__ import annotations

import asyncio

import redis

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend

from ..redis_server import LocalRedis

BATCHES, CONCURRENCY = 20, 10


def _clients(observer: redis.Redis) -> int:
    return int(observer.info("clients")["connected_clients"]) - 1  # not the observer itself


def _run_batches(manager: LLMCachingManager) -> None:
    async def batch() -> None:
        answers = await asyncio.gather(*(manager.aget("q", model="m") for _ in range(CONCURRENCY)))
        assert answers == ["a"] * CONCURRENCY

    for _ in range(BATCHES):
        asyncio.run(batch())


def test_dead_loops_connections_are_closed_and_close_releases_every_one():
    with LocalRedis() as server:
        observer = redis.Redis(port=server.port)
        manager = LLMCachingManager(RedisCacheBackend(url=server.url, name="sockets"))
        assert manager.set("q", "a", model="m")
        _run_batches(manager)
        # Only the last loop's connections may remain (it closed after its batch); earlier loops' are gone.
        assert _clients(observer) <= 1 + CONCURRENCY
        manager.close()
        assert _clients(observer) == 0


def test_aclose_releases_this_loops_and_every_dead_loops_connections():
    with LocalRedis() as server:
        observer = redis.Redis(port=server.port)
        manager = LLMCachingManager(RedisCacheBackend(url=server.url, name="sockets"))
        assert manager.set("q", "a", model="m")
        _run_batches(manager)

        async def last() -> None:
            assert await manager.aget("q", model="m") == "a"
            await manager.aclose()

        asyncio.run(last())
        assert _clients(observer) == 0
