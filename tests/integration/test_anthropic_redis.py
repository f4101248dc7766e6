"""cached_anthropic on Redis (the contract: tests/anthropic_contract.py)."""

from __future__ import annotations

import pytest

from redis_semcache import LLMCachingManager, RedisCacheBackend

from ..anthropic_contract import AnthropicContract
from ..fakes import CountingEmbedder


@pytest.fixture
def new_cache(redis_url, cache_names):
    made: list[LLMCachingManager] = []

    def make() -> LLMCachingManager:
        # generous timeouts: 8 concurrent callers open connections on a busy machine (strict: errors fail the test)
        backend = RedisCacheBackend(
            url=redis_url, name=cache_names.new("anthropic"), socket_timeout=10, socket_connect_timeout=10
        )
        made.append(LLMCachingManager(backend, enable_semantic=True, embedder=CountingEmbedder(),
                                      semantic_threshold=0.95, strict=True))  # fmt: skip
        return made[-1]

    yield make
    for cache in made:
        cache.close()


class TestAnthropicOnRedis(AnthropicContract):
    pass
