"""Cache replay through the real manager, on hand-built vectors and with the fake embedder."""

from __future__ import annotations

import numpy as np
import pytest

from redis_semcache import ConfigurationError
from redis_semcache.eval import (
    DerivationMismatch,
    ReplayRun,
    calibrate,
    embed_pairs,
    evaluate,
    make_manager,
    pairs_from_rows,
    replay,
    replay_points,
)
from redis_semcache.eval.replay import record_candidates
from redis_semcache.eval.run import EvalVectors, check_derivation
from redis_semcache.eval.vectors import embed_texts

from ..fakes import CountingEmbedder, near, unit

DIM = 64


def hand_built():
    """Four pairs with known similarities between each query and each entry."""
    rng = np.random.default_rng(11)
    e = [unit(rng, DIM) for _ in range(4)]
    pairs = pairs_from_rows(
        [
            ("entry zero", "query zero", 1),  # its own entry at 0.95: right
            ("entry one", "query one", 1),  # entry zero at 0.92, own entry far: wrong entry
            ("entry two", "query two", 0),  # its own entry at 0.88, but not a duplicate: wrong
            ("entry three", "query three", 1),  # nothing near: miss
        ]
    )
    queries = [near(e[0], 0.95, rng), near(e[0], 0.92, rng), near(e[2], 0.88, rng), unit(rng, DIM)]
    return pairs, np.array(e), np.array(queries)


def test_replay_counts_right_wrong_and_miss_through_the_manager():
    pairs, first, second = hand_built()
    run = replay(pairs, first, second, threshold=0.80)
    assert run.found.tolist() == [0, 0, 2, -1]
    assert run.similarity[:3] == pytest.approx([0.95, 0.92, 0.88], abs=1e-5)
    assert run.entries == 4
    assert run.info["semantic_hits"] == 3 and run.info["misses"] == 1
    at85, at90, at93 = replay_points(run, [0.85, 0.90, 0.93])
    assert (at85.right, at85.wrong_entry, at85.wrong_non_duplicate, at85.miss) == (1, 1, 1, 1)
    assert (at90.right, at90.wrong, at90.miss) == (1, 1, 2)
    assert (at93.right, at93.wrong, at93.miss) == (1, 0, 3)


def test_derived_thresholds_equal_a_literal_replay_at_each_threshold():
    pairs, first, second = hand_built()
    low = replay(pairs, first, second, threshold=0.80)
    for t in (0.85, 0.90, 0.93, 0.96):
        literal = replay(pairs, first, second, threshold=t)
        check = check_derivation(low, literal)
        assert check["equal"] and check["derived"] == check["literal"]


def test_a_derivation_that_disagrees_is_reported():
    pairs, first, second = hand_built()
    low = replay(pairs, first, second, threshold=0.80)
    tampered = ReplayRun(0.90, np.array([0, -1, -1, -1]), low.similarity, low.own, low.duplicate, 4)
    with pytest.raises(DerivationMismatch, match="1 queries differ"):
        check_derivation(low, tampered)
    with pytest.raises(ValueError, match="cannot derive"):
        replay_points(low, [0.5])


def test_guards_and_verifier_in_replay_fall_through_to_the_next_candidate():
    rng = np.random.default_rng(3)
    base = unit(rng, DIM)
    pairs = pairs_from_rows([("phones under $500", "phones under $1000", 0), ("phones below $1000", "x", 1)])
    first = np.array([near(base, 0.97, rng), near(base, 0.90, rng)])
    second = np.array([base, unit(rng, DIM)])
    raw = replay(pairs, first, second, threshold=0.8)
    guarded = replay(pairs, first, second, threshold=0.8, guards="numbers")
    assert raw.found[0] == 0  # the more similar, wrong-priced entry
    assert guarded.found[0] == 1  # the guard skipped it; the $1000 entry is served
    vetoed = replay(pairs, first, second, threshold=0.8, verifier=lambda q, c, s: s > 0.95)
    assert vetoed.found[0] == 0


def test_pairs_sharing_a_first_prompt_share_one_entry_and_both_count_right():
    rng = np.random.default_rng(5)
    a, b = unit(rng, DIM), unit(rng, DIM)
    pairs = pairs_from_rows([("same question", "paraphrase one", 1), ("same question", "paraphrase two", 1)])
    run = replay(pairs, np.array([a, a]), np.array([near(a, 0.96, rng), near(a, 0.94, rng)]), threshold=0.9)
    assert run.entries == 1 and run.own.tolist() == [0, 0]
    assert replay_points(run, [0.9])[0].right == 2
    del b


def _oracle(pairs, vectors, t):
    """Right/wrong/miss by brute force, independent of the cache: best entry by cosine."""
    texts = list(dict.fromkeys(pairs.first))
    rows = [pairs.first.index(x) for x in texts]
    entries = vectors.first[rows]
    right = wrong = 0
    for i, q in enumerate(vectors.second):
        if pairs.second[i] in texts:  # exact match wins before any similarity
            best = texts.index(pairs.second[i])
        else:
            sims = entries @ q
            best = int(np.argmax(sims))
            if sims[best] < t - 1e-6:
                continue
        if pairs.duplicate[i] and texts[best] == pairs.first[i]:
            right += 1
        else:
            wrong += 1
    return right, wrong


TEXT_PAIRS = [
    ("how do i reset my password", "how can i reset my password", 1),
    ("what is the capital of france", "what is the capital of germany", 0),
    ("best pizza in new york", "cheap flights to tokyo", 0),
    ("how to cook rice", "how to cook rice", 1),
    ("how to cook rice", "how do you cook rice at home", 1),
    ("is python faster than java", "is java faster than python", 0),
    ("what is machine learning", "what is the capital of france", 0),  # exact repeat of another entry
    ("why is the sky blue", "what makes the sky look blue", 1),
]


def test_evaluate_with_the_fake_embedder_matches_a_brute_force_oracle(tmp_path):
    pairs = pairs_from_rows(TEXT_PAIRS)
    embedder = CountingEmbedder()
    vectors = embed_pairs(pairs, embedder, cache_dir=tmp_path)
    ts = [0.5, 0.6, 0.7, 0.8, 0.9]
    report = evaluate(pairs, vectors, thresholds=ts, guard_specs=["numbers", "all"], check_threshold=0.7)
    for p in report["replay"]["none"]["points"]:
        assert (p["right"], p["wrong"]) == _oracle(pairs, vectors, p["threshold"]), p["threshold"]
    assert report["identical_text_hits"] == {"wrong": 1, "right": 1}
    assert [c["guards"] for c in report["derivation_checks"]] == ["none", "numbers+negation+entities+antonyms"]
    assert all(c["equal"] for c in report["derivation_checks"])
    assert set(report["pairwise"]) == {"none", "numbers", "numbers+negation+entities+antonyms"}
    raw = {p["threshold"]: p for p in report["replay"]["none"]["points"]}
    for row in report["trade_off"]:
        assert row["wrong_removed"] == raw[row["threshold"]]["wrong"] - row["wrong"]
        assert row["right_lost"] == raw[row["threshold"]]["right"] - row["right"]
    assert report["dataset"]["pairs"] == 8 and report["dataset"]["duplicates"] == 4


def test_pairwise_mode_needs_no_cache():
    pairs = pairs_from_rows(TEXT_PAIRS)
    vectors = embed_pairs(pairs, CountingEmbedder(), use_cache=False)
    report = evaluate(pairs, vectors, thresholds=[0.5, 0.9], mode="pairwise", guard_specs=["negation"])
    assert "replay" not in report
    top = report["pairwise"]["none"][1]
    expected_tp = int(np.sum((vectors.pair_similarity >= 0.9 - 1e-6) & pairs.duplicate))
    assert top["true_positives"] == expected_tp


def test_calibrate_recommends_the_lowest_threshold_that_holds_the_target():
    rng = np.random.default_rng(21)
    e = [unit(rng, DIM) for _ in range(4)]
    pairs = pairs_from_rows([("a", "qa", 1), ("b", "qb", 1), ("c", "qc", 0), ("d", "qd", 0)])
    second = [near(e[0], 0.97, rng), near(e[1], 0.95, rng), near(e[2], 0.93, rng), near(e[3], 0.905, rng)]
    vectors = EvalVectors(np.array(e), np.array(second), "hand")
    ts = [round(0.80 + 0.01 * i, 2) for i in range(20)]
    strict = calibrate(pairs, vectors, target_precision=1.0, thresholds=ts)
    assert strict["recommended"]["threshold"] == 0.94
    loose = calibrate(pairs, vectors, target_precision=0.6, thresholds=ts)
    assert loose["recommended"]["threshold"] == 0.91  # 2 right / 3 hits; at 0.90 it is 2 / 4
    assert loose["recommended"]["hit_rate"] == 0.75
    pairwise = calibrate(pairs, vectors, target_precision=0.6, thresholds=ts, metric="pairwise")
    assert pairwise["recommended"]["threshold"] == 0.91
    assert calibrate(pairs, vectors, target_precision=1.0, thresholds=[0.8, 0.9])["recommended"] is None


def test_embeddings_are_cached_on_disk_per_model_and_texts(tmp_path):
    embedder = CountingEmbedder()
    texts = ["a b", "c d", "a b"]
    first = embed_texts(texts, embedder, cache_dir=tmp_path)
    assert embedder.texts_embedded == 2  # duplicates embedded once
    again = embed_texts(texts, embedder, cache_dir=tmp_path)
    assert embedder.texts_embedded == 2  # read from the cache
    np.testing.assert_array_equal(first, again)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    embed_texts(["other"], embedder, cache_dir=tmp_path)
    assert embedder.texts_embedded == 3

    def anonymous(batch: list[str]) -> np.ndarray:
        return CountingEmbedder()(batch)

    embed_texts(texts, anonymous, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 2  # an embedder without an id is never cached


def test_make_manager_checks_its_arguments():
    with pytest.raises(ConfigurationError, match="memory' or 'redis"):
        make_manager("sqlite")
    with pytest.raises(ConfigurationError, match="redis URL"):
        make_manager("redis")
    cache = make_manager("memory")(0.85, "negation", None)
    assert cache.semantic_threshold == 0.85 and len(cache.engine.guards) == 1
    assert cache.backend.max_size is None  # a replay must never evict


GUARDED_PAIRS = [
    *TEXT_PAIRS,
    ("what is the price of 2 apples", "what is the price of 3 apples", 0),
    ("the price of 3 apples in a shop today", "price of 3 apples", 1),
    ("why is the sky not blue at night", "why is the sky blue at night", 0),
    ("which is better java or python", "which is better ruby or python", 0),
]


@pytest.mark.parametrize("guards", [None, "numbers", "negation", "entities", "all"])
def test_the_candidate_log_predicts_a_literal_replay_for_any_guards_and_threshold(guards):
    pairs = pairs_from_rows(GUARDED_PAIRS)
    vectors = embed_pairs(pairs, CountingEmbedder(), use_cache=False)
    log = record_candidates(pairs, vectors.first, vectors.second, threshold=0.3)
    assert sum(len(c) for c in log.candidates) > len(pairs)  # vetoing made the backend offer more than one
    derived = log.run(pairs.second, guards)
    for t in (0.3, 0.5, 0.7, 0.85):
        literal = replay(pairs, vectors.first, vectors.second, threshold=t, guards=guards)
        assert check_derivation(derived, literal)["equal"]


def test_the_numbers_guard_changes_what_the_log_serves():
    pairs = pairs_from_rows(GUARDED_PAIRS)
    vectors = embed_pairs(pairs, CountingEmbedder(), use_cache=False)
    log = record_candidates(pairs, vectors.first, vectors.second, threshold=0.3)
    q = pairs.second.index("what is the price of 3 apples")
    raw = log.run(pairs.second)
    guarded = log.run(pairs.second, "numbers")
    assert log.entry_prompts[raw.found[q]] == "what is the price of 2 apples"
    assert log.entry_prompts[guarded.found[q]] == "the price of 3 apples in a shop today"
    strict = log.run(pairs.second, verifier=lambda q, c, s: s >= 0.99)
    assert strict.found[pairs.second.index("how to cook rice")] >= 0  # exact hits bypass the verifier
