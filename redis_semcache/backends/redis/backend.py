"""RedisCacheBackend: the backend contract over Redis with RediSearch.

This module only makes round trips.  Key names come from :mod:`.layout`,
queries from :mod:`.queries`, hash encoding from :mod:`.codec`, the index
decision from :mod:`.index`, and every bit of bookkeeping runs inside the Lua
scripts in ``scripts/``.  Round trips per operation, once the backend is ready
(measured in tests/integration/test_round_trips.py):

=================================  ===========================================
exact hit / exact miss             1 (lookup_exact.lua)
semantic lookup, no ``accept``     1 more (lookup_semantic.lua: KNN + touch)
semantic lookup with ``accept``    1 more, plus 1 per accepted candidate (touch.lua)
store                              1 (store.lua), +1 per extra eviction batch
store_many                         1 per STORE_BATCH entries (pipelined store.lua)
delete_keys                        1 per 500 ids
delete_tags/version/pattern, clear pages + 1 (cursor read and delete pipelined)
size, counters                     1 (report.lua)
top_entries                        1 (top.lua)
acquire_lock, release_lock         1 (SET NX PX; release_lock.lua)
flight_status                      1 (flight_status.lua)
=================================  ===========================================

The first operation also checks for the search module, resolves or creates
the index and loads the scripts (2-4 round trips, once).
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis import exceptions as rx

from ..._entry import CacheEntry
from ..._enums import CacheStrategy
from ..._errors import BackendError, ConfigurationError, DimensionMismatchError, InvalidInputError
from ..._keys import split_key
from ..._vectors import SIMILARITY_EPSILON, to_bytes
from ..base import COUNTERS, SORT_FIELDS, Match, SemanticQuery
from . import fields as F
from .client import ConnectionSettings, describe, secrets_of
from .codec import MalformedEntryError, decode_record, encode_entry, parse_cursor, parse_info, text
from .errors import IndexMissingError, is_index_exists, is_index_missing, translate
from .index import plan_index
from .layout import IndexName, KeyLayout, check_name
from .queries import LONG_PROMPTS, MATCH_ALL, SHORT_PROMPTS, KnnQuery, SweepQuery, glob_filters, tag_filter
from .schema import ALGORITHMS, VectorConfig, load_schema
from .scripts import ScriptSet

__all__ = ["RedisCacheBackend"]

log = logging.getLogger("redis_semcache.redis")

_RANK_ZSET = {"access_count": "lfu", "last_access": "lru", "created_at": "fifo"}


class CommandQueue:
    """Collects the commands of one pipeline round trip, so a failed part can be re-sent."""

    def __init__(self) -> None:
        self.commands: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any) -> None:
        self.commands.append(args)


class RedisCacheBackend:
    """Cache entries in Redis hashes, searched with a RediSearch vector index.

    Connect with ``url`` (``redis://``, ``rediss://``, ``unix://``) or
    ``host``/``port``/``username``/``password``/``db``/``ssl*``, or pass a ready
    ``client`` (this backend then never closes it).  ``name`` separates caches
    sharing one Redis.  ``dimension`` fixes the vector size up front;
    otherwise the first stored embedding fixes it.  ``clock`` supplies the
    timestamps used for LRU/LFU/FIFO order and reported times; TTLs themselves
    are kept by Redis (PEXPIRE).
    """

    # Tunables, per call: evictions in one store script, expired entries
    # settled per script, and invalidation page sizes (short / long prompts).
    STORE_EVICTION_LIMIT = 64
    STORE_BATCH = 200
    PRUNE_LIMIT = 256
    PAGE = 500
    LONG_PROMPT_PAGE = 16
    INDEXING_TIMEOUT = 60.0

    def __new__(cls, *args: Any, cluster_mode: bool = False, **kwargs: Any) -> RedisCacheBackend:
        """``cluster_mode=True`` (or a ``RedisCluster`` client) builds the clustered backend (cluster.py)."""
        if cls is RedisCacheBackend:
            from redis.cluster import RedisCluster

            if cluster_mode or isinstance(kwargs.get("client"), RedisCluster):
                from .cluster import ClusterCacheBackend

                return super().__new__(ClusterCacheBackend)
        return super().__new__(cls)

    def __init__(
        self,
        url: str | None = None,
        *,
        cluster_mode: bool = False,
        host: str = "localhost",
        port: int = 6379,
        username: str | None = None,
        password: str | None = None,
        db: int = 0,
        ssl: bool = False,
        ssl_ca_certs: str | None = None,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        client: redis.Redis | None = None,
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        if cluster_mode:
            raise ConfigurationError("cluster_mode=True builds RedisCacheBackend itself, not a subclass")
        self.name = check_name(name)
        algorithm = str(index_algorithm).upper()
        if algorithm not in ALGORITHMS:
            raise ConfigurationError(f"index_algorithm must be one of {ALGORITHMS}, got {index_algorithm!r}")
        # Validates dimension and the HNSW build parameters.
        VectorConfig(
            dim=1 if dimension is None else dimension,
            algorithm=algorithm,
            m=hnsw_m,
            ef_construction=hnsw_ef_construction,
        )
        if isinstance(hnsw_ef_runtime, bool) or not isinstance(hnsw_ef_runtime, int) or hnsw_ef_runtime < 1:
            raise ConfigurationError(f"hnsw_ef_runtime must be a positive int, got {hnsw_ef_runtime!r}")
        self.index_algorithm = algorithm
        self.hnsw_m = hnsw_m
        self.hnsw_ef_construction = hnsw_ef_construction
        self.hnsw_ef_runtime = hnsw_ef_runtime
        self._configured_dim = dimension

        settings: ConnectionSettings | None = None
        if client is not None:
            if url is not None:
                raise ConfigurationError("pass either client= or url=, not both")
            self._client = client
            self._owns_client = False
        else:
            settings = ConnectionSettings(
                url=url, host=host, port=port, username=username, password=password, db=db, ssl=ssl,
                ssl_ca_certs=ssl_ca_certs, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile,
                socket_timeout=socket_timeout, socket_connect_timeout=socket_connect_timeout,
            )  # fmt: skip
            self._client = settings.build()
            self._owns_client = True
        self._where = describe(self._client)
        self._secrets = secrets_of(self._client, settings)

        self._clock = clock
        self._layout = KeyLayout(self.name)
        self._partition = 0  # a cluster backend (cluster.py) runs one of these per partition
        self._schema = load_schema()
        self._keys = self._layout.partition_keys(self._partition)
        self._prefix = self._layout.entry_prefix(self._partition)
        self._scripts = ScriptSet(self._client)
        self._lock = threading.RLock()
        self._index: IndexName | None = None
        self._seen_dim: int | None = None  # kept when the index vanishes, to recreate it alike
        self._trim_pending = False

        self.max_size: int | None = None
        self.eviction_strategy = CacheStrategy.LRU
        self.sliding_ttl = False
        self.configure(max_size=max_size, eviction_strategy=CacheStrategy(eviction_strategy), sliding_ttl=sliding_ttl)

    def __repr__(self) -> str:
        return f"RedisCacheBackend(name={self.name!r}, server={self._where!r}, index={self.index_algorithm})"

    # -- configuration -------------------------------------------------

    def configure(self, *, max_size: int | None, eviction_strategy: CacheStrategy, sliding_ttl: bool) -> None:
        """Apply settings; a lowered max_size is enforced on the next operation (no I/O here)."""
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1):
            raise InvalidInputError(f"max_size must be a positive int or None, got {max_size!r}")
        # Lowering the limit evicts on the next operation (stores also evict as they go).
        self._trim_pending = max_size is not None and self.max_size is not None and max_size < self.max_size
        self.max_size = max_size
        self.eviction_strategy = CacheStrategy(eviction_strategy)
        self.sliding_ttl = bool(sliding_ttl)

    @property
    def dimension(self) -> int | None:
        """The vector dimension, once known (no I/O)."""
        index = self._index
        if index is not None and index.dim:
            return index.dim
        return self._configured_dim

    @property
    def index_name(self) -> str | None:
        """The full name of the search index in use (None before first use)."""
        index = self._index
        return None if index is None else self._layout.index(self._partition, index)

    # -- lookups -------------------------------------------------------

    def lookup_exact(self, key: str, *, version: str | None, final: bool) -> CacheEntry | None:
        self._ready()
        reply = self._script(
            "lookup_exact",
            key,
            "1" if version is not None else "0",
            version or "",
            "1" if final else "0",
            "1" if self.sliding_ttl else "0",
        )
        status = int(reply[0])
        if status == 1:
            return self._decode(reply[1:])
        if status == -1:
            log.warning("redis_semcache: skipping key %s%s: not an entry this library wrote", self._prefix, key)
        return None

    def lookup_semantic(self, query: SemanticQuery) -> Match | None:
        index = self._ready()
        if index.dim == 0 or query.vector.shape[0] != index.dim:  # nothing stored can match
            with self._translate():
                self._client.hincrby(self._layout.stats(self._partition), "misses", 1)
            return None
        vet = query.accept is not None
        knn = KnnQuery(
            vector=to_bytes(query.vector),
            scope=query.scope,
            model=query.model,
            version=query.version,
            k=query.k,
            ef_runtime=self.hnsw_ef_runtime if index.algorithm == "HNSW" else None,
            return_fields=(F.DIST, F.FMT, F.SEQ, F.MODEL_H, F.PROMPT) if vet else (F.DIST, F.FMT, F.SEQ, F.MODEL_H),
        )
        max_distance = 1.0 - query.min_similarity + SIMILARITY_EPSILON
        sliding = "1" if self.sliding_ttl else "0"
        # The script picks the hybrid policy from the scope's share of the cache.
        texts = [knn.with_policy("BATCHES").text(), query.scope, knn.with_policy("ADHOC_BF").text()]
        try:
            reply = self._script(
                "lookup_semantic",
                "list" if vet else "best",
                repr(max_distance),
                sliding,
                knn.model_digest(),
                *texts,
                *knn.args()[1:],
                extra_keys=(self._layout.index(self._partition, index),),
            )
        except IndexMissingError:
            self._index = None  # recreated by the next operation
            with self._translate():
                self._client.hincrby(self._layout.stats(self._partition), "misses", 1)
            return None
        status = int(reply[0])
        if status == 1:
            entry = self._decode(reply[2:])
            return None if entry is None else Match(entry, 1.0 - float(text(reply[1])))
        if status == 2 and query.accept is not None:
            for i in range(1, len(reply) - 3, 4):
                entry_id, dist, seq, prompt = (text(v) for v in reply[i : i + 4])
                similarity = 1.0 - float(dist)
                if not query.accept(query.prompt, prompt, similarity):
                    continue
                touched = self._script("touch", entry_id, seq, sliding)
                if int(touched[0]) == 1:
                    entry = self._decode(touched[1:])
                    if entry is not None:
                        return Match(entry, similarity)
        return None

    # -- writes --------------------------------------------------------

    def store(self, entry: CacheEntry, ttl: float | None) -> None:
        known = self._index is not None
        self._index_for(entry)
        now = self._clock()
        reply = self._script("store", *self._store_args(entry, ttl, now), now=now)
        if known and int(reply[0]) == 1:  # the write counter restarted: FLUSHALL took the index too
            self._index = None
            self._index_for(entry)
        if int(reply[2]) or self._trim_pending:
            self._trim()

    def store_many(self, items: Sequence[tuple[CacheEntry, float | None]]) -> int:
        """Store many entries in order, ``STORE_BATCH`` per round trip (pipelined store scripts).

        The effect is that of calling :meth:`store` for each; returns how many were stored.
        """
        for entry, _ in items:
            self._index_for(entry)
        overflow = False
        for start in range(0, len(items), self.STORE_BATCH):
            chunk = items[start : start + self.STORE_BATCH]

            def fill(pipe: CommandQueue, chunk: Sequence[tuple[CacheEntry, float | None]] = chunk) -> None:
                for entry, ttl in chunk:
                    now = self._clock()
                    self._evalsha(pipe, "store", repr(float(now)), *self._store_args(entry, ttl, now))

            overflow = any(int(reply[2]) for reply in self._pipeline(fill)) or overflow
        if overflow or self._trim_pending:
            self._trim()
        return len(items)

    def delete_keys(self, keys: Sequence[str]) -> int:
        ids = [k for k in dict.fromkeys(keys) if split_key(k) is not None]
        if not ids:
            return 0
        self._ready()
        return sum(
            int(self._script("delete", "invalidations", "ids", *ids[i : i + self.PAGE]))
            for i in range(0, len(ids), self.PAGE)
        )

    def delete_tags(self, tags: Sequence[str]) -> int:
        if not tags:
            return 0
        return self._sweep([SweepQuery(tag_filter(F.TAG_H, list(tags)), batch=self.PAGE)])

    def delete_version(self, version: str) -> int:
        return self._sweep([SweepQuery(tag_filter(F.VERSION_H, [version]), batch=self.PAGE)])

    def delete_pattern(self, pattern: str) -> int:
        narrow = glob_filters(pattern)
        sweeps = [SweepQuery(SHORT_PROMPTS, narrow.short, with_prompt=True, batch=self.PAGE)]
        if narrow.long_possible:  # long prompts travel in small pages
            sweeps.append(SweepQuery(LONG_PROMPTS, narrow.long, with_prompt=True, batch=self.LONG_PROMPT_PAGE))
        return self._sweep(sweeps, confirm=lambda prompt: fnmatch.fnmatchcase(prompt, pattern))

    def clear(self) -> None:
        """Delete every entry of this cache (entries written meanwhile may survive)."""
        self._sweep([SweepQuery(MATCH_ALL, batch=self.PAGE)], counter="")
        self._report()  # settle bookkeeping of entries that expired meanwhile

    # -- single flight ---------------------------------------------------

    def acquire_lock(self, key: str, token: str, ttl: float) -> bool:
        """SET NX PX: the lock expires on the server's clock after ``ttl`` seconds."""
        with self._translate():
            lock = self._layout.lock(self._partition, key)
            return bool(self._client.set(lock, token, nx=True, px=max(1, round(ttl * 1000))))

    def release_lock(self, key: str, token: str) -> bool:
        self._ready()
        return int(self._script("release_lock", token, extra_keys=(self._layout.lock(self._partition, key),))) == 1

    def flight_status(self, key: str, version: str | None) -> tuple[CacheEntry | None, bool]:
        self._ready()
        reply = self._script(
            "flight_status",
            key,
            "1" if version is not None else "0",
            version or "",
            extra_keys=(self._layout.lock(self._partition, key),),
        )
        entry = self._decode(reply[1:]) if len(reply) > 1 else None
        return entry, bool(int(reply[0]))

    # -- reporting -----------------------------------------------------

    def size(self) -> int:
        return self._report()[0]

    def counters(self) -> dict[str, int]:
        return self._report()[1]

    def reset_counters(self) -> None:
        with self._translate():
            self._client.delete(self._layout.stats(self._partition))

    def top_entries(self, limit: int, sort_by: str) -> list[CacheEntry]:
        if sort_by not in SORT_FIELDS:
            raise InvalidInputError(f"sort_by must be one of {SORT_FIELDS}, got {sort_by!r}")
        if limit <= 0:
            return []
        self._ready()
        reply = self._script("top", _RANK_ZSET[sort_by], str(limit), str(self.PRUNE_LIMIT))
        entries = (self._decode(record) for record in reply)
        return [e for e in entries if e is not None]

    def health(self) -> dict[str, Any]:
        """Server and index facts, and the round-trip latency of a PING; no secrets."""
        index = self._ready()
        with self._translate():
            started = time.perf_counter()
            self._client.ping()
            latency_ms = (time.perf_counter() - started) * 1000.0
        try:
            with self._translate():
                info = parse_info(self._ft("FT.INFO", self._layout.index(self._partition, index)))
        except IndexMissingError:  # dropped or flushed: recreate it, as the next operation would
            self._index = None
            index = self._ready()
            with self._translate():
                info = parse_info(self._ft("FT.INFO", self._layout.index(self._partition, index)))
        report: dict[str, Any] = {
            "status": "healthy",
            "backend": "redis",
            "server": self._where,
            "redis_version": self._optional(lambda: text(self._client.info("server")["redis_version"])),
            "search_version": self._optional(self._search_version),
            "index": self._layout.index(self._partition, index),
            "index_algorithm": index.algorithm,
            "index_state": {
                "num_docs": int(info.get("num_docs", 0)),
                "indexing": bool(int(info.get("indexing", 0))),
                "percent_indexed": float(info.get("percent_indexed", 1.0)),
                "hash_indexing_failures": int(info.get("hash_indexing_failures", 0)),
            },
            "vector_dimension": index.dim or None,
            "entries": self.size(),
            "max_size": self.max_size,
            "eviction_strategy": self.eviction_strategy.value,
            "sliding_ttl": self.sliding_ttl,
            "latency_ms": round(latency_ms, 3),
        }
        return report

    def close(self) -> None:
        """Close the connection pool if this backend created it; a caller's client stays open."""
        if self._owns_client:
            self._client.close()

    def drop(self) -> None:
        """Delete this cache completely: indexes, entries, bookkeeping and counters.

        An administrative operation (it SCANs this cache's key pattern for
        leftovers); ``clear()`` is the one for normal use.
        """
        with self._lock, self._translate():
            names = [text(n) for n in self._ft("FT._LIST")]
            for full in names:
                if self._layout.parse_index(self._partition, full) is not None:
                    try:
                        self._ft("FT.DROPINDEX", full, "DD")
                    except rx.ResponseError as exc:
                        if not is_index_missing(exc):
                            raise
            batch: list[Any] = []
            for key in self._client.scan_iter(match=self._layout.key_pattern(), count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    self._client.unlink(*batch)
                    batch.clear()
            if batch:
                self._client.unlink(*batch)
            self._index = None

    # -- internals: setup ----------------------------------------------

    def _translate(self) -> Any:
        return translate(self._where, self._secrets)

    def _ft(self, *args: Any) -> Any:
        """A search command (FT.*) for this partition's index; a cluster partition routes it by slot."""
        return self._client.execute_command(*args)

    def _ready(self) -> IndexName:
        index = self._index
        if index is None:
            index = self._resolve()
        return index

    def _resolve(self, vector_dim: int | None = None) -> IndexName:
        """Check for the search module, pick or create the index, load the scripts."""
        with self._lock:
            if vector_dim is None and self._index is not None:
                return self._index
            with self._translate():
                names = [text(n) for n in self._ft("FT._LIST")]
                parsed = (self._layout.parse_index(self._partition, full) for full in names)
                existing = [n for n in parsed if n is not None]
                plan = plan_index(
                    existing,
                    cache=self.name,
                    schema=self._schema.version,
                    algorithm=self.index_algorithm,
                    dimension=self._configured_dim,
                    vector_dim=vector_dim or self._seen_dim,
                )
                full = self._layout.index(self._partition, plan.use)
                if plan.create:
                    vector = None
                    if plan.use.dim:
                        vector = VectorConfig(
                            dim=plan.use.dim, algorithm=self.index_algorithm, m=self.hnsw_m,
                            ef_construction=self.hnsw_ef_construction,
                        )  # fmt: skip
                    args = self._schema.create_args(full, self._prefix, vector)
                    try:
                        self._ft("FT.CREATE", *args)
                        log.info("redis_semcache: created search index %s", full)
                    except rx.ResponseError as exc:
                        if not is_index_exists(exc):
                            raise
                if plan.wait:
                    self._wait_indexed(full)
                for old in plan.drop:
                    try:
                        superseded = self._layout.index(self._partition, old)
                        self._ft("FT.DROPINDEX", superseded)
                        log.info("redis_semcache: dropped superseded index %s", superseded)
                    except rx.ResponseError as exc:
                        if not is_index_missing(exc):
                            raise
                self._scripts.load_all(self._client)
            self._index = plan.use
            self._seen_dim = plan.use.dim or self._seen_dim
            return plan.use

    def _wait_indexed(self, full: str) -> None:
        """Wait until a (new) index has scanned the keys that existed before it."""
        deadline = time.monotonic() + self.INDEXING_TIMEOUT
        delay = 0.005
        while True:
            info = parse_info(self._ft("FT.INFO", full))
            if not int(info.get("indexing", 0)):
                return
            if time.monotonic() > deadline:
                raise BackendError(f"search index {full} still indexing after {self.INDEXING_TIMEOUT:.0f} s")
            time.sleep(delay)  # a one-off wait for the server's background scan
            delay = min(delay * 2, 0.2)

    def _search_version(self) -> str | None:
        for module in self._client.execute_command("MODULE", "LIST"):
            info = parse_info(module)
            if text(info.get("name", "")).lower() in ("search", "ft"):
                ver = int(info.get("ver", 0))
                return f"{ver // 10000}.{ver // 100 % 100}.{ver % 100}"
        return None

    @staticmethod
    def _optional(read: Callable[[], Any]) -> Any:
        """A fact a restricted ACL user may not be allowed to read."""
        try:
            return read()
        except (rx.RedisError, KeyError, TypeError, ValueError):
            return None

    # -- internals: scripts --------------------------------------------

    def _script(self, name: str, *args: Any, extra_keys: Sequence[str] = (), now: float | None = None) -> Any:
        stamp = repr(float(self._clock() if now is None else now))
        with self._translate():
            return self._scripts[name](keys=[*self._keys, *extra_keys], args=[self._prefix, stamp, *args])

    def _decode(self, record: Sequence[Any]) -> CacheEntry | None:
        try:
            return decode_record(record)
        except MalformedEntryError as exc:
            entry_id = text(record[0]) if record else "?"
            log.warning("redis_semcache: skipping malformed entry %s%s: %s", self._prefix, entry_id, exc)
            return None

    def _index_for(self, entry: CacheEntry) -> IndexName:
        """The index, ready for ``entry``: its first vector fixes the dimension."""
        index = self._index
        if entry.embedding is None:
            return index or self._resolve()
        dim = int(entry.embedding.shape[0])
        if index is None or index.dim == 0:
            index = self._resolve(vector_dim=dim)
        if index.dim != dim:
            raise DimensionMismatchError(index.dim, dim)
        return index

    def _store_args(self, entry: CacheEntry, ttl: float | None, now: float) -> list[Any]:
        """ARGV[3..] of store.lua."""
        args: list[Any] = [
            entry.key,
            "" if ttl is None else str(max(1, round(ttl * 1000))),
            "" if ttl is None else repr(now + ttl),
            "" if self.max_size is None else str(self.max_size),
            self.eviction_strategy.value,
            str(self.STORE_EVICTION_LIMIT),
            str(self.PRUNE_LIMIT),
        ]
        for field_name, value in encode_entry(entry, now=now, ttl=ttl).items():
            args.extend((field_name, value))
        return args

    def _trim(self) -> None:
        self._trim_pending = False
        if self.max_size is None:
            return
        while True:
            reply = self._script(
                "trim",
                str(self.max_size),
                self.eviction_strategy.value,
                str(self.STORE_EVICTION_LIMIT * 16),
                str(self.PRUNE_LIMIT),
            )
            if not int(reply[1]):
                return

    def _report(self) -> tuple[int, dict[str, int]]:
        self._ready()
        if self._trim_pending:
            self._trim()
        while True:
            reply = self._script("report", str(self.PRUNE_LIMIT), *COUNTERS)
            if not int(reply[0]):
                values = [int(text(v)) for v in reply[2:]]
                return int(reply[1]), dict(zip(COUNTERS, values, strict=True))

    # -- internals: invalidation sweeps ----------------------------------

    def _sweep(
        self,
        sweeps: Sequence[SweepQuery],
        *,
        confirm: Callable[[str], bool] | None = None,
        counter: str = "invalidations",
    ) -> int:
        """Delete the entries matching ``sweeps`` that exist when the sweep starts.

        Each sweep is an FT.AGGREGATE cursor read page by page; the deletion of
        the previous page rides in the same pipeline as the next read.  Only
        entries with ``seq`` up to the snapshot taken in the first round trip
        are candidates, and the delete script re-checks each entry's ``seq``,
        so an entry written or rewritten during the sweep is never deleted by
        it.
        """
        try:
            return self._sweep_once(sweeps, confirm, counter)
        except IndexMissingError:
            self._index = None  # dropped or flushed: recreate it and sweep again
            return self._sweep_once(sweeps, confirm, counter)

    def _sweep_once(self, sweeps: Sequence[SweepQuery], confirm: Callable[[str], bool] | None, counter: str) -> int:
        index_name = self._layout.index(self._partition, self._ready())
        snapshot: int | None = None
        pending: list[str] = []
        deleted = 0
        for sweep in sweeps:
            cursor = 0
            first = True
            while first or cursor:
                read_seq = snapshot is None
                flushed, seq_now, reply = self._page(index_name, sweep, cursor, pending, counter, read_seq=read_seq)
                first = False
                deleted += flushed
                pending = []
                if snapshot is None:
                    snapshot = seq_now
                rows, cursor = parse_cursor(reply)
                for row in rows:
                    if F.SEQ not in row or "__key" not in row:
                        continue
                    key, seq = text(row["__key"]), int(text(row[F.SEQ]))
                    if seq > snapshot or not key.startswith(self._prefix):
                        continue  # written after the sweep began, or not ours
                    if confirm is not None and not confirm(text(row.get(F.PROMPT, b""))):
                        continue
                    pending.extend((key[len(self._prefix) :], str(seq)))
        if pending:
            deleted += int(self._script("delete", counter, "matched", *pending))
        return deleted

    def _page(
        self, index_name: str, sweep: SweepQuery, cursor: int, pending: list[str], counter: str, *, read_seq: bool
    ) -> tuple[int, int, Any]:
        """One round trip: delete ``pending``, maybe read the seq snapshot, read the next page."""

        def fill(pipe: CommandQueue) -> None:
            if pending:
                self._evalsha(pipe, "delete", repr(float(self._clock())), counter, "matched", *pending)
            if read_seq:
                pipe.execute_command("GET", self._layout.seq(self._partition))
            if cursor:
                pipe.execute_command("FT.CURSOR", "READ", index_name, cursor, "COUNT", sweep.batch)
            else:
                pipe.execute_command("FT.AGGREGATE", index_name, *sweep.args())

        results = self._pipeline(fill)
        flushed = int(results[0]) if pending else 0
        seq_now = int(text(results[-2])) if read_seq and results[-2] is not None else 0
        return flushed, seq_now, results[-1]

    def _evalsha(self, queue: CommandQueue, name: str, stamp: str, *args: Any) -> None:
        """Queue script ``name`` by SHA (_pipeline reloads scripts if needed).

        Plain EVALSHA rather than ``pipe.evalsha``: a cluster pipeline refuses
        the latter but routes the former by its keys.
        """
        keys = self._keys
        queue.execute_command("EVALSHA", self._scripts.sha(name), len(keys), *keys, self._prefix, stamp, *args)

    def _pipeline(self, fill: Callable[[CommandQueue], None]) -> list[Any]:
        """Run the commands ``fill`` queues in one round trip.

        If the server's script cache was flushed, reload the scripts and re-run
        only the commands that failed with NOSCRIPT: the others already ran, and
        running a cursor read twice would skip a page.
        """
        queue = CommandQueue()
        fill(queue)
        results = self._run_pipeline(queue.commands)
        failed = [i for i, r in enumerate(results) if isinstance(r, rx.NoScriptError)]
        if failed:
            with self._translate():
                self._scripts.load_all(self._client)
            again = self._run_pipeline([queue.commands[i] for i in failed])
            for i, result in zip(failed, again, strict=True):
                results[i] = result
        errors = [r for r in results if isinstance(r, Exception)]
        if errors:
            with self._translate():
                raise errors[0]
        return results

    def _run_pipeline(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for args in commands:
            pipe.execute_command(*args)
        with self._translate():
            return list(pipe.execute(raise_on_error=False))
