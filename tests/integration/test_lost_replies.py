"""One lost reply, one dropped connection: faults made deterministic by a proxy.

Every test runs a dedicated redis-server behind tests/fault_proxy.py, which
loses (or withholds) exactly the reply of a chosen command, or cuts the
connection around it.  No sleeps decide anything here.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
import redis

from redis_semcache import BackendError, InMemoryCacheBackend, InvalidationError, LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.backends.redis.codec import parse_info
from redis_semcache.backends.redis.scripts import sha
from redis_semcache.breaker import CircuitBreaker
from redis_semcache.singleflight import FlightPolicy

from ..fakes import FakeClock
from ..fault_proxy import FaultProxy
from ..redis_server import LocalRedis
from ..sync_via_async import SyncViaAsync

ENTRIES = 1200  # more than two sweep pages of 500


def backend_via(proxy: FaultProxy, *, timeout: float = 1.0, name: str = "lost") -> RedisCacheBackend:
    return RedisCacheBackend(
        url=proxy.url, name=name, max_size=None, socket_timeout=timeout, socket_connect_timeout=timeout
    )


def size(server: LocalRedis, name: str = "lost") -> int:
    """Entries left, counted on the server directly (not through the proxy)."""
    client = redis.Redis(port=server.port)
    try:
        return sum(1 for _ in client.scan_iter(match=f"semcache:{{{name}:0}}:e:*", count=1000))
    finally:
        client.close()


def fill(cache: LLMCachingManager) -> None:
    cache.set_many([(f"prompt {i}", i) for i in range(ENTRIES)], tags=["T"], version="v9")


INVALIDATIONS = {
    "tags": lambda cache: cache.invalidate(tags=["T"]),
    "version": lambda cache: cache.invalidate(version="v9"),
    "pattern": lambda cache: cache.invalidate(pattern="prompt *"),
    "clear": lambda cache: cache.clear(),
}
DELETE = sha("delete")
# Where the fault lands: (command, which occurrence, an argument it must carry).
# The second page read is also given as FT.CURSOR: how the sweep read pages
# while it held a server-side cursor (the rule that never matches does nothing).
FAULT_POINTS = {
    "first page read": [("FT.AGGREGATE", 1, None)],
    "second page read": [("FT.AGGREGATE", 2, None), ("FT.CURSOR", 1, None)],
    "first delete": [("EVALSHA", 1, DELETE)],
    "second delete": [("EVALSHA", 2, DELETE)],
}


def _expected(kind: str) -> int | bool:
    return True if kind == "clear" else ENTRIES


@pytest.mark.parametrize("point", list(FAULT_POINTS))
@pytest.mark.parametrize("kind", list(INVALIDATIONS))
@pytest.mark.parametrize("fault", ["lose_reply", "cut_after"])
def test_an_invalidation_survives_one_lost_reply_or_dropped_connection(server, proxy, kind, point, fault):
    """Before: one lost FT.CURSOR reply made invalidate(tags=...) over 1,200 entries
    return 200 and leave 500; clear() returned True with 500 left."""
    cache = LLMCachingManager(backend_via(proxy), embedder=None)
    fill(cache)
    for command, nth, arg in FAULT_POINTS[point]:
        getattr(proxy, fault)(command, nth=nth, arg=arg)
    assert INVALIDATIONS[kind](cache) == _expected(kind)
    assert proxy.faults == 1
    assert size(server) == 0
    if kind != "clear":  # the count was not doubled by the re-sent delete either
        assert cache.get_statistics()["invalidations"] == ENTRIES


@pytest.mark.parametrize("point", list(FAULT_POINTS))
def test_a_connection_cut_before_a_command_reaches_the_server_is_retried(server, proxy, point):
    cache = LLMCachingManager(backend_via(proxy), embedder=None)
    fill(cache)
    for command, nth, arg in FAULT_POINTS[point]:
        proxy.cut_before(command, nth=nth, arg=arg)
    assert cache.invalidate(tags=["T"]) == ENTRIES
    assert proxy.faults == 1 and size(server) == 0


@pytest.mark.parametrize("point", ["second page read", "first delete"])
def test_the_async_api_survives_one_lost_reply_too(server, proxy, point):
    cache = SyncViaAsync(LLMCachingManager(backend_via(proxy), embedder=None))
    try:
        fill(cache)
        for command, nth, arg in FAULT_POINTS[point]:
            proxy.lose_reply(command, nth=nth, arg=arg)
        assert cache.invalidate(tags=["T"]) == ENTRIES
        assert proxy.faults == 1 and size(server) == 0
    finally:
        cache.close()


def test_a_withheld_reply_times_out_and_the_step_is_sent_again(server, proxy):
    """A reply that never comes is a timeout, which redis-py does not retry: the sweep does."""
    cache = LLMCachingManager(backend_via(proxy, timeout=0.3), embedder=None)
    fill(cache)
    proxy.swallow_reply("FT.AGGREGATE", nth=2)
    proxy.swallow_reply("FT.CURSOR")
    proxy.swallow_reply("EVALSHA", nth=2, arg=DELETE)
    assert cache.invalidate(tags=["T"]) == ENTRIES
    assert proxy.faults == 2 and size(server) == 0


def test_invalidate_keys_survives_a_lost_reply_and_counts_once(server, proxy):
    cache = LLMCachingManager(backend_via(proxy), embedder=None)
    fill(cache)
    keys = [e["key"] for e in cache.get_top_entries(limit=10, sort_by="created_at")]
    proxy.lose_reply("EVALSHA", arg=DELETE)
    assert cache.invalidate(keys=keys) == 10  # the re-sent delete reports the first run's count
    assert proxy.faults == 1 and size(server) == ENTRIES - 10


@pytest.mark.parametrize("strict", [False, True])
def test_a_persistent_failure_raises_a_typed_error_never_a_count(server, proxy, strict):
    cache = LLMCachingManager(backend_via(proxy), embedder=None, strict=strict, circuit_breaker=None)
    fill(cache)
    proxy.lose_reply("FT.AGGREGATE", nth=2, times=None)  # the first page only, then never again
    with pytest.raises(InvalidationError) as failed:
        cache.invalidate(tags=["T"])
    # The first page was deleted in the round trip whose reply never came: done, but not confirmed.
    assert failed.value.deleted == 0 and size(server) == ENTRIES - 500
    proxy.clear_rules()
    assert cache.invalidate(tags=["T"]) == ENTRIES - 500


def test_failed_sweeps_leave_no_cursor_behind(server, proxy):
    """Before: each failed sweep leaked a RediSearch cursor, and after about 128 of them
    every invalidation failed with "Too many cursors allocated for index"."""
    backend = backend_via(proxy)
    backend.partition.STEP_RETRIES = 0  # fail fast: this test is about what a failure leaves behind
    cache = LLMCachingManager(backend, embedder=None, strict=True, circuit_breaker=None)
    fill(cache)
    proxy.lose_reply("FT.AGGREGATE", times=None)  # the server runs each first page; its reply is lost
    for _ in range(50):  # with redis-py's two re-sends, 150 first pages in all
        with pytest.raises(BackendError):
            cache.invalidate(tags=["T"])
    proxy.clear_rules()
    info = parse_info(redis.Redis(port=server.port).execute_command("FT.INFO", backend.index_name))
    assert int(parse_info(info["cursor_stats"])["global_total"]) == 0
    assert cache.invalidate(tags=["T"]) == ENTRIES


# -- single flight ---------------------------------------------------------------


def test_get_or_compute_recognises_its_own_lock_after_a_lost_set_reply(proxy, caplog):
    """Before: the re-sent SET NX found the lock taken (by itself) and waited the
    whole wait_timeout (30 s; 2 s here), then computed."""
    policy = FlightPolicy(lock_ttl=30.0, wait_timeout=2.0)
    cache = LLMCachingManager(backend_via(proxy), embedder=None, flight_policy=policy)
    calls = []

    def compute():
        calls.append(1)
        return "computed"

    proxy.lose_reply("SET", arg="NX")
    with caplog.at_level(logging.WARNING, logger="redis_semcache"):
        assert cache.get_or_compute("expensive question", compute) == "computed"
    assert proxy.faults == 1 and len(calls) == 1
    assert "gave up waiting" not in caplog.text  # it held the lock: nobody to wait for
    assert cache.get("expensive question") == "computed"


# -- circuit breaker ---------------------------------------------------------------


def _open_breaker(cache: LLMCachingManager, proxy: FaultProxy, clock: FakeClock) -> None:
    with proxy.outage():
        assert cache.get("q") is None
    assert cache.breaker is not None and cache.breaker.state == "open"
    clock.advance(10)  # past the cooldown: the next call is the half-open probe
    assert cache.breaker.state == "half-open"


def test_a_cancelled_probe_releases_the_breaker(proxy):
    """Before: cancelling the half-open probe left the breaker probing for ever;
    get, aget and health_check reported the backend down until a restart."""
    clock = FakeClock()
    cache = LLMCachingManager(
        backend_via(proxy, timeout=5.0),
        embedder=None,
        circuit_breaker=CircuitBreaker(failure_threshold=1, cooldown=1.0, clock=clock),
    )
    assert cache.set("q", "answer")
    _open_breaker(cache, proxy, clock)
    proxy.swallow_reply("EVALSHA")  # the probe's lookup never gets its reply

    async def cancelled_probe() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(cache.aget("q"), 0.1)
        await cache.aclose()

    asyncio.run(cancelled_probe())
    assert proxy.faults == 1
    assert cache.get("q") == "answer"
    assert cache.health_check()["status"] == "healthy"
    assert asyncio.run(cache.aget("q")) == "answer"


def test_an_open_breaker_still_lets_other_tasks_run(proxy):
    clock = FakeClock()
    cache = LLMCachingManager(
        backend_via(proxy),
        embedder=None,
        circuit_breaker=CircuitBreaker(failure_threshold=1, cooldown=60.0, clock=clock),
    )
    with proxy.outage():
        assert cache.get("q") is None
    assert cache.breaker is not None and cache.breaker.state == "open"

    async def run() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = ticks
        for _ in range(200):
            assert await cache.aget("q") is None  # refused at once by the open breaker
        during = ticks - before
        task.cancel()
        return during

    assert asyncio.run(run()) >= 100  # was 0: the loop of awaits never yielded


# -- the local fallback ----------------------------------------------------------------


def test_the_fallback_never_resurrects_what_redis_invalidated(proxy):
    """Before: an answer written to the fallback during one outage came back in the
    next one, after it had been invalidated, replaced and cleared on Redis."""
    cache = LLMCachingManager(
        backend_via(proxy), embedder=None, circuit_breaker=None, fallback_backend=InMemoryCacheBackend()
    )
    with proxy.outage():
        assert cache.set("price", "$10", tags=["pricing"])  # goes to the fallback
        assert cache.get("price") == "$10"
    assert cache.invalidate(tags=["pricing"]) == 0  # healthy: Redis never had it
    assert cache.set("price", "$12") and cache.get("price") == "$12"
    assert cache.clear()
    with proxy.outage():
        assert cache.get("price") is None


def test_an_answer_replaced_on_redis_is_not_served_by_the_fallback(proxy):
    fallback = InMemoryCacheBackend()
    cache = LLMCachingManager(backend_via(proxy), embedder=None, circuit_breaker=None, fallback_backend=fallback)
    with proxy.outage():
        assert cache.set("price", "$10")
    assert cache.set("price", "$12")  # the first success after the outage empties the fallback
    assert fallback.size() == 0
    with proxy.outage():
        assert cache.get("price") is None


# -- the script cache flushed again and again --------------------------------------------


@pytest.mark.parametrize("api", ["sync", "async"])
def test_script_flushes_between_reload_and_call_never_reach_the_caller(server, proxy, api):
    """Before: a SCRIPT FLUSH between redis-py's reload and its second EVALSHA let
    NoScriptError through; invalidate(keys=...) returned 0 without deleting."""
    admin = redis.Redis(port=server.port)
    manager = LLMCachingManager(backend_via(proxy), embedder=None, strict=True)
    cache = manager if api == "sync" else SyncViaAsync(manager)
    assert cache.set("q", "a") and cache.set("r", "b")
    key = next(e["key"] for e in cache.get_top_entries(limit=2) if e["prompt"] == "q")
    for _ in range(3):  # the first call, the reloaded call, and once more
        proxy.on_command("EVALSHA", admin.script_flush)
    assert cache.invalidate(keys=[key]) == 1
    assert proxy.faults == 3 and size(server) == 1
    for _ in range(3):
        proxy.on_command("EVALSHA", admin.script_flush)
    assert cache.get("r") == "b"
    if api == "async":
        cache.close()


def test_the_proxy_passes_pipelines_and_concurrent_clients_through_untouched(proxy):
    """The fixture itself: with no rule, many threads' traffic goes through intact."""
    cache = LLMCachingManager(backend_via(proxy), embedder=None, strict=True)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                assert cache.set(f"t{n} q{i}", i)
                assert cache.get(f"t{n} q{i}") == i
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and proxy.faults == 0
    assert cache.invalidate(pattern="t* q*") == 300
