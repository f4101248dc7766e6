"""One caller's bad input never pauses the cache for the others (a real Redis).

A TTL Redis would refuse is an InvalidInputError before anything is sent, and
an argument error the server does send back (an ``ERR`` reply) is never
counted by the circuit breaker: the request was at fault, not the server.
"""

from __future__ import annotations

import math

import pytest
import redis

from redis_semcache import (
    BackendUnavailableError,
    ClusterUnreachableError,
    CommandRejectedError,
    InvalidationError,
    InvalidInputError,
    LLMCachingManager,
    SemanticCacheError,
    make_cache_key,
)
from redis_semcache._plan import BackendCall
from redis_semcache._validate import MAX_TTL
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.breaker import CircuitBreaker
from redis_semcache.failure_policy import FailurePolicy

from ..entries import bulk_entry
from ..redis_server import LocalRedis, free_port

BAD_TTLS = [1e30, MAX_TTL * 2, 2**63, float("inf"), float("nan"), -1, 0, True, "10"]


def test_bad_ttls_are_refused_before_sending_and_never_open_the_breaker(redis_url, cache_names):
    client = redis.Redis.from_url(redis_url)
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new())
    breaker = CircuitBreaker(failure_threshold=3, cooldown=60)
    manager = LLMCachingManager(backend, circuit_breaker=breaker)  # non-strict: the default
    assert manager.set("good", "answer", model="m")
    calls_before = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    for _ in range(5):
        for ttl in BAD_TTLS:
            with pytest.raises(InvalidInputError, match="ttl"):
                manager.set("bad", "x", model="m", ttl=ttl)
    assert client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0) == calls_before  # nothing sent
    assert breaker.state == "closed"
    assert manager.get("good", model="m") == "answer"  # every other caller still hits
    assert manager.health_check()["status"] == "healthy"
    # The longest TTL accepted is one Redis takes.
    assert manager.set("long", "lived", model="m", ttl=MAX_TTL)
    assert manager.get("long", model="m") == "lived"
    assert client.pttl(f"{backend.partition._prefix}{make_cache_key('long', model='m')}") > 2**61
    manager.close()
    client.close()


def test_an_argument_error_from_redis_is_not_counted_by_the_breaker(redis_url, cache_names):
    """Past the manager's checks (the backend called directly), Redis refuses the TTL with an ERR
    reply: a CommandRejectedError, which the breaker never counts, while an outage still opens it."""
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new())
    entry = bulk_entry("q", "a")
    with pytest.raises(CommandRejectedError, match=r"invalid expire time|not an integer"):
        backend.store(entry, 1e30)
    breaker = CircuitBreaker(failure_threshold=2, cooldown=60)
    policy = FailurePolicy(backend, breaker=breaker, fallback=None, strict=False)
    for _ in range(10):
        assert policy.call(BackendCall("store", (entry, 1e30), fallback=False, on_success=True)) is False
    assert breaker.state == "closed" and policy.outage is None and policy.errors == 10
    assert policy.call(BackendCall("store", (entry, None), fallback=False, on_success=True)) is True
    dead = RedisCacheBackend(url="redis://127.0.0.1:1/0", name="dead", socket_connect_timeout=0.2)
    outage = FailurePolicy(dead, breaker=breaker, fallback=None, strict=False)
    for _ in range(2):
        outage.call(BackendCall("size", fallback=0))
    assert breaker.state == "open"  # a real outage still counts
    assert math.isfinite(MAX_TTL)
    backend.close()


def _self_referencing() -> list[list]:
    message: dict = {"role": "user", "content": "hi"}
    message["self"] = message
    listed: dict = {"role": "user", "content": "hi"}
    listed["extra"] = [listed]
    loop: list = []
    loop.append(loop)
    deep: dict = {}
    for _ in range(10_000):
        deep = {"a": deep}
    return [[message], [listed], [{"role": "user", "content": "hi", "x": loop}],
            [{"role": "user", "content": "hi", "x": deep}]]  # fmt: skip


def test_self_referencing_messages_are_a_library_error_not_recursion(redis_url, cache_names):
    manager = LLMCachingManager(RedisCacheBackend(url=redis_url, name=cache_names.new()))
    for messages in _self_referencing():
        with pytest.raises(SemanticCacheError, match=r"contains itself|nested more than"):
            manager.get(messages=messages, model="m")
        with pytest.raises(SemanticCacheError, match=r"contains itself|nested more than"):
            manager.set(response="a", messages=messages, model="m")
        with pytest.raises(SemanticCacheError, match="contains itself"):
            manager.get("q", model="m", params={"p": messages[0]} if "self" in messages[0] else {"p": _loop()})
    assert manager.health_check()["status"] == "healthy"
    manager.close()


def _loop() -> list:
    loop: list = []
    loop.append(loop)
    return loop


def test_wrong_password_health_reason_names_the_authentication_failure():
    with LocalRedis() as server:
        redis.Redis(port=server.port).config_set("requirepass", "right-password")
        backend = RedisCacheBackend(url=f"redis://:wrong-password@127.0.0.1:{server.port}/0", name="auth")
        manager = LLMCachingManager(backend)  # non-strict, default breaker
        for _ in range(4):  # the failing removals open the breaker
            with pytest.raises(InvalidationError):
                manager.invalidate(tags=["t"])
        assert manager.failures.breaker is not None and manager.failures.breaker.state == "open"
        report = manager.health_check()
        assert report["status"] == "unhealthy"
        assert "authentication failed" in report["reason"] and "InvalidationError" not in report["reason"]
        assert "wrong-password" not in str(report)
        manager.close()


def test_a_cluster_whose_seed_node_is_dead_raises_a_library_error():
    dead = free_port()
    with pytest.raises(ClusterUnreachableError, match=f"127.0.0.1:{dead}") as caught:
        RedisCacheBackend(cluster_mode=True, cluster_nodes=[{"host": "127.0.0.1", "port": dead}], password="pw-x")
    assert isinstance(caught.value, BackendUnavailableError) and "pw-x" not in str(caught.value)
