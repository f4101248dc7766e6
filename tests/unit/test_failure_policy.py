"""The failure policy in detail: the async paths, the breaker's probe, and the local fallback's mirror.

The backend is the in-memory one behind a wrapper that fails on cue
(``FlakyBackend``, which pretends to do blocking I/O, as a server backend
without ``a``-methods would); the breaker runs on a fake clock.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from redis_semcache import BackendUnavailableError, InMemoryCacheBackend, InvalidationError, LLMCachingManager
from redis_semcache.breaker import CircuitBreaker

from ..fakes import FakeClock
from .test_breaker_and_fallback import FlakyBackend


class ThreadRecordingBackend(FlakyBackend):
    """Also records the thread each exact lookup ran in, and raises ``error`` (any exception) when set."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []
        self.error: BaseException | None = None

    def lookup_exact(self, *args, **kwargs):
        self.threads.append(threading.get_ident())
        if self.error is not None:
            raise self.error
        return super().lookup_exact(*args, **kwargs)


def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=1, cooldown=5, clock=clock)


def test_async_calls_to_a_blocking_backend_run_in_a_worker_thread():
    backend = ThreadRecordingBackend()
    cache = LLMCachingManager(backend, embedder=None, circuit_breaker=None)

    async def run():
        assert await cache.aset("q", "answer", model="m", tags=["t"]) is True
        return await cache.aget("q", model="m"), await cache.aget("q", model="other")

    assert asyncio.run(run()) == ("answer", None)
    assert backend.threads and threading.get_ident() not in backend.threads  # the event loop never blocked
    assert cache.get("q", model="m") == "answer" and cache.invalidate(tags=["t"]) == 1


def test_a_failing_async_call_fails_open_or_raises_when_strict():
    backend = FlakyBackend()
    cache = LLMCachingManager(backend, embedder=None, circuit_breaker=None)
    strict = LLMCachingManager(backend, embedder=None, circuit_breaker=None, strict=True)
    backend.down = True
    assert asyncio.run(cache.aget("q")) is None
    assert asyncio.run(cache.aset("q", "a")) is False
    assert cache.get_statistics()["backend_error"] == "BackendUnavailableError: connection refused"
    with pytest.raises(BackendUnavailableError, match=r"^connection refused$"):
        asyncio.run(strict.aget("q"))


def test_an_open_breaker_refuses_async_calls_at_once_yet_yields_to_the_loop():
    clock = FakeClock()
    backend = FlakyBackend()
    cache = LLMCachingManager(backend, embedder=None, circuit_breaker=breaker(clock))
    strict = LLMCachingManager(backend, embedder=None, circuit_breaker=breaker(clock), strict=True)
    backend.down = True
    assert cache.get("q") is None  # fails: opens the breaker
    with pytest.raises(BackendUnavailableError, match="connection refused"):
        strict.get("q")  # opens strict's breaker
    backend.calls = 0

    async def refused(manager: LLMCachingManager):
        task = asyncio.create_task(manager.aget("q"))
        for _ in range(20):  # a refused call takes one turn of the loop, not a timer
            await asyncio.sleep(0)
            if task.done():
                break
        assert task.done()
        return task.result()

    assert asyncio.run(refused(cache)) is None
    with pytest.raises(BackendUnavailableError, match="circuit breaker open"):
        asyncio.run(refused(strict))
    assert backend.calls == 0  # refused without touching the backend
    # The outage is still named by what failed, not by the refusals.
    assert cache.get_statistics()["backend_error"] == "BackendUnavailableError: connection refused"


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_probe_ended_by_an_error_unrelated_to_the_server_lets_the_next_call_probe(api):
    clock = FakeClock()
    backend = ThreadRecordingBackend()
    cache = LLMCachingManager(backend, embedder=None, circuit_breaker=breaker(clock))
    get = cache.get if api == "sync" else (lambda prompt: asyncio.run(cache.aget(prompt)))
    assert cache.set("q", "answer")
    backend.down = True
    assert get("q") is None and cache.breaker.state == "open"
    backend.down = False
    clock.advance(5)
    backend.error = KeyError("a bug, not the server")
    with pytest.raises(KeyError):
        get("q")  # the half-open probe: ends with no verdict on the server
    backend.error = None
    assert get("q") == "answer"  # so this call may probe, and closes the breaker
    assert cache.breaker.state == "closed"


def test_an_unrelated_error_reaches_the_caller_without_a_breaker():
    backend = ThreadRecordingBackend()
    cache = LLMCachingManager(backend, embedder=None, circuit_breaker=None)
    backend.error = KeyError("a bug, not the server")
    with pytest.raises(KeyError):
        cache.get("q")
    with pytest.raises(KeyError):
        asyncio.run(cache.aget("q"))
    assert cache.get_statistics()["errors"] == 0  # says nothing about the server


def test_a_released_probe_lets_exactly_one_more_call_probe():
    clock = FakeClock()
    b = breaker(clock)
    b.record_failure()
    clock.advance(5)
    assert b.allow() and not b.allow()
    b.release()
    assert b.allow() and not b.allow()


def fallback_holding(prompts: dict[str, list[str]]) -> tuple[InMemoryCacheBackend, LLMCachingManager]:
    """A fallback backend holding ``prompt -> prompt`` entries with the given tags (left by an outage)."""
    fallback = InMemoryCacheBackend()
    local = LLMCachingManager(fallback, embedder=None)
    for prompt, tags in prompts.items():
        assert local.set(prompt, f"local {prompt}", tags=tags)
    return fallback, local


def test_while_healthy_every_write_and_removal_also_applies_to_the_fallback():
    fallback, local = fallback_holding({"a": [], "b": [], "c": ["t"], "d": ["t"], "kept": []})
    cache = LLMCachingManager(FlakyBackend(), embedder=None, circuit_breaker=None, fallback_backend=fallback)
    assert cache.set("a", "new")
    assert local.get("a") is None  # a write of "a" makes the fallback's "a" stale
    assert cache.set_many([("b", "new")]) == 1
    assert local.get("b") is None
    assert cache.invalidate(tags=["t"]) == 0  # the backend had none of them; the fallback loses both
    assert local.get("c") is None and local.get("d") is None
    assert local.get("kept") == "local kept"


def test_a_removal_during_an_outage_also_applies_to_the_fallback():
    backend = FlakyBackend()
    fallback = InMemoryCacheBackend()
    cache = LLMCachingManager(backend, embedder=None, circuit_breaker=None, fallback_backend=fallback)
    backend.down = True
    assert cache.set("x", "local", tags=["t"]) and cache.set("y", "local")
    assert cache.get("x") == "local"
    with pytest.raises(InvalidationError, match="did not complete"):
        cache.invalidate(tags=["t"])  # the backend's entries may remain: it raises
    assert cache.get("x") is None  # but the fallback no longer serves it
    assert cache.get("y") == "local"


def test_reset_statistics_forgets_the_errors():
    backend = FlakyBackend()
    cache = LLMCachingManager(backend, embedder=None, circuit_breaker=None)
    backend.down = True
    assert cache.get("q") is None
    backend.down = False
    assert cache.get_statistics()["errors"] == 1
    cache.reset_statistics()
    assert cache.get_statistics()["errors"] == 0
