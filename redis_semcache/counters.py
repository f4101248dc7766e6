"""The cache-wide counters: one table of names, kinds and help texts.

Every reader takes its list from here: the backends (``backends.base.COUNTERS``,
the Redis report script), :class:`~redis_semcache.CacheStatistics`, the
Prometheus collector, the OpenTelemetry instruments and ``semcache stats``
(tests/unit/test_counter_table.py checks that each counter reaches all of them).
To add a counter, add one line below and count it in the backends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["COUNTERS", "COUNTER_NAMES", "LOOKUP_RESULTS", "Counter"]


@dataclass(frozen=True)
class Counter:
    """``name`` is the statistics key and the backend's counter name.  A ``"result"``
    counts one outcome of a lookup and is exported as ``semcache_requests{result=label}``;
    a ``"total"`` is exported as its own counter, ``semcache_<name>`` (``semcache.<name>``)."""

    name: str
    kind: Literal["result", "total"]
    help: str
    label: str = ""  # the ``result`` label of a "result" counter


# In report order (the Redis report script returns the values in this order).
COUNTERS = (
    Counter("exact_hits", "result", "Lookups served by an exact match.", "exact_hit"),
    Counter("semantic_hits", "result", "Lookups served by a semantic match.", "semantic_hit"),
    Counter("misses", "result", "Lookups that found nothing to serve.", "miss"),
    Counter("sets", "total", "Entries stored."),
    Counter("evictions", "total", "Entries evicted to respect max_size."),
    Counter("expirations", "total", "Entries removed because their TTL ran out."),
    Counter("invalidations", "total", "Entries deleted by invalidate()."),
    Counter("single_flight_joins", "total", "Exact hits served by another caller's computation."),
    Counter("semantic_skipped_long", "total", "Lookups kept exact-only: the prompt exceeds the embedder."),
    Counter("explorations", "total", "get_or_compute calls that computed a would-be hit to label it."),
)

COUNTER_NAMES = tuple(c.name for c in COUNTERS)
# (label, statistics key) of the lookup results, the one labelled ``requests`` series.
LOOKUP_RESULTS = tuple((c.label, c.name) for c in COUNTERS if c.kind == "result")
