"""Bulk load of precomputed vectors: ours ``set_many(..., embeddings=)`` against RedisVL's ``store()`` loop.

    python -m bench.bulk_load                                  # FLAT and HNSW, 10k entries, 3 rounds
    python -m bench.bulk_load --sizes 10000 100000 --algorithms FLAT --rounds 1
    python -m bench.bulk_load --sizes 30000 --algorithms HNSW --rounds 1 --set-loop

One throwaway Redis (or ``--redis-url``); random 384-d unit vectors
(``bench/speed/workload.py``).  In each round each system loads the same
``n`` entries into a new, empty cache of its own (the server emptied with
FLUSHALL first).  By default the caches are all made first and the systems
take turns of ``--interleave`` (1,000) entries, the first mover alternating,
so that other jobs' load on the shared cores falls on each system alike (one
whole load after the other, ``--interleave 0``, measured whichever system
happened to run while the machine was busier):

* ours    - ``LLMCachingManager.set_many(pairs, embeddings=vectors)``, one call,
  library defaults (FLOAT16 vectors, a 1-hour TTL) but no size limit;
* RedisVL - ``SemanticCache.store(prompt, response, vector=list)`` per entry,
  its defaults (FLOAT32) with the index algorithm changed for HNSW;
* with ``--set-loop`` also ours ``set(prompt, response, embedding=v)`` per
  entry, the way to load precomputed vectors before ``embeddings=`` existed.

Timed: the load, wall clock, until the call returns; RediSearch 2.10 indexes
vectors inside the HSET (no worker threads here), and FT.INFO is checked after
each load: every entry indexed, none pending.  The server time of the load
(``INFO cpu``, the server process's CPU seconds) and the loading thread's
CPU time (``time.thread_time``) are recorded too: on 2 cores shared with other
jobs the wall clock moves with their load, while client + server CPU per entry
(what a serial load costs on an idle machine) does not.  Prints wall and CPU
entries/s per system with the ratios ours / RedisVL per round; writes the raw
rounds to ``--out``.  Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from bench.speed import systems
from bench.speed.memory import ft_info, text
from bench.speed.record import log, machine, run_record
from bench.speed.server import redis_server
from bench.speed.workload import Workload

OURS, SET_LOOP, PEER = "ours set_many", "ours set loop", "RedisVL store loop"


def _server_seconds(client: redis.Redis) -> float:
    """CPU seconds the server has used (INFO cpu; commandstats would count a script's inner calls twice)."""
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def _indexed(client: redis.Redis) -> list[tuple[int, int]]:
    """(documents, indexing flag) of each index: HSET indexes inline, so a finished load has none pending."""
    infos = [ft_info(client, text(name)) for name in client.execute_command("FT._LIST")]
    return [(int(i["num_docs"]), int(i.get("indexing", 0))) for i in infos]


def _loader(url: str, who: str, algorithm: str, work: Workload, n: int, dtype: str | None) -> Loader:
    """A new, empty cache of ``who``'s and a function storing entries ``[lo, hi)`` of the workload in it."""
    prompts, vectors, responses = work.entries.prompts[:n], work.entries.vectors[:n], work.responses[:n]
    threshold = systems.Threshold(0.9)
    if who == PEER:
        peer = systems.RedisVLSystem(url, algorithm, dim=work.dim, threshold=threshold)
        rows = vectors.tolist()  # RedisVL's API takes lists; converting is not timed

        def store(lo: int, hi: int) -> int:
            for prompt, response, row in zip(prompts[lo:hi], responses[lo:hi], rows[lo:hi], strict=True):
                peer.cache.store(prompt, response, vector=row)
            return hi - lo

        return Loader(who, store, peer.close)
    options: dict[str, Any] = {} if dtype is None else {"vector_dtype": dtype}
    if who == SET_LOOP:
        options["name"] = "llmcache_setloop"  # its own cache beside ``set_many``'s when interleaved
    ours = systems.ours_redis(url, algorithm, threshold=threshold, options=options)
    pairs = list(zip(prompts, responses, strict=True))
    manager = ours.manager
    # Make the search index now, untimed, as RedisVL's constructor does: ours makes it on the first
    # store, and on a server already holding the other caches' keys it would wait for their scan.
    manager.set("bulk_load: index probe", "-", embedding=vectors[0])
    manager.clear()
    if who == OURS:

        def store(lo: int, hi: int) -> int:
            return int(manager.set_many(pairs[lo:hi], embeddings=vectors[lo:hi]))

    else:

        def store(lo: int, hi: int) -> int:
            return sum(manager.set(p, r, embedding=v) for (p, r), v in zip(pairs[lo:hi], vectors[lo:hi], strict=True))

    return Loader(who, store, ours.close)


@dataclass
class Loader:
    """One system's cache and its store call, with the time spent in that call so far."""

    who: str
    store: Callable[[int, int], int]
    close: Callable[[], None]
    stored: int = 0
    seconds: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0

    def timed(self, client: redis.Redis, lo: int, hi: int) -> None:
        cpu0, t0, c0 = _server_seconds(client), time.perf_counter(), time.thread_time()
        self.stored += self.store(lo, hi)
        self.seconds += time.perf_counter() - t0
        self.client_cpu += time.thread_time() - c0
        self.server_cpu += _server_seconds(client) - cpu0


def _round(url: str, who: list[str], algorithm: str, work: Workload, n: int, args: argparse.Namespace) -> list[dict]:
    """One round: every system loads ``n`` entries into a new empty cache of its own.

    ``--interleave k``: all caches live on the server at once and the systems take
    turns of ``k`` entries (the first mover alternating), so load from other jobs
    falls on all of them alike.  ``--interleave 0``: one whole load after the other,
    each after a FLUSHALL.
    """
    client = redis.Redis.from_url(url)
    client.flushall()
    loaders: list[Loader] = []
    if args.interleave == 0:
        for w in who:
            client.flushall()
            loader = _loader(url, w, algorithm, work, n, args.vector_dtype)
            loader.timed(client, 0, n)
            _check(client, [loader], n)
            loader.close()
            loaders.append(loader)
    else:
        loaders = [_loader(url, w, algorithm, work, n, args.vector_dtype) for w in who]
        for turn, lo in enumerate(range(0, n, args.interleave)):
            for loader in loaders if turn % 2 == 0 else loaders[::-1]:
                loader.timed(client, lo, min(n, lo + args.interleave))
        _check(client, loaders, n)
        for loader in loaders:
            loader.close()
    client.close()
    # On an idle machine a serial load takes about client CPU + server CPU (no overlap):
    # a figure the other jobs sharing these 2 cores cannot move, beside the wall clock.
    return [{"system": x.who, "seconds": round(x.seconds, 3), "entries_per_s": round(n / x.seconds, 1),
             "server_cpu_s": round(x.server_cpu, 3), "client_cpu_s": round(x.client_cpu, 3),
             "cpu_entries_per_s": round(n / (x.server_cpu + x.client_cpu), 1),
             "interleave": args.interleave, "load_average_1m": round(os.getloadavg()[0], 2)}
            for x in sorted(loaders, key=lambda x: who.index(x.who))]  # fmt: skip


def _check(client: redis.Redis, loaders: list[Loader], n: int) -> None:
    """Raise unless each loader stored ``n`` entries and as many indexes hold ``n`` documents, none pending."""
    for loader in loaders:
        if loader.stored != n:
            raise RuntimeError(f"{loader.who}: stored {loader.stored} of {n}")
    indexed = _indexed(client)
    if sum(docs == n for docs, _ in indexed) < len(loaders) or any(busy for _, busy in indexed):
        who = ", ".join(x.who for x in loaders)
        raise RuntimeError(f"{who}: index state after the load: {indexed} (expected {n} documents each, none pending)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    p.add_argument("--algorithms", nargs="+", default=["FLAT", "HNSW"])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--set-loop", action="store_true", help="also time ours set() per entry")
    p.add_argument("--vector-dtype", default=None, help="ours: vector_dtype (library default: FLOAT16)")
    p.add_argument("--interleave", type=int, default=1000, metavar="K",
                   help="systems take turns of K entries, all caches on the server at once; 0: one whole load "
                   "after the other (sessions 5-6)")  # fmt: skip
    p.add_argument("--redis-url", default=None)
    p.add_argument("--out", type=Path, default=Path("bench/results/bulk_load.json"))
    args = p.parse_args(argv)
    started, t_start, load_before = time.time(), time.perf_counter(), os.getloadavg()
    work = Workload(max(args.sizes), queries=1, sets=1)
    who = [OURS, PEER] + ([SET_LOOP] if args.set_loop else [])
    results: list[dict[str, Any]] = []
    with redis_server(args.redis_url) as info:
        mach = machine(info)
        for algorithm in args.algorithms:
            for n in args.sizes:
                log(f"{algorithm} {n:,} entries, load average {os.getloadavg()[0]:.2f}")
                for r in range(args.rounds):
                    for row in _round(info.url, who if r % 2 == 0 else who[::-1], algorithm, work, n, args):
                        results.append({"algorithm": algorithm, "entries": n, "round": r, **row})
                        log(f"  round {r}: {row['system']}: {row['entries_per_s']:,.0f} entries/s "
                            f"({row['seconds']:.1f} s); "
                            f"CPU: client {row['client_cpu_s']:.1f} s + server {row['server_cpu_s']:.1f} s "
                            f"= {row['cpu_entries_per_s']:,.0f} entries/s")  # fmt: skip
    summary = _summary(results, who)
    for line in _table(summary):
        print(line)
    record = run_record("bench.bulk_load", argv, started, t_start, load_before, mach)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**record, "summary": summary, "rounds": results}, indent=1) + "\n")
    log(f"wrote {args.out}")
    return 0


def _summary(results: list[dict[str, Any]], who: list[str]) -> list[dict[str, Any]]:
    """Medians per (algorithm, size, system) - wall entries/s and CPU entries/s - and the
    per-round ratios ours / RedisVL of both."""
    out = []
    for algorithm, n in dict.fromkeys((r["algorithm"], r["entries"]) for r in results):
        rows = [r for r in results if (r["algorithm"], r["entries"]) == (algorithm, n)]
        item: dict[str, Any] = {"algorithm": algorithm, "entries": n}
        for w in who:
            mine = {r["round"]: r for r in rows if r["system"] == w}
            peer = {r["round"]: r for r in rows if r["system"] == PEER}
            item[w] = {
                key: {
                    "median": round(statistics.median(r[key] for r in mine.values()), 1),
                    "ratio_to_redisvl_by_round": [round(mine[k][key] / peer[k][key], 2) for k in sorted(mine)],
                }
                for key in ("entries_per_s", "cpu_entries_per_s")
            }
        out.append(item)
    return out


def _table(summary: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| index | entries | system | wall entries/s (median) | / RedisVL, per round | CPU entries/s | / RedisVL |",
        "|---|---:|---|---:|---|---:|---|",
    ]
    for item in summary:
        for w, v in item.items():
            if isinstance(v, dict):
                wall, cpu = v["entries_per_s"], v["cpu_entries_per_s"]
                lines.append(
                    f"| {item['algorithm']} | {item['entries']:,} | {w} | {wall['median']:,.0f} | "
                    + ", ".join(f"{x:.2f}x" for x in wall["ratio_to_redisvl_by_round"])
                    + f" | {cpu['median']:,.0f} | "
                    + ", ".join(f"{x:.2f}x" for x in cpu["ratio_to_redisvl_by_round"])
                    + " |"
                )
    return lines


if __name__ == "__main__":
    sys.exit(main())
