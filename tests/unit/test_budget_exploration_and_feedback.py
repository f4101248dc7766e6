"""An error budget's exploration rate and its local label count, seen through the public API
(get_or_compute, lookup, feedback): what the caller gets and when compute runs, not how the
quality plans are written."""

from __future__ import annotations

import random

import pytest

from redis_semcache import BackendUnavailableError, InMemoryCacheBackend, LLMCachingManager
from redis_semcache.quality import ErrorBudget

from ..fakes import CountingEmbedder

ASKED = "what is redis today"  # its best candidate is "what is redis" (similarity ~0.87 here)


def budget_cache(backend=None, **kwargs) -> LLMCachingManager:
    options = {"enable_semantic": True, "guards": None, "embedder": CountingEmbedder(), **kwargs}
    return LLMCachingManager(backend or InMemoryCacheBackend(), **options)


def test_explore_zero_with_an_error_budget_never_explores():
    """``explore=0.0`` is an explicit "never", not "the default 10%": no label is ever
    taken, so the rule stays exact-only and every near miss is computed."""
    cache = budget_cache(error_budget=ErrorBudget(0.2, refresh_seconds=0), explore=0.0, explore_rng=random.Random(0))
    cache.set("what is redis", "a store")
    calls = []

    def compute():
        calls.append(1)
        return "a store"

    for _ in range(200):  # at 10%, ~20 labels (14 suffice at this budget) would let the candidate be served
        assert cache.get_or_compute("what is redis", compute) == "a store"  # exact: never computed
        cache.invalidate(pattern=ASKED)
        assert cache.get_or_compute(ASKED, compute) == "a store"
    assert len(calls) == 200
    found = cache.lookup(ASKED + "!")
    assert (found.hit, found.threshold) == (False, None)  # still exact only: nothing was labelled


class LabelsFail(InMemoryCacheBackend):
    """Refuses to record labels while ``down``; everything else works."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def record_label(self, *args, **kwargs):
        if self.down:
            raise BackendUnavailableError("connection refused")
        return super().record_label(*args, **kwargs)


def test_a_label_the_backend_did_not_record_is_not_counted_by_the_budget():
    backend = LabelsFail()
    cache = budget_cache(backend, circuit_breaker=None, error_budget=ErrorBudget(0.2, refresh_seconds=3600))
    cache.set("what is redis", "a store")
    found = cache.lookup(ASKED)  # reads the (empty) label counts: fresh for an hour
    assert (found.hit, found.threshold, found.candidate_prompt) == (False, None, "what is redis")
    backend.down = True
    for _ in range(30):
        assert cache.feedback(found, True) is False
    assert cache.lookup(ASKED).hit is False  # 30 labels said False: none of them counts
    backend.down = False
    for _ in range(30):  # 0 wrong in 30 bounds the error under 0.2
        assert cache.feedback(found, True) is True
    assert cache.lookup(ASKED).hit is True  # recorded labels count at once, before any refresh
    assert cache.lookup(ASKED).hit is True  # and the rule they made stays


def test_a_served_hit_recomputed_to_label_it_is_stored_with_the_calls_tags_and_ttl():
    cache = budget_cache(semantic_threshold=0.8, explore=1.0, explore_rng=random.Random(0))
    cache.set("what is redis", "a store")
    assert cache.lookup(ASKED).kind == "semantic"
    assert cache.get_or_compute(ASKED, lambda: "a fresh store", tags=["fresh"], ttl=30) == "a fresh store"
    (entry,) = [e for e in cache.get_top_entries() if e["prompt"] == ASKED]
    assert entry["tags"] == ["fresh"] and entry["expires_at"] - entry["created_at"] == pytest.approx(30)
    assert cache.invalidate(tags=["fresh"]) == 1


def test_labels_given_to_one_instance_move_the_rule_of_another():
    """The label counts live in the backend, shared by every instance of the cache: another
    instance's rule follows them at its next refresh."""
    backend = InMemoryCacheBackend()
    one, other = (budget_cache(backend, error_budget=ErrorBudget(0.2, refresh_seconds=0)) for _ in range(2))
    one.set("what is redis", "a store")
    found = one.lookup(ASKED)
    assert other.lookup(ASKED).hit is False
    for _ in range(30):
        assert one.feedback(found, True)
    assert other.lookup(ASKED).hit is True


def test_lookup_for_a_version_sees_only_that_versions_entries():
    cache = budget_cache(semantic_threshold=0.8)
    cache.set("what is redis", "old answer", version="v1")
    assert cache.lookup("what is redis", version="v1").kind == "exact"
    assert cache.lookup("what is redis", version="v2").hit is False
    assert cache.lookup(ASKED, version="v2").hit is False  # nor a semantic match of another version
    assert cache.lookup(ASKED, version="v1").kind == "semantic"
