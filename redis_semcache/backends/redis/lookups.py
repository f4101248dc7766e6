"""Lookups in one partition: the exact check, the semantic search, and the
bookkeeping of a hit, through lookup.lua (and touch.lua for a vetted candidate).

:class:`Lookups` is a part of :class:`~.partition.Partition`, which supplies the
attributes and helpers declared at the top of the class.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from ..._entry import CacheEntry
from ..._errors import BackendError
from ..._vectors import distance_slack, similarity_floor, to_bytes
from ..base import Match, SemanticQuery
from .codec import RECORD_LEN, text
from .errors import IndexMissingError, OutOfMemoryError
from .index import Settings
from .layout import IndexName, KeyLayout
from .queries import SMALL_SCOPE_DIVISOR, digest, search_texts
from .wire import Command, Pipeline, Script, WirePlan

__all__ = ["HIT", "HIT_UNBOOKED", "Lookups", "version_args"]

log = logging.getLogger("redis_semcache.redis")

# Script reply statuses of a hit: served with its bookkeeping, or without it
# because a full server (maxmemory, noeviction) refused the writes.
HIT, HIT_UNBOOKED = 1, 3
_HIT = (HIT, HIT_UNBOOKED)


def version_args(version: str | None) -> tuple[Any, Any]:
    """How the lookup scripts take an optional version: a "must match" flag, then the version."""
    return (b"1", version) if version is not None else _NO_VERSION


# Constant script arguments, as bytes: redis-py encodes each str argument in Python.
_FLAG = {True: b"1", False: b"0"}
_NO_VERSION = (b"0", b"")
_MISSES = b"misses"


@lru_cache(maxsize=4096)
def _search_shape(
    index: IndexName, model_digest: str, scope: str, min_similarity: float, serve_similarity: float | None,
    version: str | None, k: int, vet: bool, ef_runtime: int | None,
) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:  # fmt: skip
    """ARGV[8..14] and ARGV[16..19] of lookup.lua (around the vector, ARGV[15]) for a query of
    this shape, or None when it can match nothing; computed once per shape (lookups repeat them)."""
    slack = distance_slack(index.dtype, index.dim)
    max_distance = 1.0 - similarity_floor(min_similarity) + slack
    if max_distance < 0:  # a rule that serves no semantic match
        return None
    algorithm = index.algorithm or "FLAT"
    large, small, whole = search_texts(scope, algorithm, min(max_distance, 2.0), version, k)
    ef = "" if algorithm == "FLAT" else str(ef_runtime or "auto")
    # A caller that serves from `serve` up checks the similarity itself, as RediSearch
    # computed it: no slack here, or the script would book a hit the caller refuses.
    serve_distance = max_distance if serve_similarity is None else 1.0 - similarity_floor(serve_similarity)
    before = (
        b"vet" if vet else b"best",
        repr(max_distance).encode(),
        model_digest.encode(),
        scope.encode(),
        str(SMALL_SCOPE_DIVISOR[algorithm]).encode(),
        large.encode(),
        small.encode(),
    )
    return before, (str(k).encode(), ef.encode(), repr(serve_distance).encode(), whole.encode())


class Lookups:
    """The lookup plans of a partition."""

    # Supplied by Partition.
    _layout: KeyLayout
    _number: int
    _prefix: str
    _settings: Settings
    _index: IndexName | None
    sliding_ttl: bool
    unbooked_hits: int

    def _ready(self) -> WirePlan[IndexName]:
        raise NotImplementedError

    def _script(self, name: str, *args: Any, extra_keys: Sequence[str] = (), now: float | None = None) -> Script:
        raise NotImplementedError

    def _decode(self, record: Sequence[Any]) -> CacheEntry | None:
        raise NotImplementedError

    def lookup_exact(self, key: str, *, version: str | None, final: bool) -> WirePlan[Match | None]:
        return (yield from self._lookup(key, version, None, count_miss=final))

    def lookup_semantic(self, query: SemanticQuery) -> WirePlan[Match | None]:
        return (yield from self._lookup(None, query.version, query, count_miss=query.count_miss))

    def lookup(self, key: str, query: SemanticQuery) -> WirePlan[Match | None]:
        """The exact check of ``key``, then the semantic search of ``query``, in one round trip."""
        return (yield from self._lookup(key, query.version, query, count_miss=query.count_miss))

    def count_skipped_long(self, count_miss: bool = True) -> WirePlan[None]:
        yield from self._count(("misses", "semantic_skipped_long") if count_miss else ("semantic_skipped_long",))

    def _lookup(
        self, key: str | None, version: str | None, query: SemanticQuery | None, *, count_miss: bool
    ) -> WirePlan[Match | None]:
        """lookup.lua: the exact check of ``key`` (when given), then the search of ``query`` (when given)."""
        index = yield from self._ready()
        search = None if query is None else self._search_args(index, query)
        if key is None and search is None:  # nothing stored can match
            if count_miss:
                yield from self._count(("misses",))
            return None
        sliding = _FLAG[self.sliding_ttl]
        miss_counter = "misses" if count_miss else ""
        head = (key or "", *version_args(version), sliding, _MISSES if count_miss else b"")
        if search is None:
            reply = yield from self._call_lookup((*head, b""), ())
        else:
            reply = yield from self._call_lookup((*head, *search), (self._layout.index(self._number, index),))
        if reply is None:
            if count_miss:
                yield from self._count(("misses",))
            return None
        status = int(reply[0])
        if status not in _HIT and reply[1]:
            foreign = text(reply[1])
            log.warning("redis_semcache: skipping key %s%s: not an entry this library wrote", self._prefix, foreign)
        if status == 2:  # candidates the caller vets before any is touched
            assert query is not None
            return (yield from self._vet(query, reply[2:], sliding, miss_counter))
        if status not in _HIT:
            return None
        self._booked(status)
        entry = self._decode(reply[2 : 2 + RECORD_LEN])
        if not reply[1]:  # an exact hit
            return None if entry is None else Match(entry, 1.0, exact=True)
        similarity = 1.0 - float(reply[1])
        assert query is not None  # a semantic hit answers a query
        if query.accept is None or (entry is not None and query.accept(query.prompt, entry.prompt, similarity)):
            return None if entry is None else Match(entry, similarity)
        # Vetoed (or unreadable): the script counted a hit on it; count a miss instead
        # and offer the other candidates, as touch.lua expects.
        recount = {"semantic_hits": -1} if status == HIT else {}
        yield from self._count({**recount, **({miss_counter: 1} if miss_counter else {})})
        return (yield from self._vet(query, reply[2 + RECORD_LEN :], sliding, miss_counter))

    def _call_lookup(self, args: tuple[Any, ...], extra_keys: tuple[str, ...]) -> WirePlan[Any]:
        """lookup.lua's reply, or None when the search found its index gone (the exact check missed)."""
        try:
            return (yield self._script("lookup", *args, extra_keys=extra_keys))
        except IndexMissingError:
            self._index = None  # recreated by the next operation
            return None

    def _search_args(self, index: IndexName, query: SemanticQuery) -> tuple[Any, ...] | None:
        """ARGV[8..] of lookup.lua for ``query``, or None when nothing stored can match it."""
        if index.dim == 0 or query.vector.shape[0] != index.dim:
            return None
        serve = None if query.serve_similarity is None else float(query.serve_similarity)
        shape = _search_shape(
            index, digest(query.model), query.scope, float(query.min_similarity), serve,
            query.version, query.k, query.accept is not None, self._settings.hnsw_ef_runtime,
        )  # fmt: skip
        if shape is None:
            return None
        before, after = shape
        return (*before, to_bytes(query.vector, index.dtype), *after)

    def _vet(
        self, query: SemanticQuery, listed: Sequence[Any], sliding: bytes, miss_counter: str
    ) -> WirePlan[Match | None]:
        """Offer the listed candidates to ``query.accept``; record a hit on the first accepted
        one that is still the entry that was listed (touch.lua)."""
        assert query.accept is not None
        for i in range(0, len(listed) - 3, 4):
            entry_id, dist, seq, prompt = (text(v) for v in listed[i : i + 4])
            similarity = 1.0 - float(dist)
            if not query.accept(query.prompt, prompt, similarity):
                continue
            touched = yield self._script("touch", entry_id, seq, sliding, miss_counter)
            if int(touched[0]) in _HIT:
                self._booked(int(touched[0]))
                entry = self._decode(touched[1:])
                if entry is not None:
                    return Match(entry, similarity)
        return None

    def _count(self, counters: Sequence[str] | Mapping[str, int]) -> WirePlan[None]:
        """Add one to each of ``counters`` (or the amount a mapping gives) in one round trip.
        A read's bookkeeping: a full server refusing it (out of memory) must not fail the read."""
        if not counters:
            return
        stats = self._layout.stats(self._number)
        amounts = counters if isinstance(counters, Mapping) else dict.fromkeys(counters, 1)
        replies = yield Pipeline(tuple(Command(("HINCRBY", stats, c, n)) for c, n in amounts.items()))
        refused = False
        for reply in replies:
            if isinstance(reply, OutOfMemoryError):
                refused = True
            elif isinstance(reply, BackendError):
                raise reply
        if refused and "exact_hits" in counters:  # as in the Lua scripts: a hit served unbooked counts once
            self.unbooked_hits += 1

    def _booked(self, status: int) -> None:
        if status == HIT_UNBOOKED:
            self.unbooked_hits += 1  # a race between threads may lose a count; it is a gauge of trouble
