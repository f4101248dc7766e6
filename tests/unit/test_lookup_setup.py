"""The lookup setup ``get`` and ``lookup`` share (CacheOperations._lookup_setup, #28).

``lookup`` checks a caller's embedding even with semantic caching off (its result
names the rule it applied, so a bad argument is an error, not a silent miss);
``get`` with semantic caching off ignores the embedding, as it always has.
"""

from __future__ import annotations

import pytest

from redis_semcache import InvalidInputError, create_in_memory_cache_manager


@pytest.fixture
def exact_only():
    cache = create_in_memory_cache_manager(enable_semantic=False)
    cache.set("stored", "S")
    return cache


def test_lookup_rejects_a_malformed_embedding_with_semantic_caching_off(exact_only):
    with pytest.raises(InvalidInputError, match="all zeros"):
        exact_only.lookup("stored", embedding=[0.0, 0.0, 0.0])


def test_get_ignores_the_embedding_with_semantic_caching_off(exact_only):
    assert exact_only.get("stored", embedding=[0.0, 0.0, 0.0]) == "S"


def test_lookup_with_semantic_caching_off_serves_exact_hits_only(exact_only):
    result = exact_only.lookup("stored", embedding=[1.0, 0.0, 0.0])
    assert (result.hit, result.kind, result.response, result.threshold) == (True, "exact", "S", None)
    assert not exact_only.lookup("stored?", embedding=[1.0, 0.0, 0.0]).hit
