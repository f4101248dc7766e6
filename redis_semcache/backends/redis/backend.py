"""RedisCacheBackend: the backend contract over Redis with RediSearch, sync and async.

Every operation is written once, as a plan of one partition (partition.py).
This class connects and drives: each public method runs its plan with the
blocking driver, and each ``a``-prefixed twin runs the same plan on
``redis.asyncio`` (wire.py).  Round trips per operation, once the backend is
ready (measured in tests/integration/test_round_trips.py), the same for both:

=================================  ===========================================
exact hit / exact miss             1 (lookup.lua)
lookup: exact, then semantic       1 (lookup.lua: both checks and the bookkeeping), for a
                                   request whose vector is known before the call
semantic lookup, no ``accept``     1 more (lookup.lua: the search and the bookkeeping)
semantic lookup with ``accept``    1 more, plus 1 per accepted candidate (touch.lua)
store                              1 (store.lua), +1 per extra eviction batch
store_many                         1 per STORE_BATCH entries (pipelined store.lua)
delete_keys                        1 per 500 ids
delete_tags/version/pattern        pages + 1 (page read and delete pipelined)
clear                              pages + 2 (the sweep, then report.lua)
size, counters                     1 (report.lua)
top_entries                        1 (top.lua)
acquire_lock, release_lock         1 (SET NX PX; release_lock.lua)
flight_status                      1 (flight_status.lua)
count_flight                       1 (HINCRBY, or two pipelined)
count_exploration                  1 (HINCRBY)
record_label, label_counts         1 (pipelined HINCRBY+LPUSH+LTRIM / HGETALL+LRANGE, labels.py)
=================================  ===========================================

Construction with a blocking client asks ``FT._LIST`` once (probe.py): a
reachable server without RediSearch raises SearchModuleMissingError there.
The first operation also checks for the search module, resolves or creates
the index and loads the scripts (2-4 round trips, once).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from ..._entry import CacheEntry
from ..._enums import CacheStrategy
from ..._errors import ConfigurationError
from ...quality.labels import LabelCounts
from ..base import Match, SemanticQuery, check_max_size
from .client import ConnectionSettings, describe, is_cluster_client, parse_cluster_nodes, secrets_of
from .cluster import DEFAULT_PARTITIONS, ClusterAsyncDriver, ClusterSyncDriver
from .errors import translate
from .index import DEFAULT_DTYPE
from .labels import read_labels, record_label
from .layout import KeyLayout, check_name
from .loops import LoopDrivers
from .partition import Partition, Settings
from .probe import refuse_cluster_node, require_search
from .replication import Durability
from .routing import Routing, partition_budget
from .schema import ALGORITHMS, VectorConfig
from .wire import AsyncDriver, SyncDriver, WirePlan

__all__ = ["RedisCacheBackend"]

T = TypeVar("T")

_NO_SYNC_CLIENT = "this backend was given only async_client=: use the a-prefixed methods, or pass client= too"


class RedisCacheBackend:
    """Cache entries in Redis hashes, searched with a RediSearch vector index.

    Connect with ``url`` (``redis://``, ``rediss://``, ``unix://``) or
    ``host``/``port``/``username``/``password``/``db``/``ssl*``: the backend then
    makes a blocking client, and a ``redis.asyncio`` client per event loop for
    the ``a``-prefixed methods.  Or pass ready clients: ``client`` (a
    ``redis.Redis``) and/or ``async_client`` (a ``redis.asyncio.Redis``); the
    backend never closes those, and with only one of them the methods of the
    other kind raise ConfigurationError.  ``name`` separates caches sharing one
    Redis.  ``dimension`` fixes the vector size up front; otherwise the first
    stored embedding fixes it.  ``vector_dtype`` ("FLOAT16", "BFLOAT16" or
    "FLOAT32", any case) is the type of the vectors in the index; unset, a new
    cache gets FLOAT16 (half the memory and scan time; its error is in
    docs/semantics.md) and an existing one keeps its type.  BFLOAT16 scans a
    little faster than FLOAT16 but rounds 8 times coarser (a wider slack).
    ``clock`` supplies the timestamps used for LRU/LFU/FIFO order and reported
    times; TTLs themselves are kept by Redis (PEXPIRE).

    Removals (invalidation, ``clear``, ``drop``) wait for the replicas of each
    partition's node to acknowledge them (``WAIT``): ``wait_replicas`` of them
    (None: every replica online), for at most ``replica_timeout`` seconds (None:
    0.5, or half ``socket_timeout`` if shorter), else
    InvalidationError; ``wait_aof=True`` also waits for the AOF fsync where
    appendonly is on (``WAITAOF``; see replication.py).

    Redis Cluster: ``cluster_mode=True`` (or ready ``RedisCluster`` clients)
    splits the cache into ``partitions`` hash-tagged partitions (default 16,
    see routing.py).  The same keywords build the cluster clients, starting
    from ``cluster_nodes=[{"host": ..., "port": ...}, ...]``, else ``url`` or
    ``host``/``port`` of any node; ``db`` must stay 0 there.
    """

    blocking_io = True  # every call waits on the network

    def __init__(
        self,
        url: str | None = None,
        *,
        cluster_mode: bool = False,
        cluster_nodes: Sequence[Mapping[str, Any]] | None = None,
        partitions: int | None = None,
        host: str = "localhost",
        port: int = 6379,
        username: str | None = None,
        password: str | None = None,
        db: int = 0,
        ssl: bool = False,
        ssl_ca_certs: str | None = None,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        client: redis.Redis | RedisCluster | None = None,
        async_client: redis.asyncio.Redis | AsyncRedisCluster | None = None,
        name: str = "llmcache",
        max_size: int | None = 10_000,
        eviction_strategy: CacheStrategy | str = CacheStrategy.LRU,
        sliding_ttl: bool = False,
        index_algorithm: str = "FLAT",
        hnsw_m: int = 16,
        hnsw_ef_construction: int = 200,
        hnsw_ef_runtime: int | None = None,
        vector_dtype: str | None = None,
        dimension: int | None = None,
        socket_timeout: float | None = 1.0,
        socket_connect_timeout: float | None = 1.0,
        wait_replicas: int | None = None,
        replica_timeout: float | None = None,
        wait_aof: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = check_name(name)
        own_timeout = socket_timeout if client is None and async_client is None else None
        durability = Durability.build(wait_replicas, replica_timeout, wait_aof, own_timeout)
        self._index_settings = index_settings(
            index_algorithm, hnsw_m, hnsw_ef_construction, hnsw_ef_runtime, dimension, vector_dtype
        )
        given = [c for c in (client, async_client) if c is not None]
        clustered = bool(cluster_mode) or any(is_cluster_client(c) for c in given)
        if clustered and not all(is_cluster_client(c) for c in given):
            raise ConfigurationError("cluster_mode=True needs RedisCluster clients as client=/async_client=")
        count = _partition_count(partitions, clustered)
        settings: ConnectionSettings | None = None
        if not given:
            settings = ConnectionSettings(
                url=url, host=host, port=port, username=username, password=password, db=db, ssl=ssl,
                ssl_ca_certs=ssl_ca_certs, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile,
                socket_timeout=socket_timeout, socket_connect_timeout=socket_connect_timeout,
                cluster=clustered, cluster_nodes=parse_cluster_nodes(cluster_nodes),
            )  # fmt: skip
            client = settings.build()
        elif url is not None or cluster_nodes is not None:
            raise ConfigurationError("pass either client=/async_client= or url=/cluster_nodes=, not both")
        self._drivers = (ClusterSyncDriver, ClusterAsyncDriver) if clustered else (SyncDriver, AsyncDriver)
        self._connect(client, async_client, settings)
        self._layout = KeyLayout(self.name, count)
        preflight = None if clustered else (lambda: refuse_cluster_node(self._where))
        parts = [
            Partition(
                self._layout, p, self._index_settings, max_size=partition_budget(check_max_size(max_size), count),
                eviction_strategy=CacheStrategy(eviction_strategy), sliding_ttl=sliding_ttl, clock=clock,
                preflight=preflight, durability=durability,
            )
            for p in range(count)
        ]  # fmt: skip
        self.routing = Routing(self._layout, parts, clustered=clustered)
        self.routing.max_size = max_size
        self._adopt_settings()
        if self._sync is not None:  # a reachable server without RediSearch: say so now, not at every call
            self._run(require_search(parts[0].on_node("FT._LIST")))

    def _connect(self, client: Any, async_client: Any, settings: ConnectionSettings | None) -> None:
        """Set up the drivers: one blocking, and one async per event loop (or the caller's)."""
        self._owns_client = settings is not None
        self._where = describe(client if client is not None else async_client)
        self._secrets = secrets_of(client if client is not None else async_client, settings)
        self._client = client  # the blocking client (None when only async_client was given)
        sync_driver, async_driver = self._drivers
        self._sync = None if client is None else sync_driver(client, self._where, self._secrets)
        self._given_async = None if async_client is None else async_driver(async_client, self._where, self._secrets)
        build = settings.build_async if settings is not None else None
        self._loop_drivers = (
            None if build is None else LoopDrivers(lambda: async_driver(build(), self._where, self._secrets))
        )

    def _adopt_settings(self) -> None:
        first = self.routing.partitions[0]
        self.max_size = self.routing.max_size
        self.eviction_strategy = first.eviction_strategy
        self.sliding_ttl = first.sliding_ttl

    def __repr__(self) -> str:
        clustered = self.routing.clustered
        where = f"partitions={self.partitions}" if clustered else f"index={self._index_settings.algorithm}"
        return f"RedisCacheBackend(name={self.name!r}, server={self._where!r}, {where})"

    # -- configuration (no I/O) ---------------------------------------------

    def configure(self, *, max_size: int | None, eviction_strategy: CacheStrategy, sliding_ttl: bool) -> None:
        """Apply settings; a lowered max_size is enforced on the next operation (no I/O here)."""
        self.routing.configure(max_size=check_max_size(max_size), eviction_strategy=eviction_strategy,
                               sliding_ttl=sliding_ttl)  # fmt: skip
        self._adopt_settings()

    @property
    def index_algorithm(self) -> str:
        return self._index_settings.algorithm

    @property
    def hnsw_ef_runtime(self) -> int | None:
        """EF_RUNTIME of HNSW queries, None to scale it with the partition's entry count;
        may be changed at any time (it is a query argument)."""
        return self._index_settings.hnsw_ef_runtime

    @hnsw_ef_runtime.setter
    def hnsw_ef_runtime(self, value: int | None) -> None:
        self._index_settings.hnsw_ef_runtime = check_ef_runtime(value)

    @property
    def dimension(self) -> int | None:
        """The vector dimension, once known (no I/O)."""
        return self.routing.dimension

    @property
    def index_name(self) -> str | None:
        """The full name of the search index in use (None before first use; on a cluster, partition 0's)."""
        return self.routing.partitions[0].index_name

    @property
    def partitions(self) -> int:
        """How many hash-tagged partitions hold this cache (1 on a single node)."""
        return len(self.routing.partitions)

    @property
    def partition(self) -> Partition:
        """The partition holding this cache (its plans and tunables, e.g. ``PAGE``).

        A clustered cache has several: use ``routing.partitions`` or
        ``routing.partition_of(key)`` there (ConfigurationError here).
        """
        if self.partitions != 1:
            raise ConfigurationError(
                f"this cache has {self.partitions} partitions: use backend.routing.partitions "
                "or backend.routing.partition_of(key)"
            )
        return self.routing.partitions[0]

    # -- the contract: one plan per operation, run sync or async ---------------

    def lookup_exact(self, key: str, *, version: str | None, final: bool) -> Match | None:
        return self._run(self.routing.lookup_exact(key, version, final))

    async def alookup_exact(self, key: str, *, version: str | None, final: bool) -> Match | None:
        return await self._arun(self.routing.lookup_exact(key, version, final))

    def count_skipped_long(self, key: str, count_miss: bool = True) -> None:
        self._run(self.routing.count_skipped_long(key, count_miss))

    async def acount_skipped_long(self, key: str, count_miss: bool = True) -> None:
        await self._arun(self.routing.count_skipped_long(key, count_miss))

    def lookup_semantic(self, query: SemanticQuery) -> Match | None:
        return self._run(self.routing.lookup_semantic(query))

    async def alookup_semantic(self, query: SemanticQuery) -> Match | None:
        return await self._arun(self.routing.lookup_semantic(query))

    def lookup(self, key: str, query: SemanticQuery) -> Match | None:
        return self._run(self.routing.lookup(key, query))

    async def alookup(self, key: str, query: SemanticQuery) -> Match | None:
        return await self._arun(self.routing.lookup(key, query))

    def store(self, entry: CacheEntry, ttl: float | None) -> None:
        self._run(self.routing.store(entry, ttl))

    async def astore(self, entry: CacheEntry, ttl: float | None) -> None:
        await self._arun(self.routing.store(entry, ttl))

    def store_many(self, items: Sequence[tuple[CacheEntry, float | None]]) -> int:
        """Store many entries in order, pipelined; the effect is that of :meth:`store` for each."""
        return self._run(self.routing.store_many(items))

    async def astore_many(self, items: Sequence[tuple[CacheEntry, float | None]]) -> int:
        return await self._arun(self.routing.store_many(items))

    def delete_keys(self, keys: Sequence[str]) -> int:
        return self._run(self.routing.delete_keys(keys))

    async def adelete_keys(self, keys: Sequence[str]) -> int:
        return await self._arun(self.routing.delete_keys(keys))

    def delete_tags(self, tags: Sequence[str]) -> int:
        return self._run(self.routing.delete_tags(tags))

    async def adelete_tags(self, tags: Sequence[str]) -> int:
        return await self._arun(self.routing.delete_tags(tags))

    def delete_version(self, version: str) -> int:
        return self._run(self.routing.delete_version(version))

    async def adelete_version(self, version: str) -> int:
        return await self._arun(self.routing.delete_version(version))

    def delete_pattern(self, pattern: str) -> int:
        return self._run(self.routing.delete_pattern(pattern))

    async def adelete_pattern(self, pattern: str) -> int:
        return await self._arun(self.routing.delete_pattern(pattern))

    def clear(self) -> None:
        """Delete every entry of this cache (entries written meanwhile may survive)."""
        self._run(self.routing.clear())

    async def aclear(self) -> None:
        await self._arun(self.routing.clear())

    def acquire_lock(self, key: str, token: str, ttl: float) -> bool:
        """SET NX PX: the lock expires on the server's clock after ``ttl`` seconds."""
        return self._run(self.routing.acquire_lock(key, token, ttl))

    async def aacquire_lock(self, key: str, token: str, ttl: float) -> bool:
        return await self._arun(self.routing.acquire_lock(key, token, ttl))

    def release_lock(self, key: str, token: str) -> bool:
        return self._run(self.routing.release_lock(key, token))

    async def arelease_lock(self, key: str, token: str) -> bool:
        return await self._arun(self.routing.release_lock(key, token))

    def flight_status(self, key: str, version: str | None) -> tuple[CacheEntry | None, bool]:
        return self._run(self.routing.flight_status(key, version))

    async def aflight_status(self, key: str, version: str | None) -> tuple[CacheEntry | None, bool]:
        return await self._arun(self.routing.flight_status(key, version))

    def count_flight(self, key: str, joined: bool) -> None:
        self._run(self.routing.count_flight(key, joined))

    async def acount_flight(self, key: str, joined: bool) -> None:
        await self._arun(self.routing.count_flight(key, joined))

    def count_exploration(self, key: str) -> None:
        self._run(self.routing.count_exploration(key))

    async def acount_exploration(self, key: str) -> None:
        await self._arun(self.routing.count_exploration(key))

    def record_label(self, scope: str, similarity: float, correct: bool) -> None:
        self._run(record_label(self._layout, scope, similarity, correct))

    async def arecord_label(self, scope: str, similarity: float, correct: bool) -> None:
        await self._arun(record_label(self._layout, scope, similarity, correct))

    def label_counts(self, scope: str) -> tuple[LabelCounts, LabelCounts]:
        return self._run(read_labels(self._layout, scope))

    async def alabel_counts(self, scope: str) -> tuple[LabelCounts, LabelCounts]:
        return await self._arun(read_labels(self._layout, scope))

    def size(self) -> int:
        return self._run(self.routing.size())

    async def asize(self) -> int:
        return await self._arun(self.routing.size())

    def counters(self) -> dict[str, int]:
        return self._run(self.routing.counters())

    async def acounters(self) -> dict[str, int]:
        return await self._arun(self.routing.counters())

    def reset_counters(self) -> None:
        self._run(self.routing.reset_counters())

    async def areset_counters(self) -> None:
        await self._arun(self.routing.reset_counters())

    def top_entries(self, limit: int, sort_by: str) -> list[CacheEntry]:
        return self._run(self.routing.top_entries(limit, sort_by))

    async def atop_entries(self, limit: int, sort_by: str) -> list[CacheEntry]:
        return await self._arun(self.routing.top_entries(limit, sort_by))

    def health(self) -> dict[str, Any]:
        """Server and index facts, and the round-trip latency of a PING; no secrets."""
        return self._run(self.routing.health(self._where))

    async def ahealth(self) -> dict[str, Any]:
        return await self._arun(self.routing.health(self._where))

    def close(self) -> None:
        """Close the clients this backend made, every connection of each (loops.py)."""
        if self._loop_drivers is not None:
            self._loop_drivers.close_all()
        if self._owns_client and self._client is not None:
            self._client.close()

    async def aclose(self) -> None:
        """Close the clients this backend made: this event loop's async client, awaited, then the rest."""
        if self._loop_drivers is not None:
            await self._loop_drivers.aclose_current()
        self.close()

    def drop(self) -> None:
        """Delete this cache completely: indexes, entries, bookkeeping and counters.

        An administrative operation, sync only (it SCANs this cache's key
        pattern for leftovers, on every primary of a cluster); ``clear()`` is
        the one for normal use.
        """
        self._run(self.routing.drop_indexes())
        client: Any = self._client
        nodes = [client.get_redis_connection(n) for n in client.get_primaries()] if self.routing.clustered else [client]
        with self._translate():
            for node in nodes:
                pipe = node.pipeline(transaction=False)
                for key in node.scan_iter(match=self._layout.key_pattern(), count=1000):
                    pipe.unlink(key)  # one key per command: keys of different slots never share one
                    if len(pipe) >= 1000:
                        pipe.execute()
                pipe.execute()
        self._run(self.routing.settle_removal())  # the replicas hold the drop too (replication.py)

    def _translate(self) -> Any:
        """Re-raise redis-py errors as this library's (for the few calls made outside plans)."""
        return translate(self._where, self._secrets)

    # -- drivers ------------------------------------------------------------

    def _run(self, plan: WirePlan[T]) -> T:
        if self._sync is None:
            raise ConfigurationError(_NO_SYNC_CLIENT)
        return self._sync.run(plan)

    async def _arun(self, plan: WirePlan[T]) -> T:
        driver = self._driver_for_loop()
        if driver is None:  # only a blocking client was given: run the same plan on it, in a thread
            return await asyncio.to_thread(self._run, plan)
        return await driver.run(plan)

    def _driver_for_loop(self) -> AsyncDriver | None:
        """This event loop's driver: redis.asyncio connections belong to the loop that made them."""
        if self._given_async is not None:
            return self._given_async
        if self._loop_drivers is None:
            return None
        return self._loop_drivers.get()  # and closes the clients of closed loops


def index_settings(
    index_algorithm: str,
    hnsw_m: int,
    hnsw_ef_construction: int,
    hnsw_ef_runtime: int | None,
    dimension: int | None,
    vector_dtype: str | None = None,
) -> Settings:
    """Validated index settings (ConfigurationError otherwise)."""
    algorithm = str(index_algorithm).upper()
    if algorithm not in ALGORITHMS:
        raise ConfigurationError(f"index_algorithm must be one of {ALGORITHMS}, got {index_algorithm!r}")
    dtype = None if vector_dtype is None else str(vector_dtype).upper()
    # Validates dimension, the HNSW build parameters and the vector type.
    VectorConfig(
        dim=1 if dimension is None else dimension, algorithm=algorithm, m=hnsw_m,
        ef_construction=hnsw_ef_construction, dtype=dtype or DEFAULT_DTYPE,
    )  # fmt: skip
    return Settings(
        algorithm=algorithm, hnsw_m=hnsw_m, hnsw_ef_construction=hnsw_ef_construction,
        hnsw_ef_runtime=check_ef_runtime(hnsw_ef_runtime), dimension=dimension, vector_dtype=dtype,
    )  # fmt: skip


def _partition_count(partitions: Any, clustered: bool) -> int:
    if partitions is None:
        return DEFAULT_PARTITIONS if clustered else 1
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ConfigurationError(f"partitions must be a positive int, got {partitions!r}")
    if not clustered and partitions != 1:
        raise ConfigurationError("partitions= needs cluster_mode=True (a single node holds one partition)")
    return partitions


def check_ef_runtime(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigurationError(f"hnsw_ef_runtime must be a positive int or None, got {value!r}")
    return value
