"""Every bad argument to a public constructor or method raises the library's own error.

``except SemanticCacheError`` must catch them all (docs/semantics.md, _errors.py);
the ones for bad values are also ValueErrors, as before.
"""

from __future__ import annotations

import pytest

from redis_semcache import (
    CacheStrategy,
    InMemoryCacheBackend,
    InvalidationStrategy,
    LLMCachingManager,
    SemanticCacheError,
    create_in_memory_cache_manager,
    create_redis_cache_manager,
    from_env,
)
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.breaker import CircuitBreaker
from redis_semcache.singleflight import FlightPolicy

URL = "redis://127.0.0.1:1/0"  # never contacted: constructors do no I/O

CONSTRUCTORS = {
    "eviction_strategy='bogus'": lambda: LLMCachingManager(eviction_strategy="bogus"),
    "invalidation_strategy='bogus'": lambda: LLMCachingManager(invalidation_strategy="bogus"),
    "CacheStrategy('bogus')": lambda: CacheStrategy("bogus"),
    "InvalidationStrategy(3)": lambda: InvalidationStrategy(3),
    "semantic_threshold=2": lambda: LLMCachingManager(semantic_threshold=2),
    "semantic_threshold='high'": lambda: LLMCachingManager(semantic_threshold="high"),
    "default_ttl=-1": lambda: LLMCachingManager(default_ttl=-1),
    "max_cache_size=0": lambda: LLMCachingManager(max_cache_size=0),
    "namespace=5": lambda: LLMCachingManager(namespace=5),
    "cache_version=''": lambda: LLMCachingManager(cache_version=""),
    "guards='bogus'": lambda: LLMCachingManager(guards="bogus"),
    "memory max_size=0": lambda: InMemoryCacheBackend(max_size=0),
    "memory eviction_strategy='x'": lambda: InMemoryCacheBackend(eviction_strategy="x"),
    "in-memory factory eviction_strategy": lambda: create_in_memory_cache_manager(eviction_strategy="x"),
    "redis factory eviction_strategy": lambda: create_redis_cache_manager(url=URL, eviction_strategy="x"),
    "redis factory cluster db=3": lambda: create_redis_cache_manager(url=URL, db=3, cluster_mode=True),
    "redis name with spaces": lambda: RedisCacheBackend(url=URL, name="a b"),
    "redis index_algorithm": lambda: RedisCacheBackend(url=URL, index_algorithm="IVF"),
    "redis hnsw_ef_runtime=0": lambda: RedisCacheBackend(url=URL, hnsw_ef_runtime=0),
    "redis socket_timeout=-1": lambda: RedisCacheBackend(url=URL, socket_timeout=-1),
    "redis bad URL": lambda: RedisCacheBackend(url="http://x"),
    "redis eviction_strategy": lambda: RedisCacheBackend(url=URL, eviction_strategy="x"),
    "redis max_size=0": lambda: RedisCacheBackend(url=URL, max_size=0),
    "redis max_size='x'": lambda: RedisCacheBackend(url=URL, max_size="x"),
    "redis partitions without cluster_mode": lambda: RedisCacheBackend(url=URL, partitions=4),
    "redis cluster_nodes without cluster_mode": lambda: RedisCacheBackend(cluster_nodes=[{"host": "h", "port": 1}]),
    "redis cluster_nodes malformed": lambda: RedisCacheBackend(cluster_mode=True, cluster_nodes=[{"host": "h"}]),
    "breaker failure_threshold=0": lambda: CircuitBreaker(failure_threshold=0),
    "breaker cooldown=0": lambda: CircuitBreaker(cooldown=0),
    "FlightPolicy(lock_ttl=0)": lambda: FlightPolicy(lock_ttl=0),
    "from_env CACHE_TTL": lambda: from_env({"CACHE_TTL": "soon"}),
    "from_env REDIS_CLUSTER": lambda: from_env({"REDIS_URL": URL, "REDIS_CLUSTER": "maybe"}),
    "from_env CACHE_EVICTION_STRATEGY": lambda: from_env({"CACHE_EVICTION_STRATEGY": "random"}),
}


@pytest.mark.parametrize("make", CONSTRUCTORS.values(), ids=CONSTRUCTORS.keys())
def test_bad_constructor_arguments(make):
    with pytest.raises(SemanticCacheError):
        make()


def calls(cache: LLMCachingManager) -> dict:
    return {
        "get('')": lambda: cache.get(""),
        "get(5)": lambda: cache.get(5),
        "get(model='')": lambda: cache.get("p", model=""),
        "get(version=5)": lambda: cache.get("p", version=5),
        "get(embedding=wrong dimension)": lambda: cache.get("p", embedding=[1.0, 0.0]),
        "set(response=object())": lambda: cache.set("p", object()),
        "set(ttl=-1)": lambda: cache.set("p", "r", ttl=-1),
        "set(ttl=nan)": lambda: cache.set("p", "r", ttl=float("nan")),
        "set(tags=5)": lambda: cache.set("p", "r", tags=5),
        "set(tags=[''])": lambda: cache.set("p", "r", tags=[""]),
        "get_many([5])": lambda: cache.get_many([5]),
        "set_many([('', 'r')])": lambda: cache.set_many([("", "r")]),
        "set_many(embeddings=too few)": lambda: cache.set_many([("p", "r"), ("q", "r")], embeddings=[[1.0, 0.0]]),
        "warm(embeddings=5)": lambda: cache.warm([("p", "r")], embeddings=5, progress=False),
        "get_or_compute(compute=5)": lambda: cache.get_or_compute("p", 5),
        "invalidate()": lambda: cache.invalidate(),
        "invalidate(tags=[5])": lambda: cache.invalidate(tags=[5]),
        "get_top_entries(limit=-1)": lambda: cache.get_top_entries(limit=-1),
        "get_top_entries(sort_by='x')": lambda: cache.get_top_entries(sort_by="x"),
    }


NAMES = list(calls(LLMCachingManager()))


@pytest.mark.parametrize("name", NAMES)
def test_bad_method_arguments(name):
    cache = create_in_memory_cache_manager(enable_semantic=True, embedder=None)
    cache.set("seed", "r", embedding=[1.0, 0.0, 0.0])  # fixes the dimension at 3
    with pytest.raises(SemanticCacheError):
        calls(cache)[name]()


def test_enum_errors_stay_value_errors():
    with pytest.raises(ValueError, match="CacheStrategy must be one of"):
        LLMCachingManager(eviction_strategy="bogus")
