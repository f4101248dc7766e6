"""Speed of cache operations: ours (in-memory and Redis) against RedisVL and GPTCache.

Every system runs in this process against the same Redis server, with the
same vectors and the same queries.  Precomputed vectors are passed to each
system so only cache work is timed; a second part times end-to-end lookups
with the built-in all-MiniLM-L6-v2 model embedding each prompt.

    python -m bench.bench_ops            # full run: 1k, 10k, 100k entries (< 15 min on 2 cores)
    python -m bench.bench_ops --quick    # 1k and 10k, small budgets (< 2 min)

Writes bench/results/speed.json (speed-quick.json with --quick), a PNG of
latency against entry count and a Markdown rendering of the tables next to it.

With --head-to-head it instead runs ours against RedisVL's SemanticCache only,
both loaded in the same Redis and timed in alternating turns, with bytes per
entry and recall@1 (bench/speed/headtohead.py; issue #15's goals):

    python -m bench.bench_ops --head-to-head           # FLAT and HNSW, 1k/10k/100k (< 20 min)
    python -m bench.bench_ops --head-to-head --quick   # 1k and 10k (about 2 min)

It writes bench/results/headtohead.json (headtohead-quick.json with --quick)
and its .md and .png.
Needs the dev, embeddings and bench extras: pip install -e ".[dev,embeddings,bench]".
Prints numbers; asserts nothing about them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.speed import headtohead, headtohead_report, report, runner, systems
from bench.speed.record import e2e_prompts, log, machine, run_record
from bench.speed.runner import Budget
from bench.speed.server import redis_server
from bench.speed.workload import Queries, Workload

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ALL_SYSTEMS = (
    "ours-memory",
    "ours-redis-flat",
    "ours-redis-hnsw",
    "redisvl-flat",
    "redisvl-hnsw",
    "gptcache-faiss",
    "gptcache-redis",
)
E2E_SYSTEMS = ("ours-memory", "ours-redis-flat", "redisvl-flat", "gptcache-faiss", "gptcache-redis")
# RediSearch's HNSW defaults, given explicitly to every HNSW index so they match.
HNSW = {"m": 16, "ef_construction": 200, "ef_runtime": 10}


def _csv_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1k and 10k entries, small budgets (< 2 minutes)")
    p.add_argument("--sizes", type=_csv_ints, help="entry counts (default 1000,10000,100000; quick 1000,10000)")
    p.add_argument("--threads", type=_csv_ints, default=[1, 4, 16], help="thread counts for ops/s (default 1,4,16)")
    p.add_argument(
        "--throughput-sizes", type=_csv_ints, help="entry counts at which ops/s is measured (default 10000; quick 1000)"
    )
    p.add_argument(
        "--samples",
        type=int,
        help="latency samples per operation (default 2000; quick 300;\nhead-to-head: per system, 1000; quick 150)",
    )
    p.add_argument(
        "--seconds",
        type=float,
        help="time cap per latency measurement (default 2; quick 0.4;\n"
        "head-to-head: per operation, both systems together, 20; quick 3)",
    )
    h = p.add_argument_group("head to head (ours against RedisVL SemanticCache, interleaved)")
    h.add_argument("--head-to-head", action="store_true", help="run this mode instead of the multi-system one")
    h.add_argument("--algorithms", default="FLAT,HNSW", help="index algorithms to pair (default FLAT,HNSW)")
    h.add_argument("--batch", type=int, default=25, help="calls per turn before the other system's (default 25)")
    h.add_argument(
        "--vector-dtype",
        help="pass vector_dtype= to our Redis backend (refused if the library under test has no such option);\n"
        "default: the library's own default",
    )
    h.add_argument(
        "--redisvl-ef-runtime",
        type=int,
        help="EF_RUNTIME of RedisVL's HNSW index (default: RedisVL's, 10); its range query ignores it",
    )
    h.add_argument(
        "--redisvl-epsilon",
        type=float,
        help="EPSILON of RedisVL's HNSW index (default: RedisVL's, 0.01): the knob of the range query\n"
        "SemanticCache.check runs, e.g. 0.1 to compare at equal recall@1",
    )
    p.add_argument("--throughput-seconds", type=float, help="duration of each ops/s run (default 1; quick 0.3)")
    p.add_argument("--systems", default=",".join(ALL_SYSTEMS), help=f"comma list from {','.join(ALL_SYSTEMS)}")
    p.add_argument("--threshold", type=float, default=0.9, help="cosine similarity threshold for every system")
    p.add_argument("--redis-url", help="use this Redis Stack instead of starting one (it gets FLUSHALLed!)")
    p.add_argument("--no-e2e", action="store_true", help="skip the end-to-end (with embedding) part")
    p.add_argument("--e2e-entries", type=int, help="stored prompts for the end-to-end part (default 2000; quick 300)")
    p.add_argument("--e2e-samples", type=int, help="lookups per end-to-end operation (default 300; quick 40)")
    p.add_argument(
        "--e2e-data",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "qqp_val.csv",
        help="CSV with question1,question2 columns (default ../shared/data/qqp_val.csv)",
    )
    p.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="threads for in-process vector math: numpy's BLAS (ours in memory) and faiss's OpenMP\n"
        "(GPTCache); default 1, 0 leaves the libraries' defaults",
    )
    p.add_argument("--out", type=Path, help="results JSON (default bench/results/speed.json or speed-quick.json)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--render", type=Path, metavar="JSON", help="only re-render the tables and plot of a results file")
    args = p.parse_args(argv)
    q = args.quick
    args.sizes = args.sizes or ([1000, 10_000] if q else [1000, 10_000, 100_000])
    if args.head_to_head:
        args.samples = args.samples or (150 if q else 1000)
        args.seconds = args.seconds or (3.0 if q else 20.0)
        args.out = args.out or RESULTS / ("headtohead-quick.json" if q else "headtohead.json")
        args.algorithms = [a.strip().upper() for a in args.algorithms.split(",") if a.strip()]
        if set(args.algorithms) - {"FLAT", "HNSW"}:
            p.error(f"--algorithms takes FLAT and/or HNSW, got {args.algorithms}")
    args.throughput_sizes = args.throughput_sizes or ([1000] if q else [10_000])
    args.samples = args.samples or (300 if q else 2000)
    args.seconds = args.seconds or (0.4 if q else 2.0)
    args.throughput_seconds = args.throughput_seconds or (0.3 if q else 1.0)
    args.e2e_entries = args.e2e_entries or (300 if q else 2000)
    args.e2e_samples = args.e2e_samples or (40 if q else 300)
    args.out = args.out or RESULTS / ("speed-quick.json" if q else "speed.json")
    args.systems = [s for s in args.systems.split(",") if s]
    unknown = set(args.systems) - set(ALL_SYSTEMS)
    if unknown:
        p.error(f"unknown systems: {', '.join(sorted(unknown))}")
    return args


# -- building systems ------------------------------------------------------------


def build(
    key: str,
    url: str,
    threshold: systems.Threshold,
    *,
    dim: int,
    max_entries: int,
    embed: Callable[[list[str]], np.ndarray] | None,
    blas_threads: int = 0,
) -> systems.System:
    if key == "ours-memory":
        return systems.ours_memory(threshold=threshold, embed=embed)
    if key.startswith("ours-redis-"):
        return systems.ours_redis(url, key.rsplit("-", 1)[1].upper(), threshold=threshold, embed=embed, hnsw=HNSW)
    if key.startswith("redisvl-"):
        return systems.RedisVLSystem(
            url, key.rsplit("-", 1)[1].upper(), dim=dim, threshold=threshold, embed=embed, hnsw=HNSW
        )
    if key.startswith("gptcache-"):
        return systems.GPTCacheSystem(
            key.split("-", 1)[1],
            dim=dim,
            threshold=threshold,
            url=url,
            max_size=max_entries * 2,
            embed=embed,
            omp_threads=blas_threads,
        )
    raise ValueError(key)


def flushall(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushall()
    finally:
        client.close()


# -- the precomputed-vector part ---------------------------------------------------


def set_budget(budget: Budget, entries: int) -> Budget:
    """Writes insert new entries: cap them at a fifth of the cache so its size stays near ``entries``."""
    return replace(budget, samples=max(10, min(budget.samples, entries // 5)))


def sets_needed(args: argparse.Namespace, budget: Budget) -> int:
    total = sum(budget.warmup + set_budget(budget, n).samples for n in args.sizes)
    total += sum(len(args.threads) * set_budget(budget, n).samples for n in args.throughput_sizes)
    return total


def bench_system(
    sys_: systems.System,
    work: Workload,
    args: argparse.Namespace,
    budget: Budget,
    latency_rows: list[dict[str, Any]],
    throughput_rows: list[dict[str, Any]],
) -> None:
    loaded = 0  # entries bulk-loaded so far
    extra = 0  # entries inserted by measured sets
    cursor = 0  # next unused item of work.sets
    tbudget = Budget(samples=budget.samples, seconds=args.throughput_seconds, warmup=0)
    for n in args.sizes:
        target = max(loaded, n - extra)
        if target > loaded:
            t0 = time.perf_counter()
            sys_.load(
                work.entries.prompts[loaded:target],
                work.entries.vectors[loaded:target],
                work.responses[loaded:target],
                progress=not args.no_progress,
            )
            log(f"{sys_.name}: loaded {target - loaded:,} entries in {time.perf_counter() - t0:.1f}s")
            loaded = target
        ping = None
        if sys_.ping is not None:
            ping = runner.latency(lambda _i: sys_.ping(), 1, replace(budget, samples=min(budget.samples, 1000)))
        # lookups aim at bulk-loaded entries (the first `loaded`), which are all present
        queries: dict[str, Queries] = {
            "exact": work.exact(loaded),
            "semantic": work.semantic(loaded),
            "miss": work.miss,
        }
        for op, q in queries.items():
            r = runner.latency(lambda i, q=q: sys_.get(q, i), len(q), budget)
            latency_rows.append(_row(sys_, n, op, r, ping))
            log(
                f"{sys_.name} {n:>7,} {op:<8} p50 {r['p50_us']:>9,.1f} us  p99 {r['p99_us']:>9,.1f} us  "
                f"hit {r['hit_rate']}  {r.get('error', '')}"
            )
        sb = set_budget(budget, n)
        r = runner.latency(lambda i: sys_.set(work.sets, i), len(work.sets), sb, start=cursor)
        cursor += r["items_used"]
        extra += r["items_used"]
        latency_rows.append(_row(sys_, n, "set", r, ping))
        log(
            f"{sys_.name} {n:>7,} set      p50 {r['p50_us']:>9,.1f} us  p99 {r['p99_us']:>9,.1f} us  "
            f"{r.get('error', '')}"
        )
        if n not in args.throughput_sizes:
            continue
        for op, q in queries.items():
            for t in args.threads:
                r = runner.throughput(lambda i, q=q: sys_.get(q, i), len(q), t, tbudget)
                throughput_rows.append({"system": sys_.name, "entries": n, "op": op, **r})
                log(f"{sys_.name} {n:>7,} {op:<8} {t:>2} threads {r['ops_per_s']:>10,.0f} ops/s  errors {r['errors']}")
        for t in args.threads:
            if t > 1 and sys_.unsafe_concurrent_writes:
                throughput_rows.append(
                    {"system": sys_.name, "entries": n, "op": "set", "threads": t, "ops_per_s": None,
                     "errors": 0, "not_run": sys_.unsafe_concurrent_writes}
                )  # fmt: skip
                continue
            r = runner.throughput(
                lambda i: sys_.set(work.sets, i),
                len(work.sets),
                t,
                replace(tbudget, samples=set_budget(budget, n).samples),
                start=cursor,
            )
            cursor += r["ops"] + r["errors"]
            extra += r["ops"]
            throughput_rows.append({"system": sys_.name, "entries": n, "op": "set", **r})
            log(f"{sys_.name} {n:>7,} set      {t:>2} threads {r['ops_per_s']:>10,.0f} ops/s  errors {r['errors']}")


def _row(sys_: systems.System, n: int, op: str, r: dict[str, Any], ping: dict[str, Any] | None) -> dict[str, Any]:
    row = {"system": sys_.name, "entries": n, "op": op, **r}
    if ping is not None:
        row["ping_p50_us"] = ping["p50_us"]
        row["ping_p99_us"] = ping["p99_us"]
    return row


def bench_ping(url: str, args: argparse.Namespace, budget: Budget, throughput_rows: list[dict[str, Any]]) -> dict:
    import redis

    client = redis.Redis.from_url(url)
    try:
        r = runner.latency(lambda _i: client.ping(), 1, budget)
        log(f"Redis PING p50 {r['p50_us']:.1f} us  p99 {r['p99_us']:.1f} us")
        for t in args.threads:
            tr = runner.throughput(
                lambda _i: client.ping(),
                1,
                t,
                Budget(samples=budget.samples, seconds=args.throughput_seconds, warmup=0),
            )
            for n in args.throughput_sizes:
                throughput_rows.append({"system": "Redis PING", "entries": n, "op": "ping", **tr})
        return r
    finally:
        client.close()


# -- the end-to-end part -------------------------------------------------------------


def bench_e2e(url: str, args: argparse.Namespace, threshold: systems.Threshold) -> dict[str, Any]:
    from redis_semcache.embeddings import default_embedder

    stored, new = e2e_prompts(args.e2e_data, args.e2e_entries, args.e2e_samples)
    model = default_embedder()
    t0 = time.perf_counter()
    model.warmup()
    log(f"e2e: model loaded in {time.perf_counter() - t0:.1f}s")

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(model(texts), dtype=np.float32)

    from tqdm.auto import tqdm

    vectors = np.concatenate(
        [
            embed(stored[lo : lo + 64])
            for lo in tqdm(
                range(0, len(stored), 64), desc="embedding stored prompts", disable=args.no_progress, leave=False
            )
        ]
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    repeat = Queries(stored[: args.e2e_samples], vectors[: args.e2e_samples])
    fresh = Queries(new, np.zeros((len(new), vectors.shape[1]), dtype=np.float32))
    budget = Budget(samples=args.e2e_samples, seconds=60.0, warmup=0)
    out: dict[str, Any] = {
        "entries": len(stored),
        "samples": args.e2e_samples,
        "data": str(args.e2e_data),
        "model": getattr(model, "embedder_id", type(model).__name__),
        "latency": [],
        "skipped": [],
    }
    embed_one = runner.latency(lambda i: bool(len(embed([new[i]]))), len(new), budget)
    embed_one.pop("hit_rate", None)
    out["embed_one"] = embed_one
    log(f"e2e: embedding one prompt p50 {embed_one['p50_us']:,.0f} us")
    for key in [k for k in E2E_SYSTEMS if k in args.systems]:
        flushall(url)
        try:
            sys_ = build(
                key,
                url,
                threshold,
                dim=vectors.shape[1],
                max_entries=len(stored) * 2,
                embed=embed,
                blas_threads=args.blas_threads,
            )
        except systems.SystemUnavailable as exc:
            out["skipped"].append({"system": key, "reason": str(exc)})
            continue
        try:
            sys_.load(stored, vectors, [f"answer {i}" for i in range(len(stored))], progress=not args.no_progress)
            for op, q in (("repeat", repeat), ("new", fresh)):
                # no warmup and no cycling: every lookup sees its prompt for the first time
                r = runner.latency(lambda i, q=q, s=sys_: s.get(q, i), len(q), budget)
                out["latency"].append({"system": sys_.name, "op": op, **r})
                log(
                    f"e2e {sys_.name:<16} {op:<6} p50 {r['p50_us']:>9,.0f} us  p99 {r['p99_us']:>9,.0f} us  "
                    f"hit {r['hit_rate']}  {r.get('error', '')}"
                )
        finally:
            sys_.close()
    flushall(url)
    return out


# -- the run ---------------------------------------------------------------------------


def limit_threads(n: int) -> None:
    """One policy for both in-process vector libraries: numpy's BLAS and faiss's OpenMP.

    A single query's matrix-vector product split over threads spin-waits badly
    on a small shared machine (on 2 busy cores a 10k x 384 product went from
    0.5 ms to 3-8 ms), so the default is one thread for both.
    """
    if n <= 0:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)
    try:
        import faiss  # type: ignore[import-untyped]
    except ImportError:
        return
    faiss.omp_set_num_threads(n)


def render(results: dict[str, Any], out: Path) -> str:
    """Write ``out``'s .md and .png siblings from ``results`` (either mode's); return the Markdown."""
    if "ratios" in results:  # a head-to-head run
        md = headtohead_report.markdown_report(results)
        headtohead_report.plot_ratios(results, out.with_suffix(".png"))
    else:
        md = report.markdown_report(results)
        report.plot_latency(results, out.with_suffix(".png"))
    out.with_suffix(".md").write_text(md, encoding="utf-8")
    return md


_NUMBER_LIST = re.compile(r"\[[-\d.eE+,\s]*\d[-\d.eE+,\s]*\]")


def write_results(results: dict[str, Any], out: Path) -> None:
    """JSON with one item per line, except lists of numbers (the raw timings), which stay on one line."""
    text = json.dumps(results, indent=1, default=str)
    text = _NUMBER_LIST.sub(lambda m: re.sub(r"\s+", "", m[0]).replace(",", ", "), text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")


def main_head_to_head(args: argparse.Namespace, argv: list[str] | None) -> int:
    started = time.time()
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    limit_threads(args.blas_threads)
    settings = headtohead.Settings(
        sizes=args.sizes,
        algorithms=args.algorithms,
        samples=args.samples,
        seconds=args.seconds,
        batch=args.batch,
        threshold=args.threshold,
        ours_options={} if args.vector_dtype is None else {"vector_dtype": args.vector_dtype},
        peer_hnsw={
            name: value
            for name, value in (("ef_runtime", args.redisvl_ef_runtime), ("epsilon", args.redisvl_epsilon))
            if value is not None
        },
        progress=not args.no_progress,
    )
    budget = headtohead.expected_seconds(settings)
    log(
        f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; expected: about "
        f"{budget['loading']} s loading, at most {budget['measuring_at_most']} s measuring"
    )
    with redis_server(args.redis_url) as rinfo:
        log(f"Redis {rinfo.redis_version} modules {rinfo.modules} at {rinfo.url}")
        part = headtohead.run(rinfo.url, settings)
        mach = machine(rinfo)
    results = {**run_record("bench.bench_ops", argv, started, t_start, load_before, mach), **part}
    write_results(results, args.out)
    print(render(results, args.out))
    log(f"wrote {args.out} and its .md and .png in {results['duration_s']:.0f}s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render is not None:
        print(render(json.loads(args.render.read_text(encoding="utf-8")), args.render))
        return 0
    if args.head_to_head:
        return main_head_to_head(args, argv)
    started = time.time()
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    limit_threads(args.blas_threads)
    budget = Budget(samples=args.samples, seconds=args.seconds)
    threshold = systems.Threshold(args.threshold)
    max_entries = max(args.sizes)
    log(f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; building workload")
    work = Workload(max_entries, queries=args.samples + budget.warmup, sets=sets_needed(args, budget))
    latency_rows: list[dict[str, Any]] = []
    throughput_rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    infos: dict[str, Any] = {}
    with redis_server(args.redis_url) as rinfo:
        log(f"Redis {rinfo.redis_version} modules {rinfo.modules} at {rinfo.url}")
        flushall(rinfo.url)
        ping = bench_ping(rinfo.url, args, budget, throughput_rows)
        for key in args.systems:
            flushall(rinfo.url)
            try:
                sys_ = build(
                    key,
                    rinfo.url,
                    threshold,
                    dim=work.dim,
                    max_entries=max_entries,
                    embed=None,
                    blas_threads=args.blas_threads,
                )
            except systems.SystemUnavailable as exc:
                log(f"{key}: skipped: {exc}")
                skipped.append({"system": key, "reason": str(exc)})
                continue
            infos[sys_.name] = sys_.info
            try:
                bench_system(sys_, work, args, budget, latency_rows, throughput_rows)
            finally:
                sys_.close()
        flushall(rinfo.url)
        e2e = None if args.no_e2e else bench_e2e(rinfo.url, args, threshold)
        mach = machine(rinfo)
    results = {
        **run_record("bench.bench_ops", argv, started, t_start, load_before, mach),
        "config": {
            "sizes": args.sizes,
            "threads": args.threads,
            "throughput_sizes": args.throughput_sizes,
            "samples": args.samples,
            "seconds_cap": args.seconds,
            "throughput_seconds": args.throughput_seconds,
            "dim": work.dim,
            "semantic_query_similarity": work.similarity,
            "threshold_cosine": args.threshold,
            "hnsw": HNSW,
            "blas_threads": args.blas_threads or "library defaults",
        },
        "systems": infos,
        "skipped": skipped,
        "ping": ping,
        "latency": latency_rows,
        "throughput": throughput_rows,
        "e2e": e2e,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    print(render(results, args.out))
    log(f"wrote {args.out} and its .md and .png in {results['duration_s']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
