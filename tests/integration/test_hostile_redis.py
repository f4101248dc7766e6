"""Hostile input on Redis: the same answers as the documented semantics (and memory)."""

from __future__ import annotations

import fnmatch

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redis_semcache import InMemoryCacheBackend, LLMCachingManager, normalize_prompt
from redis_semcache.backends.redis import RedisCacheBackend

from ..hostile import check_against_oracle, operation
from ..isolation import check_isolation, tenant_ops

NASTY_TAGS = ["a|b", "a", "b", "*", "user:1}", "user:1", "{user:1}", " x", "x", "x ", "a,b", "a\x1fb", "\x00", "-1",
              "@tag:{x}", "w'*'", "\\", "'\"", "e\u0301", "\u00e9", "\u202eRTL", "日本", "x" * 5000]  # fmt: skip


@pytest.fixture
def new_cache(redis_url, cache_names):
    made = []

    def make(**kwargs):
        backend = RedisCacheBackend(url=redis_url, name=cache_names.new())
        made.append(LLMCachingManager(backend, embedder=None, strict=True, **kwargs))
        return made[-1]

    yield make
    for cache in made:
        cache.close()


def test_each_nasty_tag_matches_only_itself(new_cache):
    cache = new_cache()
    for i, tag in enumerate(NASTY_TAGS):
        cache.set(f"prompt {i}", i, tags=[tag], version=tag, model=tag)
    for i, tag in enumerate(NASTY_TAGS):
        assert cache.invalidate(tags=[tag]) == 1, repr(tag)
        assert cache.get(f"prompt {i}", model=tag) is None
        assert cache.get_statistics()["cache_size"] == len(NASTY_TAGS) - i - 1
    for i, tag in enumerate(NASTY_TAGS):
        cache.set(f"prompt {i}", i, version=tag)
    for tag in NASTY_TAGS:
        assert cache.invalidate(version=tag) == 1, repr(tag)


PROMPTS = ["user_a", "user_b", "user?", "userX", "[user]", "a|b {c}", "{x}", "\\*", "caf\u00e9 日本", "cafe\u0301"]


@pytest.mark.parametrize(
    "pattern",
    [
        "*",
        "user_*",
        "user?",
        "[[]user]",
        "*|*",
        "{*}",
        "\\*",
        "*日本*",
        "caf\u00e9",
        "cafe\u0301",
        "[!u]*",
        "*X",
        "x",
        "?",
    ],
)
def test_patterns_on_the_server_agree_with_fnmatch(new_cache, pattern):
    cache = new_cache()
    for prompt in PROMPTS:
        cache.set(prompt, prompt)
    stored = {normalize_prompt(p) for p in PROMPTS}  # "cafe\u0301" is stored as "caf\u00e9"
    expected = sum(fnmatch.fnmatchcase(p, pattern) for p in stored)
    assert cache.invalidate(pattern=pattern) == expected
    assert cache.get_statistics()["cache_size"] == len(stored) - expected


def test_megabyte_prompt_and_response_round_trip(new_cache):
    cache = new_cache()
    prompt = "p" * 1_000_000 + " end"
    response = "é" * 1_000_000
    assert cache.set(prompt, response, tags=["big"])
    assert cache.set("p short end", "s")
    assert cache.get(prompt) == response
    assert cache.invalidate(pattern="*x*") == 0
    assert cache.invalidate(pattern="p*end") == 2
    assert cache.get_statistics()["cache_size"] == 0


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.lists(operation, min_size=1, max_size=25))
def test_redis_backend_matches_oracle(new_cache, ops):
    check_against_oracle(new_cache(), ops)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tenant_ops)
def test_namespaces_are_isolated(redis_url, cache_names, ops):
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new())
    caches = [
        LLMCachingManager(
            backend, namespace=ns, enable_semantic=True, semantic_threshold=0.5, embedder=None, strict=True
        )
        for ns in ("tenant-a", "tenant-b")
    ]
    check_isolation(caches, ops)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tenant_ops)
def test_cache_names_are_isolated(redis_url, cache_names, ops):
    caches = [
        LLMCachingManager(
            RedisCacheBackend(url=redis_url, name=cache_names.new()),
            enable_semantic=True,
            semantic_threshold=0.5,
            embedder=None,
            strict=True,
        )
        for _ in range(2)
    ]
    check_isolation(caches, ops)


def test_same_answers_as_memory_for_semantic_lookups(new_cache):
    rng = np.random.default_rng(11)
    memory = LLMCachingManager(InMemoryCacheBackend(), embedder=None, enable_semantic=True, semantic_threshold=0.8)
    redis_cache = new_cache(enable_semantic=True, semantic_threshold=0.8)
    base = [rng.standard_normal(24) for _ in range(30)]
    for i, v in enumerate(base):
        for cache in (memory, redis_cache):
            cache.set(f"stored {i}", f"answer {i}", embedding=v, model="m" if i % 2 else "n", tags=[f"t{i % 3}"])
    for cache in (memory, redis_cache):
        cache.invalidate(tags=["t1"])
    for j in range(60):
        q = base[j % 30] + rng.standard_normal(24) * (0.05 + 0.02 * (j % 10))
        model = "m" if j % 3 else "n"
        assert redis_cache.get(f"query {j}", embedding=q, model=model) == memory.get(
            f"query {j}", embedding=q, model=model
        ), j
