"""Redis caches for integration tests: a backend on the test server under a fresh
name, and a strict manager over it (errors surface; no embedder unless given)."""

from __future__ import annotations

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend


def backend(redis_url, cache_names, **kwargs):
    kwargs.setdefault("name", cache_names.new())
    return RedisCacheBackend(url=redis_url, **kwargs)


def manager(b, **kwargs):
    kwargs.setdefault("embedder", None)
    return LLMCachingManager(b, strict=True, **kwargs)
