"""Round trips per operation, counted on the wire.

A counting connection class counts every write of a command (or of a whole
pipeline) to the socket: one write is one round trip.  Scripts are loaded
and the index exists before counting starts.  The numbers asserted here are
the ones stated in docs/design.md.
"""

from __future__ import annotations

import numpy as np
import pytest
import redis
import redis.asyncio

from redis_semcache import LLMCachingManager
from redis_semcache.backends.base import STORE_MANY_BATCH
from redis_semcache.backends.redis import RedisCacheBackend

from ..fakes import near, unit
from ..sync_via_async import SyncViaAsync


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def take(self) -> int:
        n, self.n = self.n, 0
        return n


@pytest.fixture(params=["sync", "async"])
def counted(request, redis_url, cache_names):
    """(backend, counter): a backend whose only client counts its socket writes.

    The async variant gives the backend nothing but a counting ``redis.asyncio``
    client and drives it through the ``a``-methods, so both drivers are held to
    the same round-trip counts.
    """
    counter = Counter()
    kwargs = redis.connection.parse_url(redis_url)
    if request.param == "sync":

        class CountingConnection(redis.Connection):
            def send_packed_command(self, command, check_health=True):
                counter.n += 1
                return super().send_packed_command(command, check_health)

        client = redis.Redis(connection_pool=redis.ConnectionPool(connection_class=CountingConnection, **kwargs))
        yield RedisCacheBackend(client=client, name=cache_names.new(), dimension=16), counter
        client.close()
        return

    class AsyncCountingConnection(redis.asyncio.Connection):
        async def send_packed_command(self, command, check_health=True):
            counter.n += 1
            return await super().send_packed_command(command, check_health)

    pool = redis.asyncio.ConnectionPool(connection_class=AsyncCountingConnection, **kwargs)
    async_client = redis.asyncio.Redis(connection_pool=pool)
    backend = RedisCacheBackend(async_client=async_client, name=cache_names.new(), dimension=16)
    wrapped = SyncViaAsync(backend, closing=(async_client,))
    yield wrapped, counter
    wrapped.close()


def manager(backend, **kwargs):
    """A manager over ``backend``, driven through the async API when the backend is."""
    if isinstance(backend, SyncViaAsync):
        return SyncViaAsync(manager(backend.wrapped, **kwargs), loop=backend.loop)
    kwargs = {"embedder": None, "enable_semantic": True, "semantic_threshold": 0.9, **kwargs}
    return LLMCachingManager(backend, **kwargs)


def test_round_trips_per_operation(counted):
    backend, counter = counted
    cache = manager(backend)
    rng = np.random.default_rng(0)
    v = unit(rng, 16)
    cache.set("warm up", "x", embedding=unit(rng, 16))  # connection, index and scripts: setup, not counted
    counter.take()

    assert cache.set("q", "A", embedding=v, tags=["t"])
    assert counter.take() == 1, "store"
    assert cache.get("q", embedding=v) == "A"
    assert counter.take() == 1, "exact hit"
    assert cache.get("paraphrase", embedding=near(v, 0.95, rng)) == "A"
    assert counter.take() == 2, "semantic hit: exact miss + KNN with touch"
    assert cache.get("unrelated", embedding=near(v, 0.2, rng)) is None
    assert counter.take() == 2, "semantic miss: exact miss + KNN"
    assert manager(backend, enable_semantic=False).get("nothing") is None
    assert counter.take() == 1, "exact miss, no semantic lookup"
    backend.size()
    assert counter.take() == 1, "size"
    backend.counters()
    assert counter.take() == 1, "counters"
    cache.get_statistics()
    assert counter.take() == 2, "get_statistics = counters + size"
    cache.get_top_entries(limit=5)
    assert counter.take() == 1, "top entries"
    assert cache.invalidate(keys=[cache.get_top_entries(1)[0]["key"]]) == 1
    counter.take()
    assert cache.set("q", "A", embedding=v, tags=["t"])
    counter.take()
    assert cache.invalidate(tags=["t"]) == 1
    assert counter.take() == 2, "invalidate, one page: search (+ seq snapshot), then delete"
    assert cache.invalidate(tags=["absent"]) == 0
    assert counter.take() == 1, "invalidate with no match: one search"


def test_round_trips_with_an_accept_callback(counted):
    backend, counter = counted
    rng = np.random.default_rng(1)
    v = unit(rng, 16)
    verdicts = []

    def accept(query, candidate, similarity):
        verdicts.append((query, candidate, round(similarity, 3)))
        return query != "reject me"

    cache = manager(backend, verifier=accept, guards=())
    cache.set("stored", "S", embedding=v)
    counter.take()
    assert cache.get("accept me", embedding=near(v, 0.95, rng)) == "S"
    assert counter.take() == 3, "vetted semantic hit: exact miss + KNN list + touch"
    assert cache.get("reject me", embedding=near(v, 0.95, rng)) is None
    assert counter.take() == 2, "vetted semantic miss: exact miss + KNN list"
    assert [v[:2] for v in verdicts] == [("accept me", "stored"), ("reject me", "stored")]
    stats = cache.get_statistics()
    assert (stats["semantic_hits"], stats["misses"]) == (1, 1)


def test_invalidation_round_trips_grow_with_pages(counted):
    backend, counter = counted
    backend.partition.PAGE = 10
    cache = manager(backend, enable_semantic=False)
    for i in range(35):
        cache.set(f"p{i}", i, tags=["bulk"])
    counter.take()
    assert cache.invalidate(tags=["bulk"]) == 35
    # 4 pages of 10 (the last one short), each deleting the previous page in the same pipeline, then a final delete
    assert counter.take() == 5
    assert cache.get_statistics()["cache_size"] == 0


def test_set_many_sends_one_round_trip_per_batch(counted):
    """1,000 entries are 5 pipelined store_many batches of STORE_MANY_BATCH, not 1,000 round trips."""
    backend, counter = counted
    cache = manager(backend)
    cache.set("warm up", "x", embedding=np.ones(16, dtype=np.float32))  # setup, not counted
    counter.take()
    assert cache.set_many([(f"prompt {i}", i) for i in range(1000)]) == 1000
    assert counter.take() == 1000 // STORE_MANY_BATCH
    assert cache.get("prompt 999") == 999 and cache.get_statistics()["cache_size"] == 1001
