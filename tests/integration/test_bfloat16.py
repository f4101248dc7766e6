"""BFLOAT16 vectors (``vector_dtype="bfloat16"``): stored as bfloat16, and decisions that
agree with exact similarities outside its documented (wider) slack."""

from __future__ import annotations

import numpy as np
import pytest

from redis_semcache import ConfigurationError, LLMCachingManager, RedisCacheBackend
from redis_semcache._vectors import SIMILARITY_EPSILON, distance_slack

from ..fakes import near, unit

THRESHOLD = 0.9


def cache_on(redis_url, name, **backend):
    b = RedisCacheBackend(url=redis_url, name=name, max_size=None, **backend)
    return LLMCachingManager(b, embedder=None, enable_semantic=True, semantic_threshold=THRESHOLD, guards=None)


def test_a_bfloat16_cache_stores_two_bytes_per_component_and_keeps_its_type(redis_url, redis_client, cache_names):
    name = cache_names.new()
    rng = np.random.default_rng(0)
    v = unit(rng, 384)
    cache = cache_on(redis_url, name, vector_dtype="bfloat16")
    cache.set("what is redis", "a store", embedding=v)
    key = next(iter(redis_client.scan_iter(f"semcache:{{{name}:0}}:e:*")))
    raw = redis_client.hget(key, "embedding")
    back = (np.frombuffer(raw, dtype="<u2").astype("<u4") << 16).view("<f4")  # bfloat16 -> float32
    assert len(raw) == 2 * 384
    assert np.all(np.abs(back - v) <= np.abs(v) * 2**-8)  # 8 significant bits, rounded to nearest
    assert cache.health_check()["vector_dtype"] == "BFLOAT16"
    assert cache.backend.index_name.endswith(":d384:flat:bf16")
    cache.close()
    reopened = cache_on(redis_url, name)  # unset: adopts the cache's type
    assert reopened.get("tell me about redis", embedding=near(v, 0.95, rng)) == "a store"
    reopened.close()
    with pytest.raises(ConfigurationError, match="stores BFLOAT16 vectors"):
        cache_on(redis_url, name, vector_dtype="FLOAT16").get("x", embedding=v)


@pytest.mark.parametrize("algorithm", ["FLAT", "HNSW"])
@pytest.mark.parametrize("dim", [32, 384])
def test_bfloat16_decisions_equal_exact_ones_outside_the_slack(redis_url, cache_names, algorithm, dim):
    """Every query at or above the threshold hits (as FLOAT32 would), every query more than
    twice the slack below it misses; the offsets leave none in the band between."""
    cache = cache_on(redis_url, cache_names.new(), vector_dtype="BFLOAT16", index_algorithm=algorithm)
    rng = np.random.default_rng(dim)
    slack = distance_slack("BFLOAT16", dim)
    offsets = [0.0, 1e-5, 1e-4, 1e-3, 0.01, -2.5 * slack, -4 * slack, -0.05]
    for i in range(30):
        v = unit(rng, dim)
        cache.set(f"stored {i}", f"answer {i}", model=f"m{i}", embedding=v)
        for offset in offsets:
            q = near(v, THRESHOLD + offset, rng)
            exact = float(q @ v) / float(np.linalg.norm(q) * np.linalg.norm(v))
            got = cache.get(f"query {i} {offset}", model=f"m{i}", embedding=q)
            if exact >= THRESHOLD - SIMILARITY_EPSILON:
                assert got == f"answer {i}", (exact, offset)
            else:
                assert exact < THRESHOLD - 2 * slack
                assert got is None, (exact, offset)
    cache.close()
