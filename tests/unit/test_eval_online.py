"""The online replay: duplicate clusters, the hindsight reference, and one real run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from redis_semcache.cli import main
from redis_semcache.eval import pairs_from_rows
from redis_semcache.eval.lookalike import lookalike_stream
from redis_semcache.eval.online import OnlineRun, duplicate_clusters, hindsight, static_curve
from redis_semcache.eval.pairs import PairSet


def test_duplicate_clusters_join_pairs_transitively():
    pairs = pairs_from_rows([("a?", "b?", 1), ("b?", "c?", 1), ("c?", "d?", 0), ("e?", "a?", 1), ("f?", "g?", 0)])
    cluster = duplicate_clusters(pairs)
    assert cluster["a?"] == cluster["b?"] == cluster["c?"] == cluster["e?"]
    assert len({cluster["a?"], cluster["d?"], cluster["f?"], cluster["g?"]}) == 4


def _run(similarity, right, served=None, exact=None):
    similarity = np.array(similarity, dtype=float)
    right = np.array(right, dtype=bool)
    served = np.zeros(len(right), dtype=bool) if served is None else np.array(served, dtype=bool)
    exact = np.zeros(len(right), dtype=bool) if exact is None else np.array(exact, dtype=bool)
    return OnlineRun(0.1, similarity, right, right.copy(), served, np.full(len(right), np.nan), exact)


def test_labels_before_the_first_semantic_hit_skip_exact_hits_and_lookups_without_candidates():
    served = [True, False, False, True, True, True]
    exact = [True, False, False, True, False, False]
    run = _run([1.0, np.nan, 0.9, 1.0, 0.95, 0.97], [True, False, False, True, True, True], served, exact)
    assert run.first_semantic_hit == 4
    assert run.labels_before_first_semantic_hit == 3  # 1.0, 0.9, 1.0: the NaN had no candidate
    assert run.prefix(4).first_semantic_hit is None and run.prefix(4).labels_before_first_semantic_hit is None
    assert len(run.prefix(2).similarity) == 2 and run.prefix(2).served_error == 0.0


def test_the_lookalike_stream_is_close_non_duplicates_and_a_minority_of_duplicates():
    rng = np.random.default_rng(3)
    first = rng.standard_normal((40, 8))
    first /= np.linalg.norm(first, axis=1, keepdims=True)
    second = first.copy()
    second[20:] = -first[20:]  # pairs 20..39 are far apart
    duplicate = np.arange(40) % 2 == 0
    pairs = PairSet(tuple(f"a{i}" for i in range(40)), tuple(f"b{i}" for i in range(40)), duplicate)
    stream = lookalike_stream(pairs, first, second, duplicate_share=0.25)
    chosen = set(stream.source_index.tolist())
    assert {i for i in range(20) if i % 2 == 1} <= chosen  # every close non-duplicate
    assert len(stream.pairs) == 10 + 3 and int(stream.pairs.duplicate.sum()) == 3  # 10 / 0.75 - 10
    assert all(i < 20 for i in chosen)
    assert [pairs.second[i] for i in stream.source_index] == list(stream.pairs.second)


def test_hindsight_picks_the_static_threshold_with_most_right_hits_at_the_error():
    run = _run([0.99, 0.95, 0.9, 0.85, 0.8, np.nan], [True, True, True, False, True, False])
    curve = static_curve(run, [0.8, 0.85, 0.9, 0.95])
    by_t = {row["threshold"]: row for row in curve}
    assert (by_t[0.8]["right"], by_t[0.8]["wrong"]) == (4, 1)
    assert (by_t[0.9]["right"], by_t[0.9]["wrong"]) == (3, 0)
    assert hindsight(curve, 0.0)["threshold"] == 0.9
    assert hindsight(curve, 0.2)["threshold"] == 0.8
    assert hindsight([{"threshold": 0.9, "error": None, "right": 0}], 0.5) is None


def test_served_error_over_the_stream_is_cumulative():
    run = _run([0.99, 0.9, 0.9, 0.7], [True, False, True, True], served=[True, True, False, True])
    assert run.served_error == pytest.approx(1 / 3)
    assert np.allclose(run.error_over_stream(), [0.0, 0.5, 0.5, 1 / 3])


@pytest.mark.model
def test_eval_online_end_to_end_with_the_real_model(tmp_path, capsys):
    rows = ["question1,question2,is_duplicate"]
    for i in range(40):  # the same question asked again, reworded: the cache can learn these are right
        rows.append(f"How do I learn topic number {i} quickly?,What is the fastest way to learn topic number {i}?,1")
    pairs = tmp_path / "stream.csv"
    pairs.write_text("\n".join(rows) + "\n")
    code = main(["eval", "--online", "--budgets", "0.2", "--pairs", str(pairs), "--out", str(tmp_path), "--quiet",
                 "--cache-dir", str(tmp_path / "cache"), "--first", "20"])  # fmt: skip
    assert code == 0
    report = json.loads((tmp_path / "online_stream.json").read_text())
    (run,) = report["runs"]
    # no exact repeats here, and exact only at first: 0 wrong in 11 labels first bound the error at 0.2
    # (90%: 0.8 ** 11 = 0.086 <= 0.1, 0.8 ** 10 = 0.107)
    assert run["first_hit_at"] >= 11
    assert run["served"] > 0 and run["served_error"] is not None and run["served_error"] <= 0.2
    assert "| 0.20 |" in capsys.readouterr().out
    (early,) = report["first"]["runs"]
    assert report["first"]["queries"] == 20 and early["served"] <= run["served"]
    assert run["labels_before_first_semantic_hit"] == run["first_semantic_hit_at"]  # every lookup had a candidate
    assert (tmp_path / "online_stream.png").stat().st_size > 10_000
