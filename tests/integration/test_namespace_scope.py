"""What ``namespace`` confines, as docs/operations.md states it: lookups only.

It is not a tenant boundary: on one cache name, removals, eviction and reports
span every namespace.  Separate cache names are (test_cache_names_are_isolated).
"""

from __future__ import annotations

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend


def test_a_namespace_confines_lookups_but_not_removals_or_reports(redis_url, cache_names):
    name = cache_names.new()
    tenant_a = LLMCachingManager(RedisCacheBackend(url=redis_url, name=name), embedder=None, namespace="a")
    tenant_b = LLMCachingManager(RedisCacheBackend(url=redis_url, name=name), embedder=None, namespace="b")
    assert tenant_a.set("q", "A's answer", tags=["t"]) and tenant_b.set("q", "B's answer", tags=["t"])
    assert tenant_a.get("q") == "A's answer" and tenant_b.get("q") == "B's answer"  # lookups: confined

    assert {e["namespace"] for e in tenant_a.get_top_entries()} == {"a", "b"}  # reports: the whole cache
    assert tenant_a.invalidate(tags=["t"]) == 2  # removals: the whole cache
    assert tenant_b.get("q") is None
    assert tenant_b.set("q", "B's answer")
    assert tenant_a.clear() and tenant_b.get("q") is None
