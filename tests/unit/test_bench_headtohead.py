"""The pure parts of the head-to-head benchmark (bench/speed/runner.alternate, headtohead, headtohead_report)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench.speed.headtohead import nearest_responses, ratios, turn_ratio
from bench.speed.headtohead_report import bytes_per_entry, goal_table
from bench.speed.runner import Budget, alternate


def _recorder(name: str, log: list[tuple[str, int]], fail_at: int | None = None) -> Any:
    def op(i: int) -> str:
        if i == fail_at:
            raise RuntimeError("boom")
        log.append((name, i))
        return f"{name}{i}"

    return op


def test_alternate_gives_both_the_same_items_in_turns_and_rotates_the_first_mover() -> None:
    log: list[tuple[str, int]] = []
    a, b = alternate([_recorder("a", log), _recorder("b", log)], items=100, budget=Budget(7, 60.0, warmup=2), batch=3)
    assert log[:4] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]  # warm-up, untimed
    timed = log[4:]
    # rounds of 3 (the last one short), a first, then b first, then a first again
    assert timed == [
        ("a", 2), ("a", 3), ("a", 4), ("b", 2), ("b", 3), ("b", 4),
        ("b", 5), ("b", 6), ("b", 7), ("a", 5), ("a", 6), ("a", 7),
        ("a", 8), ("b", 8),
    ]  # fmt: skip
    assert a.items == b.items == [2, 3, 4, 5, 6, 7, 8]
    assert a.results == [f"a{i}" for i in a.items]
    assert len(a.seconds) == len(b.seconds) == 7
    assert a.error is None


def test_alternate_writes_use_fresh_items_from_start_and_a_failing_op_does_not_stop_the_other() -> None:
    log: list[tuple[str, int]] = []
    ok, bad = alternate(
        [_recorder("ok", log), _recorder("bad", log, fail_at=52)], items=0, budget=Budget(4, 60.0, warmup=1),
        batch=2, start=50,
    )  # fmt: skip
    assert ok.items == [51, 52, 53, 54]
    assert bad.items == [51] and bad.error == "RuntimeError: boom"


def test_turn_ratio_is_the_median_of_per_round_median_ratios() -> None:
    ours = [1, 1, 1, 4, 4, 4, 9, 9]  # rounds of 3: medians 1, 4, 9
    peer = [2, 2, 2, 2, 2, 2, 3, 3]  # medians 2, 2, 3
    assert turn_ratio(ours, peer, 3) == pytest.approx(2.0)  # median of 0.5, 2, 3
    assert turn_ratio([], peer, 3) is None


def test_nearest_responses_is_brute_force_cosine() -> None:
    stored = np.eye(3, dtype=np.float32)
    queries = np.array([[0.1, 0.9, 0.0], [0.0, 0.2, 0.8], [0.7, 0.1, 0.1]], dtype=np.float32)
    assert nearest_responses(queries, stored, ["x", "y", "z"]) == ["y", "z", "x"]


def _results(flat_semantic: float, hnsw_recall: float) -> dict[str, Any]:
    def row(a: str, n: int, op: str, system: str, p50: float, **extra: Any) -> dict[str, Any]:
        return {"algorithm": a, "entries": n, "op": op, "system": system, "p50_us": p50, "p99_us": p50,
                "samples": 10, "raw_us": [p50] * 10, **extra}  # fmt: skip

    latency = [
        row("FLAT", 10_000, "semantic", "ours", flat_semantic),
        row("FLAT", 10_000, "semantic", "RedisVL", 1.0),
        row("HNSW", 10_000, "semantic", "ours", 0.5, recall_at_1=hnsw_recall),
        row("HNSW", 10_000, "semantic", "RedisVL", 1.0, recall_at_1=0.5),
    ]
    memory = [
        {"algorithm": "FLAT", "entries": 1_000, "system": "ours", "bytes_per_entry": 7000.0},
        {"algorithm": "FLAT", "entries": 10_000, "system": "ours", "bytes_per_entry": 5000.0},
        {"algorithm": "FLAT", "entries": 10_000, "system": "RedisVL", "bytes_per_entry": 5000.0},
    ]
    return {"latency": latency, "memory": memory, "ratios": ratios(latency, 5)}


def _verdicts(table: str) -> dict[str, str]:
    rows = [line.strip("| ").split(" | ") for line in table.splitlines()[2:]]
    return {r[0]: r[-1] for r in rows}


def test_goal_table_checks_ratios_and_gates_hnsw_on_our_recall() -> None:
    v = _verdicts(goal_table(_results(flat_semantic=0.6, hnsw_recall=0.95)))
    assert v == {
        "FLAT 10,000 semantic hit": "met",  # 0.6 <= 0.6
        "HNSW 10,000 semantic hit": "met",
        "FLAT 10,000 bytes / entry": "met",  # 1.0x
    }
    v = _verdicts(goal_table(_results(flat_semantic=0.61, hnsw_recall=0.94)))
    assert v["FLAT 10,000 semantic hit"] == "**missed**"
    assert v["HNSW 10,000 semantic hit"] == "**missed**"  # fast enough, but below recall@1 0.95


def test_bytes_per_entry_takes_the_last_load_up_to_the_size() -> None:
    r = _results(1.0, 1.0)
    assert bytes_per_entry(r, "FLAT", 5_000, "ours") == 7000.0
    assert bytes_per_entry(r, "FLAT", 100_000, "ours") == 5000.0
    assert bytes_per_entry(r, "HNSW", 10_000, "ours") is None
