"""Lookup results, feedback and the error budget: the same on every backend.

Joined like :class:`tests.contract.CacheContract`: subclass it in a module that
provides the ``make_cache`` fixture.  Vectors are given (``embedding=``) so the
similarities are exact; what is tested is the cache's bookkeeping, not a model.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from redis_semcache import ConfigurationError, InvalidInputError
from redis_semcache.quality import ErrorBudget, ForeignResultError, LookupResult

from .fakes import CountingEmbedder, near, unit
from .sync_via_async import SyncViaAsync

DIM = 32


# What a Redis ``make_cache`` fixture passes to the backend for this contract
# (read from the test class): FLOAT32 vectors.  The contract builds vectors at
# exact similarities (0.9 is a label bin's edge) and checks the bookkeeping built
# on them; FLOAT16 rounding (the default, up to ~4e-4 at 32-d, see
# ``_vectors.distance_slack``) would move them across bins.
# tests/integration/test_float16.py checks FLOAT16 itself.
EXACT_SIMILARITIES = {"vector_dtype": "FLOAT32"}


def label_counts(cache, scope):
    """(all labels, the scope's labels) as the backend stores them."""
    backend = cache.backend
    if isinstance(cache, SyncViaAsync) and hasattr(backend, "alabel_counts"):
        return cache.loop.run_until_complete(backend.alabel_counts(scope))
    return backend.label_counts(scope)


def record_label(cache, scope, similarity, correct):
    """A label written to the backend directly (old evidence, as another instance gave it)."""
    backend = cache.backend
    if isinstance(cache, SyncViaAsync) and hasattr(backend, "arecord_label"):
        return cache.loop.run_until_complete(backend.arecord_label(scope, similarity, correct))
    return backend.record_label(scope, similarity, correct)


def found_scope(cache):
    return cache.lookup("what is redis").scope


def stored(cache, rng, prompt="what is redis", response="an in-memory store", **scope):
    vector = unit(rng, DIM)
    assert cache.set(prompt, response, embedding=vector, **scope)
    return vector


class QualityContract:
    def test_lookup_reports_an_exact_hit(self, make_cache):
        cache = make_cache(enable_semantic=True)
        rng = np.random.default_rng(1)
        stored(cache, rng)
        found = cache.lookup("  what is   redis ")
        assert (found.hit, found.kind, found.response) == (True, "exact", "an in-memory store")
        assert found.candidate_prompt == "what is redis"
        assert found.candidate_key == cache.lookup("what is redis").candidate_key
        assert found.similarity == 1.0

    def test_lookup_serves_a_semantic_hit_above_the_threshold(self, make_cache):
        cache = make_cache(enable_semantic=True, guards=None, semantic_threshold=0.9)
        rng = np.random.default_rng(2)
        vector = stored(cache, rng)
        found = cache.lookup("tell me about redis", embedding=near(vector, 0.95, rng))
        assert (found.hit, found.kind, found.response) == (True, "semantic", "an in-memory store")
        assert found.similarity == pytest.approx(0.95, abs=1e-4)
        assert found.threshold == 0.9
        assert found.candidate_prompt == "what is redis"
        assert found.candidate_key == cache.lookup("what is redis").candidate_key

    def test_lookup_names_the_candidate_it_did_not_serve(self, make_cache):
        cache = make_cache(enable_semantic=True, guards=None, semantic_threshold=0.9)
        rng = np.random.default_rng(3)
        vector = stored(cache, rng)
        query = near(vector, 0.8, rng)
        found = cache.lookup("what is valkey", embedding=query)
        assert (found.hit, found.kind, found.response) == (False, None, None)
        assert found.similarity == pytest.approx(0.8, abs=1e-4)
        assert found.candidate_prompt == "what is redis"
        listed = {e["prompt"]: e["access_count"] for e in cache.get_top_entries(limit=5)}
        assert listed == {"what is redis": 0}  # named, not served: no access recorded on it
        assert found.candidate_key == cache.lookup("what is redis").candidate_key
        assert cache.get("what is valkey", embedding=query) is None  # get agrees
        stats = cache.get_statistics()
        assert (stats["misses"], stats["semantic_hits"]) == (2, 0)

    def test_lookup_of_an_empty_cache_has_no_candidate(self, make_cache):
        cache = make_cache(enable_semantic=True)
        found = cache.lookup("anything", embedding=unit(np.random.default_rng(4), DIM))
        assert found == LookupResult(False, None, None, None, None, None, found.threshold, found.scope)
        assert cache.feedback(found, True) is False  # nothing to label

    def test_lookup_takes_chat_messages(self, make_cache):
        cache = make_cache(enable_semantic=True)
        messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is redis"}]
        cache.set(messages=messages, response="a store", embedding=unit(np.random.default_rng(5), DIM))
        found = cache.lookup(messages=messages)
        assert (found.kind, found.response) == ("exact", "a store")
        assert cache.lookup("what is redis").hit is False  # the system prompt scopes the entry

    def test_feedback_records_a_label_in_the_candidates_scope(self, make_cache):
        cache = make_cache(enable_semantic=True, guards=None)
        rng = np.random.default_rng(6)
        vector = stored(cache, rng, model="m1")
        found = cache.lookup("redis?", model="m1", embedding=near(vector, 0.85, rng))
        assert cache.feedback(found, False) is True
        assert cache.feedback(found, True) is True
        every, scope = label_counts(cache, found.scope)
        assert (int(scope.right.sum()), int(scope.wrong.sum())) == (1, 1)
        assert (int(every.right.sum()), int(every.wrong.sum())) == (1, 1)
        other = cache.lookup("redis?", model="m2", embedding=near(vector, 0.85, rng))
        assert label_counts(cache, other.scope)[1].total == 0

    def test_feedback_on_an_exact_hit_is_a_label_at_similarity_one(self, make_cache):
        cache = make_cache(enable_semantic=True)
        stored(cache, np.random.default_rng(7))
        found = cache.lookup("what is redis")
        assert cache.feedback(found, True) is True  # served hits include exact ones
        every, _ = label_counts(cache, found.scope)
        assert (int(every.right[-1]), every.total) == (1, 1)

    def test_feedback_rejects_what_it_cannot_label(self, make_cache):
        cache = make_cache(enable_semantic=True, guards=None)
        other = make_cache(enable_semantic=True, guards=None)
        rng = np.random.default_rng(8)
        vector = stored(other, rng)
        foreign = other.lookup("redis?", embedding=near(vector, 0.95, rng))
        with pytest.raises(ForeignResultError):
            cache.feedback(foreign, True)
        with pytest.raises(InvalidInputError):
            cache.feedback("redis?", True)
        with pytest.raises(InvalidInputError):
            other.feedback(foreign, 1)
        assert label_counts(other, foreign.scope)[0].total == 0

    def test_feedback_for_an_entry_deleted_meanwhile_still_counts(self, make_cache):
        cache = make_cache(enable_semantic=True, guards=None)
        rng = np.random.default_rng(9)
        vector = stored(cache, rng)
        found = cache.lookup("redis?", embedding=near(vector, 0.95, rng))
        assert cache.invalidate(keys=[found.candidate_key]) == 1
        assert cache.feedback(found, True) is True  # a label is about the similarity, not the entry
        assert label_counts(cache, found.scope)[0].total == 1

    @pytest.mark.parametrize("budget", [0, 1, -0.1, 1.5, "0.1", True, float("nan")])
    def test_error_budget_outside_zero_one_is_a_typed_error(self, make_cache, budget):
        with pytest.raises(InvalidInputError, match="error_budget"):
            make_cache(enable_semantic=True, error_budget=budget)

    def test_error_budget_needs_semantic_caching(self, make_cache):
        with pytest.raises(ConfigurationError, match="enable_semantic"):
            make_cache(error_budget=0.1)

    def test_error_budget_serves_exact_only_until_labels_bound_the_error(self, make_cache):
        cache = make_cache(enable_semantic=True, guards=None, error_budget=ErrorBudget(0.1, refresh_seconds=0))
        rng = np.random.default_rng(10)
        vector = stored(cache, rng)
        query = near(vector, 0.96, rng)
        first = cache.lookup("redis?", embedding=query)
        assert (first.hit, first.threshold, first.similarity is not None) == (False, None, True)
        assert cache.get("redis?", embedding=query) is None
        assert cache.get_many(["redis?"]) == [None]
        for _ in range(21):  # Clopper-Pearson 90%: 0 wrong in 21 bounds the error at 0.104
            assert cache.feedback(first, True)
        assert cache.lookup("redis?", embedding=query).hit is False
        assert cache.feedback(first, True)  # 22: bound 0.098
        found = cache.lookup("redis?", embedding=query)
        assert (found.hit, found.kind) == (True, "semantic")
        assert found.threshold == pytest.approx(0.96, abs=0.006)
        assert cache.get("redis?", embedding=query) == "an in-memory store"
        assert cache.lookup("redis?", embedding=near(vector, 0.9, rng)).hit is False  # no evidence down there

    def test_wrong_labels_keep_the_threshold_up(self, make_cache):
        cache = make_cache(enable_semantic=True, guards=None, error_budget=ErrorBudget(0.2, refresh_seconds=0))
        rng = np.random.default_rng(11)
        vector = stored(cache, rng)
        high = cache.lookup("redis?", embedding=near(vector, 0.97, rng))
        low = cache.lookup("redis!", embedding=near(vector, 0.85, rng))
        for _ in range(40):
            cache.feedback(high, True)
            cache.feedback(low, False)
        assert cache.lookup("redis?", embedding=near(vector, 0.97, rng)).hit is True
        below = cache.lookup("redis!", embedding=near(vector, 0.85, rng))
        assert below.hit is False
        assert below.threshold == pytest.approx(0.97, abs=0.006)

    def test_recent_wrong_labels_close_the_budget_after_old_right_ones(self, make_cache):
        # 1,000 old right labels then 60 wrong: pooled 60/1060, bound 0.07 (would still serve at
        # 0.1); among the newest 300 labels 60 wrong is an error of at least 0.16 (95%): closed
        cache = make_cache(enable_semantic=True, guards=None, error_budget=ErrorBudget(0.1, refresh_seconds=0))
        rng = np.random.default_rng(13)
        vector = stored(cache, rng)
        found = cache.lookup("redis?", embedding=near(vector, 0.96, rng))
        for _ in range(1000):
            record_label(cache, found.scope, 0.96, True)
        assert cache.lookup("redis?", embedding=near(vector, 0.96, rng)).hit is True
        for _ in range(60):
            assert cache.feedback(found, False)
        again = cache.lookup("redis?", embedding=near(vector, 0.96, rng))
        assert (again.hit, again.threshold) == (False, None)
        for _ in range(300):  # the traffic is right again: the newest labels agree with the old
            record_label(cache, found.scope, 0.96, True)
        assert cache.lookup("redis?", embedding=near(vector, 0.96, rng)).hit is True

    def test_a_scope_with_enough_labels_gets_its_own_rule(self, make_cache):
        budget = ErrorBudget(0.2, refresh_seconds=0, min_scope_labels=30)
        cache = make_cache(enable_semantic=True, guards=None, error_budget=budget)
        rng = np.random.default_rng(12)
        good, bad = stored(cache, rng, model="good"), stored(cache, rng, model="bad")
        in_good = cache.lookup("redis?", model="good", embedding=near(good, 0.9, rng))
        in_bad = cache.lookup("redis?", model="bad", embedding=near(bad, 0.9, rng))
        for _ in range(20):
            cache.feedback(in_good, True)
        for _ in range(40):
            cache.feedback(in_bad, False)
        # "good" has 20 labels: too few for its own rule, so the global one (20 right, 40 wrong) holds
        assert cache.lookup("redis?", model="good", embedding=near(good, 0.9, rng)).hit is False
        for _ in range(10):
            cache.feedback(in_good, True)
        assert cache.lookup("redis?", model="good", embedding=near(good, 0.9, rng)).hit is True
        assert cache.lookup("redis?", model="bad", embedding=near(bad, 0.9, rng)).hit is False

    @pytest.mark.parametrize("rate", [1.0, 0.0])
    def test_get_or_compute_explores_a_served_hit_at_its_rate(self, make_cache, rate):
        cache = make_cache(enable_semantic=True, guards=None, semantic_threshold=0.8, embedder=CountingEmbedder(),
                           explore=rate, explore_rng=random.Random(0))  # fmt: skip
        cache.set("what is redis", "a store")
        calls = []

        def compute():
            calls.append(1)
            return "a store"

        assert cache.get_or_compute("what is redis", compute) == "a store"  # exact: labelled, never computed
        assert calls == []
        assert label_counts(cache, found_scope(cache))[0].total == int(rate)
        found = cache.lookup("what is redis today")
        assert (found.kind, found.response) == ("semantic", "a store")
        assert cache.get_or_compute("what is redis today", compute) == "a store"
        assert len(calls) == int(rate)
        _, scope = label_counts(cache, found.scope)
        assert (int(scope.right.sum()), int(scope.wrong.sum())) == (2 * int(rate), 0)

    def test_an_explored_compute_is_a_miss_and_an_exploration(self, make_cache):
        cache = make_cache(enable_semantic=True, guards=None, semantic_threshold=0.8, embedder=CountingEmbedder(),
                           explore=1.0, explore_rng=random.Random(0))  # fmt: skip
        cache.set("what is redis", "a store")
        cache.reset_statistics()
        assert cache.get_or_compute("what is redis today", lambda: "a fresh store") == "a fresh store"
        stats = cache.get_statistics()
        assert (stats["semantic_hits"], stats["misses"], stats["explorations"]) == (0, 1, 1)
        assert cache.get_or_compute("what is redis", lambda: "unused") == "a store"  # exact: no exploration
        assert cache.get_or_compute("how do lions hunt", lambda: "in groups") == "in groups"  # nothing to explore
        stats = cache.get_statistics()
        assert (stats["exact_hits"], stats["misses"], stats["explorations"]) == (1, 2, 1)

    def test_a_budget_with_explore_zero_never_explores(self, make_cache):
        cache = make_cache(enable_semantic=True, guards=None, embedder=CountingEmbedder(), explore=0.0,
                           error_budget=ErrorBudget(0.2, refresh_seconds=0), explore_rng=random.Random(0))  # fmt: skip
        cache.set("what is redis", "a store")
        for i in range(40):
            cache.get_or_compute("what is redis", lambda: "unused")
            cache.get_or_compute(f"what is redis {i}", lambda: "a store")
        assert label_counts(cache, found_scope(cache))[0].total == 0
        assert cache.get_statistics()["explorations"] == 0

    def test_get_or_compute_labels_the_candidate_of_a_miss_with_equivalent(self, make_cache):
        cache = make_cache(enable_semantic=True, guards=None, semantic_threshold=0.95, embedder=CountingEmbedder(),
                           explore=1.0, explore_rng=random.Random(0),
                           equivalent=lambda a, b: a.lower() == b.lower())  # fmt: skip
        cache.set("what is redis", "A store")
        cache.set("what is redis", "a STORE", model="other")
        assert cache.get_or_compute("what is redis today", lambda: "a store") == "a store"
        assert cache.get_or_compute("what is redis now", lambda: "a queue", model="other") == "a queue"
        every, _ = label_counts(cache, found_scope(cache))
        assert (int(every.right.sum()), int(every.wrong.sum())) == (1, 1)
        right = cache.lookup("what is redis today")
        assert right.hit is True and right.kind == "exact"  # the computed value was cached

    def test_get_or_compute_with_a_budget_learns_to_serve(self, make_cache):
        budget = ErrorBudget(0.2, refresh_seconds=0)
        cache = make_cache(enable_semantic=True, guards=None, embedder=CountingEmbedder(), error_budget=budget,
                           explore=1.0, explore_rng=random.Random(0))  # fmt: skip
        cache.set("what is redis", "a store")
        calls = []

        def compute():
            calls.append(1)
            return "a store"

        for _ in range(14):  # 0 wrong in 14: the bound is 0.193
            cache.invalidate(pattern="what is redis today")
            cache.get_or_compute("what is redis today", compute)
        assert len(calls) == 14
        assert cache.lookup("what is redis today!").hit is True
