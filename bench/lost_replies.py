"""What one lost reply or dropped connection does to an invalidation, measured.

Runs the scenarios of docs/operations.md ("Lost replies and dropped
connections") through tests/fault_proxy.py against a local redis-server and
prints what each call returned and how many entries were left.  Run it on two
commits to compare them:

    python -m bench.lost_replies
"""

from __future__ import annotations

import time

import redis

from redis_semcache import BackendError, LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.backends.redis.codec import parse_info
from redis_semcache.backends.redis.scripts import sha
from tests.fault_proxy import FaultProxy
from tests.redis_server import LocalRedis

ENTRIES = 1200
DELETE = sha("delete")
# The second page read is given both ways: FT.CURSOR (a cursor-based sweep) and FT.AGGREGATE (keyset pages).
SCENARIOS = [
    ("tags, 2nd page read", [("FT.CURSOR", 1, None), ("FT.AGGREGATE", 2, None)], "tags"),
    ("clear, 2nd page read", [("FT.CURSOR", 1, None), ("FT.AGGREGATE", 2, None)], "clear"),
    ("tags, 1st page delete", [("EVALSHA", 1, DELETE)], "tags"),
    ("tags, 2nd page delete", [("EVALSHA", 2, DELETE)], "tags"),
    ("pattern, 1st page delete", [("EVALSHA", 1, DELETE)], "pattern"),
]


def left(server: LocalRedis) -> int:
    client = redis.Redis(port=server.port)
    return sum(1 for _ in client.scan_iter(match="semcache:{lost:0}:e:*", count=1000))


def invalidate(cache: LLMCachingManager, kind: str) -> object:
    if kind == "clear":
        return cache.clear()
    if kind == "pattern":
        return cache.invalidate(pattern="p *")
    return cache.invalidate(tags=["T"])


def main() -> None:
    with LocalRedis() as server, FaultProxy(server.port) as proxy:
        backend = RedisCacheBackend(url=proxy.url, name="lost", max_size=None)
        cache = LLMCachingManager(backend, embedder=None, circuit_breaker=None)
        for label, rules, kind in SCENARIOS:
            for fault in ("lose_reply", "cut_after"):
                cache.clear()
                cache.set_many([(f"p {i}", i) for i in range(ENTRIES)], tags=["T"])
                for command, nth, arg in rules:
                    getattr(proxy, fault)(command, nth=nth, arg=arg)
                try:
                    result: object = invalidate(cache, kind)
                except BackendError as exc:
                    result = type(exc).__name__
                proxy.clear_rules()
                print(f"{label:26s} {fault:10s} of {ENTRIES}: returned {result!r:6} left {left(server)}")

        strict = LLMCachingManager(backend, embedder=None, strict=True, circuit_breaker=None)
        cache.clear()
        cache.set_many([(f"p {i}", i) for i in range(ENTRIES)], tags=["T"])
        proxy.lose_reply("FT.AGGREGATE", times=None)
        failed = 0
        for _ in range(50):
            try:
                strict.invalidate(tags=["T"])
            except BackendError:
                failed += 1
        proxy.clear_rules()
        info = parse_info(redis.Redis(port=server.port).execute_command("FT.INFO", backend.index_name))
        print(f"50 sweeps, every first page lost: {failed} failed; cursors held: {parse_info(info['cursor_stats'])}")
        try:
            print(f"the next invalidation: returned {strict.invalidate(tags=['T'])}")
        except BackendError as exc:
            print(f"the next invalidation: {exc}")

        proxy.lose_reply("SET", arg="NX")
        computed: list[int] = []
        started = time.perf_counter()
        cache.get_or_compute("q", lambda: computed.append(1) or "v")
        print(f"get_or_compute, SET NX reply lost: {time.perf_counter() - started:.2f} s, computed {len(computed)}x")


if __name__ == "__main__":
    main()
