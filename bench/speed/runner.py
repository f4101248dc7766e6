"""Timing loops: single-thread latency samples and multi-thread throughput.

Each loop is bounded by a sample count and a time budget, whichever ends first.
Errors are counted and reported, never raised past the loop, so one broken
mode does not end the run.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .stats import summarize

__all__ = ["Budget", "latency", "throughput"]

# An operation on item i; returns True/False for a hit/miss, or None (writes).
Op = Callable[[int], "bool | None"]


@dataclass(frozen=True)
class Budget:
    samples: int
    seconds: float
    warmup: int = 20


def latency(op: Op, items: int, budget: Budget, *, start: int | None = None) -> dict[str, Any]:
    """Time ``op`` one call at a time; return the summary, hit rate and items used.

    Reads cycle over ``items``; with ``start`` set (writes) call k gets the fresh
    item ``start + k``, and the caller guarantees ``warmup + samples`` of them exist.
    """

    def item(k: int) -> int:
        return k % items if start is None else start + k

    timings: list[float] = []
    hits = 0
    counted = 0
    error = None
    gc.collect()
    used = 0
    try:
        for k in range(budget.warmup):
            op(item(k))
            used += 1
        deadline = time.perf_counter() + budget.seconds
        clock = time.perf_counter
        for k in range(budget.warmup, budget.warmup + budget.samples):
            i = item(k)
            t0 = clock()
            hit = op(i)
            t1 = clock()
            used += 1
            timings.append(t1 - t0)
            if hit is not None:
                counted += 1
                hits += bool(hit)
            if t1 > deadline:
                break
    except Exception as exc:  # a failing mode is reported, not fatal
        error = f"{type(exc).__name__}: {exc}"
    out: dict[str, Any] = summarize(timings).to_dict()
    out["hit_rate"] = round(hits / counted, 4) if counted else None
    out["items_used"] = used
    if error:
        out["error"] = error
    return out


def throughput(op: Op, items: int, threads: int, budget: Budget, *, start: int | None = None) -> dict[str, Any]:
    """Ops/s of ``threads`` threads calling ``op`` in a loop for up to ``budget.seconds``.

    Reads cycle over ``items``; with ``start`` set (writes) every call gets a
    fresh item ``start + j`` and at most ``budget.samples`` calls are made in all.
    """
    lock = threading.Lock()
    counter = iter(range(budget.samples)) if start is not None else None
    done = [0] * threads
    errors: list[str] = []
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()

    def next_item(t: int, k: int) -> int | None:
        if counter is None:
            return (t + k * threads) % items
        with lock:
            j = next(counter, None)
        return None if j is None else start + j  # type: ignore[operator]

    def worker(t: int) -> None:
        barrier.wait()
        k = 0
        while not stop.is_set():
            i = next_item(t, k)
            if i is None:
                break
            try:
                op(i)
            except Exception as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                if len(errors) > 100:
                    break
            else:
                done[t] += 1
            k += 1

    pool = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    for th in pool:
        th.start()
    gc.collect()
    barrier.wait()
    t0 = time.perf_counter()
    deadline = t0 + budget.seconds
    while any(th.is_alive() for th in pool) and time.perf_counter() < deadline:
        time.sleep(0.005)
    stop.set()
    for th in pool:
        th.join()
    elapsed = time.perf_counter() - t0
    total = sum(done)
    out: dict[str, Any] = {
        "threads": threads,
        "ops": total,
        "seconds": round(elapsed, 3),
        "ops_per_s": round(total / elapsed, 1) if elapsed > 0 else None,
        "errors": len(errors),
    }
    if errors:
        out["first_error"] = errors[0]
    return out
