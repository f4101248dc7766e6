"""What waiting for the replica costs an invalidation, measured (docs/operations.md).

One primary with one replica (local redis-servers, tests/redis_server.py).
Two backends on the same cache, interleaved in small batches: ``wait_replicas=0``
(no WAIT, the behaviour before) and the default (every online replica: a
marker write and WAIT in one more round trip).  Each round stores ``ENTRIES``
tagged entries and times the invalidation of one tag.  Prints medians and the
ratio, and the same for a single node without replicas (where nothing is
added: the INFO read rides in the first page's pipeline).

    python -m bench.replica_wait
"""

from __future__ import annotations

import statistics
import time

import redis

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend
from tests.redis_server import LocalRedis

ENTRIES, ROUNDS, BATCH = 20, 60, 5


def _time_invalidation(manager: LLMCachingManager, tag: str) -> float:
    for i in range(ENTRIES):
        manager.set(f"{tag} {i}", "a", model="m", tags=[tag])
    started = time.perf_counter()
    assert manager.invalidate(tags=[tag]) == ENTRIES
    return (time.perf_counter() - started) * 1e6


def head_to_head(url: str, label: str) -> None:
    managers = {
        "no wait (wait_replicas=0)": LLMCachingManager(RedisCacheBackend(url=url, name="wait", wait_replicas=0)),
        "wait for replicas (default)": LLMCachingManager(RedisCacheBackend(url=url, name="wait")),
    }
    times: dict[str, list[float]] = {name: [] for name in managers}
    for manager in managers.values():  # warm up: index, scripts
        _time_invalidation(manager, "warm")
    for r in range(ROUNDS // BATCH):
        for name, manager in managers.items():
            times[name] += [_time_invalidation(manager, f"t{r}") for _ in range(BATCH)]
    base = statistics.median(times["no wait (wait_replicas=0)"])
    print(f"\n{label}: invalidate(tags) of {ENTRIES} entries, median of {ROUNDS}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"  {name:30s} {median:8.0f} us   x{median / base:.2f}")
    for manager in managers.values():
        manager.close()


def main() -> None:
    with LocalRedis() as primary, LocalRedis() as replica:
        redis.Redis(port=replica.port).replicaof("127.0.0.1", primary.port)
        while redis.Redis(port=primary.port).info("replication").get("slave0", {}).get("state") != "online":
            time.sleep(0.05)
        head_to_head(primary.url, "primary with one replica")
    with LocalRedis() as single:
        head_to_head(single.url, "single node, no replica")


if __name__ == "__main__":
    main()
