"""Timing loops: single-thread latency samples and multi-thread throughput.

``latency`` and ``throughput`` are bounded by a sample count and a time
budget, whichever ends first.  ``run_sync``, ``run_threads`` and ``run_tasks``
(one thread, a thread pool, asyncio tasks) run for a fixed window and return a
:class:`Cell`.  ``alternate`` times two or more systems on the same items in
turns of a few calls each, so that a change in the machine's load falls on all
of them alike.  Errors are counted and reported, never raised past the loop,
so one broken mode does not end the run.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .cpu import Window
from .stats import summarize

__all__ = [
    "AsyncOp", "Budget", "Cell", "Op", "Turns", "alternate", "latency", "run_sync", "run_tasks", "run_threads",
    "throughput",
]  # fmt: skip

# An operation on item i; returns True/False for a hit/miss, or None (writes).
Op = Callable[[int], "bool | None"]
AsyncOp = Callable[[int], Awaitable["bool | None"]]


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


@dataclass
class Turns:
    """One system's share of an ``alternate`` run: a duration and a result per timed call, in item order."""

    seconds: list[float] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    items: list[int] = field(default_factory=list)
    error: str | None = None


def alternate(
    ops: Sequence[Callable[[int], Any]], items: int, budget: Budget, batch: int, *, start: int | None = None
) -> list[Turns]:
    """Time each of ``ops`` on the same items, in turns of ``batch`` calls, until the budget is spent.

    A round gives every op the same ``batch`` items, one op after the other; the
    op that goes first rotates from round to round, so none is always first
    after a switch.  ``budget.warmup`` untimed calls of each op come first.
    ``budget.samples`` bounds the timed calls per op, ``budget.seconds`` the
    whole run (checked between rounds, so every op ends with the same count).
    Reads cycle over ``items``; with ``start`` set (writes) item k is
    ``start + k``, the same for every op, and the caller guarantees
    ``warmup + samples`` of them exist.  An op that raises stops being timed;
    its error is kept and the others go on.
    """

    def item(k: int) -> int:
        return k % items if start is None else start + k

    turns = [Turns() for _ in ops]
    clock = time.perf_counter
    for op, turn in zip(ops, turns, strict=True):
        try:
            for k in range(budget.warmup):
                op(item(k))
        except Exception as exc:  # a failing system is reported, not fatal
            turn.error = f"{type(exc).__name__}: {exc}"
    gc.collect()
    deadline = clock() + budget.seconds
    k0 = budget.warmup
    end = budget.warmup + budget.samples
    rnd = 0
    while k0 < end and clock() < deadline:
        ks = range(k0, min(k0 + batch, end))
        order = [(rnd + j) % len(ops) for j in range(len(ops))]
        for o in order:
            op, turn = ops[o], turns[o]
            if turn.error is not None:
                continue
            try:
                for k in ks:
                    i = item(k)
                    t0 = clock()
                    result = op(i)
                    t1 = clock()
                    turn.seconds.append(t1 - t0)
                    turn.results.append(result)
                    turn.items.append(i)
            except Exception as exc:
                turn.error = f"{type(exc).__name__}: {exc}"
        k0 = ks.stop
        rnd += 1
    return turns


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


@dataclass
class Cell:
    """One measurement: completed ops and per-op (start, end, hit) records."""

    ops: int
    seconds: float
    latencies: list[float]
    hits: int
    counted: int
    errors: int
    first_error: str | None = None
    cpu: dict[str, float] = field(default_factory=dict)  # what other jobs took meanwhile (CpuProbe.share)
    attempts: int = 1

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds


def _cell(records: list[tuple[float, float, bool | None]], t0: float, t1: float, errors: list[str]) -> Cell:
    # Throughput counts ops that ended inside the window; latency takes those wholly inside it.
    done = sum(1 for _s, e, _h in records if t0 <= e <= t1)
    inside = [(s, e, h) for s, e, h in records if s >= t0 and e <= t1]
    counted = [h for _s, _e, h in inside if h is not None]
    return Cell(
        ops=done,
        seconds=t1 - t0,
        latencies=[e - s for s, e, _h in inside],
        hits=sum(counted),
        counted=len(counted),
        errors=len(errors),
        first_error=errors[0] if errors else None,
    )


def run_sync(op: Op, items: int, warmup: float, seconds: float, on_window: Window = None) -> Cell:
    """One thread (this one) calling ``op`` back to back."""
    gc.collect()
    clock = time.perf_counter
    records: list[tuple[float, float, bool | None]] = []
    errors: list[str] = []
    t0 = clock() + warmup
    t1 = t0 + seconds
    if on_window:
        on_window(t0, t1)
    k = 0
    while clock() < t1 and len(errors) <= 100:
        s = clock()
        try:
            hit = op(k % items)
        except Exception as exc:  # a failing mode is reported, not fatal
            errors.append(f"{type(exc).__name__}: {exc}")
        else:
            records.append((s, clock(), hit))
        k += 1
    return _cell(records, t0, t1, errors)


def run_threads(op: Op, items: int, n: int, warmup: float, seconds: float, on_window: Window = None) -> Cell:
    """``n`` threads of a ThreadPoolExecutor, each calling ``op`` back to back."""
    gc.collect()
    clock = time.perf_counter
    per: list[list[tuple[float, float, bool | None]]] = [[] for _ in range(n)]
    errors: list[str] = []
    barrier = threading.Barrier(n + 1)
    stop = threading.Event()

    def worker(t: int) -> None:
        rec = per[t]
        barrier.wait()
        k = 0
        while not stop.is_set() and len(errors) <= 100:
            s = clock()
            try:
                hit = op((t + k * n) % items)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            else:
                rec.append((s, clock(), hit))
            k += 1

    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="bench") as pool:
        futures = [pool.submit(worker, t) for t in range(n)]
        barrier.wait()
        t0 = clock() + warmup
        t1 = t0 + seconds
        if on_window:
            on_window(t0, t1)
        time.sleep(max(0.0, t1 - clock()))
        stop.set()
        for f in futures:
            f.result()
    return _cell([r for rec in per for r in rec], t0, t1, errors)


async def run_tasks(aop: AsyncOp, items: int, n: int, warmup: float, seconds: float, on_window: Window = None) -> Cell:
    """``n`` tasks on the running event loop, each awaiting ``aop`` back to back."""
    gc.collect()
    clock = time.perf_counter
    per: list[list[tuple[float, float, bool | None]]] = [[] for _ in range(n)]
    errors: list[str] = []
    t0 = clock() + warmup
    t1 = t0 + seconds
    if on_window:
        on_window(t0, t1)

    async def worker(t: int) -> None:
        rec = per[t]
        k = 0
        while clock() < t1 and len(errors) <= 100:  # a deadline, not an event: works even if aop never yields
            s = clock()
            try:
                hit = await aop((t + k * n) % items)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            else:
                rec.append((s, clock(), hit))
            k += 1

    await asyncio.gather(*(worker(t) for t in range(n)))
    return _cell([r for rec in per for r in rec], t0, t1, errors)
