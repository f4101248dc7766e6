"""Stampede protection across tasks and processes sharing one Redis: every Redis test of
single flight lives here (on the in-memory backend: tests/unit/test_singleflight.py).

``compute`` runs are counted with a Redis INCR, so runs in any process count.  The
last tests check that waiters count as hits in the shared counters (tests/flight_counts.py).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import signal
import time

import pytest
import redis

from redis_semcache import LLMCachingManager, make_cache_key
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.singleflight import FlightPolicy

from ..fakes import CountingEmbedder
from ..flight_counts import fifty_identical_calls

POLICY = FlightPolicy(lock_ttl=3, wait_timeout=20, initial_backoff=0.005, max_backoff=0.05)


def lock_key(name: str, entry_key: str) -> str:
    """The compute lock's key, as docs/design.md lays out a single Redis's keys (partition 0)."""
    return f"semcache:{{{name}:0}}:lock:{entry_key}"


def _manager(url: str, name: str, policy: FlightPolicy = POLICY) -> LLMCachingManager:
    return LLMCachingManager(RedisCacheBackend(url=url, name=name), embedder=None, flight_policy=policy, strict=True)


def _compute_in_process(url: str, name: str, counter: str, prompt: str, results: mp.Queue) -> None:
    cache = _manager(url, name)
    client = redis.Redis.from_url(url)

    def compute():
        client.incr(counter)
        time.sleep(0.5)
        return "from some process"

    results.put(cache.get_or_compute(prompt, compute, model="gpt-4"))


def _crashing_holder(url: str, name: str, counter: str, prompt: str, locked: mp.Event) -> None:
    cache = _manager(url, name)
    client = redis.Redis.from_url(url)

    def compute():
        client.incr(counter)
        locked.set()
        time.sleep(60)  # killed before it finishes

    cache.get_or_compute(prompt, compute, model="gpt-4")


def test_fifty_tasks_and_another_process_compute_once(redis_url, cache_names, redis_client):
    name, counter = cache_names.new("sf"), f"semcache:{{sf-test}}:counter:{os.getpid()}:{time.time_ns()}"
    ctx = mp.get_context("spawn")
    results: mp.Queue = ctx.Queue()
    other = ctx.Process(target=_compute_in_process, args=(redis_url, name, counter, "the prompt", results))
    other.start()

    async def main():
        cache = _manager(redis_url, name)

        async def compute():
            redis_client.incr(counter)
            await asyncio.sleep(0.5)
            return "from some process"

        await asyncio.sleep(0.3)  # let the other process start and race us
        return await asyncio.gather(*(cache.aget_or_compute("the prompt", compute, model="gpt-4") for _ in range(50)))

    try:
        answers = asyncio.run(main())
        assert answers == ["from some process"] * 50
        assert results.get(timeout=60) == "from some process"
        assert int(redis_client.get(counter)) == 1
    finally:
        other.join(timeout=30)
        redis_client.delete(counter)


def test_crashed_holder_lock_expires_and_a_waiter_takes_over(redis_url, cache_names, redis_client):
    name, counter = cache_names.new("sf"), f"semcache:{{sf-test}}:counter:crash:{time.time_ns()}"
    ctx = mp.get_context("spawn")
    locked = ctx.Event()
    holder = ctx.Process(target=_crashing_holder, args=(redis_url, name, counter, "crash prompt", locked))
    holder.start()
    try:
        assert locked.wait(timeout=60), "holder never started computing"
        os.kill(holder.pid, signal.SIGKILL)
        holder.join()
        # The dead holder's lock carries its TTL on the server ...
        assert 0 < redis_client.pttl(lock_key(name, make_cache_key("crash prompt", model="gpt-4"))) <= 3000
        cache = _manager(redis_url, name)
        started = time.monotonic()
        assert cache.get_or_compute("crash prompt", lambda: "recovered", model="gpt-4") == "recovered"
        waited = time.monotonic() - started
        # ... so a waiter takes over once it expires, long before it would give up waiting.
        assert waited < POLICY.wait_timeout
        assert int(redis_client.get(counter)) == 1  # the dead holder's run; ours is the second compute
        assert cache.get("crash prompt", model="gpt-4") == "recovered"
    finally:
        redis_client.delete(counter)


def test_failing_compute_caches_nothing_and_releases_the_lock(redis_url, cache_names):
    cache = _manager(redis_url, cache_names.new("sf"))

    def boom():
        raise TimeoutError("LLM timed out")

    try:
        cache.get_or_compute("q", boom)
    except TimeoutError as exc:
        assert str(exc) == "LLM timed out"
    else:
        raise AssertionError("compute's error did not reach its caller")
    assert cache.get("q") is None
    # the lock is free again: the next caller computes at once
    started = time.monotonic()
    assert cache.get_or_compute("q", lambda: "ok") == "ok"
    assert time.monotonic() - started < POLICY.lock_ttl


def test_the_compute_lock_expires_on_the_servers_clock(redis_url, cache_names, redis_client, caplog):
    caplog.set_level(logging.WARNING, logger="redis_semcache")
    name = cache_names.new("sf")
    backend = RedisCacheBackend(url=redis_url, name=name)
    key = make_cache_key("q")
    assert backend.acquire_lock(key, "holder", 2.5)
    assert 0 < redis_client.pttl(lock_key(name, key)) <= 2500
    assert not backend.acquire_lock(key, "another", 2.5)
    assert backend.flight_status(key, None) == (None, True)
    assert not backend.release_lock(key, "another")  # only the holder's token releases it
    assert backend.release_lock(key, "holder")
    assert redis_client.exists(lock_key(name, key)) == 0
    assert backend.flight_status(key, None) == (None, False)
    LLMCachingManager(backend, embedder=None, strict=True).set("q", "stored", version="v7")
    entry, locked = backend.flight_status(key, "v7")
    assert (entry.response, entry.version, locked) == ("stored", "v7", False)
    assert backend.flight_status(key, None)[0].response == "stored"
    assert backend.flight_status(key, "v8") == (None, False)  # another version: no value
    assert backend.flight_status(make_cache_key("other"), None) == (None, False)
    assert caplog.records == []  # nothing was taken for a malformed entry
    backend.close()


def test_get_or_compute_holds_a_lock_with_the_policys_ttl_while_computing(redis_url, cache_names, redis_client):
    name = cache_names.new("sf")
    cache = _manager(redis_url, name)
    key = make_cache_key("q", model="gpt-4")
    seen = []

    def compute():
        seen.append(redis_client.pttl(lock_key(name, key)))
        return "v"

    assert cache.get_or_compute("q", compute, model="gpt-4") == "v"
    assert len(seen) == 1 and 0 < seen[0] <= POLICY.lock_ttl * 1000
    assert redis_client.exists(lock_key(name, key)) == 0  # released after the store


# -- how waiters are counted (tests/flight_counts.py) ----------------------------------------


def counting_backend(url: str, name: str) -> RedisCacheBackend:
    # Generous timeouts: fifty connections opened at once on a loaded CI machine must not fail
    # open (a failed lock call grants the lock, and a second compute would spoil the counts).
    return RedisCacheBackend(url=url, name=name, socket_timeout=10, socket_connect_timeout=10)


def test_fifty_identical_calls_count_as_one_miss_and_joined_hits(redis_url, cache_names):
    fifty_identical_calls(LLMCachingManager(counting_backend(redis_url, cache_names.new()), embedder=None, strict=True))


@pytest.mark.parametrize("guards", ["default", None], ids=["vetted candidates", "best candidate"])
def test_fifty_identical_calls_count_the_same_with_semantic_lookups(redis_url, cache_names, guards):
    backend = counting_backend(redis_url, cache_names.new())
    cache = LLMCachingManager(backend, enable_semantic=True, embedder=CountingEmbedder(), guards=guards, strict=True)
    fifty_identical_calls(cache)


def test_two_managers_share_the_counts(redis_url, cache_names):
    name = cache_names.new()
    one, two = (LLMCachingManager(counting_backend(redis_url, name), embedder=None, strict=True) for _ in range(2))
    fifty_identical_calls(one)
    assert two.get_statistics()["single_flight_joins"] == 49
