"""The backend contract on Redis: through the sync API, the async API, and the
async API of a backend given only a ``redis.asyncio`` client - where any hidden
fallback to the blocking client would raise ConfigurationError."""

from __future__ import annotations

import pytest
import redis.asyncio

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend

from ..chat_contract import ChatContract
from ..contract import CacheContract
from ..quality_contract import EXACT_SIMILARITIES, QualityContract
from ..sync_via_async import SyncViaAsync


@pytest.fixture(params=["sync", "async", "async-client-only"])
def make_cache(request, redis_url, clock, cache_names):
    made: list = []

    def make(*, max_size=1000, eviction_strategy="lru", embedder=None, **kwargs):
        given = redis.asyncio.Redis.from_url(redis_url) if request.param == "async-client-only" else None
        connection: dict = {"url": redis_url} if given is None else {"async_client": given}
        backend = RedisCacheBackend(
            **connection, name=cache_names.new(), max_size=max_size, eviction_strategy=eviction_strategy,
            clock=clock, **getattr(request.cls, "backend_options", {}),
        )  # fmt: skip
        # strict: a backend error must fail the test, not pass as a miss.
        manager = LLMCachingManager(backend, embedder=embedder, strict=True, **kwargs)
        if request.param == "sync":
            made.append(manager)
        else:
            made.append(SyncViaAsync(manager, closing=() if given is None else (given,)))
        return made[-1]

    yield make
    for cache in made:
        cache.close()


class TestRedisContract(CacheContract):
    pass


class TestRedisChatContract(ChatContract):
    pass


class TestRedisQualityContract(QualityContract):
    backend_options = EXACT_SIMILARITIES
