"""Single-flight waiters count as hits in Redis's shared counters (see tests/flight_counts.py)."""

from __future__ import annotations

import pytest

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend

from ..fakes import CountingEmbedder
from ..flight_counts import fifty_identical_calls


def test_exact_only(redis_url, cache_names):
    fifty_identical_calls(LLMCachingManager(RedisCacheBackend(url=redis_url, name=cache_names.new()), embedder=None))


@pytest.mark.parametrize("guards", ["default", None], ids=["vetted candidates", "best candidate"])
def test_with_semantic_lookups(redis_url, cache_names, guards):
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new())
    fifty_identical_calls(LLMCachingManager(backend, enable_semantic=True, embedder=CountingEmbedder(), guards=guards))


def test_two_managers_share_the_counts(redis_url, cache_names):
    name = cache_names.new()
    one, two = (LLMCachingManager(RedisCacheBackend(url=redis_url, name=name), embedder=None) for _ in range(2))
    fifty_identical_calls(one)
    assert two.get_statistics()["single_flight_joins"] == 49
