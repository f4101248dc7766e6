"""What one ``set`` costs, server and client apart: ours against RedisVL's SemanticCache.

    python -m bench.store_cost                      # 10k FLAT entries, 2,000 sets per system
    python -m bench.store_cost --entries 1000 --sets 4000

Both systems are bulk-loaded with the same ``--entries`` random 384-d entries
(``bench/speed/workload.py``, library defaults: FLOAT16 for ours), on one
throwaway Redis.  Then, in alternating batches of 100 new entries each:

* **wall time per set**: p50 of each call, end to end (client, network, server);
* **server time per set**: the ``INFO commandstats`` delta over a batch.  Ours:
  the ``EVALSHA`` of store.lua (its inner HSET, which carries the RediSearch
  indexing, is shown apart); RedisVL: every command its ``store`` sends (a
  pipelined HSET);
* **client CPU per set**: the same ``set`` calls with the connection stubbed
  (``bench.client_cpu.Replay``: replies recorded once, then replayed), timed
  with ``time.thread_time``: the library's own work plus redis-py's packing.

With ``--lua-ref REV`` (a git revision, e.g. the commit before a change to
store.lua), store.lua as of REV and the checkout's are also timed against each
other on the same cache: the same kind of new entries, the library's own
arguments, calls alternating in batches, each call after the client work of a
real set (so the server's caches are as cold as in use).  That ratio is far less
noisy on a shared machine than two separate runs.

Prints every figure with the ratio ours / RedisVL and writes
bench/results/store_cost.json; asserts nothing.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.client_cpu import Replay
from bench.speed import systems
from bench.speed.record import log
from bench.speed.server import redis_server
from bench.speed.workload import Workload

ROOT = Path(__file__).resolve().parent.parent
BATCH = 100


def _stats(client: Any) -> dict[str, tuple[int, int]]:
    """command -> (calls, usec) from INFO commandstats."""
    info = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for name, v in info.items()}


def _delta(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    out = {}
    for name, (calls, usec) in after.items():
        c0, u0 = before.get(name, (0, 0))
        if calls > c0:
            out[name] = (calls - c0, usec - u0)
    return out


def _store_lua_at(rev: str) -> str:
    """store.lua with the shared helpers, as the script loader of revision ``rev`` joined them."""

    def show(name: str) -> str:
        path = f"redis_semcache/backends/redis/scripts/{name}"
        return subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], capture_output=True, text=True,
                              check=True).stdout  # fmt: skip

    lib = re.sub(r"^-- >>> readers.*?^-- <<< readers\n", "", show("_lib.lua"), flags=re.S | re.M)
    return f"{lib}\n-- ===== store.lua =====\n{show('store.lua')}"


def _lua_against(client: Any, ours: Any, work: Workload, rev: str, start: int, rounds: int) -> dict[str, float]:
    """Median server us per call of the checkout's store.lua and of ``rev``'s, and their median ratio."""
    from redis_semcache._enums import InvalidationStrategy
    from redis_semcache._vectors import as_unit_vector
    from redis_semcache.backends.redis.scripts import source
    from redis_semcache.request import build_entry, scoped_request

    manager = ours.manager
    part = manager.backend.routing.partitions[0]  # a single Redis: one partition
    shas = {"checkout": client.script_load(source("store")), rev: client.script_load(_store_lua_at(rev))}

    def args(i: int) -> tuple[Any, ...]:  # what manager.set(prompt, "response", embedding=...) sends
        req = scoped_request(work.sets.prompts[i], "default", None, {}, default_namespace=manager.namespace)
        entry, ttl = build_entry(req, "response", None, None, None, default_ttl=manager.default_ttl,
                                 strategy=InvalidationStrategy(manager.invalidation_strategy),
                                 cache_version=manager.cache_version)  # fmt: skip
        entry = entry.with_embedding(as_unit_vector(work.sets.vectors[i]))
        now = time.time()
        return (*part._keys, part._prefix, repr(now), *part._store_args(entry, ttl, now))

    per: dict[str, list[float]] = {name: [] for name in shas}
    at = start
    for r in range(rounds):
        for name in list(shas) if r % 2 == 0 else list(shas)[::-1]:
            before = _stats(client)
            for i in range(at, at + BATCH):
                client.evalsha(shas[name], len(part._keys), *args(i))
            calls, usec = _delta(before, _stats(client))["evalsha"]
            per[name].append(usec / calls)
            at += BATCH
    return {
        "checkout_us": statistics.median(per["checkout"]),
        "ref_us": statistics.median(per[rev]),
        "ratio": statistics.median(a / b for a, b in zip(per["checkout"], per[rev], strict=True)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=10_000, help="entries bulk-loaded first")
    p.add_argument("--sets", type=int, default=2000, help="timed sets per system (server and client each)")
    p.add_argument("--redis-url", help="a Redis Stack to use (it gets FLUSHALLed!); default: start one")
    p.add_argument("--lua-ref", metavar="REV", help="also time store.lua as of git revision REV against the checkout's")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "store_cost.json")
    args = p.parse_args(argv)
    rounds = max(1, args.sets // BATCH)
    work = Workload(args.entries, queries=10, sets=rounds * BATCH * 5)
    threshold = systems.Threshold(0.9)
    with redis_server(args.redis_url) as info:
        import redis

        client = redis.Redis.from_url(info.url)
        client.flushall()
        built: list[Any] = [
            systems.ours_redis(info.url, "FLAT", threshold=threshold),
            systems.RedisVLSystem(info.url, "FLAT", dim=work.dim, threshold=threshold),
        ]
        for sys_ in built:
            log(f"loading {args.entries} entries into {sys_.name}")
            sys_.load(work.entries.prompts, work.entries.vectors, work.responses[: args.entries], progress=False)
            sys_.set(work.sets, len(work.sets) - 1)  # warm: index resolved, scripts loaded
        # Server: rounds of BATCH new entries per system, first mover alternating.
        server: dict[str, list[int]] = {s.name: [0, 0, 0] for s in built}  # sets, usec, inner hset usec
        wall: dict[str, list[float]] = {s.name: [] for s in built}
        at = 0
        for r in range(rounds):
            for sys_ in built if r % 2 == 0 else built[::-1]:
                before = _stats(client)
                for i in range(at, at + BATCH):
                    t0 = time.perf_counter()
                    sys_.set(work.sets, i)
                    wall[sys_.name].append(time.perf_counter() - t0)
                delta = _delta(before, _stats(client))
                row = server[sys_.name]
                row[0] += BATCH
                if sys_.info["family"] == "ours":
                    row[1] += delta["evalsha"][1]
                    row[2] += delta.get("hset", (0, 0))[1]
                else:
                    row[1] += sum(usec for name, (_, usec) in delta.items() if name != "info")
                    row[2] += delta.get("hset", (0, 0))[1]
                at += BATCH
        lua = _lua_against(client, built[0], work, args.lua_ref, at, rounds) if args.lua_ref else None
        # Client: the same calls, connection stubbed.
        replay = Replay()
        recorded = {s.name: replay.record(functools.partial(s.set, work.sets, 0)) for s in built}
        cpu = {s.name: 0.0 for s in built}
        for r in range(rounds):
            for sys_ in built if r % 2 == 0 else built[::-1]:
                replay.stub(recorded[sys_.name])
                try:
                    t0 = time.thread_time()
                    for i in range(BATCH):
                        sys_.set(work.sets, i)
                    cpu[sys_.name] += time.thread_time() - t0
                finally:
                    replay.restore()
        for sys_ in built:
            sys_.close()
        client.close()
    ours, peer = built[0].name, built[1].name
    n = rounds * BATCH
    rows = {
        "wall_p50_us": [statistics.median(wall[ours]) * 1e6, statistics.median(wall[peer]) * 1e6],
        "server_us": [server[ours][1] / n, server[peer][1] / n],
        "server_hset_us": [server[ours][2] / n, server[peer][2] / n],
        "client_cpu_us": [cpu[ours] / n * 1e6, cpu[peer] / n * 1e6],
    }
    for what, (a, b) in rows.items():
        print(f"{what:<15} ours {a:7.1f} us  RedisVL {b:7.1f} us  ratio {a / b:.2f}")
    if lua is not None:
        print(f"store.lua       checkout {lua['checkout_us']:5.1f} us  {args.lua_ref} {lua['ref_us']:5.1f} us  "
              f"ratio {lua['ratio']:.3f} (median of batch ratios)")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"command": "python -m bench.store_cost " + " ".join(argv or sys.argv[1:]), "entries": args.entries,
                    "sets": n, "rows": {k: {"ours": a, "redisvl": b, "ratio": a / b} for k, (a, b) in rows.items()},
                    "store_lua_vs_ref": None if lua is None else {"ref": args.lua_ref, **lua}},
                   indent=1) + "\n", encoding="utf-8")  # fmt: skip
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
