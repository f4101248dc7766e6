"""Single-flight waiters count as hits on the in-memory backend (see tests/flight_counts.py)."""

from __future__ import annotations

import pytest

from redis_semcache import create_in_memory_cache_manager

from ..fakes import CountingEmbedder
from ..flight_counts import fifty_identical_calls


def test_exact_only():
    fifty_identical_calls(create_in_memory_cache_manager())


@pytest.mark.parametrize("guards", ["default", None], ids=["vetted candidates", "best candidate"])
def test_with_semantic_lookups(guards):
    fifty_identical_calls(
        create_in_memory_cache_manager(enable_semantic=True, embedder=CountingEmbedder(), guards=guards)
    )
