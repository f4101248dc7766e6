"""Hostile input on the in-memory backend matches the documented semantics."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redis_semcache import create_in_memory_cache_manager

from ..hostile import check_against_oracle, operation


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=25))
def test_memory_backend_matches_oracle(ops):
    cache = create_in_memory_cache_manager(max_size=10_000, embedder=None)
    check_against_oracle(cache, ops)


def test_megabyte_prompt_and_response_round_trip():
    cache = create_in_memory_cache_manager(embedder=None)
    prompt = "p" * 1_000_000 + " end"
    response = "é" * 1_000_000
    assert cache.set(prompt, response, tags=["big"])
    assert cache.get(prompt) == response
    assert cache.invalidate(pattern="p*end") == 1
