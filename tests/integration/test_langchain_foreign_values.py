"""A foreign or malformed value under a LangChain entry's key is a miss, logged and counted.

Anyone who can write the shared cache could otherwise break every LangChain
call for that prompt (a real Redis; the values are written as any other
caller of the cache would write them).
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from langchain_core.load import dumps
from langchain_core.outputs import Generation

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.integrations.langchain import LangChainCache, _request

PROMPT, LLM = "What is 2 + 2?", "fake-llm"

FOREIGN = {
    "not JSON (JSONDecodeError)": "this is not json",
    "a JSON object": json.dumps({"a": 1}),
    "a JSON list of plain values": json.dumps(["a", 1]),
    "a dict response": {"a": 1},
    "a not_implemented record (NotImplementedError)": json.dumps(
        {"lc": 1, "type": "not_implemented", "id": ["x", "Y"], "repr": "Y()"}
    ),
    "a class outside the allow-list (ValueError)": json.dumps(
        {"lc": 1, "type": "constructor", "id": ["langchain", "llms", "openai", "OpenAI"], "kwargs": {}}
    ),
    "a serialised message, not a list": dumps(Generation(text="4")),
}


@pytest.mark.parametrize("value", list(FOREIGN.values()), ids=list(FOREIGN))
def test_a_foreign_value_is_a_counted_miss(redis_url, cache_names, value, caplog):
    manager = LLMCachingManager(RedisCacheBackend(url=redis_url, name=cache_names.new()))
    llm_cache = LangChainCache(manager)
    assert manager.set(response=value, **_request(PROMPT, LLM))
    with caplog.at_level(logging.WARNING, logger="redis_semcache"):
        assert llm_cache.lookup(PROMPT, LLM) is None
    assert manager.get_statistics()["errors"] == 1
    assert "unreadable cached value" in caplog.text
    llm_cache.update(PROMPT, LLM, [Generation(text="4")])  # a good value replaces it
    assert llm_cache.lookup(PROMPT, LLM) == [Generation(text="4")]
    manager.close()


def test_async_lookup_misses_too(redis_url, cache_names):
    async def scenario() -> None:
        manager = LLMCachingManager(RedisCacheBackend(url=redis_url, name=cache_names.new()))
        llm_cache = LangChainCache(manager)
        await manager.aset(response=json.dumps({"a": 1}), **_request(PROMPT, LLM))
        assert await llm_cache.alookup(PROMPT, LLM) is None
        assert manager.get_statistics()["errors"] == 1
        await manager.aclose()

    asyncio.run(scenario())
