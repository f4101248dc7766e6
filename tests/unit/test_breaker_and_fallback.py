"""The circuit breaker and the local fallback, driven by a fake clock."""

from __future__ import annotations

import logging

import pytest

from redis_semcache import (
    BackendUnavailableError,
    InMemoryCacheBackend,
    InvalidationError,
    InvalidInputError,
    LLMCachingManager,
    make_cache_key,
)
from redis_semcache.breaker import CircuitBreaker

from ..fakes import FakeClock


class FlakyBackend(InMemoryCacheBackend):
    """Counts the calls that reached it; fails them all while ``down``."""

    blocking_io = True  # pretend to be a server, so the manager adds a breaker

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.calls = 0

    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if name in {"lookup_exact", "lookup_semantic", "store", "counters", "size", "health"} or name.startswith(
            "delete_"
        ):

            def call(*args, **kwargs):
                self.calls += 1
                if self.down:
                    raise BackendUnavailableError("connection refused")
                return attr(*args, **kwargs)

            return call
        return attr


def test_breaker_states():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown=10, clock=clock)
    assert breaker.allow() and breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.advance(10)
    assert breaker.state == "half-open"
    assert breaker.allow() and not breaker.allow()  # exactly one probe
    breaker.record_failure()
    assert breaker.state == "open"
    clock.advance(10)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()


def test_breaker_stops_hammering_and_probe_recovers():
    clock = FakeClock()
    backend = FlakyBackend()
    cache = LLMCachingManager(
        backend, embedder=None, circuit_breaker=CircuitBreaker(failure_threshold=3, cooldown=5, clock=clock)
    )
    cache.set("q", "r")
    backend.down = True
    backend.calls = 0
    for _ in range(100):
        assert cache.get("q") is None
    assert backend.calls == 3  # then the breaker refused the rest without touching the server
    assert cache.get_statistics()["errors"] >= 100
    backend.down = False
    assert cache.get("q") is None  # still open: no probe before the cooldown
    clock.advance(5)
    assert cache.get("q") == "r"  # the probe succeeds and closes the breaker
    assert cache.breaker.state == "closed"
    assert cache.health_check()["status"] == "healthy"


def test_unhealthy_while_down_with_reason():
    backend = FlakyBackend()
    cache = LLMCachingManager(backend, embedder=None)
    backend.down = True
    report = cache.health_check()
    assert report["status"] == "unhealthy" and "connection refused" in report["reason"]


def test_local_fallback_serves_during_outage_and_stays_local():
    backend = FlakyBackend()
    cache = LLMCachingManager(backend, embedder=None, fallback_backend=InMemoryCacheBackend(), circuit_breaker=None)
    cache.set("before", "on the server")
    backend.down = True
    assert cache.set("during", "kept locally") is True
    assert cache.get("during") == "kept locally"
    assert cache.get("before") is None  # the server's entries are out of reach
    backend.down = False
    assert cache.get("before") == "on the server"
    assert cache.get("during") is None  # documented: not copied back


def test_strict_mode_raises_even_with_an_open_breaker():
    clock = FakeClock()
    backend = FlakyBackend()
    cache = LLMCachingManager(
        backend,
        embedder=None,
        strict=True,
        circuit_breaker=CircuitBreaker(failure_threshold=1, cooldown=5, clock=clock),
    )
    backend.down = True
    with pytest.raises(BackendUnavailableError, match="connection refused"):
        cache.get("q")
    with pytest.raises(BackendUnavailableError, match="circuit breaker open"):
        cache.get("q")


def test_a_failed_exact_lookup_skips_the_semantic_one():
    """On a stalled server each call costs a timeout: a semantic get pays one, not two."""
    from ..fakes import CountingEmbedder

    backend = FlakyBackend()
    embedder = CountingEmbedder()
    cache = LLMCachingManager(backend, enable_semantic=True, embedder=embedder, circuit_breaker=None)
    backend.down = True
    backend.calls = 0
    assert cache.get("how do I reset my password") is None
    assert backend.calls == 1 and embedder.calls == 0
    assert cache.get_statistics()["errors"] == 3  # the get, then counters and size of the report


def test_invalidation_against_a_failing_backend_deletes_nothing_and_says_so():
    """A removal that did not happen raises, strict or not: a 0 would read as "nothing matched"."""
    backend = FlakyBackend()
    cache = LLMCachingManager(backend, embedder=None, circuit_breaker=None)
    cache.set("q", "a", tags=["t"])
    backend.down = True
    for kwargs in (
        {"keys": [make_cache_key("q")]},
        {"tags": ["t"]},
        {"version": "v1"},
        {"pattern": "q*"},
        {"keys": [make_cache_key("q")], "tags": ["t"], "version": "v1", "pattern": "q*"},
    ):
        with pytest.raises(InvalidationError, match="did not complete") as raised:
            cache.invalidate(**kwargs)
        assert raised.value.deleted == 0
        assert isinstance(raised.value.__cause__, BackendUnavailableError)
    assert cache.get_statistics()["errors"] >= 5
    backend.down = False
    assert cache.get("q") == "a"  # nothing was deleted
    strict = LLMCachingManager(backend, embedder=None, circuit_breaker=None, strict=True)
    backend.down = True
    with pytest.raises(InvalidationError):
        strict.invalidate(version="v1")


def test_invalidation_arguments_are_checked_by_name():
    cache = LLMCachingManager(InMemoryCacheBackend(), embedder=None)
    with pytest.raises(InvalidInputError, match=r"^invalidate needs pattern, tags, version or keys$"):
        cache.invalidate()
    with pytest.raises(InvalidInputError, match=r"^version must not be empty$"):
        cache.invalidate(version="")
    with pytest.raises(InvalidInputError, match=r"^pattern must not be empty$"):
        cache.invalidate(pattern="")
    with pytest.raises(InvalidInputError, match=r"^key must be a str, not int$"):
        cache.invalidate(keys=[1])
    cache.set("q", "a")
    assert cache.invalidate(keys=make_cache_key("q")) == 1  # one id as a plain string


def test_the_outage_reason_names_the_failure_not_the_breaker(caplog):
    clock = FakeClock()
    backend = FlakyBackend()
    cache = LLMCachingManager(
        backend, embedder=None, circuit_breaker=CircuitBreaker(failure_threshold=1, cooldown=5, clock=clock)
    )
    backend.down = True
    with caplog.at_level(logging.WARNING, logger="redis_semcache"):
        assert cache.get("q") is None  # fails: opens the breaker
        assert cache.get("q") is None  # refused by the breaker
    assert [r.getMessage() for r in caplog.records] == [
        "redis_semcache: backend failing, serving misses: BackendUnavailableError: connection refused"
    ]
    assert cache.get_statistics()["backend_error"] == "BackendUnavailableError: connection refused"


def test_health_reports_the_backend_even_with_a_local_fallback(caplog):
    backend = FlakyBackend()
    cache = LLMCachingManager(backend, embedder=None, fallback_backend=InMemoryCacheBackend(), circuit_breaker=None)
    backend.down = True
    with caplog.at_level(logging.WARNING, logger="redis_semcache"):
        assert cache.set("q", "local")
    assert "serving from the local fallback: BackendUnavailableError: connection refused" in caplog.text
    report = cache.health_check()
    assert report["status"] == "unhealthy" and "connection refused" in report["reason"]


def test_breaker_and_flight_settings_are_checked_by_name():
    from redis_semcache.singleflight import FlightPolicy

    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match=f"^failure_threshold must be a positive int, got {bad!r}$"):
            CircuitBreaker(failure_threshold=bad)
    with pytest.raises(InvalidInputError, match=r"^cooldown must be positive, got 0$"):
        CircuitBreaker(cooldown=0)
    with pytest.raises(InvalidInputError, match=r"^wait_timeout must be positive, got -1$"):
        FlightPolicy(wait_timeout=-1)


def test_recovery_is_logged_once_with_what_had_failed(caplog):
    backend = FlakyBackend()
    cache = LLMCachingManager(backend, embedder=None, circuit_breaker=None)
    backend.down = True
    assert cache.get("q") is None
    backend.down = False
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="redis_semcache"):
        assert cache.get("q") is None and cache.get("q") is None
    assert [r.getMessage() for r in caplog.records] == [
        "redis_semcache: backend recovered after: BackendUnavailableError: connection refused"
    ]
    assert "backend_error" not in cache.get_statistics()


def test_a_refused_call_does_not_restart_the_cooldown():
    """The cooldown runs from the failure that opened the breaker: calls refused meanwhile
    (the breaker's own verdict, not the server's) must not push the probe further out,
    or a steady stream of calls would keep the breaker open forever."""
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown=5, clock=clock)
    breaker.record_failure()
    for _ in range(4):
        clock.advance(1)
        assert not breaker.allow() and breaker.state == "open"
    clock.advance(1)  # 5 s after the failure
    assert breaker.state == "half-open" and breaker.allow()


def test_a_manager_probes_one_cooldown_after_the_failure_however_many_calls_were_refused():
    clock = FakeClock()
    backend = FlakyBackend()
    cache = LLMCachingManager(
        backend, embedder=None, circuit_breaker=CircuitBreaker(failure_threshold=1, cooldown=5, clock=clock)
    )
    cache.set("q", "r")
    backend.down = True
    assert cache.get("q") is None  # fails: opens the breaker
    backend.down = False
    for _ in range(4):
        clock.advance(1)
        assert cache.get("q") is None  # refused, the server is not asked
    clock.advance(1)
    assert cache.get("q") == "r"  # the probe, one cooldown after the failure
    assert cache.breaker.state == "closed"
