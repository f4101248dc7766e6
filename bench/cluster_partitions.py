"""The partition count's trade-off on a local 3+3 Redis Cluster.

For P in 1, 4, 16, 64: first-use time (index creation), exact and semantic
``get`` p50, ``size()`` (a fan-out over every partition) and one tag
invalidation (a fan-out sweep), with 1,000 entries over 64 scopes.  Prints
numbers; asserts nothing.

    python -m bench.cluster_partitions
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend
from tests.redis_cluster import LocalCluster


def p50_ms(call: Callable[[int], object], n: int = 300) -> float:
    times = []
    for i in range(n):
        started = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(cluster: LocalCluster, partitions: int, vectors: np.ndarray) -> str:
    backend = RedisCacheBackend(
        cluster_mode=True, cluster_nodes=cluster.nodes, name=f"parts{partitions}", partitions=partitions
    )
    m = LLMCachingManager(backend, strict=True, enable_semantic=True)
    started = time.perf_counter()
    m.set("warm", "x", model="m0", embedding=vectors[0])
    first = (time.perf_counter() - started) * 1000
    for i in range(1000):
        m.set(f"p {i}", "a", model=f"m{i % 64}", embedding=vectors[i], tags=[f"t{i % 10}"])
    exact = p50_ms(lambda i: m.get(f"p {i}", model=f"m{i % 64}", embedding=vectors[i]))
    semantic = p50_ms(lambda i: m.get(f"new {i}", model=f"m{i % 64}", embedding=vectors[i] + 0.01))
    size = p50_ms(lambda i: backend.size(), 30)
    started = time.perf_counter()
    count = m.invalidate(tags=["t3"])
    sweep = (time.perf_counter() - started) * 1000
    backend.drop()
    backend.close()
    return (f"| {partitions} | {first:.0f} ms | {exact:.3f} ms | {semantic:.3f} ms | {size:.2f} ms | "
            f"{sweep:.1f} ms ({count} entries) |")  # fmt: skip


def main() -> None:
    cluster = LocalCluster().start()
    try:
        vectors = np.random.default_rng(0).normal(size=(1000, 64)).astype(np.float32)
        print("| partitions | first use | exact get p50 | semantic get p50 | size() | invalidate 1 tag |")
        print("|---|---|---|---|---|---|")
        for partitions in (1, 4, 16, 64):
            print(measure(cluster, partitions, vectors), flush=True)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
