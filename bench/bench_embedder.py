"""The embedder end to end, interleaved with RedisVL SemanticCache + HFTextVectorizer on the same model files.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_embedder.py              # every section
    PYTHONPATH=$PWD .venv/bin/python bench/bench_embedder.py --sections cosine,cold,threads

Sections (results in bench/results/embedder.json, ``--out``):

* ``cosine``  - min cosine of the default embedder against sentence-transformers (torch) on 200 texts;
* ``cold``    - fresh processes to their first embedding (ours, and RedisVL's vectorizer), plus the
                largest imports of ours from ``python -X importtime``;
* ``threads`` - ms per embedding with 1 and 2 intra-op threads, idle and while another process keeps
                one core busy;
* ``e2e``     - a real Redis (tests/redis_server.LocalRedis); both caches with default settings hold
                ``--stored`` questions; then, alternating the two in small batches: a new prompt's lookup
                (p50), a repeated prompt's, and lookups/s of 1, 8 and 32 threads on distinct new prompts.
                Each also records this process's CPU time per lookup (all its threads): on a machine
                shared with other jobs, wall-clock rates depend on how many runnable threads a system
                has (the scheduler shares the cores per thread), CPU per lookup does not.

Questions come from ../shared/data/qqp_val.csv; every "new" prompt is new to both caches.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import numpy as np  # noqa: E402
from bench_embeddings import DEFAULT_DATA, load_pairs, machine, summary_ms  # noqa: E402

from redis_semcache.embeddings import SentenceTransformerEmbedder, default_embedder  # noqa: E402
from redis_semcache.embeddings.sentence_transformer import bundled_model_path  # noqa: E402

DEFAULT_OUT = ROOT / "bench" / "results" / "embedder.json"
SECTIONS = ("cosine", "cold", "threads", "e2e")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def questions(path: Path) -> Iterator[str]:
    """Distinct questions, in file order."""
    seen: set[str] = set()
    for q1, q2, _ in load_pairs(path, 1_000_000):
        for q in (q1, q2):
            if q not in seen:
                seen.add(q)
                yield q


def fresh(code: str, env: dict[str, str] | None = None) -> tuple[float, dict[str, Any], str]:
    """Run ``code`` in a new interpreter: wall seconds from spawn to exit, its last JSON line, its stderr."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, *code.split("\0")] if "\0" in code else [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        check=True,
    )
    return time.perf_counter() - started, json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


# -- sections --------------------------------------------------------------------------


def bench_cosine(texts: list[str]) -> dict[str, Any]:
    ours = default_embedder()(texts)
    reference = SentenceTransformerEmbedder()(texts)
    cosines = np.sum(ours * reference, axis=1)
    return {"texts": len(texts), "runtime": default_embedder().runtime, "min_cosine": float(cosines.min())}


OURS_FIRST = (
    "import json, time\nt = time.perf_counter()\n"
    "from redis_semcache.embeddings import default_embedder\n"
    "e = default_embedder(); e(['How do I reset my password?'])\n"
    "print(json.dumps({'in_process_s': time.perf_counter() - t, 'runtime': e.runtime}))\n"
)
PEER_FIRST = (
    "import json, time\nt = time.perf_counter()\n"
    "from redisvl.utils.vectorize import HFTextVectorizer\n"
    "v = HFTextVectorizer(model={path!r}); v.embed('How do I reset my password?')\n"
    "print(json.dumps({{'in_process_s': time.perf_counter() - t}}))\n"
)


def bench_cold(repeats: int) -> dict[str, Any]:
    default_embedder().warmup()  # the on-disk export exists before the clock starts
    ours, peer = [], []
    for _ in range(repeats):
        wall, got, _ = fresh(OURS_FIRST)
        ours.append(
            {"wall_s": round(wall, 3), "in_process_s": round(got["in_process_s"], 3), "runtime": got["runtime"]}
        )
        wall, got, _ = fresh(PEER_FIRST.format(path=bundled_model_path()))
        peer.append({"wall_s": round(wall, 3), "in_process_s": round(got["in_process_s"], 3)})
    _, _, importtime = fresh(f"-X\0importtime\0-c\0{OURS_FIRST}")
    return {
        "ours": ours,
        "redisvl_hftextvectorizer": peer,
        "ours_wall_p50_s": float(np.median([r["wall_s"] for r in ours])),
        "redisvl_wall_p50_s": float(np.median([r["wall_s"] for r in peer])),
        "ours_largest_imports_ms": largest_imports(importtime),
    }


def largest_imports(stderr: str, top: int = 8) -> dict[str, float]:
    """Top-level packages by cumulative import time, from ``-X importtime`` output."""
    found: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if cumulative.isdigit() and not name.startswith(" ") and "." not in name:
            found[name] = max(found.get(name, 0.0), int(cumulative) / 1000.0)
    return dict(sorted(found.items(), key=lambda kv: -kv[1])[:top])


def bench_threads(texts: list[str], rounds: int, per_round: int) -> dict[str, Any]:
    """ms per single-text embedding with 1 and 2 intra-op threads: on an idle machine, then with one
    core kept busy by another process (``busy_core``)."""
    from redis_semcache.embeddings import OnnxEmbedder

    runtimes: dict[str, Callable[[list[str]], Any]] = {}
    for n in (1, 2):
        onnx = OnnxEmbedder(bundled_model_path(), "all-MiniLM-L6-v2", embedding_threads=n)
        runtimes[f"onnxruntime-{n}"] = onnx
        runtimes[f"torch-{n}"] = SentenceTransformerEmbedder(embedding_threads=n)
    for embed in runtimes.values():
        embed(["warm up"])
    out: dict[str, Any] = {}
    for busy in (False, True):
        burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        times: dict[str, list[float]] = {name: [] for name in runtimes}
        try:
            for r in range(rounds):
                for name, embed in runtimes.items():
                    for text in texts[r * per_round : (r + 1) * per_round]:
                        t = time.perf_counter()
                        embed([text])
                        times[name].append(time.perf_counter() - t)
        finally:
            if burner is not None:
                burner.kill()
                burner.wait()
        row: dict[str, Any] = {name: summary_ms(ts) for name, ts in times.items()}
        for rt in ("onnxruntime", "torch"):
            row[f"{rt}_2_over_1_p50"] = round(row[f"{rt}-2"]["p50_ms"] / row[f"{rt}-1"]["p50_ms"], 3)
        out["busy_core" if busy else "idle"] = row
    return out


def bench_e2e(pool: Iterator[str], stored: list[str], args: argparse.Namespace) -> dict[str, Any]:
    from redisvl.extensions.cache.llm import SemanticCache
    from redisvl.utils.vectorize import HFTextVectorizer

    from redis_semcache import create_redis_cache_manager
    from tests.redis_server import LocalRedis

    server = LocalRedis().start()
    try:
        ours = create_redis_cache_manager(url=server.url, enable_semantic=True, backend_kwargs={"name": "bench_ours"})
        peer = SemanticCache(
            name="bench_redisvl", redis_url=server.url, vectorizer=HFTextVectorizer(model=bundled_model_path())
        )
        get: dict[str, Callable[[str], Any]] = {
            "ours": lambda p: ours.get(p),
            "redisvl": lambda p: peer.check(prompt=p),
        }
        for q in stored:
            ours.set(q, f"answer to {q}")
            peer.store(prompt=q, response=f"answer to {q}")
        for name in get:
            get[name]("warm up the model and the connection")
        take = lambda n: [next(pool) for _ in range(n)]  # noqa: E731
        results: dict[str, Any] = {"stored": len(stored), "torch_threads": _torch_threads()}
        results["new_prompt"] = latency(get, take, args.rounds, args.batch, repeat=False)
        results["repeated_prompt"] = latency(get, take, args.rounds, args.batch, repeat=True)
        service = ours.engine.embeddings
        batcher = service.batcher if service is not None else None
        embedder = service.embedder if service is not None else None
        results["runtime"] = {"ours": getattr(embedder, "runtime", None), "batcher": _batcher_settings(batcher)}
        results["throughput"] = {}
        for t in args.threads:
            seen = Counter(batcher.batch_sizes) if batcher is not None else Counter()
            results["throughput"][str(t)] = throughput(get, take, t, args.rounds, args.per_thread)
            if batcher is not None:  # ours: texts per embedder call -> calls, in this row
                results["throughput"][str(t)]["ours_batch_sizes"] = dict(sorted((batcher.batch_sizes - seen).items()))
        ours.close()
        return results
    finally:
        server.stop()


def _batcher_settings(batcher: Any) -> dict[str, Any] | None:
    if batcher is None:
        return None
    return {k: getattr(batcher, k) for k in ("concurrency", "max_batch", "max_wait", "linger")}


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def latency(
    get: dict[str, Callable[[str], Any]], take: Callable[[int], list[str]], rounds: int, batch: int, repeat: bool
) -> dict[str, Any]:
    """Single-caller lookups, the two systems alternating in batches of ``batch`` (order flipped each round)."""
    times: dict[str, list[float]] = {name: [] for name in get}
    cpu: dict[str, float] = dict.fromkeys(get, 0.0)
    for r in range(rounds):
        prompts = take(batch)
        if repeat:
            for name in get:
                for p in prompts:
                    get[name](p)  # seen once: the timed lookups repeat it
        order = list(get) if r % 2 == 0 else list(reversed(get))
        for name in order:
            c = time.process_time()
            for p in prompts:
                t = time.perf_counter()
                get[name](p)
                times[name].append(time.perf_counter() - t)
            cpu[name] += time.process_time() - c
    out: dict[str, Any] = {name: summary_ms(ts) for name, ts in times.items()}
    out["ours_over_redisvl_p50"] = round(out["ours"]["p50_ms"] / out["redisvl"]["p50_ms"], 4)
    out["cpu_ms_per_lookup"] = {name: round(1000 * c / len(times[name]), 2) for name, c in cpu.items()}
    out["ours_over_redisvl_cpu"] = round(cpu["ours"] / cpu["redisvl"], 4)
    return out


def throughput(
    get: dict[str, Callable[[str], Any]], take: Callable[[int], list[str]], threads: int, rounds: int, per_thread: int
) -> dict[str, Any]:
    """Lookups/s of ``threads`` callers on distinct new prompts; alternating systems, same prompts for both."""
    rates: dict[str, list[float]] = {name: [] for name in get}
    cpu: dict[str, list[float]] = {name: [] for name in get}
    with ThreadPoolExecutor(threads) as pool:
        for r in range(rounds):
            prompts = take(threads * per_thread)
            chunks = [prompts[i::threads] for i in range(threads)]
            order = list(get) if r % 2 == 0 else list(reversed(get))
            for name in order:
                lookup = get[name]
                t, c = time.perf_counter(), time.process_time()
                list(pool.map(lambda chunk, f=lookup: [f(p) for p in chunk], chunks))
                rates[name].append(len(prompts) / (time.perf_counter() - t))
                cpu[name].append(1000 * (time.process_time() - c) / len(prompts))
    out: dict[str, Any] = {name: [round(x, 1) for x in rs] for name, rs in rates.items()}
    out["cpu_ms_per_lookup"] = {name: [round(x, 2) for x in cs] for name, cs in cpu.items()}
    cpu_ratios = [o / p for o, p in zip(cpu["ours"], cpu["redisvl"], strict=True)]
    out["ours_over_redisvl_cpu_median"] = round(float(np.median(cpu_ratios)), 3)
    ratios = [o / p for o, p in zip(rates["ours"], rates["redisvl"], strict=True)]
    out["ours_over_redisvl_per_round"] = [round(x, 2) for x in ratios]
    out["ours_over_redisvl_median"] = round(float(np.median(ratios)), 2)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--stored", type=int, default=200, help="questions stored in each cache before the lookups")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--batch", type=int, default=10, help="lookups per system per turn in the latency sections")
    p.add_argument("--threads", default="1,8,32")
    p.add_argument("--per-thread", type=int, default=4, help="new prompts per thread per round (throughput)")
    p.add_argument("--cold-repeats", type=int, default=5)
    args = p.parse_args(argv)
    args.sections = [s for s in args.sections.split(",") if s]
    args.threads = [int(t) for t in args.threads.split(",")]
    if unknown := set(args.sections) - set(SECTIONS):
        p.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pool = questions(args.data)
    results: dict[str, Any] = {
        "command": "bench/bench_embedder.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if "cosine" in args.sections:
        log("cosine against sentence-transformers")
        results["cosine"] = bench_cosine([next(pool) for _ in range(200)])
    if "cold" in args.sections:
        log("fresh processes to the first embedding")
        results["cold"] = bench_cold(args.cold_repeats)
    if "threads" in args.sections:
        log("1 and 2 intra-op threads, idle and with one core busy")
        results["threads"] = bench_threads([next(pool) for _ in range(args.rounds * 10)], args.rounds, 10)
    if "e2e" in args.sections:
        log("end to end against RedisVL")
        results["e2e"] = bench_e2e(pool, [next(pool) for _ in range(args.stored)], args)
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
