"""LangChain's standard cache suites against LangChainCache on a real Redis, and the
end-to-end chat model test with the real embedding model."""

from __future__ import annotations

import pytest
import pytest_asyncio
from langchain_core.globals import set_llm_cache
from langchain_core.language_models import FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_tests.integration_tests import AsyncCacheTestSuite, SyncCacheTestSuite

from redis_semcache import LLMCachingManager, RedisCacheBackend
from redis_semcache.integrations.langchain import LangChainCache

from ..fakes import CountingEmbedder


def redis_manager(redis_url: str, cache_names, **kwargs) -> LLMCachingManager:
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new("lc"))
    options = {"enable_semantic": True, "embedder": CountingEmbedder(), "semantic_threshold": 0.95, **kwargs}
    return LLMCachingManager(backend, strict=True, **options)


class TestRedisSyncCacheSuite(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self, redis_url, cache_names):
        manager = redis_manager(redis_url, cache_names)
        yield LangChainCache(manager)
        manager.close()


@pytest.mark.asyncio
class TestRedisAsyncCacheSuite(AsyncCacheTestSuite):
    @pytest_asyncio.fixture
    async def cache(self, redis_url, cache_names):
        manager = redis_manager(redis_url, cache_names)
        yield LangChainCache(manager)
        await manager.aclose()


@pytest.mark.model
def test_set_llm_cache_on_redis_keeps_questions_apart(builtin_embedder, redis_url, cache_names):
    manager = redis_manager(redis_url, cache_names, embedder=builtin_embedder, semantic_threshold=0.92)
    set_llm_cache(LangChainCache(manager))
    try:
        model = FakeListChatModel(responses=["Paris", "Berlin", "unused"])
        system = SystemMessage("You are a geography tutor. Answer with one word.")

        def ask(question: str) -> str:
            return str(model.invoke([system, HumanMessage(question)]).content)

        assert ask("What is the capital of France?") == "Paris"
        assert ask("What is the capital of Germany?") == "Berlin"
        assert ask("What's the capital city of France?") == "Paris"
        assert ask("Tell me the capital of Germany.") == "Berlin"
        assert model.i == 2
        assert manager.get_statistics()["semantic_hits"] == 2
    finally:
        set_llm_cache(None)
        manager.close()
