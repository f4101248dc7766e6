"""Removals outlive a failover: they wait for the replicas (WAIT / WAITAOF), or raise.

A replica is stopped (SIGSTOP: it keeps its connection to the primary but
acknowledges nothing) to open the window deterministically in which a
deletion exists only on the primary.  Its own 3-primary, 3-replica cluster,
so stopping replicas and killing primaries here leaves the other cluster
tests alone; and a single primary with one replica for the plain driver.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import redis

from redis_semcache import LLMCachingManager, make_cache_key
from redis_semcache._errors import ConfigurationError, InvalidationError, ReplicationPendingError
from redis_semcache.backends.redis import RedisCacheBackend

from ..redis_cluster import LocalCluster
from ..redis_server import LocalRedis


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    started = LocalCluster().start()
    try:
        yield started
    finally:
        started.stop()


def _until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait on a state (polling), not on time."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _online_replicas(port: int) -> int:
    info = redis.Redis(port=port).info("replication")
    return sum(1 for k, v in info.items() if k.startswith("slave") and isinstance(v, dict) and v["state"] == "online")


def _replica_of(primary: int, ports: list[int]) -> int:
    for port in ports:
        info = redis.Redis(port=port).info("replication")
        if info["role"] == "slave" and int(info["master_port"]) == primary:
            return port
    raise AssertionError(f"no replica of {primary}")


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    """The replica keeps its link open but reads and acknowledges nothing."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _caught_up(primary: int) -> bool:
    """The primary's view (a stopped replica cannot be asked): every replica acknowledged its last write."""
    info = redis.Redis(port=primary).info("replication")
    acked = [v["offset"] for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
    return bool(acked) and min(acked) >= info["master_repl_offset"]


def _fill(manager: LLMCachingManager, n: int, tag: str = "t") -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    vectors = [rng.normal(size=8).astype(np.float32) for _ in range(n)]
    for i, vec in enumerate(vectors):
        assert manager.set(f"q{i}", f"a{i}", model="m", tags=[tag], embedding=vec)
    return vectors


def test_an_unacknowledged_invalidation_raises_and_a_confirmed_one_survives_failover(cluster):
    backend = RedisCacheBackend(
        cluster_mode=True, cluster_nodes=cluster.nodes, name="wait-failover", dimension=8, replica_timeout=0.2
    )
    manager = LLMCachingManager(backend, enable_semantic=True, strict=True, circuit_breaker=None)
    vectors = _fill(manager, 60)
    primary = cluster.primaries()[0]
    replica = _replica_of(primary, cluster.ports)
    _until(lambda: _online_replicas(primary) == 1, "the replica online")
    with stopped(cluster.procs[replica].pid):
        with pytest.raises(ReplicationPendingError, match="replicas acknowledged") as caught:
            manager.invalidate(tags=["t"])
        # Every partition swept to its end: the primaries deleted all 60 (none is served now) ...
        assert caught.value.deleted == 60
        assert manager.get("q0", model="m", embedding=vectors[0]) is None
        # ... but the stopped replica does not hold the deletion yet: a failover now would bring them back.
        assert not _caught_up(primary)
    _until(lambda: _caught_up(primary), "the replica to catch up")
    _fill(manager, 60)
    assert manager.invalidate(tags=["t"]) == 60  # acknowledged by every replica: a normal return
    cluster.kill(primary)  # the failover: the replica that acknowledged is promoted
    _until(lambda: len(cluster.primaries()) == 3, "the replica promoted", timeout=60)
    cluster.wait_ok(timeout=30)
    live = [{"host": "127.0.0.1", "port": p} for p in cluster.ports if cluster.procs[p].poll() is None]
    fresh = LLMCachingManager(
        RedisCacheBackend(cluster_mode=True, cluster_nodes=live, name="wait-failover", dimension=8),
        enable_semantic=True, strict=True,
    )  # fmt: skip
    for i, vec in enumerate(vectors):
        assert fresh.get(f"q{i}", model="m", embedding=vec) is None
        assert fresh.get(f"paraphrase {i}", model="m", embedding=vec) is None
    fresh.backend.drop()
    fresh.close()


def test_async_cluster_clear_waits_for_replicas_too(cluster):
    async def scenario() -> None:
        backend = RedisCacheBackend(
            cluster_mode=True, cluster_nodes=cluster.nodes, name="wait-async", replica_timeout=0.2
        )
        manager = LLMCachingManager(backend, strict=True, circuit_breaker=None)
        for i in range(20):
            assert await manager.aset(f"q{i}", f"a{i}", model="m")
        live = [p for p in cluster.ports if cluster.procs[p].poll() is None]
        replica = next(p for p in live if redis.Redis(port=p).info("replication")["role"] == "slave")
        with stopped(cluster.procs[replica].pid):
            with pytest.raises(InvalidationError, match="replicas acknowledged") as caught:
                await manager.aclear()
            assert caught.value.deleted == 20
        primary = int(redis.Redis(port=replica).info("replication")["master_port"])
        await asyncio.to_thread(_until, lambda: _caught_up(primary), "the replica to catch up")
        await manager.aclear()  # acknowledged: a normal return
        assert await backend.asize() == 0
        backend.drop()
        await backend.aclose()

    asyncio.run(scenario())


@pytest.fixture
def primary_and_replica() -> Iterator[tuple[LocalRedis, LocalRedis]]:
    with LocalRedis() as primary, LocalRedis() as replica:
        redis.Redis(port=replica.port).replicaof("127.0.0.1", primary.port)
        _until(lambda: _online_replicas(primary.port) == 1, "the replica online")
        yield primary, replica


def test_single_node_invalidate_keys_and_drop_wait_for_the_replica(primary_and_replica):
    primary, replica = primary_and_replica
    assert replica.proc is not None
    backend = RedisCacheBackend(url=primary.url, name="wait-single", replica_timeout=0.2)
    manager = LLMCachingManager(backend)  # non-strict, with the default circuit breaker
    for i in range(5):
        assert manager.set(f"q{i}", "a", model="m", tags=["t"])
    with stopped(replica.proc.pid):
        with pytest.raises(ReplicationPendingError, match="0 of 1 replicas") as caught:
            manager.invalidate(keys=[make_cache_key("q0", model="m")])
        assert caught.value.deleted == 1
        for _ in range(3):  # the primary answers: a slow replica never opens the breaker for lookups
            with pytest.raises(ReplicationPendingError):
                manager.invalidate(tags=["t"])
        assert manager.failures.breaker is not None and manager.failures.breaker.state == "closed"
        assert manager.get("q4", model="m") is None and manager.set("q5", "a", model="m")
        assert manager.get("q5", model="m") == "a"
        with pytest.raises(ReplicationPendingError):
            backend.drop()
    _until(lambda: _caught_up(primary.port), "the replica to catch up")
    assert manager.invalidate(keys=[make_cache_key("q1", model="m")]) == 0  # dropped meanwhile
    backend.drop()
    # wait_replicas=0 opts out: a removal no longer waits for the (stopped) replica.
    unsafe = RedisCacheBackend(url=primary.url, name="wait-single", wait_replicas=0, replica_timeout=0.2)
    LLMCachingManager(unsafe, strict=True).set("q", "a", model="m")
    with stopped(replica.proc.pid):
        assert LLMCachingManager(unsafe, strict=True).invalidate(keys=[make_cache_key("q", model="m")]) == 1
    unsafe.drop()


def test_wait_aof_adds_waitaof_and_a_single_node_without_replicas_sends_neither():
    with LocalRedis(extra_args=("--appendonly", "yes")) as aof:
        # appendfsync everysec: the fsync may take up to a second, so both timeouts are raised.
        backend = RedisCacheBackend(url=aof.url, name="wait-aof", wait_aof=True, replica_timeout=2, socket_timeout=5)
        manager = LLMCachingManager(backend, strict=True)
        manager.set("q", "a", model="m", tags=["t"])
        assert manager.invalidate(tags=["t"]) == 1
        stats = redis.Redis(port=aof.port).info("commandstats")
        assert stats["cmdstat_waitaof"]["calls"] == 1 and "cmdstat_wait" not in stats
        backend.drop()
        by_default = RedisCacheBackend(url=aof.url, name="wait-aof")  # wait_aof off: no AOF wait
        LLMCachingManager(by_default, strict=True).clear()
        assert redis.Redis(port=aof.port).info("commandstats")["cmdstat_waitaof"]["calls"] == 2  # drop's settle
        by_default.drop()
    with LocalRedis() as plain:
        backend = RedisCacheBackend(url=plain.url, name="wait-none")
        manager = LLMCachingManager(backend, strict=True)
        manager.set("q", "a", model="m", tags=["t"])
        assert manager.invalidate(tags=["t"]) == 1
        manager.clear()
        stats = redis.Redis(port=plain.port).info("commandstats")
        assert "cmdstat_waitaof" not in stats and "cmdstat_wait" not in stats
        backend.drop()


def test_durability_settings_are_checked():
    for bad in ({"wait_replicas": -1}, {"wait_replicas": True}, {"replica_timeout": 0},
                {"replica_timeout": float("nan")}, {"replica_timeout": 1.0}):  # fmt: skip
        with pytest.raises(ConfigurationError):
            RedisCacheBackend(url="redis://127.0.0.1:1", **bad)  # (no connection is made)
