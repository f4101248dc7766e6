"""Index setup under contention and while the server is still indexing.

Both run on a dedicated redis-server: ``CLIENT PAUSE WRITE`` holds every
FT.CREATE (a write) while reads go on, so two instances deterministically
both find no index and both create it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import redis

from redis_semcache import BackendError, LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend

from ..entries import bulk
from ..redis_server import LocalRedis


@pytest.fixture
def own_redis() -> Iterator[LocalRedis]:
    with LocalRedis() as server:
        yield server


def wait_for(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_two_instances_creating_the_index_at_once_both_carry_on(own_redis):
    admin = redis.Redis(port=own_redis.port)
    first, second = (RedisCacheBackend(url=own_redis.url, name="race", dimension=8) for _ in range(2))
    errors: list[BaseException] = []

    def start(backend: RedisCacheBackend) -> None:
        try:
            backend.size()  # the first operation: FT._LIST (empty), then FT.CREATE
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    admin.execute_command("CLIENT", "PAUSE", 30_000, "WRITE")
    threads = [threading.Thread(target=start, args=(b,)) for b in (first, second)]
    try:
        for t in threads:
            t.start()

        def both_creating() -> bool:
            return sum(c.get("cmd") == "FT.CREATE" and "b" in c["flags"] for c in admin.client_list()) == 2

        wait_for(both_creating, "both instances to send FT.CREATE")
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    assert [i.decode() for i in admin.execute_command("FT._LIST")] == ["semcache:{race:0}:idx:s2:d8:flat:f16"]
    caches = [LLMCachingManager(b, embedder=None, strict=True, enable_semantic=True) for b in (first, second)]
    v = np.ones(8)
    assert caches[0].set("q", "from the first", embedding=v)
    assert caches[1].get("a paraphrase", embedding=v) == "from the first"


def test_an_index_still_scanning_after_the_timeout_fails_the_write_then_serves(own_redis):
    """The first vector creates the vector index over 30,000 existing entries; the backend waits
    for the scan at most INDEXING_TIMEOUT (here 0 s: any wait is too long), and fails that write."""
    backend = RedisCacheBackend(url=own_redis.url, name="scan", max_size=None)
    assert backend.store_many(bulk(30_000)) == 30_000  # no vectors yet: an index without a vector field
    cache = LLMCachingManager(backend, embedder=None, strict=True, enable_semantic=True)
    backend.partition.INDEXING_TIMEOUT = 0.0
    v = np.ones(8)
    with pytest.raises(BackendError, match="still indexing after 0 s"):
        cache.set("first vector", "V", embedding=v)
    del backend.partition.INDEXING_TIMEOUT  # back to the default (60 s)
    assert cache.set("first vector", "V", embedding=v)
    assert cache.get("a paraphrase", embedding=v) == "V"
    assert cache.get("bulk 29999") == 29999  # the scan covered what was there before
    assert backend.index_name == "semcache:{scan:0}:idx:s2:d8:flat:f16"
    admin = redis.Redis(port=own_redis.port)
    assert [i.decode() for i in admin.execute_command("FT._LIST")] == [backend.index_name]  # d0 dropped


def test_the_first_write_after_flushall_recreates_the_index(own_redis):
    """No lookup in between: the store itself notices (its write counter restarted at 1)."""
    admin = redis.Redis(port=own_redis.port)
    backend = RedisCacheBackend(url=own_redis.url, name="flushed", dimension=8)
    cache = LLMCachingManager(backend, embedder=None, strict=True, enable_semantic=True)
    v = np.ones(8)
    assert cache.set("before", "B", embedding=v) and cache.set("again", "A", embedding=-v)
    admin.flushall()
    assert cache.set("after", "C", embedding=v)
    assert [i.decode() for i in admin.execute_command("FT._LIST")] == ["semcache:{flushed:0}:idx:s2:d8:flat:f16"]
    assert cache.get("a paraphrase", embedding=v) == "C"
