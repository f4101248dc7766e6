"""Async lookup throughput on one core: 64 asyncio tasks against 64 threads and one thread.

The benchmark process is pinned to one core (and a Redis it starts itself to
another).  A Redis-backed ``LLMCachingManager`` is filled with real prompts
(Quora ``question1``) and their all-MiniLM-L6-v2 vectors, embedded once up
front; lookups then pass their precomputed vector, so only cache work is timed.
Each lookup kind - exact hit, semantic hit, miss - runs in three modes on the
same data:

* async   - 64 tasks on one event loop, each awaiting ``cache.aget(...)`` in a loop;
* threads - 64 threads (a ThreadPoolExecutor), each calling ``cache.get(...)`` in a loop;
* sync    - one thread calling ``cache.get(...)`` in a loop (the floor).

RedisVL's ``SemanticCache`` (``acheck`` / ``check``) and a bare ``PING`` run the
same way, as references.  The objects left by setup (torch, for the embedding)
are gc.freeze()d before measuring.  The cores are shared: every cell records
the CPU time this process, the server and other jobs used meanwhile (from
/proc), and a cell where other jobs took more than ``--busy`` of a core is
measured again while a retry budget lasts.

    python -m bench.bench_async            # 5 rounds of 2 s per cell (about 6 minutes on 2 cores)
    python -m bench.bench_async --quick    # 1 round of 1 s per cell (about 1 minute)

Uses ``--redis-url`` or ``$REDIS_URL`` when set (its own cache names, dropped
at the end; nothing else is touched), otherwise starts a throwaway Redis with
RediSearch.  Writes bench/results/async.json (async-quick.json with --quick)
and a Markdown table next to it.  Prints numbers; asserts nothing about them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.speed import report, systems
from bench.speed.cpu import CpuProbe, pin
from bench.speed.record import e2e_prompts, log, machine, run_record
from bench.speed.report import MODES, mode_ratios, modes_report
from bench.speed.runner import AsyncOp, Cell, Op, run_sync, run_tasks, run_threads
from bench.speed.server import redis_server
from bench.speed.stats import summarize
from bench.speed.workload import Queries, at_similarity

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MAX_ATTEMPTS = 3  # per cell, when other jobs took a core meanwhile (see --busy)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 round of 1 s per cell (about a minute)")
    p.add_argument("--entries", type=int, default=1000, help="cached prompts (default 1000)")
    p.add_argument("--queries", type=int, default=500, help="distinct queries per lookup kind (default 500)")
    p.add_argument("--concurrency", type=int, default=64, help="asyncio tasks and threads (default 64)")
    p.add_argument("--rounds", type=int, help="rounds over every cell (default 5; quick 1)")
    p.add_argument("--seconds", type=float, help="measured seconds per cell and round (default 2; quick 1)")
    p.add_argument("--warmup", type=float, help="unmeasured seconds before each cell (default 1; quick 0.3)")
    p.add_argument(
        "--busy",
        type=float,
        default=0.15,
        help="measure a cell again (up to 3 attempts) when other jobs, or other VMs (steal), took more than\n"
        "this share of a core meanwhile (default 0.15); cells still above it are left out of the medians",
    )
    p.add_argument(
        "--retry-seconds", type=float, help="time budget for measuring busy cells again (default 90; quick 0)"
    )
    p.add_argument("--threshold", type=float, default=0.9, help="cosine similarity threshold (default 0.9)")
    p.add_argument("--similarity", type=float, default=0.95, help="cosine of a semantic query to its anchor")
    p.add_argument("--no-redisvl", action="store_true", help="skip the RedisVL reference rows")
    p.add_argument(
        "--no-gc-freeze", action="store_true", help="do not gc.freeze() the setup's objects before measuring"
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin the benchmark (or the server) to a core")
    p.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL"),
        help="a Redis with RediSearch to use (default $REDIS_URL; else a throwaway server is started)",
    )
    p.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "qqp_val.csv",
        help="CSV with question1,question2 columns (default ../shared/data/qqp_val.csv)",
    )
    p.add_argument("--out", type=Path, help="results JSON (default bench/results/async.json or async-quick.json)")
    p.add_argument("--render", type=Path, metavar="JSON", help="only re-render the Markdown of a results file")
    args = p.parse_args(argv)
    q = args.quick
    args.rounds = args.rounds or (1 if q else 5)
    args.seconds = args.seconds or (1.0 if q else 2.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if q else 1.0)
    args.retry_seconds = args.retry_seconds if args.retry_seconds is not None else (0.0 if q else 90.0)
    args.out = args.out or RESULTS / ("async-quick.json" if q else "async.json")
    return args


# -- the data: real prompts, real vectors, embedded once -----------------------------


@dataclass
class Data:
    stored: Queries
    responses: list[str]
    lookups: dict[str, Queries]
    info: dict[str, Any]


def embed_all(texts: list[str]) -> tuple[np.ndarray, dict[str, Any]]:
    from tqdm.auto import tqdm

    from redis_semcache.embeddings import default_embedder

    model = default_embedder()
    t0 = time.perf_counter()
    model.warmup()
    loaded = time.perf_counter() - t0
    t0 = time.perf_counter()
    parts = [
        np.asarray(model(texts[lo : lo + 64]), dtype=np.float32)
        for lo in tqdm(range(0, len(texts), 64), desc="embedding", leave=False)
    ]
    vectors = np.concatenate(parts)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    took = time.perf_counter() - t0
    log(f"model loaded in {loaded:.1f}s; {len(texts):,} prompts embedded in {took:.1f}s")
    info = {"model": getattr(model, "embedder_id", type(model).__name__), "texts": len(texts)}
    info.update(model_load_s=round(loaded, 1), embed_s=round(took, 1))
    return vectors, info


def build_data(path: Path, entries: int, queries: int, threshold: float, similarity: float) -> Data:
    """Stored prompts and three query sets, all with real all-MiniLM-L6-v2 vectors.

    * exact    - stored prompts with their stored vectors;
    * semantic - the stored prompt plus " (rephrased)" (a new exact key that the
      default guards accept) with a vector at cosine ``similarity`` to the stored
      one, built as the speed bench builds them; kept only when that stored
      entry is the query's nearest;
    * miss     - Quora ``question2`` prompts never stored whose real vector has
      cosine below ``threshold`` to every stored vector.
    """
    if not path.is_file():
        raise SystemExit(f"{path} not found: pass --data with a CSV of question1,question2 columns")
    from redis_semcache import normalize_prompt

    # Prompts in the cache's normal form: the embedder used for loading looks vectors up by it.
    raw_stored, raw_new = e2e_prompts(path, entries + 100, queries * 2)
    stored = list(dict.fromkeys(normalize_prompt(p) for p in raw_stored))[:entries]
    known = set(stored)
    new = [p for p in dict.fromkeys(normalize_prompt(p) for p in raw_new) if p not in known]
    vectors, info = embed_all(stored + new)
    svec, nvec = vectors[: len(stored)], vectors[len(stored) :]
    rng = np.random.default_rng(7)
    picks = rng.permutation(len(stored))[: queries * 2]
    near = at_similarity(rng, svec[picks], similarity)
    nearest = np.argmax(near @ svec.T, axis=1)
    keep = picks[nearest == picks][:queries]
    semantic = Queries([f"{stored[i]} (rephrased)" for i in keep], near[nearest == picks][:queries])
    best = (nvec @ svec.T).max(axis=1)
    far = np.flatnonzero(best < threshold)[:queries]
    miss = Queries([new[i] for i in far], nvec[far])
    exact_idx = rng.permutation(len(stored))[:queries]
    exact = Queries([stored[i] for i in exact_idx], svec[exact_idx])
    info.update(
        data=str(path),
        entries=len(stored),
        exact_queries=len(exact),
        semantic_queries=len(semantic),
        semantic_similarity=similarity,
        semantic_dropped_not_nearest=int((nearest != picks).sum()),
        miss_queries=len(miss),
        miss_candidates_over_threshold=int((best >= threshold).sum()),
        miss_max_cosine=round(float(best[far].max()), 4),
    )
    responses = [f"answer {i}" for i in range(len(stored))]
    return Data(Queries(stored, svec), responses, {"exact": exact, "semantic": semantic, "miss": miss}, info)


# -- targets: what is measured ----------------------------------------------------------


@dataclass
class Target:
    """One system: per lookup kind, a sync op and an async op over item indexes; its own event loop."""

    name: str
    sync_ops: dict[str, Op]
    async_ops: dict[str, AsyncOp]
    items: dict[str, int]
    close: Callable[[asyncio.AbstractEventLoop], None]
    info: dict[str, Any] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    @classmethod
    def per_lookup(
        cls,
        name: str,
        data: Data,
        sync_op: Callable[[Queries], Op],
        async_op: Callable[[Queries], AsyncOp],
        close: Callable[[asyncio.AbstractEventLoop], None],
        info: dict[str, Any],
    ) -> Target:
        """A target whose ops are made for each lookup kind's queries."""
        lookups = data.lookups.items()
        return cls(
            name,
            {k: sync_op(q) for k, q in lookups},
            {k: async_op(q) for k, q in lookups},
            {k: len(q) for k, q in lookups},
            close,
            info,
        )


def ping_target(url: str) -> Target:
    import redis
    import redis.asyncio

    client = redis.Redis.from_url(url)
    aclient = redis.asyncio.Redis.from_url(url)

    def ping(_i: int) -> None:
        client.ping()

    async def aping(_i: int) -> None:
        await aclient.ping()

    def close(loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(aclient.aclose())
        client.close()

    info = {"what": "PING: redis-py's blocking client and redis.asyncio, one pool each"}
    return Target("Redis PING", {"ping": ping}, {"ping": aping}, {"ping": 1}, close, info)


def ours_target(url: str, data: Data, threshold: float) -> Target:
    from redis_semcache.backends.redis import RedisCacheBackend

    name = f"asyncbench-{uuid.uuid4().hex[:8]}"
    backend = RedisCacheBackend(url=url, name=name, max_size=None, index_algorithm="FLAT")
    sys_ = systems.OursSystem(
        "ours Redis FLAT",
        backend,
        threshold=systems.Threshold(threshold),
        embed=None,
        info={"backend": "redis", "index": "FLAT", "name": name},
    )
    t0 = time.perf_counter()
    sys_.load(data.stored.prompts, data.stored.vectors, data.responses, progress=False)
    log(f"{sys_.name}: loaded {len(data.stored):,} entries in {time.perf_counter() - t0:.1f}s")
    manager = sys_.manager

    def sync_op(q: Queries) -> Op:
        return lambda i: manager.get(q.prompts[i], embedding=q.vectors[i]) is not None

    def async_op(q: Queries) -> AsyncOp:
        async def op(i: int) -> bool:
            return await manager.aget(q.prompts[i], embedding=q.vectors[i]) is not None

        return op

    def close(loop: asyncio.AbstractEventLoop) -> None:
        drop = getattr(backend, "drop", None)
        if drop is not None:
            drop()
        loop.run_until_complete(manager.aclose())
        manager.close()

    info = dict(sys_.info)
    info["backend_has_alookup_exact"] = hasattr(backend, "alookup_exact")
    info["strict"] = True
    return Target.per_lookup(sys_.name, data, sync_op, async_op, close, info)


def redisvl_target(url: str, data: Data, threshold: float) -> Target:
    sys_ = systems.RedisVLSystem(url, "FLAT", dim=data.stored.vectors.shape[1], threshold=systems.Threshold(threshold))
    t0 = time.perf_counter()
    sys_.load(data.stored.prompts, data.stored.vectors, data.responses, progress=False)
    log(f"{sys_.name}: loaded {len(data.stored):,} entries in {time.perf_counter() - t0:.1f}s")
    cache = sys_.cache
    for q in data.lookups.values():
        q.as_list(0)  # RedisVL takes lists: build them once, outside the timed loops

    def sync_op(q: Queries) -> Op:
        return lambda i: sys_.get(q, i)

    def async_op(q: Queries) -> AsyncOp:
        async def op(i: int) -> bool:
            return bool(await cache.acheck(vector=q.as_list(i)))

        return op

    def close(loop: asyncio.AbstractEventLoop) -> None:
        aclient = getattr(cache, "_async_redis_client", None)  # made from our sync client; not closed by it
        if aclient is not None:
            loop.run_until_complete(aclient.aclose())
        sys_.close()

    info = {**sys_.info, "calls": "SemanticCache.acheck(vector=list) / check(vector=list)"}
    return Target.per_lookup(sys_.name, data, sync_op, async_op, close, info)


def executor_probe(loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    """Whether anything on this loop used asyncio.to_thread (the loop's default executor), and its size."""
    ex = getattr(loop, "_default_executor", None)
    if ex is None:
        return {"default_executor_used": False}
    return {
        "default_executor_used": True,
        "default_executor_max_workers": getattr(ex, "_max_workers", None),
        "default_executor_threads_started": len(getattr(ex, "_threads", ())),
    }


# -- the run ----------------------------------------------------------------------------


def calibrate() -> float:
    """Milliseconds for a fixed pure-Python loop on this core, best of 5: how fast the core is right now.

    The machine is a VM on a shared host: the same code ran up to about 2x slower
    in one run than in the next with no other job visible in /proc.
    """
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        total = 0
        for i in range(200_000):
            total += i & 7
        best = min(best, time.perf_counter() - t0)
    return round(best * 1000, 2)


def run_cell(tg: Target, lookup: str, mode: str, args: argparse.Namespace, probe: CpuProbe) -> Cell:
    on_window, cpu = probe.watch()
    items, n = tg.items[lookup], args.concurrency
    if mode == "async":
        c = tg.loop.run_until_complete(run_tasks(tg.async_ops[lookup], items, n, args.warmup, args.seconds, on_window))
    elif mode == "threads":
        c = run_threads(tg.sync_ops[lookup], items, n, args.warmup, args.seconds, on_window)
    else:
        c = run_sync(tg.sync_ops[lookup], items, args.warmup, args.seconds, on_window)
    c.cpu = cpu()
    return c


def measure(
    targets: list[Target], args: argparse.Namespace, rounds: list[dict[str, float]], probe: CpuProbe
) -> list[dict[str, Any]]:
    n = args.concurrency
    cells: dict[tuple[str, str, str], list[Cell]] = {}
    retry_spent = 0.0  # seconds spent measuring busy cells again; all retries share args.retry_seconds
    for r in range(args.rounds):
        rounds.append({"load_average_1min": round(os.getloadavg()[0], 2), "calibration_ms": calibrate()})
        log(f"round {r + 1}/{args.rounds}: {rounds[-1]}")
        modes = MODES[r % 3 :] + MODES[: r % 3]  # rotate the order of modes between rounds
        for tg in targets:
            for lookup in tg.sync_ops:
                for mode in modes:
                    c = run_cell(tg, lookup, mode, args, probe)
                    attempts = 1
                    # Other jobs took a core meanwhile: measure again, while the retry budget lasts.
                    while (
                        probe.busiest(c.cpu) > args.busy
                        and attempts < MAX_ATTEMPTS
                        and retry_spent < args.retry_seconds
                    ):
                        log(f"  {tg.name} {lookup} {mode}: other jobs took {c.cpu}; measuring again")
                        t_retry = time.perf_counter()
                        c = run_cell(tg, lookup, mode, args, probe)
                        retry_spent += time.perf_counter() - t_retry
                        attempts += 1
                    c.attempts = attempts
                    cells.setdefault((tg.name, lookup, mode), []).append(c)
                    s = summarize(c.latencies)
                    hit = f"hit {c.hits / c.counted:.0%}" if c.counted else ""
                    err = f"errors {c.errors}: {c.first_error}" if c.errors else ""
                    others = f"others {probe.busiest(c.cpu):.0%}" if c.cpu else ""
                    log(
                        f"round {r + 1}/{args.rounds} {tg.name:<16} {lookup:<8} {mode:<7} "
                        f"{c.ops_per_s:>9,.0f} ops/s  p50 {s.p50_us:>9,.0f} us  p99 {s.p99_us:>9,.0f} us  "
                        f"{hit} {others} {err}"
                    )
    rows = []
    for (name, lookup, mode), all_cells in cells.items():
        # Cells where other jobs or VMs still took more than --busy of a core are left out of
        # the medians, latencies and ratios (they stay in the rounds_* lists), unless all were.
        clean = [probe.busiest(c.cpu) <= args.busy for c in all_cells]
        cs = [c for c, ok in zip(all_cells, clean, strict=True) if ok] or all_cells
        lat = summarize([x for c in cs for x in c.latencies]).to_dict()
        counted = sum(c.counted for c in cs)
        errors = [c.first_error for c in all_cells if c.first_error]
        cpu_us = [1e6 * c.cpu["benchmark_process"] / c.ops_per_s for c in cs if "benchmark_process" in c.cpu and c.ops]
        row = {
            "system": name,
            "lookup": lookup,
            "mode": mode,
            "concurrency": 1 if mode == "sync" else n,
            "ops_per_s": round(statistics.median(c.ops_per_s for c in cs), 1),
            # CPU time of this process per lookup: what one lookup costs the client's core.
            # Unlike ops/s it does not count time the core was taken away (steal, other jobs).
            "client_cpu_us_per_op": round(statistics.median(cpu_us), 1) if cpu_us else None,
            "rounds_used": len(cs),
            **lat,
            "hit_rate": round(sum(c.hits for c in cs) / counted, 4) if counted else None,
            "errors": sum(c.errors for c in all_cells),
            "rounds_ops_per_s": [round(c.ops_per_s, 1) for c in all_cells],
            "rounds_clean": clean,
            "rounds_cpu_taken_by_others": [c.cpu for c in all_cells],
            "rounds_attempts": [c.attempts for c in all_cells],
        }
        if errors:
            row["first_error"] = errors[0]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render is not None:
        results = json.loads(args.render.read_text(encoding="utf-8"))
        md = modes_report(results)
        args.render.with_suffix(".md").write_text(md, encoding="utf-8")
        print(md)
        return 0
    started = time.time()
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    log(f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    targets: list[Target] = []
    infos: dict[str, Any] = {}
    # per round, at its start: the 1-minute load average (which counts this benchmark's own
    # 64 runnable threads) and the time of a fixed pure-Python loop (the core's speed just then)
    rounds: list[dict[str, float]] = []
    gc_frozen = 0
    with redis_server(args.redis_url) as rinfo:
        log(f"Redis {rinfo.redis_version} modules {rinfo.modules} at {rinfo.url}")
        server_pid = None
        if args.redis_url is None:  # ours to pin; a server given by URL is left alone
            import redis

            client = redis.Redis.from_url(rinfo.url)
            server_pid = int(client.info("server")["process_id"])
            client.close()
        # Embedding runs before pinning, on every core; the timed part runs pinned.
        data = build_data(args.data, args.entries, args.queries, args.threshold, args.similarity)
        log(f"data: {data.info}")
        pinning = pin(server_pid, not args.no_pin)
        log(f"pinning: {pinning}")
        try:
            targets.append(ping_target(rinfo.url))
            targets.append(ours_target(rinfo.url, data, args.threshold))
            if not args.no_redisvl:
                try:
                    targets.append(redisvl_target(rinfo.url, data, args.threshold))
                except systems.SystemUnavailable as exc:
                    log(f"RedisVL skipped: {exc}")
                    infos["RedisVL FLAT"] = {"skipped": str(exc)}
            if not args.no_gc_freeze:
                # Setup left ~470k objects (torch and sentence-transformers, loaded for the embedding);
                # a full collection over them took 250-340 ms and showed up as the p99 of the
                # concurrent modes.  Freezing them keeps collections to what the lookups allocate.
                gc.collect()
                gc.freeze()
            gc_frozen = gc.get_freeze_count()
            rows = measure(targets, args, rounds, CpuProbe(pinning, server_pid))
        finally:
            for tg in targets:
                probe = executor_probe(tg.loop)
                infos[tg.name] = {**tg.info, **probe}
                if tg.name.startswith("ours"):
                    infos[tg.name]["async_path"] = report.describe_async_path(probe)
                try:
                    tg.close(tg.loop)
                finally:
                    tg.loop.run_until_complete(tg.loop.shutdown_default_executor())
                    tg.loop.close()
        mach = machine(rinfo)
    results = {
        **run_record("bench.bench_async", argv, started, t_start, load_before, mach),
        "rounds": rounds,
        "pinning": pinning,
        "config": {
            "entries": data.info["entries"],
            "concurrency": args.concurrency,
            "rounds": args.rounds,
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "busy_share_for_retry": args.busy,
            "retry_seconds": args.retry_seconds,
            "threshold": args.threshold,
            "switch_interval_s": sys.getswitchinterval(),
            "gc_frozen_objects": gc_frozen,
            "redis_url_given": args.redis_url is not None,
        },
        "data": data.info,
        "systems": infos,
        "rows": rows,
        "ratios": mode_ratios(rows),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    md = modes_report(results)
    args.out.with_suffix(".md").write_text(md, encoding="utf-8")
    print(md)
    log(f"wrote {args.out} and {args.out.with_suffix('.md').name} in {results['duration_s']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
