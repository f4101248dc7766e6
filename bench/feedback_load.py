"""Does a burst of feedback from many processes slow lookups?  (issue #26, item 5)

One Redis cache with an error budget, 2,000 entries (random 384-d vectors,
passed as ``embedding=``, so no model runs).  This process times ``lookup`` in
rounds of three phases: quiet; while ``--writers`` other processes (8 by
default) PING the server in a loop (the control: 8 more busy clients slow any
client on a small machine); and while 8 processes send ``feedback`` on the same
cache name as fast as they can (a label is two pipelined HINCRBYs; the budget
re-reads the shared counts every ``refresh_seconds``).  Phases alternate so
machine noise hits all alike; it prints each phase's p50 and the feedback/ping
ratio: what the labels cost lookups beyond 8 more clients each making round trips.

    PYTHONPATH=$PWD python bench/feedback_load.py                 # a throwaway Redis
    PYTHONPATH=$PWD python bench/feedback_load.py --redis-url redis://localhost:6379
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
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
    from redis_semcache import LLMCachingManager
    from redis_semcache.backends.redis import RedisCacheBackend

    backend = RedisCacheBackend(url=url, name=name, max_size=None)
    return LLMCachingManager(backend, enable_semantic=True, embedder=None, guards=None, error_budget=0.1)


def _vectors(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _near(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(v.shape).astype(np.float32)
    w = v + 0.25 * noise / np.linalg.norm(noise)
    return w / np.linalg.norm(w)


def _writer(url: str, name: str, mode: str, entries: int, ready: Any, go: Any, stop: Any, done: Any) -> None:
    """While ``go`` is set: send feedback as fast as possible (``mode="feedback"``: one label,
    two pipelined HINCRBYs, per call), or PING (``"ping"``: the control, one round trip each)."""
    import redis

    cache = _cache(url, name)
    rng = np.random.default_rng()
    found = cache.lookup("a question?", embedding=_near(_vectors(entries, 1)[0], rng))
    assert found.similarity is not None  # a candidate to label
    client = redis.Redis.from_url(url)
    labels = 0
    ready.wait()
    while not stop.is_set():
        if not go.wait(0.1):
            continue
        if mode == "feedback":
            labels += cache.feedback(found, bool(rng.random() < 0.9))
        else:
            client.ping()
    done.put(labels)
    client.close()
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
        times: dict[str, list[float]] = {"quiet": [], "ping": [], "feedback": []}
        labels = 0
        pools = {}
        for mode in ("ping", "feedback"):
            ready, go, stop, done = ctx.Barrier(args.writers + 1), ctx.Event(), ctx.Event(), ctx.Queue()
            procs = [
                ctx.Process(target=_writer, args=(info.url, name, mode, args.entries, ready, go, stop, done))
                for _ in range(args.writers)
            ]
            for p in procs:
                p.start()
            ready.wait()  # every writer is connected and waiting
            pools[mode] = (go, stop, done, procs)
        for _ in range(args.rounds):
            for phase in ("quiet", "ping", "feedback"):
                go = pools[phase][0] if phase in pools else None
                if go is not None:
                    go.set()
                    time.sleep(0.3)  # the writers are looping
                for _ in range(args.lookups):
                    i = int(rng.integers(args.entries))
                    query = _near(vectors[i], rng)
                    t0 = time.perf_counter()
                    cache.lookup(f"query {i}?", embedding=query)
                    times[phase].append(time.perf_counter() - t0)
                if go is not None:
                    go.clear()
                    time.sleep(0.2)  # the writers' last calls finish
        for _go, stop, done, procs in pools.values():
            stop.set()
            labels += sum(done.get() for _ in procs)
            for p in procs:
                p.join()
        cache.backend.drop()
        cache.close()
    p50 = {phase: float(np.median(t)) * 1e3 for phase, t in times.items()}
    p95 = {phase: float(np.percentile(t, 95)) * 1e3 for phase, t in times.items()}
    result = {
        "writers": args.writers, "entries": args.entries, "rounds": args.rounds, "lookups_per_round": args.lookups,
        "labels_written": labels, "p50_ms": p50, "p95_ms": p95,
        "p50_feedback_vs_ping": p50["feedback"] / p50["ping"], "p50_feedback_vs_quiet": p50["feedback"] / p50["quiet"],
        "redis": info.redis_version, "cpus": os.cpu_count(),
    }  # fmt: skip
    print(json.dumps(result, indent=1))
    (RESULTS / "feedback_load.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
