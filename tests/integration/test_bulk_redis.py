"""Bulk writes on Redis: store.lua stores a chunk of entries per call, in order,
evicting as it goes, on FLAT (40 per call) and HNSW (2 per call) alike."""

from __future__ import annotations

import numpy as np
import pytest

from redis_semcache import LLMCachingManager, RedisCacheBackend

from ..fakes import near, unit


def test_set_many_past_max_size_keeps_the_newest_items_under_fifo(redis_url, cache_names):
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new(), max_size=10, eviction_strategy="fifo")
    cache = LLMCachingManager(backend, embedder=None)
    assert cache.set_many([(f"p{i}", i) for i in range(35)]) == 35  # one script call of 35 entries
    assert [cache.get(f"p{i}") for i in range(35)] == [None] * 25 + list(range(25, 35))
    assert cache.get_statistics()["evictions"] == 25
    cache.close()


def test_set_many_past_max_size_under_lru_never_evicts_an_entry_it_just_stored(redis_url, cache_names):
    """Each entry is protected while it is stored, as by set(); older ones go first."""
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new(), max_size=3, eviction_strategy="lru")
    cache = LLMCachingManager(backend, embedder=None)
    cache.set("old", "o")
    assert cache.set_many([(f"p{i}", i) for i in range(4)]) == 4
    assert [cache.get(k) for k in ("old", "p0", "p1", "p2", "p3")] == [None, None, 1, 2, 3]
    cache.close()


@pytest.mark.parametrize("algorithm", ["FLAT", "HNSW"])
@pytest.mark.parametrize("dtype", ["FLOAT16", "BFLOAT16", "FLOAT32"])
def test_set_many_with_embeddings_finds_every_entry(redis_url, cache_names, algorithm, dtype):
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new(), max_size=None, index_algorithm=algorithm,
                                vector_dtype=dtype)  # fmt: skip
    cache = LLMCachingManager(backend, embedder=None, enable_semantic=True, semantic_threshold=0.9, guards=None)
    rng = np.random.default_rng(3)
    vectors = np.stack([unit(rng, 64) for _ in range(85)])  # chunks of 40 (FLAT) or 2 (HNSW), one odd out
    assert cache.set_many({f"q{i}": f"a{i}" for i in range(85)}, embeddings=vectors) == 85
    found = [cache.get(f"paraphrase {i}", embedding=near(vectors[i], 0.97, rng)) for i in range(85)]
    assert found == [f"a{i}" for i in range(85)]
    assert cache.health_check()["vector_dtype"] == dtype
    cache.close()
