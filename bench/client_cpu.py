"""Client CPU per lookup, without the server: ours against RedisVL's SemanticCache.

    python -m bench.client_cpu                 # 3,000 calls per operation and system
    python -m bench.client_cpu --calls 10000

Each system first runs one lookup of each kind (exact hit, semantic hit, miss)
against a real Redis Stack, with a precomputed vector, while every reply its
redis-py connections read is recorded.  Then the connections are stubbed:
sends go nowhere and reads return the recorded replies in order, so the same
lookups run again with the server and the network taken out, and
``time.thread_time`` measures what is left: the library's own work plus
redis-py's command packing and reply parsing.  Systems and operations
alternate in rounds of 100 calls.  Writes bench/results/client_cpu.json;
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.speed import systems
from bench.speed.record import log
from bench.speed.server import redis_server
from bench.speed.workload import Queries, Workload

ROOT = Path(__file__).resolve().parent.parent
ENTRIES = 1000


class Replay:
    """Patches redis-py's Connection: records the replies it reads, then replays them."""

    def __init__(self) -> None:
        import redis.connection

        self.cls = redis.connection.Connection
        self.read, self.send = self.cls.read_response, self.cls.send_packed_command
        self.replies: list[Any] = []
        self.at = 0

    def record(self, call: Callable[[], Any]) -> list[Any]:
        self.replies = []
        outer = self

        def reading(conn: Any, *args: Any, **kwargs: Any) -> Any:
            reply = outer.read(conn, *args, **kwargs)
            outer.replies.append(reply)
            return reply

        self.cls.read_response = reading  # type: ignore[method-assign]
        try:
            call()
        finally:
            self.cls.read_response = self.read  # type: ignore[method-assign]
        return self.replies

    def stub(self, replies: list[Any]) -> None:
        self.replies, self.at = replies, 0
        outer = self

        def replaying(conn: Any, *args: Any, **kwargs: Any) -> Any:
            reply = outer.replies[outer.at % len(outer.replies)]
            outer.at += 1
            return reply

        self.cls.read_response = replaying  # type: ignore[method-assign]
        self.cls.send_packed_command = lambda conn, *a, **k: None  # type: ignore[method-assign]

    def restore(self) -> None:
        self.cls.read_response = self.read  # type: ignore[method-assign]
        self.cls.send_packed_command = self.send  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=3000, help="timed calls per operation and system")
    p.add_argument("--redis-url", help="a Redis Stack to use (it gets FLUSHALLed!); default: start one")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "client_cpu.json")
    args = p.parse_args(argv)
    work = Workload(ENTRIES, queries=10, sets=10)
    threshold = systems.Threshold(0.9)
    rows: list[dict[str, Any]] = []
    with redis_server(args.redis_url) as info:
        import redis

        redis.Redis.from_url(info.url).flushall()
        built = [
            systems.ours_redis(info.url, "FLAT", threshold=threshold),
            systems.RedisVLSystem(info.url, "FLAT", dim=work.dim, threshold=threshold),
        ]
        ops: dict[str, Queries] = {"exact": work.exact(ENTRIES), "semantic": work.semantic(ENTRIES), "miss": work.miss}
        replay = Replay()
        recorded: dict[tuple[str, str], list[Any]] = {}
        for sys_ in built:
            sys_.load(work.entries.prompts, work.entries.vectors, work.responses[:ENTRIES], progress=False)
            for op, q in ops.items():
                sys_.get(q, 0)  # warm: index resolved, scripts loaded, caches filled
                recorded[(sys_.name, op)] = replay.record(lambda s=sys_, q=q: s.get(q, 0))
        cpu = {key: 0.0 for key in recorded}
        for _ in range(max(1, args.calls // 100)):
            for sys_ in built:
                for op, q in ops.items():
                    replay.stub(recorded[(sys_.name, op)])
                    try:
                        t0 = time.thread_time()
                        for _ in range(100):
                            sys_.get(q, 0)
                        cpu[(sys_.name, op)] += time.thread_time() - t0
                    finally:
                        replay.restore()
        calls = max(1, args.calls // 100) * 100
        for op in ops:
            ours, peer = (cpu[(s.name, op)] / calls * 1e6 for s in built)
            trips = len(recorded[(built[0].name, op)])
            rows.append({"op": op, "ours_us": ours, "redisvl_us": peer, "ratio": ours / peer, "our_round_trips": trips})
            print(f"{op:<9} ours {ours:6.1f} us ({trips} round trip)  RedisVL {peer:6.1f} us  ratio {ours / peer:.2f}")
        for sys_ in built:
            sys_.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"command": "python -m bench.client_cpu " + " ".join(argv or sys.argv[1:]), "calls": calls,
                    "rows": rows}, indent=1) + "\n", encoding="utf-8")  # fmt: skip
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
