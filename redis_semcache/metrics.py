"""Prometheus metrics for a cache, read at scrape time (``pip install redis-semcache[metrics]``).

::

    from prometheus_client import REGISTRY
    from redis_semcache.metrics import PrometheusCollector

    REGISTRY.register(PrometheusCollector(cache))

Each scrape calls ``cache.get_statistics()`` once and reports that snapshot,
so the numbers equal what ``get_statistics()`` returned at that moment.  The
counters are the cache's shared ones (on Redis every instance reports the same
cache-wide numbers); ``semcache_errors_total``, ``semcache_lookup_seconds``,
the breaker and the fallback are this process's own.  When the backend cannot
be read, the shared series are left out of that scrape (rather than reported
as 0, which Prometheus would take for a counter reset) and
``semcache_backend_up`` is 0.  Every series carries a ``cache`` label.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._errors import SemanticCacheError

try:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("redis_semcache.metrics needs prometheus_client: pip install 'redis-semcache[metrics]'") from exc

__all__ = ["PrometheusCollector"]

# (metric name, help, statistics key) of the shared counters besides requests.
_COUNTERS = (
    ("semcache_evictions", "Entries evicted to respect max_size.", "evictions"),
    ("semcache_invalidations", "Entries deleted by invalidate().", "invalidations"),
    ("semcache_single_flight_joins", "Exact hits served by another caller's computation.", "single_flight_joins"),
    # Exact-only lookups of texts longer than the embedder's window.
    (
        "semcache_semantic_skipped_long",
        "Lookups kept exact-only: the prompt exceeds the embedder.",
        "semantic_skipped_long",
    ),
    ("semcache_explorations", "get_or_compute calls that computed a would-be hit to label it.", "explorations"),
)
_RESULTS = (("exact_hit", "exact_hits"), ("semantic_hit", "semantic_hits"), ("miss", "misses"))
_BREAKER_STATES = ("closed", "open", "half-open")


class PrometheusCollector(Collector):
    """A custom collector for one :class:`~redis_semcache.LLMCachingManager`.

    ``name`` is the ``cache`` label: by default the Redis cache name, or
    ``"memory"`` for the in-memory backend.
    """

    def __init__(self, cache: Any, *, name: str | None = None) -> None:
        self.cache = cache
        self.name = name or getattr(cache.backend, "name", None) or "memory"

    def describe(self) -> list[Metric]:
        # Without describe() the registry would call collect() - a Redis round trip - at register time.
        return []

    def collect(self) -> Iterator[Metric]:
        label = [self.name]
        try:
            stats: dict[str, Any] | None = self.cache.get_statistics()
        except SemanticCacheError:  # strict=True managers raise instead of failing open
            stats = None
        up = stats is not None and "backend_error" not in stats
        yield _gauge("semcache_backend_up", "1 when the last backend call succeeded.", label, 1.0 if up else 0.0)
        if stats is not None and up:
            yield from self._shared(stats, label)
        yield from self._local(stats, label)

    def _shared(self, stats: dict[str, Any], label: list[str]) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "semcache_requests", "Lookups by result (shared by every instance).", labels=["cache", "result"]
        )
        for result, key in _RESULTS:
            requests.add_metric([*label, result], stats[key])
        yield requests
        yield _gauge("semcache_entries", "Live entries in the cache.", label, stats["cache_size"])
        for metric, help_text, key in _COUNTERS:
            if key in stats:
                counter = CounterMetricFamily(metric, help_text, labels=["cache"])
                counter.add_metric(label, stats[key])
                yield counter

    def _local(self, stats: dict[str, Any] | None, label: list[str]) -> Iterator[Metric]:
        cache = self.cache
        if stats is not None:
            errors = CounterMetricFamily("semcache_errors", "Failed backend calls in this process.", labels=["cache"])
            errors.add_metric(label, stats["errors"])
            yield errors
        hist = cache.latency_histogram()
        buckets, running = [], 0
        for bound, count in zip(hist.bounds, hist.counts, strict=True):
            running += count
            buckets.append((repr(bound), running))
        buckets.append(("+Inf", hist.count))
        lookups = HistogramMetricFamily("semcache_lookup_seconds", "Lookup latency in this process.", labels=["cache"])
        lookups.add_metric(label, buckets, hist.sum)
        yield lookups
        if cache.breaker is not None:
            state = cache.breaker.state
            breaker = GaugeMetricFamily(
                "semcache_circuit_breaker_state", "1 for the breaker's current state.", labels=["cache", "state"]
            )
            for name in _BREAKER_STATES:
                breaker.add_metric([*label, name], 1.0 if state == name else 0.0)
            yield breaker
        serving = cache.fallback_backend is not None and (stats is None or "backend_error" in stats)
        yield _gauge(
            "semcache_fallback_serving", "1 while the local fallback backend serves instead of the backend.", label,
            1.0 if serving else 0.0,
        )  # fmt: skip


def _gauge(name: str, help_text: str, label: list[str], value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, help_text, labels=["cache"])
    gauge.add_metric(label, value)
    return gauge
