"""FLOAT16 vectors (the default): the index type, old FLOAT32 caches, and decisions
that agree with exact similarities outside the documented slack."""

from __future__ import annotations

import numpy as np
import pytest

from redis_semcache import ConfigurationError, LLMCachingManager, RedisCacheBackend
from redis_semcache._vectors import SIMILARITY_EPSILON, distance_slack

from ..fakes import near, unit

DIM = 384
THRESHOLD = 0.9


def cache_on(redis_url, name, **backend):
    b = RedisCacheBackend(url=redis_url, name=name, max_size=None, **backend)
    return LLMCachingManager(b, embedder=None, enable_semantic=True, semantic_threshold=THRESHOLD, guards=None)


def embedding_bytes(redis_client, cache) -> int:
    key = next(iter(redis_client.scan_iter(f"semcache:{{{cache.backend.name}:0}}:e:*")))
    return len(redis_client.hget(key, "embedding"))


def test_a_new_cache_stores_float16_vectors(redis_url, redis_client, cache_names):
    cache = cache_on(redis_url, cache_names.new())
    cache.set("what is redis", "a store", embedding=unit(np.random.default_rng(0), DIM))
    assert embedding_bytes(redis_client, cache) == 2 * DIM
    assert cache.health_check()["vector_dtype"] == "FLOAT16"
    assert cache.backend.index_name.endswith(f":d{DIM}:flat:f16")
    cache.close()


def test_a_float32_cache_keeps_its_type_when_opened_with_the_default(redis_url, redis_client, cache_names):
    name = cache_names.new()
    rng = np.random.default_rng(1)
    v = unit(rng, DIM)
    old = cache_on(redis_url, name, vector_dtype="FLOAT32")
    old.set("what is redis", "a store", embedding=v)
    old.close()
    reopened = cache_on(redis_url, name)  # vector_dtype unset: adopt the cache's type
    assert reopened.get("tell me about redis", embedding=near(v, 0.95, rng)) == "a store"
    reopened.set("what is valkey", "a fork", embedding=unit(rng, DIM))
    assert {embedding_bytes(redis_client, reopened)} == {4 * DIM}
    reopened.close()
    with pytest.raises(ConfigurationError, match="stores FLOAT32 vectors"):
        cache_on(redis_url, name, vector_dtype="FLOAT16").get("x", embedding=v)


def test_float16_decisions_equal_exact_ones_outside_the_slack(redis_url, cache_names):
    """Every query at or above the threshold hits (as FLOAT32 would), every query more than
    twice the slack below it misses; only the band between may go either way."""
    cache = cache_on(redis_url, cache_names.new())
    rng = np.random.default_rng(2)
    slack = distance_slack("FLOAT16", DIM)
    offsets = [0.0, 1e-5, 1e-4, 1e-3, 0.01, -0.01, -1e-3, -2.5 * slack]
    band = 0
    for i in range(20):
        v = unit(rng, DIM)
        cache.set(f"stored {i}", f"answer {i}", model=f"m{i}", embedding=v)
        for offset in offsets:
            similarity = THRESHOLD + offset
            q = near(v, similarity, rng)
            exact = float(q @ v) / float(np.linalg.norm(q) * np.linalg.norm(v))
            assert abs(exact - similarity) < 1e-5
            got = cache.get(f"query {i} {offset}", model=f"m{i}", embedding=q)
            if exact >= THRESHOLD - SIMILARITY_EPSILON:
                assert got == f"answer {i}", (exact, offset)
            elif exact < THRESHOLD - 2 * slack:
                assert got is None, (exact, offset)
            else:
                band += 1
    assert band == 0  # no offset above lies in the band: each case is decided
    cache.close()


def test_lookup_books_no_hit_on_a_candidate_within_the_slack_below_its_threshold(redis_url, cache_names):
    """lookup() serves from its threshold up, as RediSearch computed the similarity; the
    script must not record a hit (an access, a recount round trip) on a candidate in the
    slack just below it, which get() would accept and lookup() refuses."""
    cache = cache_on(redis_url, cache_names.new())
    rng = np.random.default_rng(5)
    v = unit(rng, DIM)
    cache.set("stored", "S", embedding=v)
    slack = distance_slack("FLOAT16", DIM)
    found = cache.lookup("asked", embedding=near(v, THRESHOLD - slack / 2, rng))
    assert THRESHOLD - slack < found.similarity < THRESHOLD - SIMILARITY_EPSILON  # the case this test is about
    assert not found.hit and found.candidate_prompt == "stored"
    assert cache.get_top_entries(1)[0]["access_count"] == 0
    stats = cache.get_statistics()
    assert (stats["semantic_hits"], stats["misses"]) == (0, 1)
    cache.close()
