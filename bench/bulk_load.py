"""Bulk load of precomputed vectors: ours ``set_many(..., embeddings=)`` against RedisVL's ``store()`` loop.

    python -m bench.bulk_load                                  # FLAT and HNSW, 10k entries, 3 rounds
    python -m bench.bulk_load --sizes 10000 100000 --algorithms FLAT --rounds 1
    python -m bench.bulk_load --sizes 30000 --algorithms HNSW --rounds 1 --set-loop

One throwaway Redis (or ``--redis-url``); random 384-d unit vectors
(``bench/speed/workload.py``).  In each round each system loads the same
``n`` entries into a new, empty cache of its own, one system after the other
(the first mover alternating), and the server is emptied (FLUSHALL) before
each load, so both start from the same state:

* ours    - ``LLMCachingManager.set_many(pairs, embeddings=vectors)``, one call,
  library defaults (FLOAT16 vectors, a 1-hour TTL) but no size limit;
* RedisVL - ``SemanticCache.store(prompt, response, vector=list)`` per entry,
  its defaults (FLOAT32) with the index algorithm changed for HNSW;
* with ``--set-loop`` also ours ``set(prompt, response, embedding=v)`` per
  entry, the way to load precomputed vectors before ``embeddings=`` existed.

Timed: the load, wall clock, until the call returns; RediSearch 2.10 indexes
vectors inside the HSET (no worker threads here), and FT.INFO is checked after
each load: every entry indexed, none pending.  The server time of the load
(``INFO commandstats``) is shown beside it.  Prints entries/s per system and
the ratio ours / RedisVL; writes the raw rounds to ``--out``.  Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
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
    return sum(v["usec"] for k, v in client.info("commandstats").items() if k != "cmdstat_info") / 1e6


def _indexed(client: redis.Redis) -> list[tuple[int, int]]:
    """(documents, indexing flag) of each index: HSET indexes inline, so a finished load has none pending."""
    infos = [ft_info(client, text(name)) for name in client.execute_command("FT._LIST")]
    return [(int(i["num_docs"]), int(i.get("indexing", 0))) for i in infos]


def _load(url: str, who: str, algorithm: str, work: Workload, n: int, dtype: str | None) -> dict[str, Any]:
    prompts, vectors, responses = work.entries.prompts[:n], work.entries.vectors[:n], work.responses[:n]
    threshold = systems.Threshold(0.9)
    client = redis.Redis.from_url(url)
    client.flushall()
    if who == PEER:
        peer = systems.RedisVLSystem(url, algorithm, dim=work.dim, threshold=threshold)
        rows = vectors.tolist()  # RedisVL's API takes lists; converting is not timed
        client.config_resetstat()
        t0 = time.perf_counter()
        for prompt, response, row in zip(prompts, responses, rows, strict=True):
            peer.cache.store(prompt, response, vector=row)
        seconds = time.perf_counter() - t0
        close = peer.close
    else:
        options = {} if dtype is None else {"vector_dtype": dtype}
        ours = systems.ours_redis(url, algorithm, threshold=threshold, options=options)
        pairs = list(zip(prompts, responses, strict=True))
        client.config_resetstat()
        t0 = time.perf_counter()
        if who == OURS:
            stored = ours.manager.set_many(pairs, embeddings=vectors)
        else:
            stored = sum(ours.manager.set(p, r, embedding=v) for (p, r), v in zip(pairs, vectors, strict=True))
        seconds = time.perf_counter() - t0
        if stored != n:
            raise RuntimeError(f"{who}: stored {stored} of {n}")
        close = ours.close
    server = _server_seconds(client)
    indexed = _indexed(client)
    close()
    client.close()
    if (n, 0) not in indexed or any(busy for _, busy in indexed):
        raise RuntimeError(f"{who}: index state after the load: {indexed} (expected {n} documents, none pending)")
    return {"system": who, "seconds": round(seconds, 3), "entries_per_s": round(n / seconds, 1),
            "server_s": round(server, 3), "load_average_1m": round(os.getloadavg()[0], 2)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    p.add_argument("--algorithms", nargs="+", default=["FLAT", "HNSW"])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--set-loop", action="store_true", help="also time ours set() per entry")
    p.add_argument("--vector-dtype", default=None, help="ours: vector_dtype (library default: FLOAT16)")
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
                    for name in who if r % 2 == 0 else who[::-1]:
                        row = _load(info.url, name, algorithm, work, n, args.vector_dtype)
                        results.append({"algorithm": algorithm, "entries": n, "round": r, **row})
                        log(f"  round {r}: {name}: {row['entries_per_s']:,.0f} entries/s "
                            f"({row['seconds']:.1f} s, server {row['server_s']:.1f} s)")  # fmt: skip
    summary = _summary(results, who)
    for line in _table(summary):
        print(line)
    record = run_record("bench.bulk_load", argv, started, t_start, load_before, mach)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**record, "summary": summary, "rounds": results}, indent=1) + "\n")
    log(f"wrote {args.out}")
    return 0


def _summary(results: list[dict[str, Any]], who: list[str]) -> list[dict[str, Any]]:
    """Median entries/s per (algorithm, size, system) and the per-round ratios ours / RedisVL."""
    out = []
    for algorithm, n in dict.fromkeys((r["algorithm"], r["entries"]) for r in results):
        rows = [r for r in results if (r["algorithm"], r["entries"]) == (algorithm, n)]
        rate = {w: [r["entries_per_s"] for r in rows if r["system"] == w] for w in who}
        peer = {r["round"]: r["entries_per_s"] for r in rows if r["system"] == PEER}
        item: dict[str, Any] = {"algorithm": algorithm, "entries": n}
        for w in who:
            mine = {r["round"]: r["entries_per_s"] for r in rows if r["system"] == w}
            item[w] = {"median_entries_per_s": round(statistics.median(rate[w]), 1),
                       "ratio_to_redisvl_by_round": [round(mine[k] / peer[k], 2) for k in sorted(mine)]}  # fmt: skip
        out.append(item)
    return out


def _table(summary: list[dict[str, Any]]) -> list[str]:
    lines = ["| index | entries | system | entries/s (median) | / RedisVL, per round |", "|---|---|---|---|---|"]
    for item in summary:
        for w, v in item.items():
            if isinstance(v, dict):
                ratios = ", ".join(f"{x:.2f}x" for x in v["ratio_to_redisvl_by_round"])
                lines.append(f"| {item['algorithm']} | {item['entries']:,} | {w} | "
                             f"{v['median_entries_per_s']:,.0f} | {ratios} |")  # fmt: skip
    return lines


if __name__ == "__main__":
    sys.exit(main())
