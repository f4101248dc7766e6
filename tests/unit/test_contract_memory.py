"""The backend contract on the in-memory backend."""

from __future__ import annotations

import pytest

from redis_semcache import InMemoryCacheBackend, LLMCachingManager

from ..contract import CacheContract
from ..fakes import FakeClock


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def make_cache(clock):
    def make(*, max_size=1000, eviction_strategy="lru", embedder=None, **kwargs):
        backend = InMemoryCacheBackend(max_size=max_size, eviction_strategy=eviction_strategy, clock=clock)
        return LLMCachingManager(backend, embedder=embedder, **kwargs)

    return make


class TestInMemoryContract(CacheContract):
    pass
