"""Where a cache's keys live: which partition runs each operation.

A single Redis holds a cache in one partition.  A Redis Cluster holds it in
P hash-tagged partitions (:class:`.layout.KeyLayout`), each with its own
index, all of whose keys sit in one slot: open-source RediSearch has no
cluster coordinator, so each node indexes only its own keys.  An entry's
partition comes from its scope id, so a lookup is one KNN query on one node.

:class:`Routing` turns each backend operation into a plan:

* lookups, stores, locks, ``delete_keys``        -> the key's partition
* invalidation by tag / version / pattern, clear -> every partition, counts summed
* size, counters                                  -> summed; ``top_entries`` merged
* ``max_size``                                    -> ceil(max_size / P) per partition

With one partition every plan is that partition's own plan, unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..._entry import CacheEntry
from ..._enums import CacheStrategy
from ..._errors import DimensionMismatchError, InvalidationError, ReplicationPendingError
from ..._keys import split_key
from ..base import COUNTERS, Match, SemanticQuery, check_sort_by
from .codec import text
from .layout import KeyLayout
from .partition import Partition
from .wire import FanOut, WirePlan

__all__ = ["Routing", "partition_budget"]

T = TypeVar("T")


def partition_budget(max_size: int | None, partitions: int) -> int | None:
    """Each partition's share of ``max_size`` (an approximation: partitions fill unevenly)."""
    return None if max_size is None else max(1, math.ceil(max_size / partitions))


class Routing:
    """The partitions of one cache, and the plan of each operation over them."""

    def __init__(self, layout: KeyLayout, partitions: Sequence[Partition], *, clustered: bool) -> None:
        self.layout = layout
        self.partitions = tuple(partitions)
        self.clustered = clustered  # health also reports the cluster's size
        self.max_size: int | None = None
        self._dim: int | None = None  # the whole cache's dimension, once any partition learned it

    def partition_of(self, key_or_scope: str) -> Partition:
        """The partition holding an entry key or a scope id."""
        return self.partitions[self.layout.partition_of(key_or_scope)]

    def configure(self, *, max_size: int | None, eviction_strategy: CacheStrategy, sliding_ttl: bool) -> None:
        """Apply settings to every partition (each validates them; no I/O)."""
        budget = partition_budget(max_size, len(self.partitions))
        for part in self.partitions:
            part.configure(max_size=budget, eviction_strategy=eviction_strategy, sliding_ttl=sliding_ttl)
        self.max_size = max_size

    @property
    def dimension(self) -> int | None:
        if self._dim is not None:
            return self._dim
        if len(self.partitions) == 1:  # asked on every lookup
            return self.partitions[0].dimension
        return next((part.dimension for part in self.partitions if part.dimension is not None), None)

    def _check_dim(self, entry: CacheEntry) -> None:
        """One dimension for the whole cache, as on a single node (partitions learn it separately)."""
        if entry.embedding is None or len(self.partitions) == 1:
            return
        dim = int(entry.embedding.shape[0])
        known = self.dimension
        if known is not None and known != dim:
            raise DimensionMismatchError(known, dim)
        if self._dim is None:
            self._dim = dim
            for part in self.partitions:
                part.learn_dimension(dim)

    def _fan(self, plans: Sequence[WirePlan[T]]) -> WirePlan[list[T]]:
        """Run plans of several partitions (concurrently on the async driver); one runs inline."""
        if len(plans) == 1:
            return [(yield from plans[0])]
        return list((yield FanOut(tuple(plans))))

    def _everywhere(self, plans: Sequence[WirePlan[T]]) -> WirePlan[list[T]]:
        return (yield from self._fan(plans))

    # -- one partition -------------------------------------------------

    def lookup_exact(self, key: str, version: str | None, final: bool) -> WirePlan[Match | None]:
        return self.partition_of(key).lookup_exact(key, version=version, final=final)

    def lookup(self, key: str, query: SemanticQuery) -> WirePlan[Match | None]:
        return self.partition_of(key).lookup(key, query)  # the key's scope is query.scope: one partition

    def count_skipped_long(self, key: str, count_miss: bool) -> WirePlan[None]:
        return self.partition_of(key).count_skipped_long(count_miss)

    def lookup_semantic(self, query: SemanticQuery) -> WirePlan[Match | None]:
        return self.partition_of(query.scope).lookup_semantic(query)

    def store(self, entry: CacheEntry, ttl: float | None) -> WirePlan[None]:
        self._check_dim(entry)
        return self.partition_of(entry.key).store(entry, ttl)

    def acquire_lock(self, key: str, token: str, ttl: float) -> WirePlan[bool]:
        return self.partition_of(key).acquire_lock(key, token, ttl)

    def release_lock(self, key: str, token: str) -> WirePlan[bool]:
        return self.partition_of(key).release_lock(key, token)

    def flight_status(self, key: str, version: str | None) -> WirePlan[tuple[CacheEntry | None, bool]]:
        return self.partition_of(key).flight_status(key, version)

    def count_flight(self, key: str, joined: bool) -> WirePlan[None]:
        return self.partition_of(key).count_flight(joined)

    def count_exploration(self, key: str) -> WirePlan[None]:
        return self.partition_of(key).count(("explorations",))

    # -- grouped by partition, or fanned out to all -------------------------

    def store_many(self, items: Sequence[tuple[CacheEntry, float | None]]) -> WirePlan[int]:
        if len(self.partitions) == 1:
            return (yield from self.partitions[0].store_many(items))
        groups: dict[int, list[tuple[CacheEntry, float | None]]] = {}
        for entry, ttl in items:
            self._check_dim(entry)
            groups.setdefault(self.layout.partition_of(entry.key), []).append((entry, ttl))
        return sum((yield from self._fan([self.partitions[p].store_many(group) for p, group in groups.items()])))

    def delete_keys(self, keys: Sequence[str]) -> WirePlan[int]:
        if len(self.partitions) == 1:
            return (yield from self.partitions[0].delete_keys(keys))
        groups: dict[int, list[str]] = {}
        for key in keys:
            if split_key(key) is not None:  # anything else names no entry
                groups.setdefault(self.layout.partition_of(key), []).append(key)
        return sum((yield from self._fan([self.partitions[p].delete_keys(group) for p, group in groups.items()])))

    def delete_tags(self, tags: Sequence[str]) -> WirePlan[int]:
        return (yield from self._removal([part.delete_tags(tags) for part in self.partitions]))

    def delete_version(self, version: str) -> WirePlan[int]:
        return (yield from self._removal([part.delete_version(version) for part in self.partitions]))

    def delete_pattern(self, pattern: str) -> WirePlan[int]:
        return (yield from self._removal([part.delete_pattern(pattern) for part in self.partitions]))

    def clear(self) -> WirePlan[None]:
        yield from self._removal([part.clear() for part in self.partitions])

    def _removal(self, plans: Sequence[WirePlan[int]]) -> WirePlan[int]:
        """Run a removal in every partition, even when one fails, and sum what they deleted.

        One partition's failure (its replicas did not acknowledge, its node is
        down) must not leave the others' matches in place: each partition runs
        to its end, then the first failure is raised with the total ``deleted``.
        """
        if len(plans) == 1:
            return (yield from plans[0])
        outcomes = yield from self._fan([_caught(plan) for plan in plans])
        failed = [o.error for o in outcomes if isinstance(o, _Failed)]
        deleted = sum(o.error.deleted if isinstance(o, _Failed) else o for o in outcomes)
        if failed:
            pending = all(isinstance(f, ReplicationPendingError) for f in failed)
            raise (ReplicationPendingError if pending else InvalidationError)(
                f"{len(failed)} of {len(plans)} partitions did not complete ({deleted} entries deleted in all): "
                f"{failed[0]}",
                deleted=deleted,
            ) from failed[0]
        return deleted

    def size(self) -> WirePlan[int]:
        return sum((yield from self._everywhere([part.size() for part in self.partitions])))

    def counters(self) -> WirePlan[dict[str, int]]:
        if len(self.partitions) == 1:
            return (yield from self.partitions[0].counters())
        totals = dict.fromkeys(COUNTERS, 0)
        for counts in (yield from self._everywhere([part.counters() for part in self.partitions])):
            for counter, value in counts.items():
                totals[counter] = totals.get(counter, 0) + value
        return totals

    def reset_counters(self) -> WirePlan[None]:
        yield from self._everywhere([part.reset_counters() for part in self.partitions])

    def top_entries(self, limit: int, sort_by: str) -> WirePlan[list[CacheEntry]]:
        check_sort_by(sort_by)
        if limit <= 0:
            return []
        tops = yield from self._everywhere([part.top_entries(limit, sort_by) for part in self.partitions])
        if len(tops) == 1:
            return tops[0]
        merged = [e for entries in tops for e in entries]
        return sorted(merged, key=lambda e: getattr(e, sort_by), reverse=True)[:limit]

    def health(self, where: str) -> WirePlan[dict[str, Any]]:
        first = self.partitions[0]
        report = yield from first.health()
        report["server"] = where
        if self.clustered:
            info = yield first.on_node("CLUSTER", "INFO")
            report.update(
                entries=(yield from self.size()),
                max_size=self.max_size,
                partitions=len(self.partitions),
                cluster_primaries=_cluster_size(info),
            )
        return report

    def settle_removal(self) -> WirePlan[None]:
        yield from self._everywhere([part.settle_removal() for part in self.partitions])

    def drop_indexes(self) -> WirePlan[None]:
        yield from self._everywhere([part.drop_indexes() for part in self.partitions])


@dataclass(frozen=True)
class _Failed:
    """A partition's failed removal, as a result (a FanOut raises any exception it gets back)."""

    error: InvalidationError


def _caught(plan: WirePlan[int]) -> WirePlan[int | _Failed]:
    try:
        return (yield from plan)
    except InvalidationError as exc:
        return _Failed(exc)


def _cluster_size(info: Any) -> int:
    """Primaries serving slots, from a CLUSTER INFO reply (raw text, or parsed by redis-py)."""
    if not isinstance(info, dict):
        info = dict(line.split(":", 1) for line in text(info).splitlines() if ":" in line)
    return int(text(info["cluster_size"]))
