"""Does a burst of feedback from many processes slow lookups?  (issue #26, item 5)

One Redis cache with an error budget, 2,000 entries (random 384-d vectors,
passed as ``embedding=``, so no model runs).  This process times ``lookup`` in
alternating rounds: a quiet round, then a round while ``--writers`` other
processes (8 by default) each loop ``lookup`` + ``feedback`` on the same cache
name as fast as they can (labels are two pipelined HINCRBYs; the budget re-reads
the shared counts every ``refresh_seconds``).  Rounds alternate so machine noise
hits both sides alike; it prints the p50 of each side and their ratio.

    PYTHONPATH=$PWD python bench/feedback_load.py                 # a throwaway Redis
    PYTHONPATH=$PWD python bench/feedback_load.py --redis-url redis://localhost:6379
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.speed.server import redis_server

DIM = 384
RESULTS = Path(__file__).resolve().parent / "results"


def _cache(url: str, name: str) -> Any:
    from redis_semcache import create_redis_cache_manager

    return create_redis_cache_manager(url=url, name=name, enable_semantic=True, embedder=None, error_budget=0.1)


def _vectors(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _near(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(v.shape).astype(np.float32)
    w = v + 0.25 * noise / np.linalg.norm(noise)
    return w / np.linalg.norm(w)


def _writer(url: str, name: str, entries: int, ready: Any, go: Any, stop: Any, done: Any) -> None:
    """Loop lookup + feedback on the shared cache while ``go`` is set, until ``stop``."""
    cache = _cache(url, name)
    rng = np.random.default_rng()
    vectors = _vectors(entries, 1)
    labels = 0
    ready.wait()
    while not stop.is_set():
        if not go.wait(0.1):
            continue
        i = int(rng.integers(entries))
        found = cache.lookup(f"q{i}?", embedding=_near(vectors[i], rng))
        labels += cache.feedback(found, bool(rng.random() < 0.9))
    done.put(labels)
    cache.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--lookups", type=int, default=300, help="timed lookups per round")
    args = parser.parse_args()
    with redis_server(args.redis_url) as info:
        name = f"feedback-bench-{int(time.time())}"
        cache = _cache(info.url, name)
        vectors = _vectors(args.entries, 1)
        for i in range(args.entries):
            cache.set(f"entry {i}", f"answer {i}", embedding=vectors[i])
        rng = np.random.default_rng(2)
        ctx = mp.get_context("spawn")
        ready, go, stop, done = ctx.Barrier(args.writers + 1), ctx.Event(), ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=_writer, args=(info.url, name, args.entries, ready, go, stop, done))
            for _ in range(args.writers)
        ]
        for p in procs:
            p.start()
        ready.wait()  # every writer is connected
        quiet: list[float] = []
        busy: list[float] = []
        for _ in range(args.rounds):
            for loaded in (False, True):
                if loaded:
                    go.set()
                    time.sleep(0.5)  # the writers are looping
                times = busy if loaded else quiet
                for _ in range(args.lookups):
                    i = int(rng.integers(args.entries))
                    query = _near(vectors[i], rng)
                    t0 = time.perf_counter()
                    cache.lookup(f"query {i}?", embedding=query)
                    times.append(time.perf_counter() - t0)
                go.clear()
                time.sleep(0.2)  # the writers' last calls finish
        stop.set()
        labels = sum(done.get() for _ in procs)
        for p in procs:
            p.join()
        cache.backend.drop()
        cache.close()
    p50q, p50b = float(np.median(quiet)) * 1e3, float(np.median(busy)) * 1e3
    p95q, p95b = (float(np.percentile(x, 95)) * 1e3 for x in (quiet, busy))
    result = {
        "writers": args.writers, "entries": args.entries, "rounds": args.rounds, "lookups_per_round": args.lookups,
        "labels_written": labels, "quiet_p50_ms": p50q, "busy_p50_ms": p50b, "p50_ratio": p50b / p50q,
        "quiet_p95_ms": p95q, "busy_p95_ms": p95b, "redis": info.redis_version,
    }  # fmt: skip
    print(json.dumps(result, indent=1))
    (RESULTS / "feedback_load.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
