"""One cache partition's operations, as plans over the wire effects.

A :class:`Partition` is everything a single hash-tagged partition of a cache
needs: its key names, its index state and its settings.  Each operation is a
plan (a generator of :mod:`.wire` effects), so the sync and the async backend
run the very same code; only the driver differs.  A single Redis has one
partition; a cluster has several (cluster.py).

Key names come from :mod:`.layout`, queries from :mod:`.queries`, hash
encoding from :mod:`.codec`, the index decision from :mod:`.index`, the
lookup plans from :mod:`.lookups`, the invalidation plans from :mod:`.sweep`, and every bit of bookkeeping runs
inside the Lua scripts in ``scripts/``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from ..._entry import CacheEntry
from ..._enums import CacheStrategy
from ..._errors import BackendError, DimensionMismatchError
from ..base import COUNTERS, check_max_size, check_sort_by
from .codec import MalformedEntryError, decode_record, parse_info, text
from .errors import IndexExistsError, IndexMissingError, ScriptMissingError
from .health import Health
from .index import Settings, plan_index
from .layout import IndexName, KeyLayout
from .lookups import Lookups, version_args
from .queries import MATCH_ALL, SweepQuery
from .replication import Durability
from .schema import VectorConfig, load_schema
from .scripts import sha
from .store_record import store_record
from .sweep import Invalidation
from .wire import SCRIPT_ATTEMPTS, Command, Exclusive, LoadScripts, Pause, Pipeline, Script, WirePlan

__all__ = ["Partition", "Settings"]

log = logging.getLogger("redis_semcache.redis")

_RANK_ZSET = {"access_count": "lfu", "last_access": "lru", "created_at": "fifo"}


class Partition(Lookups, Invalidation, Health):
    """The plans of one partition ``number`` of the cache laid out by ``layout``."""

    # Tunables, per call: evictions in one store script, entries per pipelined
    # store batch, expired entries settled per script, invalidation page sizes
    # (short / long prompts), the longest wait for an index to scan existing
    # keys, and how often an invalidation step (safe to repeat) is re-sent
    # after a connection failure or timeout, on top of redis-py's own retries.
    STORE_EVICTION_LIMIT = 64
    STORE_BATCH = 200
    # Entries per store script in a pipelined batch.  FLAT: 40 entries take the
    # server about 2 ms; an HNSW insert costs 0.5-4 ms (growing with the graph),
    # so there the script's own overhead is noise and a short chunk keeps other
    # clients' commands from waiting behind a long one.
    STORE_CHUNK: ClassVar[dict[str, int]] = {"FLAT": 40, "HNSW": 2}
    PRUNE_LIMIT = 256
    PAGE = 500
    LONG_PROMPT_PAGE = 16
    INDEXING_TIMEOUT = 60.0
    STEP_RETRIES = 2

    def __init__(
        self,
        layout: KeyLayout,
        number: int,
        settings: Settings,
        *,
        max_size: int | None,
        eviction_strategy: CacheStrategy,
        sliding_ttl: bool,
        clock: Callable[[], float],
        preflight: Callable[[], WirePlan[None]] | None = None,
        durability: Durability | None = None,
    ) -> None:
        self._layout = layout
        self.durability = durability or Durability()  # what a removal waits for (replication.py)
        self._preflight = preflight  # a check of the server, run before the first index lookup
        self._number = number
        self._settings = settings
        self._clock = clock
        self._schema = load_schema()
        self._keys: tuple[str, ...] = ()
        self._prefix = layout.entry_prefix(number)
        self._wire_prefix = self._prefix.encode()
        self._index: IndexName | None = None
        self._seen_dim: int | None = None  # kept when the index vanishes, to recreate it alike
        self._trim_pending = False
        self.unbooked_hits = 0  # hits served without bookkeeping: the server refused writes (out of memory)
        self.max_size: int | None = None
        self.eviction_strategy = CacheStrategy.LRU
        self.sliding_ttl = False
        self.configure(max_size=max_size, eviction_strategy=eviction_strategy, sliding_ttl=sliding_ttl)

    def configure(self, *, max_size: int | None, eviction_strategy: CacheStrategy, sliding_ttl: bool) -> None:
        """Apply settings; a lowered max_size is enforced on the next operation (no I/O here)."""
        check_max_size(max_size)
        self._trim_pending = max_size is not None and self.max_size is not None and max_size < self.max_size
        self.max_size = max_size
        self.eviction_strategy = CacheStrategy(eviction_strategy)
        self.sliding_ttl = bool(sliding_ttl)
        # The scripts keep the order zset of this strategy; the next store, trim,
        # report or top moves the entries over from another one (settle_order).
        self._keys = tuple(self._layout.partition_keys(self._number, self.eviction_strategy.value))
        self._wire_keys = tuple(key.encode() for key in self._keys)  # as sent: redis-py encodes a str per call
        # ARGV[3..6] of store.lua, the same for every store until the next configure().
        self._store_settings = tuple(
            value.encode()
            for value in (
                "" if max_size is None else str(max_size),
                self.eviction_strategy.value,
                str(self.STORE_EVICTION_LIMIT),
                str(self.PRUNE_LIMIT),
            )
        )

    @property
    def dimension(self) -> int | None:
        index = self._index
        if index is not None and index.dim:
            return index.dim
        return self._settings.dimension

    @property
    def index_name(self) -> str | None:
        index = self._index
        return None if index is None else self._layout.index(self._number, index)

    def learn_dimension(self, dim: int) -> None:
        """A cluster's other partitions found the cache's dimension: create this index alike."""
        self._seen_dim = self._seen_dim or dim

    # -- writes --------------------------------------------------------

    def store(self, entry: CacheEntry, ttl: float | None) -> WirePlan[None]:
        known = self._index is not None
        yield from self._index_for(entry)
        now = self._clock()
        reply = yield self._script("store", *self._store_settings, self._store_record(entry, ttl, now), now=now)
        self.seen_seq(int(reply[0]))
        if known and int(reply[0]) == 1:  # the write counter restarted: FLUSHALL took the index too
            self._index = None
            yield from self._index_for(entry)
        if int(reply[2]) or self._trim_pending:
            yield from self._trim()

    def store_many(self, items: Sequence[tuple[CacheEntry, float | None]]) -> WirePlan[int]:
        """Store many entries in order, ``STORE_BATCH`` per round trip: pipelined store
        scripts of ``store_chunk`` entries each.

        The effect is that of calling :meth:`store` for each; returns how many were stored.
        """
        for entry, _ in items:
            yield from self._index_for(entry)
        chunk = self.store_chunk
        overflow = False
        for start in range(0, len(items), self.STORE_BATCH):
            batch = items[start : start + self.STORE_BATCH]
            commands, sizes = [], []
            for lo in range(0, len(batch), chunk):
                stamp = repr(float(self._clock()))
                records = [self._store_record(e, t, self._clock()) for e, t in batch[lo : lo + chunk]]
                commands.append(self._evalsha("store", stamp, *self._store_settings, *records))
                sizes.append(len(records))
            replies = yield from self._pipeline(commands)
            # each call returns the seq of its first entry; its entries took consecutive seqs
            self.seen_seq(max(int(reply[0]) + size - 1 for reply, size in zip(replies, sizes, strict=True)))
            overflow = any(int(reply[2]) for reply in replies) or overflow
        if overflow or self._trim_pending:
            yield from self._trim()
        return len(items)

    @property
    def store_chunk(self) -> int:
        """Entries per store script call in :meth:`store_many`: ``STORE_CHUNK`` by the index's
        algorithm, since a script runs whole before the server serves anyone else."""
        algorithm = self._index.algorithm if self._index is not None else None
        return self.STORE_CHUNK.get(algorithm or self._settings.algorithm, 1)

    def clear(self) -> WirePlan[int]:
        """Delete every entry of this partition (entries written meanwhile may survive); how many."""
        deleted = yield from self._sweep([SweepQuery(MATCH_ALL, batch=self.PAGE)], counter="")
        yield from self._report()  # settle bookkeeping of entries that expired meanwhile
        return deleted

    # -- single flight ---------------------------------------------------

    def acquire_lock(self, key: str, token: str, ttl: float) -> WirePlan[bool]:
        """SET NX PX: the lock expires on the server's clock after ``ttl`` seconds.

        When the lock is taken, it may be by us: an earlier send of this very
        command took it and its reply was lost (redis-py re-sent it).  The
        holder's token says so.
        """
        lock = self._layout.lock(self._number, key)
        if (yield Command(("SET", lock, token, "NX", "PX", max(1, round(ttl * 1000))))):
            return True
        holder = yield Command(("GET", lock))
        return holder is not None and text(holder) == token

    def release_lock(self, key: str, token: str) -> WirePlan[bool]:
        yield from self._ready()
        lock = self._layout.lock(self._number, key)
        return int((yield self._script("release_lock", token, extra_keys=(lock,)))) == 1

    def flight_status(self, key: str, version: str | None) -> WirePlan[tuple[CacheEntry | None, bool]]:
        yield from self._ready()
        reply = yield self._script(
            "flight_status",
            key,
            *version_args(version),
            extra_keys=(self._layout.lock(self._number, key),),
        )
        entry = self._decode(reply[1:]) if len(reply) > 1 else None
        return entry, bool(int(reply[0]))

    def count_flight(self, joined: bool) -> WirePlan[None]:
        yield from self._count(("exact_hits", "single_flight_joins") if joined else ("misses",))

    def count(self, counters: tuple[str, ...]) -> WirePlan[None]:
        """Add one to each of ``counters`` (one round trip)."""
        yield from self._count(counters)

    # -- reporting -----------------------------------------------------

    def size(self) -> WirePlan[int]:
        return (yield from self._report())[0]

    def counters(self) -> WirePlan[dict[str, int]]:
        return (yield from self._report())[1]

    def reset_counters(self) -> WirePlan[None]:
        yield Command(("DEL", self._layout.stats(self._number)))

    def top_entries(self, limit: int, sort_by: str) -> WirePlan[list[CacheEntry]]:
        check_sort_by(sort_by)
        if limit <= 0:
            return []
        yield from self._ready()
        reply = yield self._script("top", _RANK_ZSET[sort_by], str(limit), str(self.PRUNE_LIMIT))
        entries = (self._decode(record) for record in reply)
        return [e for e in entries if e is not None]

    def drop_indexes(self) -> WirePlan[None]:
        """Drop this partition's search indexes with their documents (see the backend's ``drop``)."""
        for full in [text(n) for n in (yield self.on_node("FT._LIST"))]:
            if self._layout.parse_index(self._number, full) is not None:
                with contextlib.suppress(IndexMissingError):
                    yield self.on_node("FT.DROPINDEX", full, "DD")
        self._index = None

    # -- internals: index setup --------------------------------------------

    def on_node(self, *args: Any) -> Command:
        """A command for the node owning this partition's slot: search commands (FT.*), and
        keyless ones (PING, INFO), which a cluster client could not route by key."""
        return Command(args, route=self._keys[0])

    def _ready(self) -> WirePlan[IndexName]:
        index = self._index
        if index is None:
            index = yield Exclusive(self._resolve())
        return index

    def _resolve(self, vector_dim: int | None = None) -> WirePlan[IndexName]:
        """Check for the search module, pick or create the index, load the scripts."""
        if vector_dim is None and self._index is not None:  # another caller resolved it meanwhile
            return self._index
        if self._preflight is not None:
            yield from self._preflight()
            self._preflight = None  # passed: once is enough
        existing = []
        for full in [text(n) for n in (yield self.on_node("FT._LIST"))]:
            parsed = self._layout.parse_index(self._number, full)
            if parsed is not None:
                existing.append(parsed)
        settings = self._settings
        plan = plan_index(
            existing,
            cache=self._layout.name,
            schema=self._schema.version,
            algorithm=settings.algorithm,
            dimension=settings.dimension,
            vector_dim=vector_dim or self._seen_dim,
            dtype=settings.vector_dtype,
        )
        full = self._layout.index(self._number, plan.use)
        if plan.create:
            vector = None
            if plan.use.dim:
                vector = VectorConfig(
                    dim=plan.use.dim, algorithm=settings.algorithm, m=settings.hnsw_m,
                    ef_construction=settings.hnsw_ef_construction, dtype=plan.use.dtype,
                )  # fmt: skip
            try:
                yield self.on_node("FT.CREATE", *self._schema.create_args(full, self._prefix, vector))
                log.info("redis_semcache: created search index %s", full)
            except IndexExistsError:
                pass
        if plan.wait:
            yield from self._wait_indexed(full)
        for old in plan.drop:
            superseded = self._layout.index(self._number, old)
            try:
                yield self.on_node("FT.DROPINDEX", superseded)
                log.info("redis_semcache: dropped superseded index %s", superseded)
            except IndexMissingError:
                pass
        yield LoadScripts()
        if any(old.schema != plan.use.schema for old in plan.drop):
            # A cache of an older layout: move its bookkeeping over now (settle_order
            # in _lib.lua), before a lookup counts a hit the old order zsets hold.
            yield self._script("report", str(self.PRUNE_LIMIT), *COUNTERS)
        self._index = plan.use
        self._seen_dim = plan.use.dim or self._seen_dim
        return plan.use

    def _wait_indexed(self, full: str) -> WirePlan[None]:
        """Wait until an index has scanned the keys that existed before it was made."""
        deadline = time.monotonic() + self.INDEXING_TIMEOUT
        delay = 0.005
        while True:
            info = parse_info((yield self.on_node("FT.INFO", full)))
            if not int(info.get("indexing", 0)):
                return
            if time.monotonic() > deadline:
                raise BackendError(f"search index {full} still indexing after {self.INDEXING_TIMEOUT:.0f} s")
            yield Pause(delay)
            delay = min(delay * 2, 0.2)

    def _index_for(self, entry: CacheEntry) -> WirePlan[IndexName]:
        """The index, ready for ``entry``: its first vector fixes the dimension."""
        index = self._index
        if entry.embedding is None:
            return index or (yield Exclusive(self._resolve()))
        dim = int(entry.embedding.shape[0])
        if index is None or index.dim == 0:
            index = yield Exclusive(self._resolve(vector_dim=dim))
        if index.dim != dim:
            raise DimensionMismatchError(index.dim, dim)
        return index

    # -- internals: scripts and pipelines ----------------------------------

    def _script(self, name: str, *args: Any, extra_keys: Sequence[str] = (), now: float | None = None) -> Script:
        stamp = repr(float(self._clock() if now is None else now)).encode()
        return Script(name, (*self._wire_keys, *extra_keys), (self._wire_prefix, stamp, *args))

    def _evalsha(self, name: str, stamp: str, *args: Any, extra_keys: Sequence[str] = ()) -> Command:
        """Script ``name`` as a plain EVALSHA command, for a pipeline (see :meth:`_pipeline`).

        A cluster pipeline refuses ``pipe.evalsha`` but routes EVALSHA by its keys.
        """
        keys = (*self._keys, *extra_keys)
        return Command(("EVALSHA", sha(name), len(keys), *keys, self._prefix, stamp, *args))

    def _pipeline(self, commands: Sequence[Command]) -> WirePlan[list[Any]]:
        """Run ``commands`` in one round trip; raise the first error.

        If the server's script cache was flushed, load the scripts and re-run
        only the commands that failed with NOSCRIPT: the others already ran, and
        running a cursor read twice would skip a page.
        """
        results: list[Any] = yield Pipeline(tuple(commands))
        for _ in range(SCRIPT_ATTEMPTS - 1):  # NOSCRIPT: nothing ran; the scripts may be flushed again meanwhile
            failed = [i for i, r in enumerate(results) if isinstance(r, ScriptMissingError)]
            if not failed:
                break
            yield LoadScripts()
            again = yield Pipeline(tuple(commands[i] for i in failed))
            for i, result in zip(failed, again, strict=True):
                results[i] = result
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        return results

    def _decode(self, record: Sequence[Any]) -> CacheEntry | None:
        try:
            return decode_record(record)
        except MalformedEntryError as exc:
            entry_id = text(record[0]) if record else "?"
            log.warning("redis_semcache: skipping malformed entry %s%s: %s", self._prefix, entry_id, exc)
            return None

    def _store_record(self, entry: CacheEntry, ttl: float | None, now: float) -> bytes:
        """One entry's argument of store.lua (store_record.py)."""
        dtype = self._index.dtype if self._index is not None else "FLOAT32"  # resolved by _index_for first
        return store_record(entry, ttl, now, dtype)

    def _trim(self) -> WirePlan[None]:
        self._trim_pending = False
        if self.max_size is None:
            return
        while True:
            reply = yield self._script(
                "trim",
                str(self.max_size),
                self.eviction_strategy.value,
                str(self.STORE_EVICTION_LIMIT * 16),
                str(self.PRUNE_LIMIT),
            )
            if not int(reply[1]):
                return

    def _report(self) -> WirePlan[tuple[int, dict[str, int]]]:
        yield from self._ready()
        if self._trim_pending:
            yield from self._trim()
        while True:
            reply = yield self._script("report", str(self.PRUNE_LIMIT), *COUNTERS)
            if not int(reply[0]):
                values = [int(text(v)) for v in reply[2:]]
                return int(reply[1]), dict(zip(COUNTERS, values, strict=True))
