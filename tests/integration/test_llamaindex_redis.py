"""CachedLLM on Redis (tests/llamaindex_contract.py)."""

from __future__ import annotations

import pytest

from redis_semcache import LLMCachingManager, RedisCacheBackend

from ..fakes import CountingEmbedder
from ..llamaindex_contract import LlamaIndexContract


@pytest.fixture
def new_cache(redis_url, cache_names):
    made: list[LLMCachingManager] = []

    def make() -> LLMCachingManager:
        # generous timeouts: 8 concurrent callers open connections on a busy machine (strict: errors fail the test)
        backend = RedisCacheBackend(
            url=redis_url, name=cache_names.new("llamaindex"), socket_timeout=10, socket_connect_timeout=10
        )
        made.append(LLMCachingManager(backend, enable_semantic=True, embedder=CountingEmbedder(),
                                      semantic_threshold=0.95, strict=True))  # fmt: skip
        return made[-1]

    yield make
    for cache in made:
        cache.close()


class TestLlamaIndexOnRedis(LlamaIndexContract):
    pass
