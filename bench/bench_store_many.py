"""Bulk writes: ``set_many`` (one pipelined ``store_many`` per batch) against a loop of ``set``.

Both write the same 1,000 entries (no embeddings: this measures the write path)
to the same Redis, alternating in small rounds, and each round trip is counted
on the socket.  Prints round trips and milliseconds per 1,000 entries for each,
and their ratio.  Asserts nothing.

    python -m bench.bench_store_many [--entries 1000] [--rounds 5] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import redis

from bench.speed.server import redis_server
from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend


class _Counted:
    """A redis-py client whose connections count their socket writes (one write, one round trip)."""

    def __init__(self, url: str) -> None:
        self.writes = 0
        outer = self

        class Connection(redis.Connection):
            def send_packed_command(self, command, check_health=True):  # type: ignore[no-untyped-def]
                outer.writes += 1
                return super().send_packed_command(command, check_health)

        kwargs = redis.connection.parse_url(url)
        self.client = redis.Redis(connection_pool=redis.ConnectionPool(connection_class=Connection, **kwargs))

    def take(self) -> int:
        n, self.writes = self.writes, 0
        return n


def _write(cache: LLMCachingManager, how: str, pairs: list[tuple[str, int]]) -> None:
    if how == "set_many":
        cache.set_many(pairs)
    else:
        for prompt, response in pairs:
            cache.set(prompt, response)


def run(url: str, entries: int, rounds: int) -> dict[str, dict[str, float]]:
    counted = _Counted(url)
    name = f"bench-store-many-{uuid.uuid4().hex[:8]}"
    backend = RedisCacheBackend(client=counted.client, name=name, max_size=None)
    cache = LLMCachingManager(backend, embedder=None)
    cache.set("warm up", 0)  # index and scripts: setup, not measured
    times: dict[str, list[float]] = {"set_many": [], "set loop": []}
    trips: dict[str, list[int]] = {"set_many": [], "set loop": []}
    try:
        for r in range(rounds):
            order = ("set_many", "set loop") if r % 2 == 0 else ("set loop", "set_many")
            for how in order:
                pairs = [(f"{how} {r} prompt {i}", i) for i in range(entries)]
                counted.take()
                started = time.perf_counter()
                _write(cache, how, pairs)
                times[how].append((time.perf_counter() - started) * 1000)
                trips[how].append(counted.take())
    finally:
        backend.drop()
        backend.close()
    return {how: {"round_trips": statistics.median(trips[how]), "ms": statistics.median(times[how])} for how in times}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians are reported")
    p.add_argument("--redis-url", help="a Redis Stack to use (default: a throwaway one)")
    args = p.parse_args(argv)
    with redis_server(args.redis_url) as info:
        results = run(info.url, args.entries, args.rounds)
    print(f"{args.entries} entries, median of {args.rounds} alternating rounds")
    for how, row in results.items():
        print(f"  {how:9s} {row['round_trips']:6.0f} round trips  {row['ms']:8.1f} ms")
    loop, bulk = results["set loop"], results["set_many"]
    print(f"  set_many: {loop['round_trips'] / bulk['round_trips']:.0f}x fewer round trips, "
          f"{loop['ms'] / bulk['ms']:.1f}x faster")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
