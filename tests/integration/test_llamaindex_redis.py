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
        backend = RedisCacheBackend(url=redis_url, name=cache_names.new("llamaindex"))
        made.append(LLMCachingManager(backend, enable_semantic=True, embedder=CountingEmbedder(),
                                      semantic_threshold=0.95, strict=True))  # fmt: skip
        return made[-1]

    yield make
    for cache in made:
        cache.close()


class TestLlamaIndexOnRedis(LlamaIndexContract):
    pass
