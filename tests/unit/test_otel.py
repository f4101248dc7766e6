"""The OpenTelemetry instruments, read with the SDK's InMemoryMetricReader."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from redis_semcache import InMemoryCacheBackend, LLMCachingManager, create_in_memory_cache_manager
from redis_semcache.otel import instrument

from ..fakes import FakeClock
from .test_breaker_and_fallback import FlakyBackend


def collect(reader: InMemoryMetricReader) -> dict:
    points = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = point.count if hasattr(point, "bucket_counts") else point.value
                    points[(metric.name, tuple(sorted(point.attributes.items())))] = value
    return points


def test_instruments_equal_get_statistics_and_time_lookups():
    clock = FakeClock()
    cache = create_in_memory_cache_manager(max_size=1)
    reader = InMemoryMetricReader()
    instrument(cache, MeterProvider(metric_readers=[reader]).get_meter("test"), name="bot", clock=clock)
    cache.set("a", "A", tags=["t"])
    cache.get("a")
    cache.get("b")
    cache.set("c", "C")  # evicts a
    cache.invalidate(tags=["t"])
    points = collect(reader)
    stats = cache.get_statistics()
    bot = (("cache", "bot"),)
    assert points[("semcache.requests", (("cache", "bot"), ("result", "exact_hit")))] == stats["exact_hits"] == 1
    assert points[("semcache.requests", (("cache", "bot"), ("result", "miss")))] == stats["misses"] == 1
    assert points[("semcache.entries", bot)] == stats["cache_size"] == 1
    assert points[("semcache.evictions", bot)] == stats["evictions"] == 1
    assert points[("semcache.invalidations", bot)] == stats["invalidations"]
    assert points[("semcache.single_flight_joins", bot)] == 0
    assert points[("semcache.errors", bot)] == 0
    assert points[("semcache.lookup.duration", bot)] == 2  # two lookups recorded as they happened
    cache.get("c")
    assert collect(reader)[("semcache.requests", (("cache", "bot"), ("result", "exact_hit")))] == 1  # same snapshot
    clock.advance(1.0)
    assert collect(reader)[("semcache.requests", (("cache", "bot"), ("result", "exact_hit")))] == 2  # read afresh


def test_during_an_outage_only_the_error_count_is_reported():
    """Like Prometheus: the cache-wide numbers cannot be read, so they are left out rather
    than reported as zeros; this process's failed calls are still counted."""
    backend = FlakyBackend()
    clock = FakeClock()
    cache = LLMCachingManager(backend, embedder=None, circuit_breaker=None)
    reader = InMemoryMetricReader()
    instrument(cache, MeterProvider(metric_readers=[reader]).get_meter("test"), name="bot", clock=clock)
    cache.set("a", "A")
    backend.down = True
    assert cache.get("a") is None and cache.get("b") is None  # two failed lookups
    points = collect(reader)
    errors = points[("semcache.errors", (("cache", "bot"),))]
    assert errors >= 2  # the lookups, and the statistics read of this collection (counted as it fails)
    assert not [name for name, _ in points if name not in ("semcache.errors", "semcache.lookup.duration")]
    clock.advance(1.0)
    backend.down = False
    points = collect(reader)
    assert points[("semcache.errors", (("cache", "bot"),))] >= errors
    assert points[("semcache.entries", (("cache", "bot"),))] == 1  # readable again


class NamedBackend(InMemoryCacheBackend):
    name = "shop"


def test_instrument_kinds_units_and_the_default_cache_attribute():
    """As docs/operations.md lists them: counters are monotonic sums, entries a gauge, lookup
    duration a histogram in seconds; the ``cache`` attribute defaults to the backend's name,
    else "memory"; one statistics read serves collections for ``max_age`` (default 1 s)."""
    clock = FakeClock()
    memory_reader, reader = InMemoryMetricReader(), InMemoryMetricReader()
    instrument(create_in_memory_cache_manager(), MeterProvider(metric_readers=[memory_reader]).get_meter("t"))
    assert ("semcache.entries", (("cache", "memory"),)) in collect(memory_reader)
    shop = LLMCachingManager(NamedBackend(), embedder=None)
    instrument(shop, MeterProvider(metric_readers=[reader]).get_meter("t"), clock=clock)
    shop.get("q")
    assert collect(reader)[("semcache.requests", (("cache", "shop"), ("result", "miss")))] == 1
    shop.get("q")
    metrics = {
        m.name: m for r in reader.get_metrics_data().resource_metrics for s in r.scope_metrics for m in s.metrics
    }
    kinds = {name: type(metric.data).__name__ for name, metric in metrics.items()}
    assert kinds == {
        "semcache.requests": "Sum", "semcache.entries": "Gauge", "semcache.evictions": "Sum",
        "semcache.invalidations": "Sum", "semcache.single_flight_joins": "Sum", "semcache.errors": "Sum",
        "semcache.sets": "Sum", "semcache.expirations": "Sum", "semcache.semantic_skipped_long": "Sum",
        "semcache.explorations": "Sum", "semcache.lookup.duration": "Histogram",
    }  # fmt: skip
    assert all(metrics[n].data.is_monotonic for n, kind in kinds.items() if kind == "Sum")
    assert metrics["semcache.lookup.duration"].unit == "s"
    clock.advance(0.999)
    assert collect(reader)[("semcache.requests", (("cache", "shop"), ("result", "miss")))] == 1  # same snapshot
    clock.advance(0.001)
    assert collect(reader)[("semcache.requests", (("cache", "shop"), ("result", "miss")))] == 2
