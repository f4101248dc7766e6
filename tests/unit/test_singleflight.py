"""Single flight (``get_or_compute``) on the in-memory backend: every unit test of it lives here.

What is looked up, locked and stored (scope, namespace, parameters, version,
TTL and tags), what happens when the backend fails at each step (the lock is
granted: computing beats waiting on a dead server), and what a waiter does
while another caller holds the lock; then many callers (threads, tasks) and one
compute, and how they are counted (tests/flight_counts.py).  On Redis:
tests/integration/test_singleflight_redis.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading

import pytest

from redis_semcache import (
    BackendUnavailableError,
    InMemoryCacheBackend,
    InvalidInputError,
    LLMCachingManager,
    create_in_memory_cache_manager,
    make_cache_key,
)
from redis_semcache.singleflight import FlightPolicy

from ..fakes import CountingEmbedder, FakeClock
from ..flight_counts import fifty_identical_calls

FAST = FlightPolicy(lock_ttl=5, wait_timeout=5, initial_backoff=0.001, max_backoff=0.01)
GAVE_UP = "redis_semcache: gave up waiting for another caller's compute; computing"


class Backend(InMemoryCacheBackend):
    """Counts lock calls; ``failing`` names methods that raise BackendUnavailableError."""

    blocking_io = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.failing: set[str] = set()
        self.acquires = 0

    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if name in {"acquire_lock", "release_lock", "flight_status", "lookup_exact", "store"}:

            def call(*args, **kwargs):
                if name == "acquire_lock":
                    self.acquires += 1
                if name in self.failing:
                    raise BackendUnavailableError("connection refused")
                return attr(*args, **kwargs)

            return call
        return attr


def make(backend=None, policy=FAST, **kwargs) -> LLMCachingManager:
    return LLMCachingManager(backend or Backend(), embedder=None, flight_policy=policy, circuit_breaker=None, **kwargs)


def test_compute_must_be_callable():
    with pytest.raises(InvalidInputError, match=r"^compute must be callable$"):
        make().get_or_compute("q", "not a function")


# Exploring (the quality control's rate > 0) runs get_or_compute through another plan: held to the same.
EXPLORING = {"explore": 1.0, "explore_rng": random.Random(0)}


@pytest.mark.parametrize("quality", [{}, EXPLORING], ids=["plain", "exploring"])
def test_what_is_computed_is_stored_in_its_scope_with_its_ttl_and_tags(quality):
    clock = FakeClock()
    cache = make(Backend(clock=clock), **quality)
    calls = []

    def compute():
        calls.append(1)
        return "v"

    options = {"ttl": 60, "tags": ["t"], "namespace": "ns", "temperature": 0}
    assert cache.get_or_compute("q", compute, model="m", **options) == "v"
    assert cache.get_or_compute("q", compute, model="m", **options) == "v"  # found: scope, namespace, params
    assert calls == [1]
    stats = cache.get_statistics()
    # the second call found it by its first lookup, not by the single flight's
    assert (stats["exact_hits"], stats["misses"], stats["single_flight_joins"]) == (1, 1, 0)
    assert cache.get("q", model="m", namespace="ns", temperature=0) == "v"
    assert cache.get("q", model="m", namespace="ns") is None and cache.get("q", model="m", temperature=0) is None
    clock.advance(61)
    assert cache.get("q", model="m", namespace="ns", temperature=0) is None  # its TTL
    assert cache.get_or_compute("q", compute, model="m", **options) == "v" and calls == [1, 1]
    assert cache.invalidate(tags=["t"]) == 1  # its tags


def test_an_entry_of_another_version_is_not_the_answer():
    cache = make(invalidation_strategy="versioned", cache_version="v2")  # lookups want version v2
    cache.set("q", "old", version="v1")
    assert cache.get("q") is None
    assert cache.get_or_compute("q", lambda: "new") == "new"
    assert cache.get("q") == "new"


def test_a_failing_backend_grants_the_lock_and_the_caller_computes_at_once(caplog):
    backend = Backend()
    backend.failing = {"lookup_exact", "acquire_lock", "flight_status", "release_lock", "store"}
    cache = make(backend, FlightPolicy(lock_ttl=5, wait_timeout=5, initial_backoff=0.001, max_backoff=0.01))
    with caplog.at_level(logging.WARNING, logger="redis_semcache"):
        assert cache.get_or_compute("q", lambda: "computed") == "computed"
    assert GAVE_UP not in caplog.text and backend.acquires == 1


def test_a_waiter_polls_without_retaking_a_held_lock_then_gives_up_and_stores(caplog):
    clock = FakeClock()
    backend = Backend(clock=clock)
    cache = make(backend, FlightPolicy(lock_ttl=60, wait_timeout=0.2, initial_backoff=0.01, max_backoff=0.02))
    from redis_semcache import make_cache_key

    assert backend.acquire_lock(make_cache_key("q", namespace="ns", temperature=1), "a crashed holder", 60)
    backend.acquires = 0
    with caplog.at_level(logging.WARNING, logger="redis_semcache"):
        assert cache.get_or_compute("q", lambda: "mine", namespace="ns", tags=["t"], ttl=30, temperature=1) == "mine"
    assert [r.getMessage() for r in caplog.records] == [GAVE_UP]
    assert backend.acquires == 1  # polls saw the lock held: no attempt to take it
    stats = cache.get_statistics()
    assert (stats["exact_hits"], stats["misses"], stats["single_flight_joins"]) == (0, 1, 0)  # it computed
    assert cache.get("q", namespace="ns", temperature=1) == "mine"  # stored in its scope,
    [top] = cache.get_top_entries(1)
    assert (top["expires_at"] - top["created_at"], top["tags"]) == (30, ["t"])  # with its TTL and tags


def test_a_backend_failing_while_a_waiter_polls_lets_it_compute_at_once(caplog):
    """The first attempt finds the lock held; then the backend fails: a failed status read counts as
    "no value, no lock", so the waiter takes over (the failed acquire grants it) rather than wait."""
    from redis_semcache import make_cache_key

    backend = Backend()
    assert backend.acquire_lock(make_cache_key("q"), "another caller", 60)
    held = InMemoryCacheBackend.acquire_lock.__get__(backend)  # the real one, not the failing wrapper

    def acquire_then_fail(*args, **kwargs):
        backend.failing = {"flight_status", "acquire_lock", "release_lock", "store"}  # from now on
        return held(*args, **kwargs)  # this first attempt: the lock is held

    backend.acquire_lock = acquire_then_fail  # type: ignore[method-assign]
    cache = make(backend, FlightPolicy(lock_ttl=60, wait_timeout=5, initial_backoff=0.001, max_backoff=0.01))
    with caplog.at_level(logging.WARNING, logger="redis_semcache"):
        assert cache.get_or_compute("q", lambda: "mine") == "mine"
    assert GAVE_UP not in caplog.text


def test_an_entry_stored_between_the_miss_and_the_lock_is_a_joined_hit():
    """Another caller stores the value after this one's lookup missed, just before it takes the lock:
    the value is served, not computed again, and counted as an exact hit joined, not a miss; the
    lock is released (else an invalidation's recompute would wait ``lock_ttl`` on it)."""
    backend = Backend()
    other = make(backend)
    take_lock = InMemoryCacheBackend.acquire_lock.__get__(backend)

    def store_first_then_lock(*args, **kwargs):
        assert other.set("q", "stored by another caller", model="m")
        return take_lock(*args, **kwargs)

    backend.acquire_lock = store_first_then_lock  # type: ignore[method-assign]
    cache = make(backend)
    assert cache.get_or_compute("q", lambda: "computed", model="m") == "stored by another caller"
    stats = cache.get_statistics()
    assert (stats["exact_hits"], stats["misses"], stats["single_flight_joins"]) == (1, 0, 1)
    assert take_lock(make_cache_key("q", model="m"), "the next caller", 5)  # the lock it took was released


# -- many callers, one compute ----------------------------------------------------------


def plain(**kwargs) -> LLMCachingManager:
    """A manager over the plain in-memory backend (no failing methods, async calls run inline)."""
    kwargs.setdefault("embedder", None)
    return LLMCachingManager(InMemoryCacheBackend(), flight_policy=FAST, **kwargs)


def test_fifty_tasks_compute_once():
    calls = 0

    async def compute():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return "the answer"

    async def main():
        cache = plain()
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

    cache = plain()
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
        cache = plain()
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
    cache = plain()
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
    cache = plain()
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


# -- how they are counted (tests/flight_counts.py) -------------------------------------------


def test_fifty_identical_calls_count_as_one_miss_and_joined_hits():
    fifty_identical_calls(create_in_memory_cache_manager())


@pytest.mark.parametrize("guards", ["default", None], ids=["vetted candidates", "best candidate"])
def test_fifty_identical_calls_count_the_same_with_semantic_lookups(guards):
    fifty_identical_calls(
        create_in_memory_cache_manager(enable_semantic=True, embedder=CountingEmbedder(), guards=guards)
    )
