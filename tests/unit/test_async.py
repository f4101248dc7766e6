"""Async behaviour on the in-memory backend (single flight: test_singleflight.py)."""

from __future__ import annotations

import asyncio
import threading

from redis_semcache import InMemoryCacheBackend, LLMCachingManager

from ..fakes import CountingEmbedder


def make(**kwargs):
    kwargs.setdefault("embedder", None)
    return LLMCachingManager(InMemoryCacheBackend(), **kwargs)


def test_embedding_does_not_block_the_event_loop():
    loop_ran = threading.Event()

    class WaitsForTheLoop(CountingEmbedder):
        def __call__(self, texts):
            # Only returns once the event loop has run another task meanwhile.
            assert loop_ran.wait(timeout=5), "event loop was blocked during embedding"
            return super().__call__(texts)

    async def main():
        cache = make(enable_semantic=True, embedder=WaitsForTheLoop())

        async def other_task():
            for _ in range(3):
                await asyncio.sleep(0.001)
            loop_ran.set()

        result, _ = await asyncio.gather(cache.aget("a prompt that needs embedding"), other_task())
        return result

    assert asyncio.run(main()) is None
    assert loop_ran.is_set()
