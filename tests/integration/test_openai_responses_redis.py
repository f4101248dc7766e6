"""The Responses API through cached_openai on Redis (tests/responses_contract.py)."""

from __future__ import annotations

import pytest

from redis_semcache import LLMCachingManager, RedisCacheBackend

from ..fakes import CountingEmbedder
from ..responses_contract import ResponsesContract


@pytest.fixture
def new_cache(redis_url, cache_names):
    made: list[LLMCachingManager] = []

    def make() -> LLMCachingManager:
        backend = RedisCacheBackend(url=redis_url, name=cache_names.new("responses"))
        made.append(LLMCachingManager(backend, enable_semantic=True, embedder=CountingEmbedder(),
                                      semantic_threshold=0.95, strict=True))  # fmt: skip
        return made[-1]

    yield make
    for cache in made:
        cache.close()


class TestResponsesOnRedis(ResponsesContract):
    pass
