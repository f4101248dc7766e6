"""PrometheusCollector on a real Redis: cache-wide counters, per-process latency, outages."""

from __future__ import annotations

from redis_semcache import InMemoryCacheBackend, LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.breaker import CircuitBreaker
from redis_semcache.metrics import PrometheusCollector

from ..exposition import Scrape
from ..redis_server import LocalRedis

SHARED = ("semcache_requests_total", "semcache_entries", "semcache_evictions_total", "semcache_invalidations_total")


def manager(url: str, name: str, **kwargs) -> LLMCachingManager:
    backend = RedisCacheBackend(url=url, name=name, max_size=3, socket_timeout=10, socket_connect_timeout=10)
    return LLMCachingManager(backend, embedder=None, strict=True, **kwargs)


def shared(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if "latency" not in k}


def test_two_managers_on_one_redis_report_the_same_cache_wide_numbers(redis_url, cache_names):
    name = cache_names.new("metrics")
    one, two = manager(redis_url, name), manager(redis_url, name)
    one.set("a", "A", tags=["x"])
    two.set("b", "B")
    one.get("a")
    two.get("a")
    two.get("b")
    one.get("nope")
    for p in ("c", "d"):  # the fourth entry evicts one
        two.set(p, p)
    one.invalidate(tags=["x"])
    scrapes = [Scrape(PrometheusCollector(m)) for m in (one, two)]
    stats = one.get_statistics()
    assert shared(stats) == shared(two.get_statistics())
    for scrape in scrapes:
        assert scrape.value("semcache_requests_total", cache=name, result="exact_hit") == stats["exact_hits"] == 3
        assert scrape.value("semcache_requests_total", cache=name, result="miss") == stats["misses"] == 1
        assert scrape.value("semcache_requests_total", cache=name, result="semantic_hit") == 0
        assert scrape.value("semcache_entries", cache=name) == stats["cache_size"]
        assert scrape.value("semcache_evictions_total", cache=name) == stats["evictions"] == 1
        assert scrape.value("semcache_invalidations_total", cache=name) == stats["invalidations"]
        assert scrape.value("semcache_backend_up", cache=name) == 1
    # latency is each process's own: two lookups by each manager
    assert [s.value("semcache_lookup_seconds_count", cache=name) for s in scrapes] == [2, 2]
    for m in (one, two):
        m.close()


def test_an_outage_drops_the_shared_series_and_shows_the_fallback():
    server = LocalRedis().start()
    try:
        backend = RedisCacheBackend(url=server.url, name="metrics-outage", socket_timeout=5, socket_connect_timeout=5)
        cache = LLMCachingManager(
            backend, embedder=None, fallback_backend=InMemoryCacheBackend(),
            circuit_breaker=CircuitBreaker(failure_threshold=1, cooldown=60),
        )  # fmt: skip
        cache.set("a", "A")
        collector = PrometheusCollector(cache)
        before = Scrape(collector)
        assert before.value("semcache_fallback_serving", cache="metrics-outage") == 0
        assert before.value("semcache_circuit_breaker_state", cache="metrics-outage", state="closed") == 1
        server.stop()
        assert cache.get("a") is None
        during = Scrape(collector)
        assert during.value("semcache_backend_up", cache="metrics-outage") == 0
        assert during.value("semcache_fallback_serving", cache="metrics-outage") == 1
        assert during.value("semcache_circuit_breaker_state", cache="metrics-outage", state="open") == 1
        assert during.value("semcache_errors_total", cache="metrics-outage") >= 1
        assert not any(name.startswith(SHARED) for name in during.names())  # no fake zeros (counter resets)
        cache.close()
    finally:
        server.close()
