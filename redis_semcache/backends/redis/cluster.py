"""Redis Cluster: the cache split into hash-tagged partitions, one index each.

Open-source RediSearch has no cluster coordinator: each node indexes only its
own keys.  So a clustered cache is P partitions (:class:`.layout.KeyLayout`),
each with its own hash tag ``{<name>:<p>}``: its keys, its index and every
Lua script call sit in one slot, on one node.  An entry's partition comes from
its scope id, so a lookup is one KNN query on one node.

:class:`ClusterCacheBackend` routes by partition and fans out:

* lookups, stores, locks, ``delete_keys``       -> the key's partition
* invalidation by tag / version / pattern, clear -> every partition, counts summed
* size, counters                                  -> summed; ``top_entries`` merged
* ``max_size``                                    -> ceil(max_size / P) per partition

Each partition is a :class:`.partition.Partition`, the very plans a single
Redis runs; the cluster drivers below send its FT.* commands to the node
owning its slot.  An index missing after a failover or a reshard is recreated
on the new owner by the same plans ("no such index" -> resolve again).  The
async driver runs a fan-out's partitions concurrently.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio.cluster as async_cluster
from redis import exceptions as rx
from redis.asyncio.retry import Retry as AsyncRetry
from redis.cluster import ClusterNode, RedisCluster

from ..._entry import CacheEntry
from ..._enums import CacheStrategy
from ..._errors import ConfigurationError, DimensionMismatchError, InvalidInputError
from ..._keys import split_key
from ..base import COUNTERS, SORT_FIELDS, Match, SemanticQuery
from .backend import RedisCacheBackend, index_settings
from .client import RETRIES, RETRY_BACKOFF, RETRY_ON, describe
from .codec import text
from .errors import REDIS_ERRORS
from .layout import KeyLayout, check_name
from .partition import Partition
from .scripts import NAMES, source
from .wire import AsyncDriver, Command, FanOut, SyncDriver, WirePlan

__all__ = ["DEFAULT_PARTITIONS", "ClusterCacheBackend", "partition_budget"]

DEFAULT_PARTITIONS = 16
# Slot moves (failover, reshard) seen by an FT command: refresh the slot map and retry.
_ROUTING_RETRIES = 3
_ROUTING_ERRORS = (
    rx.MovedError, rx.AskError, rx.TryAgainError, rx.ClusterDownError, rx.ConnectionError, rx.SlotNotCoveredError,
)  # fmt: skip


def partition_budget(max_size: int | None, partitions: int) -> int | None:
    """Each partition's share of ``max_size`` (an approximation: partitions fill unevenly)."""
    return None if max_size is None else max(1, math.ceil(max_size / partitions))


class _ClusterSyncDriver(SyncDriver):
    """Search commands go to their partition's node; SCRIPT LOAD to every primary."""

    def command(self, command: Command) -> Any:
        if command.route is None:
            return self.client.execute_command(*command.args)  # redis-py routes by key
        for attempt in range(_ROUTING_RETRIES + 1):
            try:
                node = self.client.get_node_from_key(command.route)
                return self.client.execute_command(*command.args, target_nodes=node)
            except _ROUTING_ERRORS:
                if attempt == _ROUTING_RETRIES:
                    raise
                self.client.nodes_manager.initialize()  # learn the new slot owner
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def pipeline(self, commands: Sequence[Command]) -> list[Any]:
        if any(c.route is not None for c in commands):  # a cluster pipeline cannot route FT commands
            return [_outcome(self.command, c) for c in commands]
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command.args, **_target(self.client, command))
        return list(pipe.execute(raise_on_error=False))

    def load_scripts(self) -> None:
        for name in NAMES:
            self.client.script_load(source(name))


def _target(client: Any, command: Command) -> dict[str, Any]:
    """``target_nodes`` for a script call in a cluster pipeline: its first key's node.

    Told nothing, redis-py 8's cluster pipeline asks the server for the keys of
    every EVALSHA (COMMAND GETKEYS): one extra round trip per pipelined script.
    """
    args = command.args
    if str(args[0]).upper() in ("EVAL", "EVALSHA") and int(args[2]) > 0:
        return {"target_nodes": client.get_node_from_key(args[3])}
    return {}


class _ClusterAsyncDriver(AsyncDriver):
    """The async twin of :class:`_ClusterSyncDriver`."""

    async def command(self, command: Command) -> Any:
        if command.route is None:
            return await self.client.execute_command(*command.args)
        await self.client.initialize()  # the slot map (a no-op once the client is set up)
        for attempt in range(_ROUTING_RETRIES + 1):
            try:
                node = self.client.get_node_from_key(command.route)
                return await self.client.execute_command(*command.args, target_nodes=node)
            except _ROUTING_ERRORS:
                if attempt == _ROUTING_RETRIES:
                    raise
                await self.client.nodes_manager.initialize()
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    async def pipeline(self, commands: Sequence[Command]) -> list[Any]:
        if any(c.route is not None for c in commands):
            results = []
            for c in commands:
                try:
                    results.append(await self.command(c))
                except REDIS_ERRORS as exc:
                    results.append(exc)
            return results
        return await super().pipeline(commands)

    async def load_scripts(self) -> None:
        for name in NAMES:
            await self.client.script_load(source(name))


def _cluster_size(info: Any) -> int:
    """Primaries serving slots, from a CLUSTER INFO reply (raw text, or parsed by redis-py)."""
    if not isinstance(info, dict):
        info = dict(line.split(":", 1) for line in text(info).splitlines() if ":" in line)
    return int(text(info["cluster_size"]))


def _outcome(run: Any, command: Command) -> Any:
    """A command's result or its redis-py error, as a pipeline reports them."""
    try:
        return run(command)
    except REDIS_ERRORS as exc:
        return exc


class ClusterCacheBackend(RedisCacheBackend):
    """The cache on a Redis Cluster: ``RedisCacheBackend(cluster_mode=True, ...)`` builds one.

    Connect with ``cluster_nodes=[{"host": ..., "port": ...}, ...]`` (or ``url``,
    or ``host``/``port`` of any node) and ``username``/``password``/``ssl``, or
    pass a ready ``redis.cluster.RedisCluster`` as ``client`` and/or a
    ``redis.asyncio.cluster.RedisCluster`` as ``async_client`` (never closed here).
    ``partitions`` is the number of hash-tagged partitions (default 16).
    The other keywords are those of the single-node backend.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        cluster_mode: bool = True,
        cluster_nodes: Sequence[Mapping[str, Any]] | None = None,
        partitions: int | None = None,
        host: str = "localhost",
        port: int = 6379,
        username: str | None = None,
        password: str | None = None,
        ssl: bool = False,
        client: RedisCluster | None = None,
        async_client: async_cluster.RedisCluster | None = None,
        name: str = "llmcache",
        max_size: int | None = 10_000,
        eviction_strategy: CacheStrategy | str = CacheStrategy.LRU,
        sliding_ttl: bool = False,
        index_algorithm: str = "FLAT",
        hnsw_m: int = 16,
        hnsw_ef_construction: int = 200,
        hnsw_ef_runtime: int = 10,
        dimension: int | None = None,
        socket_timeout: float | None = 1.0,
        socket_connect_timeout: float | None = 1.0,
        clock: Any = time.time,
    ) -> None:
        self.name = check_name(name)
        count = DEFAULT_PARTITIONS if partitions is None else partitions
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigurationError(f"partitions must be a positive int, got {partitions!r}")
        self._index_settings = index_settings(index_algorithm, hnsw_m, hnsw_ef_construction, hnsw_ef_runtime, dimension)
        build_async = None
        if client is not None or async_client is not None:
            if url is not None or cluster_nodes is not None:
                raise ConfigurationError("pass either client=/async_client= or url=/cluster_nodes=, not several")
        else:
            common: dict[str, Any] = {
                "username": username, "password": password, "ssl": ssl,
                "socket_timeout": socket_timeout, "socket_connect_timeout": socket_connect_timeout,
            }  # fmt: skip
            nodes = [(str(n["host"]), int(n["port"])) for n in (cluster_nodes or [{"host": host, "port": port}])]
            if url is not None:  # the scheme says whether to use TLS; redis-py refuses ssl= with a URL
                common.pop("ssl")
                client = RedisCluster.from_url(url, **common)
            else:
                client = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in nodes], **common)

            def build_async() -> async_cluster.RedisCluster:
                retry = AsyncRetry(RETRY_BACKOFF, RETRIES, supported_errors=RETRY_ON)
                if url is not None:
                    return async_cluster.RedisCluster.from_url(url, retry=retry, **common)
                startup = [async_cluster.ClusterNode(h, p) for h, p in nodes]
                return async_cluster.RedisCluster(startup_nodes=startup, retry=retry, **common)

        any_client: Any = client if client is not None else async_client
        where = f"cluster via {describe(any_client.get_default_node().redis_connection)}" if client else "cluster"
        self._connect(client, async_client, None, build_async=build_async, where=where)
        self._layout = KeyLayout(self.name, count)
        self._parts = [
            Partition(
                self._layout, p, self._index_settings, max_size=partition_budget(max_size, count),
                eviction_strategy=CacheStrategy(eviction_strategy), sliding_ttl=sliding_ttl, clock=clock,
            )
            for p in range(count)
        ]  # fmt: skip
        self._part = self._parts[0]
        self._dim: int | None = dimension
        self.max_size = max_size
        self.eviction_strategy = CacheStrategy(eviction_strategy)
        self.sliding_ttl = bool(sliding_ttl)

    def _sync_driver(self, client: Any) -> SyncDriver:
        return _ClusterSyncDriver(client, self._where, self._secrets)

    def _async_driver(self, client: Any) -> AsyncDriver:
        return _ClusterAsyncDriver(client, self._where, self._secrets)

    def __repr__(self) -> str:
        return f"RedisCacheBackend(name={self.name!r}, server={self._where!r}, partitions={len(self._parts)})"

    @property
    def partitions(self) -> int:
        return len(self._parts)

    def _part_of(self, key_or_scope: str) -> Partition:
        return self._parts[self._layout.partition_of(key_or_scope)]

    # -- configuration -------------------------------------------------

    def configure(self, *, max_size: int | None, eviction_strategy: CacheStrategy, sliding_ttl: bool) -> None:
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1):
            raise InvalidInputError(f"max_size must be a positive int or None, got {max_size!r}")
        budget = partition_budget(max_size, len(self._parts))
        for part in self._parts:
            part.configure(max_size=budget, eviction_strategy=eviction_strategy, sliding_ttl=sliding_ttl)
        self.max_size = max_size
        self.eviction_strategy = CacheStrategy(eviction_strategy)
        self.sliding_ttl = bool(sliding_ttl)

    @property
    def dimension(self) -> int | None:
        if self._dim is not None:
            return self._dim
        return next((part.dimension for part in self._parts if part.dimension is not None), None)

    def _check_dim(self, entry: CacheEntry) -> None:
        """One dimension for the whole cache, as on a single node (partitions learn it separately)."""
        if entry.embedding is None:
            return
        dim = int(entry.embedding.shape[0])
        known = self.dimension
        if known is not None and known != dim:
            raise DimensionMismatchError(known, dim)
        if self._dim is None:
            self._dim = dim
            for part in self._parts:
                part.learn_dimension(dim)

    # -- plans routed to one partition -------------------------------------

    def _plan_lookup_exact(self, key: str, version: str | None, final: bool) -> WirePlan[CacheEntry | None]:
        return self._part_of(key).lookup_exact(key, version=version, final=final)

    def _plan_count_skipped_long(self, key: str, count_miss: bool) -> WirePlan[None]:
        return self._part_of(key).count_skipped_long(count_miss)

    def _plan_lookup_semantic(self, query: SemanticQuery) -> WirePlan[Match | None]:
        return self._part_of(query.scope).lookup_semantic(query)

    def _plan_store(self, entry: CacheEntry, ttl: float | None) -> WirePlan[None]:
        self._check_dim(entry)
        return self._part_of(entry.key).store(entry, ttl)

    def _plan_acquire_lock(self, key: str, token: str, ttl: float) -> WirePlan[bool]:
        return self._part_of(key).acquire_lock(key, token, ttl)

    def _plan_release_lock(self, key: str, token: str) -> WirePlan[bool]:
        return self._part_of(key).release_lock(key, token)

    def _plan_flight_status(self, key: str, version: str | None) -> WirePlan[tuple[CacheEntry | None, bool]]:
        return self._part_of(key).flight_status(key, version)

    def _plan_count_flight(self, key: str, joined: bool) -> WirePlan[None]:
        return self._part_of(key).count_flight(joined)

    # -- plans grouped by partition, or fanned out to all -------------------------

    def _plan_store_many(self, items: Sequence[tuple[CacheEntry, float | None]]) -> WirePlan[int]:
        groups: dict[int, list[tuple[CacheEntry, float | None]]] = {}
        for entry, ttl in items:
            self._check_dim(entry)
            groups.setdefault(self._layout.partition_of(entry.key), []).append((entry, ttl))
        return sum((yield FanOut(tuple(self._parts[p].store_many(group) for p, group in groups.items()))))

    def _plan_delete_keys(self, keys: Sequence[str]) -> WirePlan[int]:
        groups: dict[int, list[str]] = {}
        for key in keys:
            if split_key(key) is not None:  # anything else names no entry
                groups.setdefault(self._layout.partition_of(key), []).append(key)
        return sum((yield FanOut(tuple(self._parts[p].delete_keys(group) for p, group in groups.items()))))

    def _plan_delete_tags(self, tags: Sequence[str]) -> WirePlan[int]:
        return sum((yield FanOut(tuple(part.delete_tags(tags) for part in self._parts)))) if tags else 0

    def _plan_delete_version(self, version: str) -> WirePlan[int]:
        return sum((yield FanOut(tuple(part.delete_version(version) for part in self._parts))))

    def _plan_delete_pattern(self, pattern: str) -> WirePlan[int]:
        return sum((yield FanOut(tuple(part.delete_pattern(pattern) for part in self._parts))))

    def _plan_clear(self) -> WirePlan[None]:
        yield FanOut(tuple(part.clear() for part in self._parts))

    def _plan_size(self) -> WirePlan[int]:
        return sum((yield FanOut(tuple(part.size() for part in self._parts))))

    def _plan_counters(self) -> WirePlan[dict[str, int]]:
        totals = dict.fromkeys(COUNTERS, 0)
        for counts in (yield FanOut(tuple(part.counters() for part in self._parts))):
            for counter, value in counts.items():
                totals[counter] = totals.get(counter, 0) + value
        return totals

    def _plan_reset_counters(self) -> WirePlan[None]:
        yield FanOut(tuple(part.reset_counters() for part in self._parts))

    def _plan_top_entries(self, limit: int, sort_by: str) -> WirePlan[list[CacheEntry]]:
        if sort_by not in SORT_FIELDS:
            raise InvalidInputError(f"sort_by must be one of {SORT_FIELDS}, got {sort_by!r}")
        if limit <= 0:
            return []
        tops = yield FanOut(tuple(part.top_entries(limit, sort_by) for part in self._parts))
        merged = [e for entries in tops for e in entries]
        return sorted(merged, key=lambda e: getattr(e, sort_by), reverse=True)[:limit]

    def _plan_health(self) -> WirePlan[dict[str, Any]]:
        report = yield from self._parts[0].health()
        info = yield self._parts[0].on_node("CLUSTER", "INFO")
        report.update(
            server=self._where,
            entries=(yield from self._plan_size()),
            max_size=self.max_size,
            partitions=len(self._parts),
            cluster_primaries=_cluster_size(info),
        )
        return report

    def _plan_drop_indexes(self) -> WirePlan[None]:
        yield FanOut(tuple(part.drop_indexes() for part in self._parts))

    def drop(self) -> None:
        """Delete this cache completely: every partition's indexes, then its keys on every primary."""
        self._run(self._plan_drop_indexes())
        cluster: Any = self._client
        with self._translate():
            for node in cluster.get_primaries():
                conn = cluster.get_redis_connection(node)
                pipe = conn.pipeline(transaction=False)
                for key in conn.scan_iter(match=self._layout.key_pattern(), count=1000):
                    pipe.unlink(key)  # one key per command: keys of different slots never share one
                pipe.execute()
