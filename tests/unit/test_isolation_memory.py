"""Two namespaces on one in-memory backend never see each other's entries."""

from __future__ import annotations

from hypothesis import given, settings

from redis_semcache import InMemoryCacheBackend, LLMCachingManager

from ..isolation import check_isolation, tenant_ops


@settings(max_examples=100, deadline=None)
@given(tenant_ops)
def test_namespaces_are_isolated(ops):
    backend = InMemoryCacheBackend()
    caches = [
        LLMCachingManager(backend, namespace=ns, enable_semantic=True, semantic_threshold=0.5, embedder=None)
        for ns in ("tenant-a", "tenant-b")
    ]
    check_isolation(caches, ops)


def test_per_call_namespace_overrides_the_managers():
    backend = InMemoryCacheBackend()
    cache = LLMCachingManager(backend, namespace="a", embedder=None)
    cache.set("q", "for b", namespace="b")
    assert cache.get("q") is None
    assert cache.get("q", namespace="b") == "for b"
    assert LLMCachingManager(backend, namespace="b", embedder=None).get("q") == "for b"


def test_an_explicit_empty_namespace_is_a_namespace_not_the_default():
    backend = InMemoryCacheBackend()
    cache = LLMCachingManager(backend, namespace="team", embedder=None)
    cache.set("q", "for the empty namespace", namespace="")
    cache.set("q", "for team")
    assert cache.get("q", namespace="") == "for the empty namespace"
    assert cache.get("q") == "for team"
    assert (
        LLMCachingManager(backend, embedder=None).get("q") == "for the empty namespace"
    )  # "" is the default's default
    assert cache.get_or_compute("q", lambda: "computed", namespace="") == "for the empty namespace"
