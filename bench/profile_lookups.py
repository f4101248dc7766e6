"""Where the CPU of a lookup goes when N threads look up distinct new prompts (ours alone).

    # the lookups, sampled by py-spy (pip install py-spy), then the share of each function:
    PYTHONPATH=$PWD py-spy record -r 200 -f raw -o /tmp/lookups.txt -- .venv/bin/python bench/profile_lookups.py
    PYTHONPATH=$PWD .venv/bin/python bench/profile_lookups.py --summarise /tmp/lookups.txt

The run stores ``--stored`` Quora questions in a throwaway Redis (tests/redis_server.LocalRedis), then
``--threads`` threads each look up ``--per-thread`` new questions per round and it prints lookups/s and
this process's CPU time per lookup. ``--summarise`` reads py-spy's raw output and prints, for samples
inside the lookups only, the share of samples in which each function is on the stack and the share
in which it is the innermost frame (py-spy counts a thread parked in ``Condition.wait`` as active:
read those rows as waiting, not CPU).
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_embedder import questions  # noqa: E402
from bench_embeddings import DEFAULT_DATA  # noqa: E402

LOOKUP_FRAME = "<lambda> (profile_lookups.py"


def run(args: argparse.Namespace) -> None:
    from redis_semcache import create_redis_cache_manager
    from tests.redis_server import LocalRedis

    pool = questions(args.data)
    server = LocalRedis().start()
    try:
        cache = create_redis_cache_manager(url=server.url, enable_semantic=True, backend_kwargs={"name": "profile"})
        for _ in range(args.stored):
            question = next(pool)
            cache.set(question, f"answer to {question}")
        cache.get("warm up the model and the connection")
        with ThreadPoolExecutor(args.threads) as executor:
            for _ in range(args.rounds):
                prompts = [next(pool) for _ in range(args.threads * args.per_thread)]
                chunks = [prompts[i :: args.threads] for i in range(args.threads)]
                wall, cpu = time.perf_counter(), time.process_time()
                list(executor.map(lambda chunk: [cache.get(p) for p in chunk], chunks))
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                print(f"{len(prompts) / wall:.1f} lookups/s, {1000 * cpu / len(prompts):.2f} ms CPU per lookup")
        cache.close()
    finally:
        server.stop()


def summarise(raw: Path, top: int) -> None:
    total = 0
    on_stack: collections.Counter[str] = collections.Counter()
    innermost: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if LOOKUP_FRAME not in stack:
            continue  # setup, the main thread waiting for the pool
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        for name in set(frames):
            on_stack[name] += n
        innermost[frames[-1]] += n
    print(f"{total} samples inside lookups")
    for title, counter in (("on the stack", on_stack), ("innermost", innermost)):
        print(f"-- {title}")
        for name, n in counter.most_common(top):
            print(f"{100 * n / max(total, 1):5.1f}%  {name}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--per-thread", type=int, default=4)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--stored", type=int, default=200)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--summarise", type=Path, help="py-spy raw output to summarise instead of running")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    if args.summarise:
        summarise(args.summarise, args.top)
    else:
        run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
