"""The backend contract on Redis: through the sync API, the async API, and the
async API of a backend given only a ``redis.asyncio`` client - where any hidden
fallback to the blocking client would raise ConfigurationError."""

from __future__ import annotations

import pytest
import redis.asyncio

from redis_semcache.backends.redis import RedisCacheBackend

from ..chat_contract import ChatContract
from ..contract import CacheContract
from ..contract_caches import contract_caches
from ..quality_contract import EXACT_SIMILARITIES, QualityContract


@pytest.fixture(params=["sync", "async", "async-client-only"])
def make_cache(request, redis_url, clock, cache_names):
    def build(**settings):
        given = redis.asyncio.Redis.from_url(redis_url) if request.param == "async-client-only" else None
        connection: dict = {"url": redis_url} if given is None else {"async_client": given}
        backend = RedisCacheBackend(
            **connection, name=cache_names.new(), clock=clock, **settings, **getattr(request.cls, "backend_options", {})
        )
        return backend, () if given is None else (given,)

    yield from contract_caches(request.param, build, strict=True)


class TestRedisContract(CacheContract):
    pass


class TestRedisChatContract(ChatContract):
    pass


class TestRedisQualityContract(QualityContract):
    backend_options = EXACT_SIMILARITIES
