"""Single-flight waiters count as hits in Redis's shared counters (see tests/flight_counts.py)."""

from __future__ import annotations

import pytest

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend

from ..fakes import CountingEmbedder
from ..flight_counts import fifty_identical_calls


def backend(url: str, name: str) -> RedisCacheBackend:
    # Generous timeouts: fifty connections opened at once on a loaded CI machine must not fail
    # open (a failed lock call grants the lock, and a second compute would spoil the counts).
    return RedisCacheBackend(url=url, name=name, socket_timeout=10, socket_connect_timeout=10)


def test_exact_only(redis_url, cache_names):
    fifty_identical_calls(LLMCachingManager(backend(redis_url, cache_names.new()), embedder=None, strict=True))


@pytest.mark.parametrize("guards", ["default", None], ids=["vetted candidates", "best candidate"])
def test_with_semantic_lookups(redis_url, cache_names, guards):
    cache = LLMCachingManager(
        backend(redis_url, cache_names.new()), enable_semantic=True, embedder=CountingEmbedder(), guards=guards,
        strict=True,
    )  # fmt: skip
    fifty_identical_calls(cache)


def test_two_managers_share_the_counts(redis_url, cache_names):
    name = cache_names.new()
    one, two = (LLMCachingManager(backend(redis_url, name), embedder=None, strict=True) for _ in range(2))
    fifty_identical_calls(one)
    assert two.get_statistics()["single_flight_joins"] == 49
