"""The backend contract on the in-memory backend, through the sync and the async API."""

from __future__ import annotations

import pytest

from redis_semcache import InMemoryCacheBackend

from ..chat_contract import ChatContract
from ..contract import CacheContract
from ..contract_caches import contract_caches
from ..fakes import FakeClock
from ..quality_contract import QualityContract


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture(params=["sync", "async"])
def make_cache(request, clock):
    def build(**settings):
        return InMemoryCacheBackend(**settings, clock=clock), ()

    yield from contract_caches(request.param, build, strict=False)


class TestInMemoryContract(CacheContract):
    pass


class TestInMemoryChatContract(ChatContract):
    pass


class TestInMemoryQualityContract(QualityContract):
    pass
