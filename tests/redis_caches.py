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


def client_contract_caches(redis_url, cache_names, label):
    """The ``new_cache`` fixture body of the client-wrapper contracts on Redis (Anthropic, Responses,
    LlamaIndex): ``make()`` builds a strict semantic cache under a fresh name; all are closed after."""
    from .fakes import CountingEmbedder

    made: list[LLMCachingManager] = []

    def make() -> LLMCachingManager:
        # generous timeouts: 8 concurrent callers open connections on a busy machine (strict: errors fail the test)
        b = backend(redis_url, cache_names, name=cache_names.new(label), socket_timeout=10, socket_connect_timeout=10)
        made.append(manager(b, enable_semantic=True, embedder=CountingEmbedder(), semantic_threshold=0.95))
        return made[-1]

    yield make
    for cache in made:
        cache.close()
