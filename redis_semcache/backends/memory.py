"""The embedded backend: everything in this process, no server.

Thread-safe (one lock), TTL checked against an injected clock, eviction through
a lazy heap whose priority depends on the strategy, and exact numpy cosine
search over per-scope matrices.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._entry import CacheEntry
from .._enums import CacheStrategy
from ..quality.labels import LabelCounts
from ._label_store import LabelStore
from ._lazy_heap import LazyHeap
from ._vector_index import VectorIndex
from .base import COUNTERS, Match, SemanticQuery, check_max_size, check_sort_by

__all__ = ["InMemoryCacheBackend"]


class InMemoryCacheBackend:
    """Process-local storage with the same contract as the Redis backend.

    ``clock`` returns seconds; inject a fake one in tests instead of sleeping.
    """

    blocking_io = False  # async callers may call it directly: it never waits on I/O

    def __init__(
        self,
        max_size: int | None = 10_000,
        *,
        eviction_strategy: CacheStrategy | str = CacheStrategy.LRU,
        sliding_ttl: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._entries: dict[str, CacheEntry] = {}
        self._vectors = VectorIndex()
        self._expiry = LazyHeap()
        self._eviction = LazyHeap()
        self._tick = 0  # orders events that share a clock reading
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._locks: dict[str, tuple[str, float]] = {}  # key -> (token, expires at)
        self._labels = LabelStore()  # hit-quality labels (redis_semcache.quality)
        self.max_size: int | None = None
        self.eviction_strategy = CacheStrategy.LRU
        self.sliding_ttl = False
        self.configure(max_size=max_size, eviction_strategy=CacheStrategy(eviction_strategy), sliding_ttl=sliding_ttl)

    # -- configuration -------------------------------------------------

    def configure(self, *, max_size: int | None, eviction_strategy: CacheStrategy, sliding_ttl: bool) -> None:
        check_max_size(max_size)
        with self._lock:
            changed = eviction_strategy != self.eviction_strategy
            self.max_size = max_size
            self.eviction_strategy = CacheStrategy(eviction_strategy)
            self.sliding_ttl = sliding_ttl
            if changed:
                self._eviction.clear()
                for entry in self._entries.values():
                    self._eviction.push(entry.key, self._eviction_priority(entry))
            self._evict_overflow()

    @property
    def dimension(self) -> int | None:
        return self._vectors.dim

    # -- lookups -------------------------------------------------------

    def lookup_exact(self, key: str, *, version: str | None, final: bool) -> Match | None:
        with self._lock:
            self._purge_expired()
            entry = self._entries.get(key)
            if entry is None or (version is not None and entry.version != version):
                if final:
                    self._counters["misses"] += 1
                return None
            self._counters["exact_hits"] += 1
            return Match(self._touch(entry), 1.0, exact=True)

    def lookup_semantic(self, query: SemanticQuery) -> Match | None:
        with self._lock:
            self._purge_expired()
            if self._vectors.dim is not None and query.vector.shape[0] == self._vectors.dim:
                found = self._vectors.search(query.scope, query.vector, query.min_similarity)
                # Like the Redis KNN: the k nearest in scope (and version) are the only candidates.
                candidates = [
                    (self._entries[key], similarity)
                    for key, similarity in found
                    if query.version is None or self._entries[key].version == query.version
                ][: query.k]
                for entry, similarity in candidates:
                    if entry.model != query.model:
                        continue
                    if query.accept is not None and not query.accept(query.prompt, entry.prompt, similarity):
                        continue
                    self._counters["semantic_hits"] += 1
                    return Match(self._touch(entry), similarity)
            if query.count_miss:
                self._counters["misses"] += 1
            return None

    def lookup(self, key: str, query: SemanticQuery) -> Match | None:
        with self._lock:  # reentrant: one lookup, not two that another thread could split
            return self.lookup_exact(key, version=query.version, final=False) or self.lookup_semantic(query)

    def count_skipped_long(self, key: str, count_miss: bool = True) -> None:
        with self._lock:
            self._counters["misses"] += int(count_miss)
            self._counters["semantic_skipped_long"] += 1

    # -- writes --------------------------------------------------------

    def store(self, entry: CacheEntry, ttl: float | None) -> None:
        with self._lock:
            now = self._clock()
            self._purge_expired()
            stamped = dataclasses.replace(
                entry,
                created_at=now,
                last_access=now,
                access_count=0,
                expires_at=None if ttl is None else now + ttl,
                ttl=ttl,
            )
            self._remove(entry.key)
            self._entries[entry.key] = stamped
            self._tick += 1
            if stamped.embedding is not None:
                self._vectors.add(stamped.scope, stamped.key, stamped.embedding)
            if stamped.expires_at is not None:
                self._expiry.push(stamped.key, stamped.expires_at)
            self._eviction.push(stamped.key, self._eviction_priority(stamped))
            self._counters["sets"] += 1
            self._evict_overflow(protect=stamped)

    def store_many(self, items: Sequence[tuple[CacheEntry, float | None]]) -> int:
        with self._lock:
            for entry, ttl in items:
                self.store(entry, ttl)
        return len(items)

    def delete_keys(self, keys: Sequence[str]) -> int:
        with self._lock:
            self._purge_expired()
            return self._invalidate(k for k in dict.fromkeys(keys) if k in self._entries)

    def delete_tags(self, tags: Sequence[str]) -> int:
        wanted = set(tags)
        return self._invalidate_where(lambda e: not wanted.isdisjoint(e.tags))

    def delete_version(self, version: str) -> int:
        return self._invalidate_where(lambda e: e.version == version)

    def delete_pattern(self, pattern: str) -> int:
        return self._invalidate_where(lambda e: fnmatch.fnmatchcase(e.prompt, pattern))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._vectors.clear()
            self._expiry.clear()
            self._eviction.clear()

    # -- reporting -----------------------------------------------------

    def size(self) -> int:
        with self._lock:
            self._purge_expired()
            return len(self._entries)

    def top_entries(self, limit: int, sort_by: str) -> list[CacheEntry]:
        check_sort_by(sort_by)
        with self._lock:
            self._purge_expired()
            entries = sorted(self._entries.values(), key=lambda e: getattr(e, sort_by), reverse=True)
        return entries[:limit]

    def counters(self) -> dict[str, int]:
        with self._lock:
            self._purge_expired()
            return dict(self._counters)

    def reset_counters(self) -> None:
        with self._lock:
            self._counters = dict.fromkeys(COUNTERS, 0)

    # -- hit-quality labels (redis_semcache.quality) -----------------------

    def record_label(self, scope: str, similarity: float, correct: bool) -> None:
        self._labels.record(scope, similarity, correct)

    def label_counts(self, scope: str) -> tuple[LabelCounts, LabelCounts]:
        return self._labels.counts(scope)

    def health(self) -> dict[str, Any]:
        return {
            "status": "healthy",
            "backend": "memory",
            "entries": self.size(),
            "max_size": self.max_size,
            "vector_dimension": self._vectors.dim,
        }

    def close(self) -> None:
        """Nothing to release; kept for the backend contract."""

    # -- single flight -------------------------------------------------

    def acquire_lock(self, key: str, token: str, ttl: float) -> bool:
        with self._lock:
            now = self._clock()
            held = self._locks.get(key)
            if held is not None and held[1] > now:
                return False
            self._locks[key] = (token, now + ttl)
            return True

    def release_lock(self, key: str, token: str) -> bool:
        with self._lock:
            held = self._locks.get(key)
            if held is None or held[0] != token:
                return False
            del self._locks[key]
            return True

    def flight_status(self, key: str, version: str | None) -> tuple[CacheEntry | None, bool]:
        with self._lock:
            self._purge_expired()
            entry = self._entries.get(key)
            if entry is not None and version is not None and entry.version != version:
                entry = None
            held = self._locks.get(key)
            return entry, held is not None and held[1] > self._clock()

    def count_flight(self, key: str, joined: bool) -> None:
        with self._lock:
            if joined:
                self._counters["exact_hits"] += 1
                self._counters["single_flight_joins"] += 1
            else:
                self._counters["misses"] += 1

    def count_exploration(self, key: str) -> None:
        with self._lock:
            self._counters["explorations"] += 1

    # -- internals -----------------------------------------------------

    def _touch(self, entry: CacheEntry) -> CacheEntry:
        now = self._clock()
        self._tick += 1
        expires_at = entry.expires_at
        if self.sliding_ttl and expires_at is not None:
            expires_at = now + (entry.ttl or 0.0)
            self._expiry.push(entry.key, expires_at)
        touched = dataclasses.replace(
            entry, last_access=now, access_count=entry.access_count + 1, expires_at=expires_at
        )
        self._entries[entry.key] = touched
        if self.eviction_strategy in (CacheStrategy.LRU, CacheStrategy.LFU) or self.sliding_ttl:
            self._eviction.push(entry.key, self._eviction_priority(touched))
        return touched

    def _eviction_priority(self, entry: CacheEntry) -> tuple[float, ...]:
        strategy = self.eviction_strategy
        if strategy is CacheStrategy.LRU:
            return (entry.last_access, self._tick)
        if strategy is CacheStrategy.LFU:
            return (entry.access_count, entry.last_access, self._tick)
        if strategy is CacheStrategy.FIFO:
            return (entry.created_at, self._tick)
        expires = math.inf if entry.expires_at is None else entry.expires_at
        return (expires, entry.created_at, self._tick)

    def _evict_overflow(self, protect: CacheEntry | None = None) -> None:
        """Evict down to max_size; ``protect`` (the entry just written) is never the victim."""
        if protect is not None:
            self._eviction.discard(protect.key)
        while self.max_size is not None and len(self._entries) > self.max_size:
            top = self._eviction.peek()
            if top is None:  # pragma: no cover - heap and dict always agree
                break
            self._remove(top[1])
            self._counters["evictions"] += 1
        if protect is not None and protect.key in self._entries:
            self._eviction.push(protect.key, self._eviction_priority(protect))

    def _purge_expired(self) -> None:
        now = self._clock()
        while True:
            top = self._expiry.peek()
            if top is None or top[0] > now:
                return
            self._remove(top[1])
            self._counters["expirations"] += 1

    def _remove(self, key: str) -> bool:
        if self._entries.pop(key, None) is None:
            return False
        self._vectors.remove(key)
        self._expiry.discard(key)
        self._eviction.discard(key)
        return True

    def _invalidate(self, keys: Iterable[str]) -> int:
        removed = sum(self._remove(k) for k in list(keys))
        self._counters["invalidations"] += removed
        return removed

    def _invalidate_where(self, predicate: Callable[[CacheEntry], bool]) -> int:
        with self._lock:
            self._purge_expired()
            return self._invalidate(k for k, e in self._entries.items() if predicate(e))
