"""An index still scanning existing keys is not ready for sweeps, in any process.

After FT.DROPINDEX (or a restart that lost the index), the process that
recreates the index waits for RediSearch to scan the existing entries; any
other process used to find the index in FT._LIST and sweep a half-built index
at once, deleting only what had been scanned so far.

The scan is slowed by an HNSW vector field (each insert walks the graph), so
the sweep starts while it is running; the test asserts that it is.
"""

from __future__ import annotations

import pytest
import redis

from redis_semcache import InvalidationError, LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.backends.redis.codec import parse_info
from redis_semcache.backends.redis.schema import VectorConfig, load_schema

from ..fakes import CountingEmbedder
from ..redis_server import LocalRedis

ENTRIES = 2000
DIM = 128


def backend_on(server: LocalRedis) -> RedisCacheBackend:
    return RedisCacheBackend(url=server.url, name="half", max_size=None, index_algorithm="HNSW", dimension=DIM)


def rebuild_index_elsewhere(server: LocalRedis, backend: RedisCacheBackend) -> redis.Redis:
    """Drop the index (keeping the entries) and create it again, as another process
    would, without waiting for the scan; returns the admin client."""
    admin = redis.Redis(port=server.port)
    name = backend.index_name
    assert name is not None
    admin.execute_command("FT.DROPINDEX", name)
    part = backend.partition
    vector = VectorConfig(dim=DIM, algorithm="HNSW", m=16, ef_construction=200, dtype="FLOAT16")
    admin.execute_command("FT.CREATE", *load_schema().create_args(name, part._prefix, vector))
    assert int(parse_info(admin.execute_command("FT.INFO", name))["indexing"]), "the scan finished too soon"
    return admin


def filled(server: LocalRedis) -> RedisCacheBackend:
    backend = backend_on(server)
    cache = LLMCachingManager(backend, embedder=CountingEmbedder(DIM), enable_semantic=True)
    pairs = [(f"prompt {i} word{i % 97} other{i % 89}", i) for i in range(ENTRIES)]
    assert cache.set_many(pairs, tags=["T"]) == ENTRIES
    return backend


def test_another_process_waits_for_the_scan_before_it_sweeps(server):
    """Before: the sweep of the other process deleted only the entries scanned so far."""
    writer = filled(server)
    rebuild_index_elsewhere(server, writer)
    other = LLMCachingManager(backend_on(server), embedder=None)  # knows nothing of the rebuild
    assert other.invalidate(tags=["T"]) == ENTRIES
    assert other.get_statistics()["cache_size"] == 0


def test_a_scan_that_outlasts_the_bound_is_an_error_that_says_so(server):
    writer = filled(server)
    rebuild_index_elsewhere(server, writer)
    backend = backend_on(server)
    backend.partition.INDEXING_TIMEOUT = 0.0
    other = LLMCachingManager(backend, embedder=None)
    with pytest.raises(InvalidationError, match="still indexing") as failed:
        other.invalidate(tags=["T"])
    assert failed.value.deleted == 0
