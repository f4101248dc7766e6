"""cached_openai over Redis: two app instances share answers, streamed or not."""

from __future__ import annotations

import asyncio

import openai

from redis_semcache import LLMCachingManager, RedisCacheBackend
from redis_semcache.integrations.openai import cached_openai

from ..fakes import CountingEmbedder
from ..openai_server import OpenAIServer

QUESTION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is Redis?"}]


def test_instances_share_answers_through_redis(redis_url, cache_names):
    name = cache_names.new("openai")
    managers = [
        LLMCachingManager(
            RedisCacheBackend(url=redis_url, name=name), enable_semantic=True, embedder=CountingEmbedder()
        )
        for _ in range(2)
    ]
    with OpenAIServer() as server:
        raw = openai.OpenAI(base_url=server.base_url, api_key="t", max_retries=0)
        first, second = (cached_openai(raw, m) for m in managers)
        streamed = "".join(
            c.choices[0].delta.content or ""
            for c in first.chat.completions.create(model="m", messages=QUESTION, stream=True)
            if c.choices
        )
        hit = second.chat.completions.create(model="m", messages=QUESTION)
        assert hit.choices[0].message.content == streamed == "answer to: What is Redis?"

        async def from_async_client() -> str:
            client = cached_openai(openai.AsyncOpenAI(base_url=server.base_url, api_key="t"), managers[1])
            reply = await client.chat.completions.create(model="m", messages=QUESTION, temperature=None)
            return str(reply.choices[0].message.content)

        assert asyncio.run(from_async_client()) == streamed
        assert server.calls == 1
        raw.close()
    for m in managers:
        m.close()
