"""The defaults the README and docs/operations.md promise, pinned.

The similarity threshold 0.92 (docs/quality.md), 1 s socket and connect
timeouts, connection errors retried twice 5-50 ms apart and timeouts never,
the breaker's 3 failures / 2 s cooldown, and single flight's 30 s lock and
wait with polls backing off from 5 ms, doubling, to 100 ms.  No server is
needed: clients connect lazily.
"""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest
import redis
import redis.retry

from redis_semcache import (
    InMemoryCacheBackend,
    LLMCachingManager,
    create_in_memory_cache_manager,
    create_redis_cache_manager,
)
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.backends.redis.client import ConnectionSettings
from redis_semcache.breaker import CircuitBreaker
from redis_semcache.config import read_env
from redis_semcache.singleflight import FlightPolicy

from ..fakes import FakeClock

NOWHERE = "redis://127.0.0.1:1/0"  # never contacted: these tests do no I/O


def test_the_default_similarity_threshold_is_0_92():
    assert LLMCachingManager(embedder=None).semantic_threshold == 0.92
    assert create_in_memory_cache_manager(embedder=None).semantic_threshold == 0.92
    assert create_redis_cache_manager(url=NOWHERE, embedder=None).semantic_threshold == 0.92


def test_the_default_ttl_is_an_hour_and_failures_fail_open():
    cache = LLMCachingManager(embedder=None)
    assert cache.default_ttl == 3600 and cache.strict is False
    assert create_redis_cache_manager(url=NOWHERE, embedder=None).default_ttl == 3600


def kwargs_of(client) -> dict:
    return client.connection_pool.connection_kwargs


@pytest.mark.parametrize(
    "build",
    [
        lambda: ConnectionSettings().build(),
        lambda: asyncio.run(_async(ConnectionSettings().build_async)),
        lambda: create_redis_cache_manager(url=NOWHERE, embedder=None).backend._client,
        lambda: RedisCacheBackend(host="127.0.0.1", port=1)._client,
    ],
    ids=["settings", "settings-async", "factory", "backend"],
)
def test_clients_time_out_after_one_second(build):
    kwargs = kwargs_of(build())
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (1.0, 1.0)


async def _async(make):
    client = make()
    await client.aclose()
    return client


def test_the_environment_leaves_the_timeouts_at_their_defaults():
    cfg = read_env({})
    assert cfg.socket_timeout is None and cfg.connect_timeout is None  # None: the backend's 1.0 s applies
    assert read_env({"REDIS_SOCKET_TIMEOUT": "0.25"}).socket_timeout == 0.25


def test_connection_errors_are_retried_twice_5_to_50_ms_apart_and_timeouts_never(monkeypatch):
    retry = ConnectionSettings().build().get_retry()
    assert retry.get_retries() == 2
    pauses: list[float] = []
    monkeypatch.setattr(redis.retry, "sleep", pauses.append)
    calls = []

    def refuse(error):
        def attempt():
            calls.append(error)
            raise error("nope")

        return attempt

    with pytest.raises(redis.ConnectionError):
        retry.call_with_retry(refuse(redis.ConnectionError), lambda exc: None)
    assert len(calls) == 3 and pauses == [0.01, 0.02]  # 5 ms doubling (capped at 50 ms), per failure
    calls.clear()
    with pytest.raises(redis.TimeoutError):
        retry.call_with_retry(refuse(redis.TimeoutError), lambda exc: None)
    assert len(calls) == 1


def test_the_async_client_retries_alike():
    client = asyncio.run(_async(ConnectionSettings().build_async))
    assert client.get_retry().get_retries() == 2


def test_the_default_breaker_opens_after_3_failures_for_2_seconds():
    clock = FakeClock()
    breaker = CircuitBreaker(clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.advance(1.999)
    assert breaker.state == "open"
    clock.advance(0.001)
    assert breaker.state == "half-open" and breaker.allow() and not breaker.allow()


def test_a_server_backend_gets_the_default_breaker_and_an_in_process_one_none():
    assert isinstance(LLMCachingManager(RedisCacheBackend(url=NOWHERE), embedder=None).breaker, CircuitBreaker)
    assert LLMCachingManager(InMemoryCacheBackend(), embedder=None).breaker is None


def test_single_flight_defaults():
    policy = FlightPolicy()
    assert (policy.lock_ttl, policy.wait_timeout) == (30.0, 30.0)
    assert LLMCachingManager(embedder=None).flight_policy == policy


def test_waiters_back_off_from_5_ms_doubling_to_100_ms_with_20_percent_jitter():
    random.seed(1)
    nominal = [0.005, 0.01, 0.02, 0.04, 0.08, 0.1, 0.1, 0.1]
    ratios = []
    for _ in range(50):
        pauses = list(itertools.islice(FlightPolicy().backoff(), len(nominal)))
        ratios += [p / n for p, n in zip(pauses, nominal, strict=True)]
    assert all(0.8 <= r <= 1.2 for r in ratios)
    assert min(ratios) < 0.82 and max(ratios) > 1.18  # jittered over the whole +-20 %
