"""HNSW recall@1 against EF_RUNTIME, on the head-to-head benchmark's data, beside a FLAT scan.

    python -m bench.hnsw_recall                      # 10,000 entries
    python -m bench.hnsw_recall --entries 100000     # ~7 minutes to build on 2 busy cores
    python -m bench.hnsw_recall --kinds near,random --similarity 0.9 --flat --out bench/results/x.json

Stores the benchmark workload's random 384-d unit vectors (bench/speed/workload.py,
FLOAT16, M 16, EF_CONSTRUCTION 200) in one HNSW index, asks its semantic queries
(each at cosine 0.95 of one stored vector) with the lookup script's two KNN
queries for a large scope, at several EF_RUNTIME values: ``filtered`` (scope
filter, HYBRID_POLICY BATCHES) and ``whole`` (no filter: the script's query when
the scope holds every entry, as in the head-to-head benchmark).  ``--epsilons``
also times RedisVL's form, ``SemanticCache.check``'s range query at radius 0.1
(threshold 0.9), at each EPSILON given.  Prints recall@1 against numpy brute
force with the median round trip.  Random stored vectors are the hard case for
HNSW; real embeddings reach the same recall at a lower EF_RUNTIME (docs/design.md).  The
"auto" EF_RUNTIME of lookup.lua is fitted to these results.

``--kinds`` picks the queries: ``near`` (the default: near duplicates, each at
cosine ``--similarity`` of one stored vector - what a cache hit looks like) and
``random`` (fresh random vectors, whose nearest stored one is at cosine ~0.2:
what a miss looks like; HNSW finds the true nearest of those far less often,
which costs a cache nothing, since any of them is a miss).  ``--flat`` also
times the same whole-cache KNN on a FLAT index of the same vectors (exact), the
latency HNSW has to beat.  Writes ``--out`` (default
bench/results/hnsw_recall-<entries>.json).  Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.speed.record import log
from bench.speed.server import redis_server
from bench.speed.workload import Workload

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=10_000)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--ef", default="10,20,40,80,160", help="EF_RUNTIME values, comma separated")
    p.add_argument("--epsilons", default="", help="EPSILON values of the range query, comma separated")
    p.add_argument("--kinds", default="near", help="query kinds, comma separated: near, random")
    p.add_argument("--similarity", type=float, default=0.95, help="cosine of a near query to its stored vector")
    p.add_argument("--flat", action="store_true", help="also time a FLAT index of the same vectors")
    p.add_argument("--redis-url", help="a Redis Stack to use (it gets FLUSHALLed!); default: start one")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    work = Workload(args.entries, queries=args.queries, sets=10, similarity=args.similarity)
    vectors = work.entries.vectors[: args.entries]
    kinds = {"near": work.semantic(args.entries).vectors, "random": work.miss.vectors}
    asked = {kind: kinds[kind] for kind in args.kinds.split(",")}
    truth = {kind: np.argmax(q @ vectors.T, axis=1) for kind, q in asked.items()}
    import redis

    from redis_semcache.backends.redis.codec import parse_info

    rows = []
    with redis_server(args.redis_url) as info:
        client = redis.Redis.from_url(info.url, protocol=2)
        client.flushall()
        params = ["TYPE", "FLOAT16", "DIM", 384, "DISTANCE_METRIC", "COSINE"]
        for algorithm, prefix, extra in (("HNSW", "h", ["M", 16, "EF_CONSTRUCTION", 200]), ("FLAT", "f", [])):
            if algorithm == "FLAT" and not args.flat:
                continue
            client.execute_command(
                "FT.CREATE", prefix, "ON", "HASH", "PREFIX", 1, f"{prefix}:", "SCHEMA", "s", "TAG",
                "v", "VECTOR", algorithm, 6 + len(extra), *params[:6], *extra,
            )  # fmt: skip
            t0 = time.perf_counter()
            pipe = client.pipeline(transaction=False)
            for i, vec in enumerate(vectors):
                pipe.hset(f"{prefix}:{i}", mapping={"s": "a", "v": vec.astype("<f2").tobytes()})
                if i % 1000 == 999:
                    pipe.execute()
            pipe.execute()
            while int(parse_info(client.execute_command("FT.INFO", prefix)).get("indexing", 0)):
                time.sleep(0.2)
            log(f"built {args.entries:,} {algorithm} entries in {time.perf_counter() - t0:.0f} s")
        texts = {
            "filtered": "(@s:{a})=>[KNN 4 @v $vec EF_RUNTIME $ef HYBRID_POLICY BATCHES AS dist]",
            "whole": "*=>[KNN 4 @v $vec EF_RUNTIME $ef AS dist]",
        }
        # (index, query, its text, its knob): EF_RUNTIME for the KNN forms, EPSILON for the range query
        forms = [("h", name, text, ("ef", int(ef))) for ef in args.ef.split(",") for name, text in texts.items()]
        for eps in filter(None, args.epsilons.split(",")):
            text = f"@v:[VECTOR_RANGE 0.1 $vec]=>{{$YIELD_DISTANCE_AS: dist; $EPSILON: {float(eps)}}}"
            forms.append(("h", "range", text, ("epsilon", float(eps))))
        if args.flat:
            forms.append(("f", "flat whole", "*=>[KNN 4 @v $vec AS dist]", ("ef", None)))
        for kind, queries in asked.items():
            for index, name, text, (knob, value) in forms:
                params = ["vec", b"", "ef", value] if knob == "ef" and value is not None else ["vec", b""]
                found, times = 0, []
                for j, vec in enumerate(queries):
                    params[1] = vec.astype("<f2").tobytes()
                    t1 = time.perf_counter()
                    reply = client.execute_command(
                        "FT.SEARCH", index, text, "RETURN", 1, "dist", "SORTBY", "dist", "LIMIT", 0, 4, "DIALECT", 2,
                        "PARAMS", len(params), *params,
                    )  # fmt: skip
                    times.append(time.perf_counter() - t1)
                    found += bool(reply[0]) and reply[1].decode() == f"{index}:{truth[kind][j]}"
                row = {"kind": kind, "query": name, knob: value, "recall_at_1": found / len(queries),
                       "p50_us": float(np.median(times)) * 1e6}  # fmt: skip
                rows.append(row)
                print(f"{args.entries:,} entries, {kind:>6} {name:>10} {knob} {value!s:>5}: "
                      f"recall@1 {row['recall_at_1']:.3f}, p50 {row['p50_us']:,.0f} us")  # fmt: skip
        client.flushall()
        client.close()
    out = args.out or ROOT / "bench" / "results" / f"hnsw_recall-{args.entries}.json"
    out.write_text(json.dumps({"command": "python -m bench.hnsw_recall " + " ".join(argv or sys.argv[1:]),
                               "entries": args.entries, "near_similarity": args.similarity,
                               "load_average": list(os.getloadavg()), "rows": rows}, indent=1) + "\n",
                   encoding="utf-8")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
