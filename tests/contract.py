"""The behaviour every backend must show, written once.

A test module joins by subclassing :class:`CacheContract` and providing two
fixtures:

* ``make_cache(**manager_kwargs)`` - a new, empty LLMCachingManager over a
  fresh backend of its kind (``max_size`` and ``eviction_strategy`` keywords are
  for the backend);
* ``clock`` - an object whose ``advance(seconds)`` makes that backend see
  ``seconds`` pass, without sleeping.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from redis_semcache import (
    CacheStrategy,
    DimensionMismatchError,
    EmbeddingCountError,
    InvalidationStrategy,
    InvalidInputError,
    SerializationError,
    make_cache_key,
)

from .fakes import CountingEmbedder, near, unit

DIM = 32


class CacheContract:
    # -- exact matches ---------------------------------------------------

    def test_exact_round_trip_and_normalisation(self, make_cache):
        cache = make_cache()
        assert cache.set(prompt="What is machine learning?", response="Machine learning is...", model="gpt-4")
        assert cache.get(prompt="What is machine learning?", model="gpt-4") == "Machine learning is..."
        assert cache.get(prompt="  What is\tmachine   learning?\n", model="gpt-4") == "Machine learning is..."
        assert cache.get(prompt="what is machine learning?", model="gpt-4") is None  # case is kept

    def test_unicode_nfc_prompts_are_one_entry(self, make_cache):
        cache = make_cache()
        cache.set("caf\u00e9", "coffee")
        assert cache.get("cafe\u0301") == "coffee"

    def test_model_and_params_scope_entries(self, make_cache):
        cache = make_cache()
        cache.set("hello", "from gpt-4", model="gpt-4", temperature=0.0)
        cache.set("hello", "from claude", model="claude", temperature=0.0)
        cache.set("hello", "hot gpt-4", model="gpt-4", temperature=1.0)
        assert cache.get("hello", model="gpt-4", temperature=0.0) == "from gpt-4"
        assert cache.get("hello", model="claude", temperature=0.0) == "from claude"
        assert cache.get("hello", model="gpt-4", temperature=1.0) == "hot gpt-4"
        assert cache.get("hello", model="gpt-4") is None

    def test_overwrite_replaces(self, make_cache):
        cache = make_cache()
        cache.set("q", "old")
        cache.set("q", "new")
        assert cache.get("q") == "new"
        assert cache.get_statistics()["cache_size"] == 1

    @pytest.mark.parametrize(
        "response",
        [
            "",
            "ünïcødé ✓ \u202eRTL",
            {"a": [1, 2.5, None, True], "b": {"c": "d"}},
            [1, "two"],
            42,
            3.25,
            None,
            "x" * 200_000,
        ],
    )
    def test_responses_round_trip_equal(self, make_cache, response):
        cache = make_cache()
        cache.set("prompt", response)
        got = cache.get("prompt")
        assert got == response and type(got) is type(response)

    # -- semantic matches ------------------------------------------------

    def test_semantic_hit_at_threshold_and_miss_below(self, make_cache):
        rng = np.random.default_rng(1)
        cache = make_cache(enable_semantic=True, semantic_threshold=0.85)
        base = unit(rng, DIM)
        cache.set("original", "answer", model="gpt-4", embedding=base)
        assert cache.get("paraphrase", model="gpt-4", embedding=near(base, 0.90, rng)) == "answer"
        assert cache.get("unrelated", model="gpt-4", embedding=near(base, 0.80, rng)) is None
        assert cache.get("other model", model="gpt-3.5", embedding=base) is None
        assert cache.get("other scope", model="gpt-4", embedding=base, temperature=0.7) is None
        stats = cache.get_statistics()
        assert (stats["semantic_hits"], stats["misses"], stats["exact_hits"]) == (1, 3, 0)

    def test_semantic_picks_the_most_similar(self, make_cache):
        rng = np.random.default_rng(2)
        cache = make_cache(enable_semantic=True, semantic_threshold=0.5)
        query = unit(rng, DIM)
        cache.set("far", "far", embedding=near(query, 0.6, rng))
        cache.set("close", "close", embedding=near(query, 0.95, rng))
        cache.set("mid", "mid", embedding=near(query, 0.8, rng))
        assert cache.get("query", embedding=query) == "close"

    def test_embedding_as_list(self, make_cache):
        cache = make_cache(enable_semantic=True, semantic_threshold=0.99)
        cache.set("a", "A", embedding=[0.1, 0.2, 0.3, 0.4])
        assert cache.get("b", embedding=[0.2, 0.4, 0.6, 0.8]) == "A"

    def test_threshold_one_matches_identical_vector(self, make_cache):
        rng = np.random.default_rng(3)
        cache = make_cache(enable_semantic=True, semantic_threshold=1.0)
        v = unit(rng, DIM)
        cache.set("a", "A", embedding=v)
        assert cache.get("b", embedding=v * 3.0) == "A"

    def test_builtin_style_embedder_used_when_no_embedding_given(self, make_cache):
        embedder = CountingEmbedder()
        cache = make_cache(enable_semantic=True, semantic_threshold=0.8, embedder=embedder)
        cache.set("how do I reset my password", "go to settings")
        assert embedder.texts_embedded == 1
        assert cache.get("how do I reset my password") == "go to settings"  # exact: no embedding
        assert embedder.texts_embedded == 1
        assert cache.get("how do i reset my password please") == "go to settings"
        assert embedder.texts_embedded == 2
        assert cache.get("what is the weather in Paris") is None

    def test_dimension_mismatch_is_typed(self, make_cache):
        rng = np.random.default_rng(4)
        cache = make_cache(enable_semantic=True)
        cache.set("a", "A", embedding=unit(rng, DIM))
        with pytest.raises(DimensionMismatchError):
            cache.get("b", embedding=unit(rng, DIM + 1))
        with pytest.raises(DimensionMismatchError):
            cache.set("c", "C", embedding=unit(rng, DIM - 1))

    @pytest.mark.parametrize(
        "bad", [[0.0, 0.0, 0.0], [1.0, float("nan"), 0.0], [1.0, float("inf"), 0.0], [[1.0, 2.0]], []]
    )
    def test_bad_embeddings_rejected(self, make_cache, bad):
        cache = make_cache(enable_semantic=True)
        with pytest.raises(InvalidInputError):
            cache.set("a", "A", embedding=bad)
        with pytest.raises(InvalidInputError):
            cache.get("a", embedding=bad)

    # -- bulk writes of precomputed vectors ---------------------------------

    def test_set_many_and_warm_store_the_given_vectors_without_embedding(self, make_cache):
        rng = np.random.default_rng(11)
        embedder = CountingEmbedder(DIM)
        cache = make_cache(enable_semantic=True, semantic_threshold=0.9, embedder=embedder)
        vectors = np.stack([unit(rng, DIM) for _ in range(45)])  # more than one store chunk
        pairs = [(f"question {i}", f"answer {i}") for i in range(45)]
        assert cache.set_many(pairs[:30], embeddings=vectors[:30]) == 30
        assert cache.warm(pairs[30:], embeddings=vectors[30:].tolist(), progress=False) == 15  # lists too
        assert embedder.texts_embedded == 0
        for i in (0, 17, 29, 30, 44):  # each prompt got its own vector, in order
            assert cache.get(f"paraphrase {i}", embedding=near(vectors[i], 0.95, rng)) == f"answer {i}"
        assert cache.get("question 3") == "answer 3"
        assert cache.get_statistics()["cache_size"] == 45

    @pytest.mark.parametrize(
        ("bad", "error"),
        [
            (lambda v: v[:2], EmbeddingCountError),
            (lambda v: [*v, v[0]], EmbeddingCountError),
            (lambda v: [v[0], v[1][:-1], v[2]], DimensionMismatchError),  # ragged
            (lambda v: np.hstack([v, v]), DimensionMismatchError),  # every row of another length
            (lambda v: [v[0], v[1], [np.nan] * DIM], InvalidInputError),
            (lambda v: [v[0], [0.0] * DIM, v[2]], InvalidInputError),
            (lambda v: "abc", InvalidInputError),
        ],
        ids=["too few", "too many", "ragged", "wrong length", "nan", "zeros", "a string"],
    )
    def test_set_many_refuses_bad_embeddings_before_writing_any(self, make_cache, bad, error):
        rng = np.random.default_rng(12)
        cache = make_cache(enable_semantic=True, semantic_threshold=0.9)
        cache.set("already here", "x", embedding=unit(rng, DIM))  # fixes the dimension
        vectors = np.stack([unit(rng, DIM) for _ in range(3)])
        with pytest.raises(error):
            cache.set_many([(f"q{i}", f"a{i}") for i in range(3)], embeddings=bad(vectors))
        assert cache.get_statistics()["cache_size"] == 1
        assert cache.get("q0") is None

    def test_set_many_evicts_as_one_set_per_item_would(self, make_cache):
        """The order among one call's items is the clock's, frozen in these tests: see
        test_round_trips.py for the survivors on a running clock."""
        rng = np.random.default_rng(13)
        cache = make_cache(max_size=10, eviction_strategy=CacheStrategy.FIFO, enable_semantic=True)
        vectors = np.stack([unit(rng, DIM) for _ in range(35)])
        assert cache.set_many([(f"p{i}", i) for i in range(35)], embeddings=vectors) == 35
        stats = cache.get_statistics()
        assert stats["cache_size"] == 10 and stats["evictions"] == 25
        assert sum(cache.get(f"p{i}") is not None for i in range(35)) == 10

    # -- invalidation ------------------------------------------------------

    def test_invalidate_by_tags_versions_patterns_keys(self, make_cache):
        cache = make_cache()
        cache.set("user_1 profile", "p1", tags=["user:123"])
        cache.set("user_2 profile", "p2", tags=["user:456", "profile"])
        cache.set("system status", "ok", version="v2")
        cache.set("admin panel", "a", version="v2", tags=["a|b"])
        assert cache.invalidate(tags=["user:123", "nope"]) == 1
        assert cache.get("user_1 profile") is None and cache.get("user_2 profile") == "p2"
        assert cache.invalidate(tags=["*"]) == 0
        assert cache.invalidate(tags=["a"]) == 0
        assert cache.invalidate(tags=["a|b"]) == 1
        assert cache.invalidate(pattern="user_*") == 1
        assert cache.invalidate(version="v1") == 0
        assert cache.invalidate(version="v2") == 1
        assert cache.get_statistics()["cache_size"] == 0
        assert cache.get_statistics()["invalidations"] == 4

    def test_invalidate_keys_takes_reported_ids(self, make_cache):
        cache = make_cache()
        cache.set("alpha", "A", model="gpt-4", temperature=0)
        cache.set("beta", "B", model="gpt-4")
        key = make_cache_key("alpha", model="gpt-4", temperature=0)
        assert key in {e["key"] for e in cache.get_top_entries(limit=10)}
        assert cache.invalidate(keys=[key, "key1", "key2"]) == 1
        assert cache.get("alpha", model="gpt-4", temperature=0) is None
        assert cache.get("beta", model="gpt-4") == "B"

    def test_pattern_is_case_sensitive_glob(self, make_cache):
        cache = make_cache()
        for prompt in ["user_a", "User_b", "user?", "userX", "[user]"]:
            cache.set(prompt, prompt)
        assert cache.invalidate(pattern="user?") == 2  # user? and userX
        assert cache.invalidate(pattern="[[]user]") == 1
        assert cache.get("User_b") == "User_b" and cache.get("user_a") == "user_a"

    def test_clear_removes_everything(self, make_cache):
        cache = make_cache()
        for i in range(5):
            cache.set(f"p{i}", i)
        assert cache.clear() is True
        assert cache.get_statistics()["cache_size"] == 0
        assert cache.get("p1") is None

    def test_invalidate_without_criteria_is_an_error(self, make_cache):
        with pytest.raises(InvalidInputError):
            make_cache().invalidate()

    # -- TTL and eviction --------------------------------------------------

    def test_ttl_expiry(self, make_cache, clock):
        cache = make_cache(default_ttl=100)
        cache.set("short", "s", ttl=10)
        cache.set("default", "d")
        clock.advance(11)
        assert cache.get("short") is None
        assert cache.get("default") == "d"
        clock.advance(90)
        assert cache.get("default") is None
        assert cache.get_statistics()["cache_size"] == 0

    def test_manual_strategy_keeps_entries_without_ttl(self, make_cache, clock):
        cache = make_cache(default_ttl=10, invalidation_strategy=InvalidationStrategy.MANUAL)
        cache.set("kept", "k")
        cache.set("explicit", "e", ttl=5)
        clock.advance(1000)
        assert cache.get("kept") == "k"
        assert cache.get("explicit") is None

    def test_versioned_strategy_hides_other_versions(self, make_cache):
        cache = make_cache(invalidation_strategy=InvalidationStrategy.VERSIONED, cache_version="v2")
        cache.set("q", "new")  # stored as v2
        assert cache.get("q") == "new"
        cache.set("q", "old", version="v1")
        assert cache.get("q") is None
        assert cache.get("q", version="v1") == "old"

    def test_lru_eviction_order(self, make_cache, clock):
        cache = make_cache(max_size=3, eviction_strategy=CacheStrategy.LRU)
        for p in "abc":
            cache.set(p, p)
            clock.advance(1)
        assert cache.get("a") == "a"  # b is now least recently used
        clock.advance(1)
        cache.set("d", "d")
        assert cache.get("b") is None
        assert [cache.get(p) for p in "acd"] == ["a", "c", "d"]
        assert cache.get_statistics()["evictions"] == 1

    def test_lfu_eviction_order(self, make_cache, clock):
        cache = make_cache(max_size=3, eviction_strategy=CacheStrategy.LFU)
        for p in "abc":
            cache.set(p, p)
            clock.advance(1)
        for p in "aacb":
            cache.get(p)
            clock.advance(1)
        cache.set("d", "d")  # a:2, b:1, c:1 -> c is least frequent and least recent among ties
        assert cache.get("c") is None
        assert cache.get("a") == "a" and cache.get("b") == "b" and cache.get("d") == "d"

    def test_fifo_eviction_ignores_reads(self, make_cache, clock):
        cache = make_cache(max_size=2, eviction_strategy=CacheStrategy.FIFO)
        cache.set("a", "a")
        clock.advance(1)
        cache.set("b", "b")
        clock.advance(1)
        cache.get("a")
        cache.set("c", "c")
        assert cache.get("a") is None and cache.get("b") == "b"

    def test_ttl_strategy_evicts_soonest_expiry(self, make_cache, clock):
        cache = make_cache(max_size=2, eviction_strategy=CacheStrategy.TTL)
        cache.set("long", "l", ttl=1000)
        cache.set("short", "s", ttl=10)
        cache.set("new", "n", ttl=500)
        assert cache.get("short") is None
        assert cache.get("long") == "l" and cache.get("new") == "n"

    def test_size_never_exceeds_max(self, make_cache):
        cache = make_cache(max_size=10)
        for i in range(35):
            cache.set(f"p{i}", i)
        stats = cache.get_statistics()
        assert stats["cache_size"] == 10 and stats["evictions"] == 25

    # -- statistics and reporting -----------------------------------------

    def test_statistics_count_each_outcome(self, make_cache):
        rng = np.random.default_rng(5)
        cache = make_cache(enable_semantic=True, semantic_threshold=0.9)
        v = unit(rng, DIM)
        cache.set("a", "A", embedding=v)
        cache.get("a", embedding=v)  # exact
        cache.get("b", embedding=near(v, 0.95, rng))  # semantic
        cache.get("c", embedding=near(v, 0.10, rng))  # miss
        stats = cache.get_statistics()
        assert stats["exact_hits"] == 1 and stats["semantic_hits"] == 1 and stats["misses"] == 1
        assert stats["total_requests"] == 3 and stats["sets"] == 1
        assert stats["hit_rate"] == pytest.approx(200 / 3, rel=1e-3)
        assert stats["average_latency_ms"] > 0 and stats["p99_latency_ms"] >= stats["p50_latency_ms"]

    def test_top_entries_sorted_by_access_count(self, make_cache, clock):
        cache = make_cache()
        for p, reads in (("one", 1), ("three", 3), ("two", 2)):
            cache.set(p, p)
            for _ in range(reads):
                cache.get(p)
            clock.advance(1)
        top = cache.get_top_entries(limit=2, sort_by="access_count")
        assert [(e["prompt"], e["access_count"]) for e in top] == [("three", 3), ("two", 2)]
        assert "response" not in top[0]
        newest = cache.get_top_entries(limit=1, sort_by="created_at")
        assert newest[0]["prompt"] == "two"
        with pytest.raises(InvalidInputError):
            cache.get_top_entries(sort_by="popularity")

    def test_export_stats_writes_json(self, make_cache, tmp_path):
        cache = make_cache()
        cache.set("a", "secret response body")
        cache.get("a")
        path = cache.export_stats(tmp_path / "stats.json")
        data = json.loads(path.read_text())
        assert data["statistics"]["exact_hits"] == 1
        assert "secret response body" not in path.read_text()
        assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]

    def test_health_check(self, make_cache):
        health = make_cache().health_check()
        assert health["status"] == "healthy"

    # -- bad input -----------------------------------------------------------

    @pytest.mark.parametrize("prompt", ["", "   \n\t", None, 42, b"bytes"])
    def test_bad_prompts(self, make_cache, prompt):
        cache = make_cache()
        with pytest.raises(InvalidInputError):
            cache.set(prompt, "x")
        with pytest.raises(InvalidInputError):
            cache.get(prompt)

    @pytest.mark.parametrize("ttl", [-1, 0, float("nan"), "10", True])
    def test_bad_ttl(self, make_cache, ttl):
        with pytest.raises(InvalidInputError):
            make_cache().set("a", "b", ttl=ttl)

    @pytest.mark.parametrize("response", [object(), {1: "int key"}, (1, 2), float("nan"), {"s": {1, 2}}])
    def test_unserialisable_response(self, make_cache, response):
        cache = make_cache()
        with pytest.raises(SerializationError):
            cache.set("a", response)
        assert cache.get("a") is None
