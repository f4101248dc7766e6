"""Which vector query lookup.lua runs for a scope, seen through MONITOR, and
the scope check that keeps every query from serving another scope's entry."""

from __future__ import annotations

import numpy as np
import pytest

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.backends.redis.layout import KeyLayout

from ..fakes import near, unit

ALGORITHMS = ["FLAT", "HNSW"]


def manager(redis_url, cache_names, algorithm):
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new(), index_algorithm=algorithm)
    return LLMCachingManager(backend, strict=True, embedder=None, enable_semantic=True, semantic_threshold=0.9), backend


def searched_query(redis_client, lookup) -> str:
    """The query text of the FT.SEARCH that ``lookup()`` runs (from inside lookup.lua)."""
    with redis_client.monitor() as monitor:
        lookup()
        redis_client.ping()  # a marker: every command of the lookup came before it
        while True:
            command = monitor.next_command()["command"]
            if command.startswith("FT.SEARCH"):
                return command
            assert command != "PING", "the lookup ran no FT.SEARCH"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_scope_holding_every_entry_is_searched_without_the_scope_filter(
    redis_url, cache_names, redis_client, algorithm
):
    rng = np.random.default_rng(1)
    cache, _ = manager(redis_url, cache_names, algorithm)
    v = unit(rng, 32)
    cache.set("stored", "answer", embedding=v)
    query = near(v, 0.97, rng)
    command = searched_query(redis_client, lambda: cache.get("asked", embedding=query))
    assert "@scope" not in command
    assert cache.get("asked", embedding=query) == "answer"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_scope_sharing_the_cache_or_a_version_keeps_the_filter(redis_url, cache_names, redis_client, algorithm):
    rng = np.random.default_rng(2)
    cache, _ = manager(redis_url, cache_names, algorithm)
    v = unit(rng, 32)
    cache.set("cold", "cold answer", embedding=v, temperature=0.0)
    cache.set("warm", "warm answer", embedding=v, temperature=0.9)
    query = near(v, 0.97, rng)
    command = searched_query(redis_client, lambda: cache.get("asked", embedding=query, temperature=0.0))
    assert "@scope" in command
    assert cache.get("asked", embedding=query, temperature=0.0) == "cold answer"

    alone, _ = manager(redis_url, cache_names, algorithm)
    alone.set("stored", "v1 answer", embedding=v, version="v1")
    command = searched_query(redis_client, lambda: alone.get("asked", embedding=query, version="v1"))
    assert "@scope" in command and "@version_h" in command


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_stale_scope_count_never_serves_another_scopes_entry(redis_url, cache_names, redis_client, algorithm):
    """The counts claim every entry is in the asking scope (stale), so the search
    runs unfiltered and finds the other scope's entry nearest: it must not be served."""
    rng = np.random.default_rng(3)
    cache, backend = manager(redis_url, cache_names, algorithm)
    v = unit(rng, 32)
    cache.set("warm", "warm answer", embedding=v, temperature=0.9)
    cache.set("cold", "cold answer", embedding=near(v, 0.0, rng), temperature=0.0)
    scopes = KeyLayout(backend.name).scopes(0)
    assert redis_client.hlen(scopes) == 2
    for scope in redis_client.hkeys(scopes):  # each scope now claims both entries
        redis_client.hset(scopes, scope, 2)
    query = near(v, 0.99, rng)
    command = searched_query(redis_client, lambda: cache.get("asked", embedding=query, temperature=0.0))
    assert "@scope" not in command
    assert cache.get("asked", embedding=query, temperature=0.0) is None
    assert cache.get("asked", embedding=query, temperature=0.9) == "warm answer"
