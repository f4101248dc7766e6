"""The backend contract on Redis, through the sync and the async API."""

from __future__ import annotations

import pytest

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend

from ..contract import CacheContract
from ..sync_via_async import SyncViaAsync


@pytest.fixture(params=["sync", "async"])
def make_cache(request, redis_url, clock, cache_names):
    made: list = []

    def make(*, max_size=1000, eviction_strategy="lru", embedder=None, **kwargs):
        backend = RedisCacheBackend(
            url=redis_url, name=cache_names.new(), max_size=max_size, eviction_strategy=eviction_strategy, clock=clock
        )
        # strict: a backend error must fail the test, not pass as a miss.
        manager = LLMCachingManager(backend, embedder=embedder, strict=True, **kwargs)
        made.append(manager if request.param == "sync" else SyncViaAsync(manager))
        return made[-1]

    yield make
    for cache in made:
        cache.close()


class TestRedisContract(CacheContract):
    pass
