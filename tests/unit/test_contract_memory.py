"""The backend contract on the in-memory backend, through the sync and the async API."""

from __future__ import annotations

import pytest

from redis_semcache import InMemoryCacheBackend, LLMCachingManager

from ..chat_contract import ChatContract
from ..contract import CacheContract
from ..fakes import FakeClock
from ..quality_contract import QualityContract
from ..sync_via_async import SyncViaAsync


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture(params=["sync", "async"])
def make_cache(request, clock):
    made: list[SyncViaAsync] = []

    def make(*, max_size=1000, eviction_strategy="lru", embedder=None, **kwargs):
        backend = InMemoryCacheBackend(max_size=max_size, eviction_strategy=eviction_strategy, clock=clock)
        manager = LLMCachingManager(backend, embedder=embedder, **kwargs)
        if request.param == "sync":
            return manager
        made.append(SyncViaAsync(manager))
        return made[-1]

    yield make
    for cache in made:
        cache.close()


class TestInMemoryContract(CacheContract):
    pass


class TestInMemoryChatContract(ChatContract):
    pass


class TestInMemoryQualityContract(QualityContract):
    pass
