"""Redis faults, for real: unreachable, paused, sleeping, killed and restarted
servers; a vanished index; a flushed script cache.

Destructive faults (FLUSHALL, SCRIPT FLUSH, CLIENT PAUSE, DEBUG SLEEP, SIGKILL)
run against a dedicated local redis-server, never the session's shared one.
Elapsed-time bounds here are behaviour on a fault path (a lookup must give up),
kept generous: several times what the timeout settings imply.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from redis_semcache import (
    BackendError,
    InMemoryCacheBackend,
    InvalidationError,
    LLMCachingManager,
    create_redis_cache_manager,
    make_cache_key,
)
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.backends.redis.wire import SCRIPT_ATTEMPTS
from redis_semcache.breaker import CircuitBreaker

from ..fakes import near, unit
from ..fault_proxy import FaultProxy
from ..redis_server import LocalRedis, free_port
from ..sync_via_async import SyncViaAsync

TIMEOUT = 0.2  # seconds; every bound below is generous against it
BOUND = 2.0


@pytest.fixture
def own_redis() -> Iterator[LocalRedis]:
    """A dedicated server this test may pause, flush or kill.

    ``--enable-debug-command local``: DEBUG SLEEP simulates a stalled server.
    """
    server = LocalRedis(extra_args=("--enable-debug-command", "local"))
    with server:
        yield server


def admin(server: LocalRedis) -> redis.Redis:
    return redis.Redis(port=server.port, socket_timeout=10)


def cache_on(url: str, *, strict: bool = False, **kwargs) -> LLMCachingManager:
    backend_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in {"name", "max_size", "dimension"}}
    backend = RedisCacheBackend(
        url=url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT, **{"name": "faults", **backend_kwargs}
    )
    kwargs.setdefault("embedder", None)
    return LLMCachingManager(backend, strict=strict, **kwargs)


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


# -- a server that is not there, stalled or paused ----------------------------------


def test_nothing_listening_means_fast_misses_and_an_unhealthy_report():
    cache = cache_on(f"redis://127.0.0.1:{free_port()}/0", circuit_breaker=None)
    for _ in range(3):
        got, elapsed = timed(cache.get, "q")
        assert got is None and elapsed < BOUND
    stored, elapsed = timed(cache.set, "q", "a")
    assert stored is False and elapsed < BOUND
    assert cache.get_statistics()["errors"] >= 4
    health = cache.health_check()
    assert health["status"] == "unhealthy"
    assert "unavailable" in health["reason"] and "Connection refused" in health["reason"]


class Blackhole:
    """A port that accepts no connection: the listen backlog is full, so SYNs go unanswered."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port = self.listener.getsockname()[1]
        self.fillers: list[socket.socket] = []
        while True:  # fill the accept queue until a connect would hang
            s = socket.socket()
            s.setblocking(False)
            if s.connect_ex(("127.0.0.1", self.port)) != 0:
                s.close()
                probe = socket.socket()
                probe.settimeout(0.2)
                try:
                    probe.connect(("127.0.0.1", self.port))
                except (TimeoutError, OSError):
                    return
                finally:
                    probe.close()
            self.fillers.append(s)
            if len(self.fillers) > 64:
                raise RuntimeError("could not fill the listen backlog")

    def close(self) -> None:
        for s in self.fillers:
            s.close()
        self.listener.close()


def test_connect_timeout_bounds_a_server_that_never_answers():
    hole = Blackhole()
    try:
        cache = cache_on(f"redis://127.0.0.1:{hole.port}/0", circuit_breaker=None)
        got, elapsed = timed(cache.get, "q")
        assert got is None and elapsed < BOUND
        assert "Timeout connecting" in cache.health_check()["reason"]
    finally:
        hole.close()


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_paused_server_gives_misses_within_the_timeout_then_recovers(own_redis, api):
    cache = cache_on(own_redis.url, circuit_breaker=CircuitBreaker(failure_threshold=2, cooldown=0.3))
    if api == "async":  # redis.asyncio clients get the same timeouts
        cache = SyncViaAsync(cache)
    assert cache.set("q", "a") and cache.get("q") == "a"
    pauser = admin(own_redis)
    pauser.execute_command("CLIENT", "PAUSE", 2000, "ALL")
    try:
        for _ in range(4):
            got, elapsed = timed(cache.get, "q")
            assert got is None and elapsed < BOUND
        stored, elapsed = timed(cache.set, "q", "b")
        assert stored is False and elapsed < BOUND
        assert cache.breaker.state == "open"
    finally:
        pauser.execute_command("CLIENT", "UNPAUSE")
    time.sleep(0.3)  # the breaker's cooldown (not a TTL): then one probe goes through
    assert cache.get("q") == "a"
    assert cache.breaker.state == "closed"
    assert cache.get_statistics()["errors"] >= 5


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_stalled_server_costs_one_timeout_per_call_not_one_per_retry(own_redis, api):
    """DEBUG SLEEP stalls the server.  A timed-out command is not retried: the
    server may well run it later, and a retry would then count a lookup twice
    and cost the caller the timeout again."""
    timeout = 1.0  # the default; the window below is then [0.9 s, 2 s), and 3 timeouts would be 3 s
    backend = RedisCacheBackend(url=own_redis.url, name="stall", socket_timeout=timeout)
    cache = LLMCachingManager(backend, embedder=None, circuit_breaker=None)
    if api == "async":  # the same retry policy on redis.asyncio
        cache = SyncViaAsync(cache)
    assert cache.set("q", "a") and cache.get("q") == "a"
    cache.reset_statistics()
    sleeper = threading.Thread(target=admin(own_redis).execute_command, args=("DEBUG", "SLEEP", 3.5))
    sleeper.start()
    probe = redis.Redis(port=own_redis.port, socket_timeout=0.05, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.TimeoutError):  # wait until the server is asleep
        for _ in range(200):
            probe.ping()
            time.sleep(0.005)
    got, elapsed = timed(cache.get, "missing")
    sleeper.join()
    assert got is None
    assert 0.9 * timeout <= elapsed < 2 * timeout  # one timeout; each retry would add another
    time.sleep(0.1)  # the server runs what it had buffered once it wakes
    assert cache.get_statistics()["misses"] <= 1  # never counted twice


# -- the index vanishes ---------------------------------------------------------------


def index_names(client: redis.Redis) -> list[str]:
    return [n.decode() for n in client.execute_command("FT._LIST")]


@pytest.mark.parametrize("how", ["FT.DROPINDEX", "FLUSHALL"])
def test_a_vanished_index_means_misses_then_is_recreated(own_redis, how):
    client = admin(own_redis)
    rng = np.random.default_rng(5)
    v = unit(rng, 8)
    cache = cache_on(own_redis.url, strict=True, enable_semantic=True, semantic_threshold=0.9)
    cache.set("stored", "S", embedding=v, tags=["t"])
    index = cache.backend.index_name
    if how == "FLUSHALL":
        client.flushall()
    else:
        client.execute_command("FT.DROPINDEX", index)
    assert index not in index_names(client)
    # Lookups meanwhile are misses (strict mode: nothing raised either) ...
    assert cache.get("a query", embedding=near(v, 0.99, rng)) is None
    assert cache.get("never stored") is None
    # ... the next write brings the index back ...
    assert cache.set("written after", "W", embedding=near(v, 0.98, rng), tags=["t"])
    assert index in index_names(client)
    # ... and it serves semantic lookups over what is there.
    # (after FLUSHALL only W is left; after FT.DROPINDEX the recreated index holds S again)
    assert cache.get("another query", embedding=v) == ("W" if how == "FLUSHALL" else "S")
    assert cache.health_check()["status"] == "healthy"
    assert cache.invalidate(tags=["t"]) == (1 if how == "FLUSHALL" else 2)


@pytest.mark.parametrize("how", ["FT.DROPINDEX", "FLUSHALL"])
def test_health_and_invalidation_recreate_a_vanished_index(own_redis, how):
    client = admin(own_redis)
    cache = cache_on(own_redis.url, strict=True)
    cache.set("stored", "S", tags=["t"])
    index = cache.backend.index_name
    client.flushall() if how == "FLUSHALL" else client.execute_command("FT.DROPINDEX", index)
    health = cache.health_check()
    assert health["status"] == "healthy" and health["index"] == index
    assert cache.get_statistics()["errors"] == 0  # a dropped index is repaired, not an outage
    client.flushall() if how == "FLUSHALL" else client.execute_command("FT.DROPINDEX", index)
    assert cache.invalidate(tags=["t"]) == (0 if how == "FLUSHALL" else 1)
    assert index in index_names(client)


# -- SCRIPT FLUSH: every script path reloads and retries --------------------------------


def _fresh_backend(url: str, **kwargs) -> RedisCacheBackend:
    return RedisCacheBackend(url=url, name="scripts", **kwargs)


SCRIPT_PATHS = [
    "lookup_exact",
    "lookup_semantic",
    "lookup_semantic+touch",
    "store",
    "store_many",
    "trim",
    "delete_keys",
    "delete_tags",
    "delete_pattern",
    "clear",
    "report",
    "top",
    "get_or_compute",
]


@pytest.mark.parametrize("api", ["sync", "async"])
@pytest.mark.parametrize("path", SCRIPT_PATHS)
def test_every_script_path_survives_script_flush(own_redis, path, api):
    client = admin(own_redis)
    rng = np.random.default_rng(9)
    v = unit(rng, 8)
    accept_all = (lambda q, c, s: True) if path == "lookup_semantic+touch" else None
    backend = _fresh_backend(own_redis.url, max_size=100)
    cache = LLMCachingManager(backend, embedder=None, strict=True, enable_semantic=True, semantic_threshold=0.9,
                              verifier=accept_all)  # fmt: skip
    if api == "async":  # the same calls through the a-methods, on redis.asyncio
        cache = SyncViaAsync(cache)
        backend = SyncViaAsync(backend)
    for i in range(5):
        cache.set(f"entry {i}", i, embedding=near(v, 0.5, rng), tags=["t"])
    cache.set("stored", "S", embedding=v, tags=["t"])
    assert client.script_flush()
    if path == "lookup_exact":
        assert cache.get("stored") == "S"
    elif path.startswith("lookup_semantic"):
        assert cache.get("close to stored", embedding=near(v, 0.99, rng)) == "S"
    elif path == "store":
        assert cache.set("new", "N") and cache.get("new") == "N"
    elif path == "store_many":
        entries = [(cache._entry(f"bulk {i}", i, "default", None, None, None, None, {})) for i in range(450)]
        assert backend.store_many(entries) == 450 and cache.get("bulk 449") == 449
    elif path == "trim":
        backend.configure(max_size=2, eviction_strategy=backend.eviction_strategy, sliding_ttl=False)
        assert cache.get_statistics()["cache_size"] == 2
    elif path == "delete_keys":
        assert cache.invalidate(keys=[cache.get_top_entries(1, "created_at")[0]["key"]]) == 1
    elif path == "delete_tags":
        assert cache.invalidate(tags=["t"]) == 6
    elif path == "delete_pattern":
        assert cache.invalidate(pattern="entry*") == 5
    elif path == "clear":
        assert cache.clear() and cache.get_statistics()["cache_size"] == 0
    elif path == "report":
        assert cache.get_statistics()["sets"] == 6
    elif path == "top":
        assert len(cache.get_top_entries(10)) == 6
    elif path == "get_or_compute":  # flight_status and release_lock
        assert cache.get_or_compute("computed", lambda: "C") == "C" and cache.get("computed") == "C"
    assert cache.get_statistics()["errors"] == 0
    cache.close()
    if api == "async":
        backend.close()  # its own event loop's client


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_script_flushed_again_after_each_reload_is_loaded_again_up_to_the_attempts(own_redis, api):
    """Another client's SCRIPT FLUSH can land between a reload and the call again: the
    driver loads and calls again, SCRIPT_ATTEMPTS calls in all, then reports a BackendError."""
    client = admin(own_redis)
    with FaultProxy(own_redis.port) as proxy:
        cache = cache_on(proxy.url, strict=True, enable_semantic=False)
        cache.set("stored", "S")
        run = SyncViaAsync(cache) if api == "async" else cache
        flush = lambda: client.script_flush()  # noqa: E731 - before the server sees each EVALSHA
        proxy.on_command("EVALSHA", flush, times=SCRIPT_ATTEMPTS - 1)
        before = proxy.seen["EVALSHA"]
        assert run.get("stored") == "S"
        assert proxy.seen["EVALSHA"] - before == SCRIPT_ATTEMPTS
        proxy.on_command("EVALSHA", flush, times=SCRIPT_ATTEMPTS)
        with pytest.raises(BackendError):
            run.get("stored")
        proxy.clear_rules()
        assert run.get("stored") == "S"  # nothing was left half done
        assert cache.get_statistics()["exact_hits"] == 2
        cache.close()


def test_a_script_flush_in_the_middle_of_a_sweep_loses_no_page(own_redis):
    """The sweep pipelines "delete the last page" with "read the next page"; when
    the delete fails on NOSCRIPT, only the delete may be re-run - re-running
    the cursor read would skip a page."""
    client = admin(own_redis)
    backend = _fresh_backend(own_redis.url, max_size=None)
    backend.partition.PAGE = 10
    cache = LLMCachingManager(backend, embedder=None, strict=True)
    for i in range(100):
        cache.set(f"p{i}", i, tags=["bulk"])
    pages = 0
    page = backend.partition._page

    def flush_before_the_third_page(*args, **kwargs):
        nonlocal pages
        pages += 1
        if pages == 3:
            client.script_flush()
        return page(*args, **kwargs)

    backend.partition._page = flush_before_the_third_page  # type: ignore[method-assign]
    assert cache.invalidate(tags=["bulk"]) == 100
    assert cache.get_statistics()["cache_size"] == 0 and pages > 3


def test_after_flushall_the_next_write_recreates_the_index(own_redis):
    client = admin(own_redis)
    rng = np.random.default_rng(6)
    v = unit(rng, 8)
    cache = cache_on(own_redis.url, strict=True, enable_semantic=True, semantic_threshold=0.9)
    cache.set("before", "B", embedding=unit(rng, 8))
    index = cache.backend.index_name
    client.flushall()
    assert cache.set("after", "A", embedding=v)  # no lookup in between
    assert index in index_names(client)
    assert cache.get("a query", embedding=near(v, 0.99, rng)) == "A"


# -- SIGKILL, keep going, restart on the same port --------------------------------------


class Workload:
    """Threads doing set-then-get on their own keys (with vectors, so KNN runs too)
    until stopped, recording every exception and, for every hit, the phase of the
    test (``phase``, moved on by the test) its ``get`` began and ended in.

    Phases, not clock readings: a thread descheduled between a hit and reading the
    clock would date the hit late, and "a hit while the server was dead" must mean a
    ``get`` that began after the kill returned and ended before the restart began.
    """

    def __init__(self, cache: LLMCachingManager, threads: int = 8) -> None:
        self.cache = cache
        self.stop = threading.Event()
        self.phase = 0
        self.exceptions: list[BaseException] = []
        self.failed_invalidations = 0
        self.hits: list[set[tuple[int, int]]] = [set() for _ in range(threads)]  # (began, ended) phases
        self.rounds: list[dict[int, int]] = [{} for _ in range(threads)]  # phase -> rounds begun and ended in it
        self._changed = threading.Condition()
        rng = np.random.default_rng(1)
        self.vectors = [unit(rng, 8) for _ in range(16)]
        self.threads = [threading.Thread(target=self._run, args=(t,)) for t in range(threads)]

    def _run(self, t: int) -> None:
        i = 0
        while not self.stop.is_set():
            prompt, v = f"thread {t} key {i % 16}", self.vectors[i % 16]
            began = self.phase
            try:
                self.cache.set(prompt, [t, i], embedding=v, tags=[f"t{t}"])
                if self.cache.get(prompt, embedding=v) == [t, i]:
                    self.hits[t].add((began, self.phase))
                self.cache.get(f"thread {t} unknown {i}")
                if i % 50 == 0:
                    self.cache.invalidate(tags=[f"t{t}"])
            except InvalidationError:  # the one error on purpose: an invalidation that did not happen
                self.failed_invalidations += 1
            except BaseException as exc:  # the point of the test: nothing else may reach the caller
                self.exceptions.append(exc)
            if self.phase == began:
                self.rounds[t][began] = self.rounds[t].get(began, 0) + 1
            with self._changed:
                self._changed.notify_all()
            i += 1

    def __enter__(self) -> Workload:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _wait(self, done: Callable[[], bool], timeout: float) -> bool:
        """Until ``done()`` (checked after each round of any thread); ``timeout`` only bounds a hang."""
        with self._changed:
            return self._changed.wait_for(done, timeout=timeout)

    def wait_for_hits_in(self, phase: int, timeout: float = 120) -> bool:
        """Every thread has had a hit from a ``get`` that began in ``phase``."""
        return self._wait(lambda: all(any(b == phase for b, _ in hits) for hits in self.hits), timeout)

    def wait_for_rounds_in(self, phase: int, rounds: int, timeout: float = 120) -> bool:
        """Every thread ran ``rounds`` whole rounds within ``phase``."""
        return self._wait(lambda: all(done.get(phase, 0) >= rounds for done in self.rounds), timeout)


UP, DEAD, RESTARTING, RESTARTED = range(4)


def test_sigkill_mid_workload_then_restart_on_the_same_port(caplog):
    server = LocalRedis().start()
    try:
        # A killed server refuses connections at once: no short timeout is needed to see the
        # outage, and a long one keeps a busy machine's slow reply from being a second outage.
        cache = create_redis_cache_manager(
            url=server.url,
            socket_timeout=10,
            socket_connect_timeout=10,
            backend_kwargs={"name": "kill"},
            embedder=None,
            enable_semantic=True,
            semantic_threshold=0.95,
            circuit_breaker=CircuitBreaker(failure_threshold=3, cooldown=0.5),
        )
        with caplog.at_level(logging.WARNING, logger="redis_semcache"), Workload(cache) as load:
            assert load.wait_for_hits_in(UP)
            server.kill()
            load.phase = DEAD
            assert load.wait_for_rounds_in(DEAD, rounds=3)  # the workload keeps running against a dead server
            health = cache.health_check()
            assert health["status"] == "unhealthy"
            assert "unavailable" in health["reason"] or "circuit breaker" in health["reason"]
            load.phase = RESTARTING
            server.start()  # same port; an empty database (no persistence)
            load.phase = RESTARTED
            # Lookups recover by themselves: the breaker's probe lets traffic back in.
            assert load.wait_for_hits_in(RESTARTED), load.hits
        assert load.exceptions == []
        assert not any((DEAD, DEAD) in hits for hits in load.hits)  # no hit from a server that was dead throughout
        stats = cache.get_statistics()
        assert stats["errors"] > 0 and "backend_error" not in stats
        assert cache.health_check()["status"] == "healthy"
        failing = [r for r in caplog.records if "backend failing" in r.getMessage()]
        recovered = [r for r in caplog.records if "recovered" in r.getMessage()]
        assert len(failing) == 1, [r.getMessage()[:60] for r in caplog.records]  # once per outage, not once per call
        assert len(recovered) == 1
        cache.close()
    finally:
        server.close()


# -- entries that expired but are still in the index --------------------------------------


def test_expired_entries_still_in_the_index_are_skipped_by_searches_and_sweeps(own_redis):
    """With active expiry off, expired hashes linger (logically gone, still indexed)
    until something touches them - as they do on a busy server between expiry cycles.
    Found by the soak test: KNN replies then carry a candidate without fields, and a
    pattern sweep's FILTER meets a document without its pattern key."""
    client = admin(own_redis)
    client.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0)
    try:
        v = np.ones(8) / np.sqrt(8)
        w = near(v, 0.8, np.random.default_rng(3))
        cache = cache_on(own_redis.url, strict=True, enable_semantic=True, semantic_threshold=0.5, max_size=None)
        for i in range(20):  # the ten doomed ones nearest to v, the ten live ones at w
            cache.set(f"p{i}", i, embedding=v if i < 10 else w, ttl=100, tags=["t"])
        doomed = [make_cache_key(f"p{i}") for i in range(10)]
        for key in doomed:  # expire half of them, logically, without the server noticing yet
            client.pexpire(cache.backend._layout.entry_prefix(0) + key, 1)
        time.sleep(0.01)  # past those 1 ms expiries (not a cache TTL: the server's own clock)
        # A miss when the nearest candidates all expired; never an error (strict mode).
        # Nearest to v are expired hashes: never an error (strict mode), never one of them; a miss on
        # redis-server 8.2, whose KNN still returns them (whether a server skips them varies by version).
        assert cache.get("a query", embedding=v) in {None, *range(10, 20)}
        # Nearest to w are live entries only: a hit.
        assert cache.get("b query", embedding=w) in range(10, 20)
        assert cache.invalidate(pattern="p*") == 10
        assert all(cache.get(f"p{i}") is None for i in range(20))
    finally:
        client.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 1)


# -- the local fallback through a real outage; the async API -------------------------------


def test_the_local_fallback_serves_an_outage_and_nothing_is_copied_back(own_redis):
    """CLIENT PAUSE keeps the server's data, so what happens after the outage shows."""
    cache = cache_on(own_redis.url, fallback_backend=InMemoryCacheBackend(),
                     circuit_breaker=CircuitBreaker(failure_threshold=1, cooldown=0.3))  # fmt: skip
    assert cache.set("before", "on the server", tags=["t"])
    pauser = admin(own_redis)
    pauser.execute_command("CLIENT", "PAUSE", 2000, "ALL")
    try:
        assert cache.get("before") is None  # the server's entries are out of reach ...
        assert cache.set("during", "kept locally", tags=["t"]) is True  # ... writes go to the fallback
        assert cache.get("during") == "kept locally"
        with pytest.raises(InvalidationError):  # Redis still holds "before": no count is returned ...
            cache.invalidate(tags=["t"])
        assert cache.get("during") is None  # ... but the fallback did apply it
        assert cache.health_check()["status"] == "unhealthy"
    finally:
        pauser.execute_command("CLIENT", "UNPAUSE")
    time.sleep(0.3)  # the breaker's cooldown
    assert cache.get("before") == "on the server"  # the invalidation during the outage never reached it
    assert cache.get("during") is None  # not copied back
    assert cache.breaker.state == "closed" and cache.health_check()["status"] == "healthy"


def test_the_async_api_fails_open_within_the_timeouts_too():
    cache = cache_on(f"redis://127.0.0.1:{free_port()}/0", circuit_breaker=None)

    async def calls():
        return await cache.aget("q"), await cache.aset("q", "a"), await cache.ahealth_check()

    (got, stored, health), elapsed = timed(asyncio.run, calls())
    assert got is None and stored is False and health["status"] == "unhealthy"
    assert elapsed < BOUND
