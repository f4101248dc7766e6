"""OpenTelemetry metrics for a cache: the numbers of :mod:`redis_semcache.metrics` on a meter.

::

    from opentelemetry import metrics
    from redis_semcache.otel import instrument

    instrument(cache, metrics.get_meter("my-app"))

Needs only ``opentelemetry-api`` (extra ``otel``); the application brings the
SDK and its exporter.  The observable instruments read ``cache.get_statistics()``
when the SDK collects - once per collection, shared by every instrument - and
the lookup histogram records each lookup of this process as it happens.  As
with Prometheus, the cache-wide instruments report nothing while the backend
cannot be read, rather than zeros.  Every data point carries a ``cache`` attribute.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ._errors import SemanticCacheError

try:
    from opentelemetry.metrics import CallbackOptions, Meter, Observation
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("redis_semcache.otel needs opentelemetry-api: pip install 'redis-semcache[otel]'") from exc

__all__ = ["instrument"]

# (instrument, description, statistics key): cache-wide counters besides requests.
_COUNTERS = (
    ("semcache.evictions", "Entries evicted to respect max_size.", "evictions"),
    ("semcache.invalidations", "Entries deleted by invalidate().", "invalidations"),
    ("semcache.single_flight_joins", "Exact hits served by another caller's computation.", "single_flight_joins"),
    ("semcache.explorations", "get_or_compute calls that computed a would-be hit to label it.", "explorations"),
)
_RESULTS = (("exact_hit", "exact_hits"), ("semantic_hit", "semantic_hits"), ("miss", "misses"))


class _Snapshot:
    """``get_statistics()`` read at most once per ``max_age`` seconds: one read serves a
    whole collection (its callbacks run back to back), the next collection reads afresh."""

    def __init__(self, cache: Any, max_age: float, clock: Callable[[], float]) -> None:
        self._cache, self._max_age, self._clock = cache, max_age, clock
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._stats: dict[str, Any] | None = None

    def get(self) -> dict[str, Any] | None:
        with self._lock:
            if self._clock() - self._read_at >= self._max_age:
                try:
                    self._stats = self._cache.get_statistics()
                except SemanticCacheError:  # strict managers raise instead of failing open
                    self._stats = None
                self._read_at = self._clock()
            return self._stats


def instrument(
    cache: Any,
    meter: Meter,
    *,
    name: str | None = None,
    max_age: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Register the cache's instruments on ``meter``; ``name`` is the ``cache`` attribute
    (default: the Redis cache name, or ``"memory"``)."""
    attrs = {"cache": name or getattr(cache.backend, "name", None) or "memory"}
    snapshot = _Snapshot(cache, max_age, clock)

    def shared() -> dict[str, Any] | None:
        stats = snapshot.get()
        return None if stats is None or "backend_error" in stats else stats

    def requests(_: CallbackOptions) -> Iterable[Observation]:
        stats = shared()
        return [] if stats is None else [Observation(stats[k], {**attrs, "result": r}) for r, k in _RESULTS]

    def entries(_: CallbackOptions) -> Iterable[Observation]:
        stats = shared()
        return [] if stats is None else [Observation(stats["cache_size"], attrs)]

    def counter(key: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_: CallbackOptions) -> Iterable[Observation]:
            stats = shared()
            return [] if stats is None or key not in stats else [Observation(stats[key], attrs)]

        return observe

    def errors(_: CallbackOptions) -> Iterable[Observation]:
        stats = snapshot.get()
        return [] if stats is None else [Observation(stats["errors"], attrs)]

    meter.create_observable_counter("semcache.requests", [requests], description="Lookups by result (cache-wide).")
    meter.create_observable_gauge("semcache.entries", [entries], description="Live entries in the cache.")
    for instrument_name, description, key in _COUNTERS:
        meter.create_observable_counter(instrument_name, [counter(key)], description=description)
    meter.create_observable_counter("semcache.errors", [errors], description="Failed backend calls in this process.")
    lookups = meter.create_histogram(
        "semcache.lookup.duration", unit="s", description="Lookup latency in this process."
    )
    cache.on_lookup(lambda seconds: lookups.record(seconds, attrs))
