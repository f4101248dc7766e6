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

Each partition is a :class:`_Partition`: the single-node backend bound to one
hash tag, with its FT.* commands sent to the node owning that slot.  An index
missing after a failover or a reshard is recreated on the new owner by the
single-node code path ("no such index" -> resolve again).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from redis import exceptions as rx
from redis.cluster import ClusterNode, RedisCluster

from ..._entry import CacheEntry
from ..._enums import CacheStrategy
from ..._errors import ConfigurationError, DimensionMismatchError, InvalidInputError
from ..._keys import split_key
from ..base import COUNTERS, SORT_FIELDS, Match, SemanticQuery
from .backend import RedisCacheBackend
from .client import describe
from .codec import text
from .errors import is_index_missing
from .layout import KeyLayout, check_name
from .scripts import NAMES, ScriptSet, source

__all__ = ["DEFAULT_PARTITIONS", "ClusterCacheBackend", "partition_budget"]

DEFAULT_PARTITIONS = 16
# Slot moves (failover, reshard) seen by an FT command: refresh the slot map and retry.
_ROUTING_RETRIES = 3
_ROUTING_ERRORS = (rx.MovedError, rx.AskError, rx.TryAgainError, rx.ClusterDownError, rx.ConnectionError)


def partition_budget(max_size: int | None, partitions: int) -> int | None:
    """Each partition's share of ``max_size`` (an approximation: partitions fill unevenly)."""
    return None if max_size is None else max(1, math.ceil(max_size / partitions))


class _ClusterScripts(ScriptSet):
    """Scripts on a cluster: SCRIPT LOAD goes to every node (a cluster pipeline cannot)."""

    def load_all(self, client: Any) -> None:
        for name in NAMES:
            client.script_load(source(name))


class _Partition(RedisCacheBackend):
    """The single-node backend bound to one partition of a clustered cache."""

    def bind(self, layout: KeyLayout, partition: int) -> _Partition:
        self._layout = layout
        self._partition = partition
        self._keys = layout.partition_keys(partition)
        self._prefix = layout.entry_prefix(partition)
        self._scripts = _ClusterScripts(self._client)
        return self

    def _ft(self, *args: Any) -> Any:
        """Run a search command on the node that owns this partition's slot."""
        slot_key = self._keys[0]
        cluster: Any = self._client
        for attempt in range(_ROUTING_RETRIES + 1):
            try:
                node = cluster.get_node_from_key(slot_key)
                return cluster.execute_command(*args, target_nodes=node)
            except _ROUTING_ERRORS:
                if attempt == _ROUTING_RETRIES:
                    raise
                cluster.nodes_manager.initialize()  # learn the new slot owner
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _page(
        self, index_name: str, sweep: Any, cursor: int, pending: list[str], counter: str, *, read_seq: bool
    ) -> tuple[int, int, Any]:
        """As the single-node page, without a pipeline: a cluster pipeline cannot route FT commands."""
        flushed = int(self._script("delete", counter, "matched", *pending)) if pending else 0
        seq_now = 0
        with self._translate():
            if read_seq:
                raw = self._client.get(self._layout.seq(self._partition))
                seq_now = 0 if raw is None else int(text(raw))
            if cursor:
                reply = self._ft("FT.CURSOR", "READ", index_name, cursor, "COUNT", sweep.batch)
            else:
                reply = self._ft("FT.AGGREGATE", index_name, *sweep.args())
        return flushed, seq_now, reply


class ClusterCacheBackend(RedisCacheBackend):
    """The cache on a Redis Cluster: ``RedisCacheBackend(cluster_mode=True, ...)`` builds one.

    Connect with ``cluster_nodes=[{"host": ..., "port": ...}, ...]`` (or ``url``,
    or ``host``/``port`` of any node) and ``username``/``password``/``ssl``, or
    pass a ready ``redis.cluster.RedisCluster`` as ``client`` (never closed here).
    ``partitions`` is the number of hash-tagged partitions (default 16).
    Every other keyword is that of the single-node backend.
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
        name: str = "llmcache",
        max_size: int | None = 10_000,
        eviction_strategy: CacheStrategy | str = CacheStrategy.LRU,
        sliding_ttl: bool = False,
        socket_timeout: float | None = 1.0,
        socket_connect_timeout: float | None = 1.0,
        **options: Any,
    ) -> None:
        self.name = check_name(name)
        count = DEFAULT_PARTITIONS if partitions is None else partitions
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigurationError(f"partitions must be a positive int, got {partitions!r}")
        if client is not None:
            if url is not None or cluster_nodes is not None:
                raise ConfigurationError("pass either client= or url=/cluster_nodes=, not several")
            self._cluster = client
            self._owns_client = False
        else:
            common: dict[str, Any] = {
                "username": username, "password": password, "ssl": ssl,
                "socket_timeout": socket_timeout, "socket_connect_timeout": socket_connect_timeout,
            }  # fmt: skip
            if url is not None:
                self._cluster = RedisCluster.from_url(url, **common)
            else:
                nodes: list[Mapping[str, Any]] = list(cluster_nodes or [{"host": host, "port": port}])
                startup = [ClusterNode(str(n["host"]), int(n["port"])) for n in nodes]
                self._cluster = RedisCluster(startup_nodes=startup, **common)
            self._owns_client = True
        self._client = self._cluster  # type: ignore[assignment]  # the partitions' client
        self._where = f"cluster via {describe(self._cluster.get_default_node().redis_connection)}"
        self._layout = KeyLayout(self.name, count)
        self._dim: int | None = options.get("dimension")
        self.index_algorithm = str(options.get("index_algorithm", "FLAT")).upper()
        self._parts = [
            _Partition(
                client=self._client, name=self.name, max_size=partition_budget(max_size, count),
                eviction_strategy=eviction_strategy, sliding_ttl=sliding_ttl, **options,
            ).bind(self._layout, p)
            for p in range(count)
        ]  # fmt: skip
        self.max_size = max_size
        self.eviction_strategy = CacheStrategy(eviction_strategy)
        self.sliding_ttl = bool(sliding_ttl)

    def __repr__(self) -> str:
        return f"RedisCacheBackend(name={self.name!r}, server={self._where!r}, partitions={len(self._parts)})"

    @property
    def partitions(self) -> int:
        return len(self._parts)

    def _part(self, key_or_scope: str) -> _Partition:
        return self._parts[self._layout.partition_of(key_or_scope)]

    def _each(self, call: Callable[[_Partition], Any]) -> list[Any]:
        return [call(part) for part in self._parts]

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

    @property
    def index_name(self) -> str | None:
        return self._parts[0].index_name

    # -- routed to one partition -----------------------------------------

    def lookup_exact(self, key: str, *, version: str | None, final: bool) -> CacheEntry | None:
        return self._part(key).lookup_exact(key, version=version, final=final)

    def lookup_semantic(self, query: SemanticQuery) -> Match | None:
        return self._part(query.scope).lookup_semantic(query)

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
                part._seen_dim = part._seen_dim or dim

    def store(self, entry: CacheEntry, ttl: float | None) -> None:
        self._check_dim(entry)
        self._part(entry.key).store(entry, ttl)

    def store_many(self, items: Sequence[tuple[CacheEntry, float | None]]) -> int:
        groups: dict[int, list[tuple[CacheEntry, float | None]]] = {}
        for entry, ttl in items:
            self._check_dim(entry)
            groups.setdefault(self._layout.partition_of(entry.key), []).append((entry, ttl))
        return sum(self._parts[p].store_many(group) for p, group in groups.items())

    def delete_keys(self, keys: Sequence[str]) -> int:
        groups: dict[int, list[str]] = {}
        for key in keys:
            if split_key(key) is not None:  # anything else names no entry
                groups.setdefault(self._layout.partition_of(key), []).append(key)
        return sum(self._parts[p].delete_keys(group) for p, group in groups.items())

    def acquire_lock(self, key: str, token: str, ttl: float) -> bool:
        return self._part(key).acquire_lock(key, token, ttl)

    def release_lock(self, key: str, token: str) -> bool:
        return self._part(key).release_lock(key, token)

    def flight_status(self, key: str, version: str | None) -> tuple[CacheEntry | None, bool]:
        return self._part(key).flight_status(key, version)

    # -- fanned out to every partition -------------------------------------

    def delete_tags(self, tags: Sequence[str]) -> int:
        return sum(self._each(lambda part: part.delete_tags(tags))) if tags else 0

    def delete_version(self, version: str) -> int:
        return sum(self._each(lambda part: part.delete_version(version)))

    def delete_pattern(self, pattern: str) -> int:
        return sum(self._each(lambda part: part.delete_pattern(pattern)))

    def clear(self) -> None:
        self._each(lambda part: part.clear())

    def size(self) -> int:
        return sum(self._each(lambda part: part.size()))

    def counters(self) -> dict[str, int]:
        totals = dict.fromkeys(COUNTERS, 0)
        for counts in self._each(lambda part: part.counters()):
            for counter, value in counts.items():
                totals[counter] = totals.get(counter, 0) + value
        return totals

    def reset_counters(self) -> None:
        self._each(lambda part: part.reset_counters())

    def top_entries(self, limit: int, sort_by: str) -> list[CacheEntry]:
        if sort_by not in SORT_FIELDS:
            raise InvalidInputError(f"sort_by must be one of {SORT_FIELDS}, got {sort_by!r}")
        if limit <= 0:
            return []
        merged = [e for entries in self._each(lambda part: part.top_entries(limit, sort_by)) for e in entries]
        return sorted(merged, key=lambda e: getattr(e, sort_by), reverse=True)[:limit]

    def health(self) -> dict[str, Any]:
        report = self._parts[0].health()
        report.update(
            server=self._where,
            entries=self.size(),
            max_size=self.max_size,
            partitions=len(self._parts),
            cluster_primaries=len(self._cluster.get_primaries()),
        )
        return report

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def drop(self) -> None:
        """Delete this cache completely: every partition's indexes, then its keys on every primary."""
        for part in self._parts:
            with part._lock, part._translate():
                for full in (text(n) for n in part._ft("FT._LIST")):
                    if self._layout.parse_index(part._partition, full) is None:
                        continue
                    try:
                        part._ft("FT.DROPINDEX", full, "DD")
                    except rx.ResponseError as exc:
                        if not is_index_missing(exc):
                            raise
                part._index = None
        with self._parts[0]._translate():
            for node in self._cluster.get_primaries():
                conn = self._cluster.get_redis_connection(node)
                pipe = conn.pipeline(transaction=False)
                for key in conn.scan_iter(match=self._layout.key_pattern(), count=1000):
                    pipe.unlink(key)  # one key per command: keys of different slots never share one
                pipe.execute()
