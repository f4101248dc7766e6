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

from redis_semcache import (
    CacheStrategy,
    DimensionMismatchError,
    EmbeddingCountError,
    LLMCachingManager,
    make_cache_key,
)
from redis_semcache.backends.base import STORE_MANY_BATCH
from redis_semcache.backends.redis import RedisCacheBackend

from ..entries import bulk
from ..fakes import CountingEmbedder, near, unit
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
    assert counter.take() == 1, "semantic hit, vector known: exact check, search and touch in one script"
    assert cache.get("unrelated", embedding=near(v, 0.2, rng)) is None
    assert counter.take() == 1, "miss, vector known: exact check and search in one script"
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


def test_a_vector_the_cache_must_compute_costs_one_more_round_trip_once(counted):
    backend, counter = counted
    embedder = CountingEmbedder(dim=16)
    cache = manager(backend, embedder=embedder)
    cache.set("warm up", "x")
    assert cache.set("what is redis", "A")
    counter.take()
    assert cache.get("tell me about valkey") is None
    assert counter.take() == 2, "vector unknown: exact miss (no embedding), then embed and search"
    assert cache.get("tell me about valkey") is None
    assert counter.take() == 1, "the embedding cache knows the vector now: one script"
    assert cache.get("what is redis") == "A"
    assert counter.take() == 1, "exact hit (the vector was cached by set: one script all the same)"
    assert embedder.texts_embedded == 3  # warm up, what is redis, tell me about valkey: each once
    stats = cache.get_statistics()
    assert (stats["exact_hits"], stats["misses"]) == (1, 2)


def test_round_trips_with_an_accept_callback(counted):
    backend, counter = counted
    rng = np.random.default_rng(1)
    v = unit(rng, 16)
    verdicts = []

    def accept(query, candidate, similarity):
        verdicts.append((query, candidate, round(similarity, 3)))
        return query != "reject me" and (query, candidate) != ("not the nearest", "stored")

    cache = manager(backend, verifier=accept, guards=())
    cache.set("stored", "S", embedding=v)
    counter.take()
    assert cache.get("accept me", embedding=near(v, 0.95, rng)) == "S"
    assert counter.take() == 1, "vetted semantic hit: exact check, search and an optimistic touch in one script"
    assert cache.get("reject me", embedding=near(v, 0.95, rng)) is None
    assert counter.take() == 2, "vetoed: the script's hit, then its count moved to the misses"
    assert [v[:2] for v in verdicts] == [("accept me", "stored"), ("reject me", "stored")]
    stats = cache.get_statistics()
    assert (stats["semantic_hits"], stats["misses"]) == (1, 1)

    cache.set("second", "T", embedding=near(v, 0.93, rng))
    verdicts.clear()
    counter.take()
    assert cache.get("not the nearest", embedding=v) == "T"
    assert counter.take() == 3, "nearest vetoed: its hit moved to the misses, then the next one touched (touch.lua)"
    assert [v[:2] for v in verdicts] == [("not the nearest", "stored"), ("not the nearest", "second")]
    stats = cache.get_statistics()
    assert (stats["semantic_hits"], stats["misses"]) == (2, 1)


def test_lookup_with_a_known_vector_is_one_round_trip(counted):
    """lookup() (the quality API) makes the exact check and lists its candidates in one script."""
    backend, counter = counted
    rng = np.random.default_rng(2)
    v = unit(rng, 16)
    cache = manager(backend)
    cache.set("stored", "S", embedding=v)
    counter.take()
    found = cache.lookup("stored", embedding=v)
    assert (found.hit, found.kind, found.response) == (True, "exact", "S")
    assert counter.take() == 1, "exact hit"
    found = cache.lookup("close", embedding=near(v, 0.95, rng))
    assert (found.hit, found.kind, round(found.similarity, 3)) == (True, "semantic", 0.95)
    assert counter.take() == 1, "semantic hit"
    found = cache.lookup("far", embedding=near(v, 0.7, rng))
    assert (found.hit, found.candidate_prompt, round(found.similarity, 3)) == (False, "stored", 0.7)
    assert counter.take() == 1, "miss that still names the nearest candidate"
    stats = cache.get_statistics()
    assert (stats["exact_hits"], stats["semantic_hits"], stats["misses"]) == (1, 1, 1)


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


# -- batching: every figure of the table in docs/design.md ---------------------------------


def warm_up(backend, counter):
    """Connect, create the index, load the scripts and write once: setup, not counted.

    The first write of a fresh cache takes sequence number 1, which also follows a
    FLUSHALL; the backend then checks its index (2 more round trips, once).
    """
    warm = bulk(1, stem="warm up")
    backend.store_many(warm)
    backend.delete_keys([warm[0][0].key])
    backend.size()
    counter.take()


def test_store_many_is_one_round_trip_per_200_entries(counted):
    backend, counter = counted
    warm_up(backend, counter)
    assert backend.store_many(bulk(450)) == 450
    assert counter.take() == 3, "450 entries: pipelines of 200, 200 and 50"
    assert backend.size() == 450
    assert manager(backend).get("bulk 449") == 449


def test_set_many_with_precomputed_vectors_is_one_round_trip_per_200_entries(counted):
    backend, counter = counted
    warm_up(backend, counter)
    cache = manager(backend)
    rng = np.random.default_rng(7)
    vectors = np.stack([unit(rng, 16) for _ in range(450)])
    pairs = [(f"bulk q{i}", i) for i in range(450)]
    with pytest.raises(DimensionMismatchError):
        cache.set_many(pairs, embeddings=vectors[:, :15])
    with pytest.raises(EmbeddingCountError):
        cache.set_many(pairs, embeddings=vectors[:449])
    assert counter.take() == 0, "bad input: refused before any I/O"
    assert cache.set_many(pairs, embeddings=vectors) == 450
    assert counter.take() == 3, "450 entries: pipelines of 200, 200 and 50 (store scripts of 40 entries)"
    assert cache.get("a paraphrase", embedding=near(vectors[321], 0.95, rng)) == 321
    assert backend.size() == 450


def test_invalidate_keys_is_one_round_trip_per_500_ids(counted):
    backend, counter = counted
    backend.store_many(bulk(1200))
    cache = manager(backend, enable_semantic=False)
    counter.take()
    keys = [make_cache_key(f"bulk {i}") for i in range(1200)]
    assert cache.invalidate(keys=[*keys, "not an entry id"]) == 1200
    assert counter.take() == 3, "1,200 ids: deletes of 500, 500 and 200"
    assert backend.size() == 0
    assert backend.counters()["invalidations"] == 1200


def test_a_sweep_is_one_round_trip_per_page_plus_one(counted):
    backend, counter = counted
    backend.store_many(bulk(1200, tags=["t"]))
    counter.take()
    assert backend.delete_tags(["t"]) == 1200
    assert counter.take() == 4, "pages of 500, 500, 200 (each read carrying the previous page's delete), last delete"
    assert backend.size() == 0
    backend.store_many(bulk(30, stem="v"))
    counter.take()
    assert backend.delete_version("v1") == 30
    assert counter.take() == 2, "one page: read (with the seq snapshot), then its delete"
    assert backend.delete_version("v1") == 0
    assert counter.take() == 1, "no match: one read"


def test_a_pattern_sweep_also_reads_the_long_prompts(counted):
    backend, counter = counted
    backend.store_many(bulk(30, stem="p") + bulk(5, stem="q"))
    counter.take()
    assert backend.delete_pattern("p *") == 30
    assert counter.take() == 2, "short prompts' page (+ seq snapshot), then the long prompts' page with its delete"
    assert backend.delete_pattern("exactly this") == 0
    assert counter.take() == 1, "a glob without a '*' cannot match a long prompt: one read"
    assert backend.size() == 5


def test_clear_is_its_sweep_plus_one_report(counted):
    backend, counter = counted
    backend.store_many(bulk(1200))
    counter.take()
    backend.clear()
    assert counter.take() == 5, "three pages + the last delete, then one report settling expiries"
    assert backend.size() == 0


def test_a_store_needing_more_than_one_eviction_batch(counted, redis_url):
    """Another instance (unbounded) filled the cache to 1,123; this one has max_size 10.

    One store evicts at most 64 and reports that the cache is still over its size;
    the backend then trims (1,024 per call) until it is not: here 1 + 2 round trips
    (1,050 over after the store: one trim of 1,024 leaves 26).
    """
    backend, counter = counted
    backend.configure(max_size=10, eviction_strategy=CacheStrategy.FIFO, sliding_ttl=False)
    warm_up(backend, counter)  # applies the lowered size: nothing pending from here on
    other = RedisCacheBackend(url=redis_url, name=backend.name, max_size=None)
    assert other.store_many(bulk(1123)) == 1123
    other.close()
    cache = manager(backend, enable_semantic=False)
    assert cache.set("newest", "kept")
    assert counter.take() == 3, "store (64 evicted, still over) + 2 trims (1,024, then the last 26)"
    assert backend.size() == 10
    assert counter.take() == 1, "size: nothing left to trim"
    assert backend.counters()["evictions"] == 1114
    assert cache.get("newest") == "kept" and cache.get("bulk 1122") == 1122  # FIFO kept the newest
    assert cache.get("bulk 1113") is None
    counter.take()
    assert cache.set("one more", "x")
    assert counter.take() == 1, "a store evicting one entry: one round trip"
    assert backend.size() == 10


def test_lock_and_flight_status_are_one_round_trip_each(counted):
    backend, counter = counted
    warm_up(backend, counter)
    key = make_cache_key("q")
    assert backend.acquire_lock(key, "me", 5.0) is True
    assert counter.take() == 1, "acquire_lock: SET NX PX"
    assert backend.flight_status(key, None) == (None, True)
    assert counter.take() == 1, "flight_status"
    assert backend.release_lock(key, "me") is True
    assert counter.take() == 1, "release_lock"
    cache = manager(backend, enable_semantic=False)
    assert cache.get_or_compute("q", lambda: "computed") == "computed"
    assert counter.take() == 6, "miss, lock, flight status, the outcome's count, store, release"
    assert cache.get_or_compute("q", lambda: "not called") == "computed"
    assert counter.take() == 1, "a hit: the exact lookup alone"


def test_set_many_sends_one_round_trip_per_batch(counted):
    """1,000 entries are 5 pipelined store_many batches of STORE_MANY_BATCH, not 1,000 round trips."""
    backend, counter = counted
    cache = manager(backend)
    cache.set("warm up", "x", embedding=np.ones(16, dtype=np.float32))  # setup, not counted
    counter.take()
    assert cache.set_many([(f"prompt {i}", i) for i in range(1000)]) == 1000
    assert counter.take() == 1000 // STORE_MANY_BATCH
    assert cache.get("prompt 999") == 999 and cache.get_statistics()["cache_size"] == 1001
