"""The contract every storage backend implements.

The manager does all validation, key building, embedding and stats arithmetic;
a backend only stores entries and answers the questions below.  Each method is
one logical operation, so a network backend can serve it in one round trip.

Counting is the backend's job because on Redis the counters ride in the same
round trip as the operation they count (and are shared by every process):

* ``lookup_exact`` counts an exact hit, or a miss when ``final`` is true;
* ``lookup_semantic`` counts a semantic hit or a miss;
* ``lookup`` (both, for a request whose vector is known) counts one of the three;
* ``count_flight`` counts what ``get_or_compute`` waited for (see ``count_flight``);
* ``count_skipped_long`` counts a miss whose text was too long to embed;
* ``count_exploration`` counts a ``get_or_compute`` that computed to label a would-be hit;
* ``store`` counts a set, plus any evictions it causes;
* the ``delete_*`` methods count invalidations; expiry counts expirations.

Async: when the backend is also an :class:`AsyncCacheBackend` (the Redis
backend is, on ``redis.asyncio``) the manager's ``a``-prefixed methods await
``backend.a<method>``.  Otherwise they run the sync method in a worker thread,
or directly when the backend sets ``blocking_io = False`` (the in-memory
backend: no I/O to wait for).

The manager names a backend method in a :class:`~redis_semcache._plan.BackendCall`
by a :data:`BackendMethod` literal, so a type checker follows each call into
this contract (tests/unit/test_backend_seam.py checks the two lists agree).
The manager refuses, when it is built, a backend lacking any of those methods
(:func:`check_backend`, ``ConfigurationError``), rather than failing open on
the first call that needs one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args, runtime_checkable

import numpy as np

from .._entry import CacheEntry
from .._enums import CacheStrategy
from .._errors import ConfigurationError, InvalidInputError
from ..counters import COUNTER_NAMES
from ..quality.labels import LabelCounts

__all__ = [
    "COUNTERS",
    "SORT_FIELDS",
    "STORE_MANY_BATCH",
    "AsyncCacheBackend",
    "BackendMethod",
    "CacheBackend",
    "Match",
    "SemanticQuery",
    "check_backend",
    "check_max_size",
    "check_sort_by",
]

# Names of the shared counters, in report order (the table: redis_semcache/counters.py).
COUNTERS = COUNTER_NAMES

# Fields get_top_entries may sort by (descending).
SORT_FIELDS = ("access_count", "last_access", "created_at")


def check_max_size(max_size: object) -> int | None:
    """``max_size`` if it is a positive int or None; InvalidInputError otherwise."""
    if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1):
        raise InvalidInputError(f"max_size must be a positive int or None, got {max_size!r}")
    return max_size


def check_sort_by(sort_by: object) -> str:
    """``sort_by`` if it is one of SORT_FIELDS; InvalidInputError otherwise."""
    if sort_by not in SORT_FIELDS:
        raise InvalidInputError(f"sort_by must be one of {', '.join(SORT_FIELDS)}; got {sort_by!r}")
    return str(sort_by)


# Entries per store_many call of set_many/warm: one pipelined round trip on a single Redis.
STORE_MANY_BATCH = 200

# The backend operations the manager calls (each has an ``a``-prefixed twin on an AsyncCacheBackend).
BackendMethod = Literal[
    "lookup_exact",
    "lookup_semantic",
    "lookup",
    "count_skipped_long",
    "store",
    "store_many",
    "delete_keys",
    "delete_tags",
    "delete_version",
    "delete_pattern",
    "clear",
    "size",
    "top_entries",
    "counters",
    "reset_counters",
    "health",
    "acquire_lock",
    "release_lock",
    "flight_status",
    "count_flight",
    "count_exploration",
    "record_label",
    "label_counts",
]


def check_backend(backend: object, what: str = "backend") -> None:
    """Raise ConfigurationError naming the methods of the contract ``backend`` lacks.

    Checked when the manager is built: a backend written against an older
    contract (without ``lookup`` or ``count_flight``, say) would otherwise fail
    only on the first call that needs the method, and fail open as a miss.
    """
    needed = (*get_args(BackendMethod), "configure", "close")
    missing = [name for name in needed if not callable(getattr(backend, name, None))]
    if missing:
        raise ConfigurationError(
            f"{what} {type(backend).__name__} does not implement {', '.join(missing)} of "
            "redis_semcache.backends.base.CacheBackend"
        )


# A veto on a semantic candidate: (normalised query, candidate prompt, similarity) -> keep?
# The one type of every such callback; its public names are guards.Guard and engine.Verifier.
Acceptor = Callable[[str, str, float], bool]


@dataclass(frozen=True)
class SemanticQuery:
    """A nearest-neighbour lookup restricted to one scope.

    ``vector`` is an L2-normalised float32 array.  A candidate matches when its
    cosine similarity is at least ``min_similarity``, its model and scope are
    equal to the query's, its version equals ``version`` (when given), and
    ``accept`` (when given) keeps it.  At most ``k`` nearest candidates are
    considered; the best accepted one wins.  ``count_miss=False`` leaves a miss
    uncounted (``get_or_compute`` counts its outcome itself, see ``count_flight``).
    ``serve_similarity`` (None: ``min_similarity``) is where ``accept`` is expected
    to start keeping candidates: a backend may record the hit on a candidate at or
    above it before ``accept`` decides (Redis does, to save a round trip), never
    on one below it (``lookup`` lists candidates down to 0.5 it will not serve).
    """

    vector: np.ndarray
    prompt: str
    model: str
    scope: str
    min_similarity: float
    version: str | None = None
    k: int = 4
    accept: Acceptor | None = None
    count_miss: bool = True
    serve_similarity: float | None = None


@dataclass(frozen=True)
class Match:
    """What a lookup found: the entry, its similarity, and whether it was the exact key asked."""

    entry: CacheEntry
    similarity: float
    exact: bool = False  # an exact hit (similarity 1.0); a semantic one may also reach 1.0


@runtime_checkable
class CacheBackend(Protocol):
    """Storage for cache entries.  Implementations must be thread-safe."""

    max_size: int | None
    eviction_strategy: CacheStrategy
    # False when calls never wait on I/O: async callers then call them directly
    # (no worker thread), and the manager adds no circuit breaker.
    blocking_io: bool

    @property
    def dimension(self) -> int | None:
        """The vector dimension, once known (no I/O)."""

    def configure(self, *, max_size: int | None, eviction_strategy: CacheStrategy, sliding_ttl: bool) -> None:
        """Apply the manager's size limit, eviction strategy and TTL mode."""

    def lookup_exact(self, key: str, *, version: str | None, final: bool) -> Match | None:
        """Return the live entry stored under ``key`` as an exact Match (similarity 1.0)
        and record the hit.

        ``final`` says no semantic lookup follows, so a miss is counted here.
        """

    def lookup_semantic(self, query: SemanticQuery) -> Match | None:
        """Return the best match for ``query`` and record the hit, or count a miss."""

    def lookup(self, key: str, query: SemanticQuery) -> Match | None:
        """``lookup_exact(key, version=query.version, final=False)``, then, on a miss,
        ``lookup_semantic(query)``, as one operation (one round trip on Redis).
        An exact hit comes back as lookup_exact's Match (``exact``, similarity 1.0)."""

    def count_skipped_long(self, key: str, count_miss: bool = True) -> None:
        """Count a ``semantic_skipped_long`` (and a miss, when ``count_miss``) for a
        lookup of ``key`` that was exact-only because its text exceeds the embedder's
        window.  ``get_or_compute`` counts its miss once it knows the outcome."""

    def store(self, entry: CacheEntry, ttl: float | None) -> None:
        """Insert or replace ``entry`` (stamped with the backend's clock), evicting if full."""

    def store_many(self, items: Sequence[tuple[CacheEntry, float | None]]) -> int:
        """Store many (entry, ttl) pairs in order, as :meth:`store` each (a server
        backend pipelines them); return how many were stored."""

    def delete_keys(self, keys: Sequence[str]) -> int:
        """Delete entries by id; return how many existed."""

    def delete_tags(self, tags: Sequence[str]) -> int:
        """Delete entries carrying any of ``tags`` (exact string equality)."""

    def delete_version(self, version: str) -> int:
        """Delete entries whose version equals ``version``."""

    def delete_pattern(self, pattern: str) -> int:
        """Delete entries whose normalised prompt matches the glob ``pattern``."""

    def clear(self) -> None:
        """Delete every entry of this cache, and nothing else."""

    def size(self) -> int:
        """Number of live entries."""

    def top_entries(self, limit: int, sort_by: str) -> list[CacheEntry]:
        """Up to ``limit`` live entries, sorted descending by ``sort_by`` (one of SORT_FIELDS)."""

    def counters(self) -> dict[str, int]:
        """Current values of COUNTERS (shared ones for shared backends)."""

    def reset_counters(self) -> None:
        """Zero every counter."""

    def health(self) -> dict[str, Any]:
        """Backend facts for ``health_check``; must include ``"status"``."""

    # Single flight (stampede protection): a short-lived lock per entry key.

    def acquire_lock(self, key: str, token: str, ttl: float) -> bool:
        """Take the compute lock of ``key`` for ``ttl`` seconds unless someone holds it."""

    def release_lock(self, key: str, token: str) -> bool:
        """Release the lock of ``key`` only if ``token`` still holds it."""

    def flight_status(self, key: str, version: str | None) -> tuple[CacheEntry | None, bool]:
        """(the live entry under ``key`` or None, whether its lock is held) - without
        counting a lookup or touching the entry."""

    def count_flight(self, key: str, joined: bool) -> None:
        """Count the outcome of a single-flight lookup that counted nothing itself: a
        miss (this caller computes), or ``joined``: an exact hit served by another
        caller's computation, counted in ``exact_hits`` and ``single_flight_joins``."""

    def count_exploration(self, key: str) -> None:
        """Count an ``exploration``: a ``get_or_compute`` of ``key`` that computed although
        a semantic hit would have been served, to label it (its miss is counted apart)."""

    def record_label(self, scope: str, similarity: float, correct: bool) -> None:
        """Record a hit-quality label (``feedback``) for a candidate of ``scope`` at
        ``similarity``: shared by every instance of the cache (redis_semcache.quality)."""

    def label_counts(self, scope: str) -> tuple[LabelCounts, LabelCounts]:
        """(every scope's labels, ``scope``'s labels), binned by similarity."""

    def close(self) -> None:
        """Release resources this backend owns."""


@runtime_checkable
class AsyncCacheBackend(Protocol):
    """The async twins of :class:`CacheBackend`'s operations, for backends doing network I/O."""

    async def alookup_exact(self, key: str, *, version: str | None, final: bool) -> Match | None: ...
    async def alookup_semantic(self, query: SemanticQuery) -> Match | None: ...
    async def alookup(self, key: str, query: SemanticQuery) -> Match | None: ...
    async def acount_skipped_long(self, key: str, count_miss: bool = True) -> None: ...
    async def astore(self, entry: CacheEntry, ttl: float | None) -> None: ...
    async def astore_many(self, items: Sequence[tuple[CacheEntry, float | None]]) -> int: ...
    async def adelete_keys(self, keys: Sequence[str]) -> int: ...
    async def adelete_tags(self, tags: Sequence[str]) -> int: ...
    async def adelete_version(self, version: str) -> int: ...
    async def adelete_pattern(self, pattern: str) -> int: ...
    async def aclear(self) -> None: ...
    async def asize(self) -> int: ...
    async def atop_entries(self, limit: int, sort_by: str) -> list[CacheEntry]: ...
    async def acounters(self) -> dict[str, int]: ...
    async def areset_counters(self) -> None: ...
    async def ahealth(self) -> dict[str, Any]: ...
    async def aacquire_lock(self, key: str, token: str, ttl: float) -> bool: ...
    async def arelease_lock(self, key: str, token: str) -> bool: ...
    async def aflight_status(self, key: str, version: str | None) -> tuple[CacheEntry | None, bool]: ...
    async def acount_flight(self, key: str, joined: bool) -> None: ...
    async def acount_exploration(self, key: str) -> None: ...

    async def arecord_label(self, scope: str, similarity: float, correct: bool) -> None: ...

    async def alabel_counts(self, scope: str) -> tuple[LabelCounts, LabelCounts]: ...

    async def aclose(self) -> None:
        """Release resources this backend owns, async clients included."""
