"""Async behaviour and stampede protection on the in-memory backend."""

from __future__ import annotations

import asyncio
import threading

import pytest

from redis_semcache import InMemoryCacheBackend, LLMCachingManager, make_cache_key
from redis_semcache.singleflight import FlightPolicy

from ..fakes import CountingEmbedder

FAST = FlightPolicy(lock_ttl=5, wait_timeout=5, initial_backoff=0.001, max_backoff=0.01)


def make(**kwargs):
    kwargs.setdefault("embedder", None)
    return LLMCachingManager(InMemoryCacheBackend(), flight_policy=FAST, **kwargs)


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


def test_fifty_tasks_compute_once():
    calls = 0

    async def compute():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return "the answer"

    async def main():
        cache = make()
        results = await asyncio.gather(*(cache.aget_or_compute("same prompt", compute) for _ in range(50)))
        return cache, results

    cache, results = asyncio.run(main())
    assert calls == 1
    assert results == ["the answer"] * 50
    assert cache.get("same prompt") == "the answer"


def test_threads_compute_once():
    calls = 0
    calls_lock = threading.Lock()
    start = threading.Barrier(16)

    def compute():
        nonlocal calls
        with calls_lock:
            calls += 1
        threading.Event().wait(0.05)
        return {"answer": 42}

    cache = make()
    results: list = []

    def worker():
        start.wait()
        results.append(cache.get_or_compute("shared", compute, model="gpt-4"))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == 1 and results == [{"answer": 42}] * 16


def test_failing_compute_reaches_its_caller_caches_nothing_and_frees_waiters():
    attempts = 0

    async def compute():
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.02)
        if attempts == 1:
            raise RuntimeError("LLM timed out")
        return "second try"

    async def main():
        cache = make()
        outcomes = await asyncio.gather(
            *(cache.aget_or_compute("q", compute) for _ in range(5)), return_exceptions=True
        )
        return cache, outcomes

    cache, outcomes = asyncio.run(main())
    errors = [o for o in outcomes if isinstance(o, RuntimeError)]
    assert len(errors) == 1 and str(errors[0]) == "LLM timed out"
    assert [o for o in outcomes if not isinstance(o, Exception)] == ["second try"] * 4
    assert attempts == 2
    assert cache.backend.flight_status(make_cache_key("q"), None)[1] is False  # lock released


def test_compute_error_alone_caches_nothing():
    cache = make()
    with pytest.raises(ValueError):
        cache.get_or_compute("q", lambda: (_ for _ in ()).throw(ValueError("boom")))
    assert cache.get("q") is None
    assert cache.get_or_compute("q", lambda: "ok") == "ok"


def test_waiter_gives_up_after_timeout_and_computes():
    cache = LLMCachingManager(
        InMemoryCacheBackend(),
        embedder=None,
        flight_policy=FlightPolicy(lock_ttl=60, wait_timeout=0.05, initial_backoff=0.005, max_backoff=0.01),
    )
    assert cache.backend.acquire_lock(make_cache_key("q"), "a crashed holder", 60)
    assert cache.get_or_compute("q", lambda: "computed myself") == "computed myself"


def test_crashed_holders_lock_expires():
    from ..fakes import FakeClock

    clock = FakeClock()
    backend = InMemoryCacheBackend(clock=clock)
    cache = LLMCachingManager(backend, embedder=None, flight_policy=FAST)
    key = make_cache_key("q")
    assert backend.acquire_lock(key, "crashed", 5)
    assert not backend.acquire_lock(key, "me", 5)
    clock.advance(5.1)
    assert backend.acquire_lock(key, "me", 5)
    assert not backend.release_lock(key, "crashed")  # a stale holder cannot release someone else's lock
    assert backend.release_lock(key, "me")
    assert cache.get_or_compute("q", lambda: "v") == "v"


def test_decorator_sync_and_async():
    cache = make()
    calls = []

    @cache.cached(model="gpt-4", temperature=0)
    def ask(prompt, client="stub"):
        calls.append(prompt)
        return f"{client}: {prompt}"

    @cache.cached(model="gpt-4")
    async def aask(prompt):
        calls.append("async " + prompt)
        return f"async: {prompt}"

    assert ask("hi") == "stub: hi" and ask("hi") == "stub: hi"
    assert asyncio.run(aask("yo")) == "async: yo" and asyncio.run(aask("yo")) == "async: yo"
    assert calls == ["hi", "async yo"]
    assert cache.get("hi", model="gpt-4", temperature=0) == "stub: hi"
    assert ask.__name__ == "ask" and asyncio.iscoroutinefunction(aask)
