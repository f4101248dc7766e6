"""The pure helpers behind the speed benchmarks (bench/speed/stats.py, workload.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.speed.stats import fmt_ratio, fmt_us, markdown_table, percentile, ratio, summarize
from bench.speed.workload import Workload, code


def test_percentile_matches_numpy_linear() -> None:
    values = sorted(np.random.default_rng(1).exponential(size=101).tolist())
    for q in (0, 1, 50, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_edges() -> None:
    assert math.isnan(percentile([], 50))
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarize_converts_seconds_to_microseconds() -> None:
    s = summarize([0.001, 0.002, 0.003])
    assert (s.samples, s.p50_us, s.min_us, s.max_us) == (3, pytest.approx(2000.0), pytest.approx(1000.0), 3000.0)
    assert summarize([]).samples == 0


def test_ratio_and_formatting() -> None:
    assert ratio(50.0, 200.0) == 0.25
    assert ratio(1.0, 0.0) is None
    assert ratio(None, 1.0) is None
    assert ratio(math.nan, 1.0) is None
    assert fmt_ratio(0.254) == "0.25x"
    assert fmt_ratio(123.4) == "123x"
    assert fmt_ratio(0.0015) == "0.0015x"
    assert fmt_ratio(0.0234) == "0.023x"
    assert fmt_ratio(None) == "-"
    assert fmt_us(1234.5) == "1,234"
    assert fmt_us(3.21) == "3.2"
    assert fmt_us(math.nan) == "-"


def test_markdown_table_shape() -> None:
    table = markdown_table(["system", "p50"], [["a", 1], ["b", 2]])
    assert table.splitlines() == ["| system | p50 |", "| :--- | ---: |", "| a | 1 |", "| b | 2 |"]
    with pytest.raises(ValueError):
        markdown_table(["a", "b"], [["only one"]])


def test_code_is_unique_and_has_no_digits_or_vowels() -> None:
    codes = [code(i) for i in range(5000)]
    assert len(set(codes)) == len(codes)
    assert not any(set(c) & set("0123456789aeiouy") for c in codes)


def test_workload_semantic_queries_sit_at_the_promised_similarity() -> None:
    work = Workload(200, queries=50, sets=10, similarity=0.95)
    sem = work.semantic(200)
    anchors = np.array([work.entries.prompts.index(p.removeprefix("paraphrase of ")) for p in sem.prompts])
    cos = (sem.vectors * work.entries.vectors[anchors]).sum(axis=1)
    assert np.allclose(cos, 0.95, atol=1e-5)
    assert np.allclose(np.linalg.norm(sem.vectors, axis=1), 1.0, atol=1e-5)
    # a miss is nowhere near any stored entry
    assert float((work.miss.vectors @ work.entries.vectors.T).max()) < 0.5
