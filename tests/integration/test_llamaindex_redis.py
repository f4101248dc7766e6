"""CachedLLM on Redis (tests/llamaindex_contract.py)."""

from __future__ import annotations

import pytest

from ..llamaindex_contract import LlamaIndexContract
from ..redis_caches import client_contract_caches


@pytest.fixture
def new_cache(redis_url, cache_names):
    yield from client_contract_caches(redis_url, cache_names, "llamaindex")


class TestLlamaIndexOnRedis(LlamaIndexContract):
    pass
