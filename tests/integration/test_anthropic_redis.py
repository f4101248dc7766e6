"""cached_anthropic on Redis (the contract: tests/anthropic_contract.py)."""

from __future__ import annotations

import pytest

from ..anthropic_contract import AnthropicContract
from ..redis_caches import client_contract_caches


@pytest.fixture
def new_cache(redis_url, cache_names):
    yield from client_contract_caches(redis_url, cache_names, "anthropic")


class TestAnthropicOnRedis(AnthropicContract):
    pass
