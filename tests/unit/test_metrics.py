"""PrometheusCollector on the in-memory backend: the exposition equals get_statistics()."""

from __future__ import annotations

import numpy as np
import pytest

from redis_semcache import InMemoryCacheBackend, LLMCachingManager, create_in_memory_cache_manager
from redis_semcache.breaker import CircuitBreaker
from redis_semcache.metrics import PrometheusCollector

from ..exposition import Scrape
from ..fakes import FakeClock
from .test_breaker_and_fallback import FlakyBackend


def busy_cache() -> LLMCachingManager:
    cache = create_in_memory_cache_manager(max_size=2, enable_semantic=True, embedder=None, semantic_threshold=0.9)
    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    cache.set("alpha", "A", embedding=a, tags=["t"])
    cache.set("beta", "B", embedding=b)
    cache.get("alpha", embedding=a)  # exact hit
    cache.get("alpha again", embedding=[0.99, 0.01, 0.0])  # semantic hit
    cache.get("gamma", embedding=[0.0, 0.0, 1.0])  # miss
    cache.get("delta", embedding=[0.0, 0.1, 1.0])  # miss
    cache.set("gamma", "C", embedding=[0.0, 0.0, 1.0])  # evicts one
    cache.invalidate(tags=["t"])
    return cache


def test_exposition_equals_statistics():
    cache = busy_cache()
    scrape = Scrape(PrometheusCollector(cache))
    stats = cache.get_statistics()
    label = {"cache": "memory"}
    assert scrape.value("semcache_requests_total", result="exact_hit", **label) == stats["exact_hits"] == 1
    assert scrape.value("semcache_requests_total", result="semantic_hit", **label) == stats["semantic_hits"] == 1
    assert scrape.value("semcache_requests_total", result="miss", **label) == stats["misses"] == 2
    assert scrape.value("semcache_entries", **label) == stats["cache_size"]
    assert scrape.value("semcache_evictions_total", **label) == stats["evictions"] == 1
    assert scrape.value("semcache_invalidations_total", **label) == stats["invalidations"]
    assert scrape.value("semcache_errors_total", **label) == stats["errors"] == 0
    assert scrape.value("semcache_single_flight_joins_total", **label) == stats["single_flight_joins"]
    assert scrape.value("semcache_backend_up", **label) == 1
    assert scrape.value("semcache_fallback_serving", **label) == 0
    assert scrape.families["semcache_requests"].type == "counter"
    assert scrape.families["semcache_lookup_seconds"].type == "histogram"


def test_lookup_histogram_counts_this_process_lookups():
    cache = busy_cache()
    scrape = Scrape(PrometheusCollector(cache, name="app"))
    count = scrape.value("semcache_lookup_seconds_count", cache="app")
    assert count == 4  # the four get() calls; sets are not lookups
    bounds = [s for s in scrape.families["semcache_lookup_seconds"].samples if s.name.endswith("_bucket")]
    values = [s.value for s in bounds]
    assert values == sorted(values) and values[-1] == count and bounds[-1].labels["le"] == "+Inf"
    assert 0 < scrape.value("semcache_lookup_seconds_sum", cache="app") < 10
    cache.reset_statistics()  # the histogram is cumulative: a reset must not make it go back
    cache.get("alpha")
    assert Scrape(PrometheusCollector(cache, name="app")).value("semcache_lookup_seconds_count", cache="app") == 5


def test_breaker_state_is_reported():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown=5, clock=clock)
    cache = create_in_memory_cache_manager(circuit_breaker=breaker)
    collector = PrometheusCollector(cache)
    assert Scrape(collector).value("semcache_circuit_breaker_state", cache="memory", state="closed") == 1
    breaker.record_failure()
    scrape = Scrape(collector)
    assert scrape.value("semcache_circuit_breaker_state", cache="memory", state="open") == 1
    assert scrape.value("semcache_circuit_breaker_state", cache="memory", state="closed") == 0
    clock.advance(5)  # half-open: the scrape's own statistics read is the probe, and it succeeds
    assert Scrape(collector).value("semcache_circuit_breaker_state", cache="memory", state="closed") == 1


def test_no_breaker_no_breaker_series():
    cache = create_in_memory_cache_manager()  # in-process backend: no breaker
    assert not any(name.startswith("semcache_circuit_breaker") for name in Scrape(PrometheusCollector(cache)).names())


def test_registering_does_not_scrape():
    cache = create_in_memory_cache_manager()
    calls = []
    original = cache.get_statistics
    cache.get_statistics = lambda: calls.append(1) or original()  # type: ignore[method-assign]
    from prometheus_client import CollectorRegistry

    CollectorRegistry().register(PrometheusCollector(cache))
    assert calls == []


@pytest.mark.parametrize("name", ["", None])
def test_default_label_is_memory(name):
    assert PrometheusCollector(create_in_memory_cache_manager(), name=name).name == "memory"


class NamedBackend(FlakyBackend):
    name = "shop"


@pytest.mark.parametrize("fallback", [False, True])
def test_an_outage_is_backend_up_zero_without_cache_wide_series(fallback):
    """The label defaults to the backend's name; while the backend cannot be read the
    cache-wide series are left out (not zeros), ``semcache_backend_up`` is 0 and
    ``semcache_fallback_serving`` says whether a local fallback answers meanwhile."""
    backend = NamedBackend()
    local = InMemoryCacheBackend() if fallback else None
    cache = LLMCachingManager(backend, embedder=None, circuit_breaker=None, fallback_backend=local)
    collector = PrometheusCollector(cache)
    cache.set("q", "a")
    healthy = Scrape(collector)
    assert healthy.value("semcache_backend_up", cache="shop") == 1
    assert healthy.value("semcache_fallback_serving", cache="shop") == 0
    assert healthy.value("semcache_entries", cache="shop") == 1
    backend.down = True
    cache.get("q")
    down = Scrape(collector)
    assert down.value("semcache_backend_up", cache="shop") == 0
    assert down.value("semcache_fallback_serving", cache="shop") == (1 if fallback else 0)
    assert down.value("semcache_errors_total", cache="shop") >= 1
    assert not {"semcache_entries", "semcache_requests_total", "semcache_evictions_total"} & down.names()
    backend.down = False
    assert Scrape(collector).value("semcache_backend_up", cache="shop") == 1
