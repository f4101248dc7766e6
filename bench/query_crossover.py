"""Which semantic query is cheapest for a scope holding a given share of the cache.

    python -m bench.query_crossover                        # 10k entries, FLAT and HNSW, FLOAT16
    python -m bench.query_crossover --entries 100000 --algorithms FLAT

Builds one index of ``--entries`` random 384-d unit vectors whose documents
carry one TAG per share (a document is in the share-s scope with probability
s), then times, interleaved, the three forms lookup.lua can run for a scope
of each share (the exact sentence RediSearch runs, from the client):

* ``range``: ``@scope:{a} @v:[VECTOR_RANGE r $vec]`` (FLAT only: exact there);
* ``knn``: ``(@scope:{a})=>[KNN 4 @v $vec]`` with ``HYBRID_POLICY BATCHES``
  (and ``EF_RUNTIME`` on HNSW);
* ``adhoc``: the same KNN with ``HYBRID_POLICY ADHOC_BF`` (distances of the
  scope's documents only);
* ``whole``, at share 1.0 only: the range query on FLAT or the KNN on HNSW
  without the filter, which the script runs when the scope holds every entry.

Prints the median server round trip of each, per share, and writes
bench/results/query_crossover-<algorithm>-<entries>.json.  The crossover it
shows is the rule in queries.SMALL_SCOPE_DIVISOR.  Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.speed.record import log
from bench.speed.server import redis_server
from bench.speed.workload import unit_rows

ROOT = Path(__file__).resolve().parent.parent
SHARES = (0.01, 0.05, 0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 1.0)


def build(client, algorithm: str, dtype: str, vectors: np.ndarray, rng: np.random.Generator) -> None:
    params = ["TYPE", dtype, "DIM", vectors.shape[1], "DISTANCE_METRIC", "COSINE"]
    if algorithm == "HNSW":
        params += ["M", 16, "EF_CONSTRUCTION", 200]
    tags = [x for j in range(len(SHARES)) for x in (f"s{j}", "TAG")]
    vector = ["v", "VECTOR", algorithm, len(params), *params]
    client.execute_command("FT.CREATE", "x", "ON", "HASH", "PREFIX", 1, "x:", "SCHEMA", *tags, *vector)
    np_type = "<f2" if dtype == "FLOAT16" else "<f4"
    draws = rng.random((len(vectors), len(SHARES)))
    pipe = client.pipeline(transaction=False)
    for i, vec in enumerate(vectors):
        doc = {f"s{j}": "a" if draws[i, j] < share else "b" for j, share in enumerate(SHARES)}
        pipe.hset(f"x:{i}", mapping={**doc, "v": vec.astype(np_type).tobytes()})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    from redis_semcache.backends.redis.codec import parse_info

    while int(parse_info(client.execute_command("FT.INFO", "x")).get("indexing", 0)):
        time.sleep(0.1)


def forms(algorithm: str, j: int, radius: float, ef: int, *, whole: bool) -> dict[str, str]:
    where = f"@s{j}:{{a}}"
    out = {}
    vector_range = f"@v:[VECTOR_RANGE {radius} $vec]=>{{$YIELD_DISTANCE_AS: dist}}"
    if algorithm == "FLAT":
        out["range"] = f"{where} {vector_range}"
    ef_text = f" EF_RUNTIME {ef}" if algorithm == "HNSW" else ""
    out["knn"] = f"({where})=>[KNN 4 @v $vec{ef_text} HYBRID_POLICY BATCHES AS dist]"
    out["adhoc"] = f"({where})=>[KNN 4 @v $vec HYBRID_POLICY ADHOC_BF AS dist]"
    if whole:
        out["whole"] = vector_range if algorithm == "FLAT" else f"*=>[KNN 4 @v $vec{ef_text} AS dist]"
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=10_000)
    p.add_argument("--algorithms", default="FLAT,HNSW")
    p.add_argument("--dtype", default="FLOAT16", choices=("FLOAT16", "FLOAT32"))
    p.add_argument("--queries", type=int, default=50, help="query vectors per share and form, per round")
    p.add_argument("--rounds", type=int, default=4, help="interleaved rounds (the forms alternate)")
    p.add_argument("--radius", type=float, default=0.08, help="range radius: 1 - threshold")
    p.add_argument("--ef-runtime", type=int, default=10)
    p.add_argument("--redis-url", help="a Redis Stack to use (it gets FLUSHALLed!); default: start one")
    args = p.parse_args(argv)
    rng = np.random.default_rng(7)
    vectors = unit_rows(rng, args.entries, 384)
    queries = unit_rows(rng, args.queries, 384)
    np_type = "<f2" if args.dtype == "FLOAT16" else "<f4"
    blobs = [q.astype(np_type).tobytes() for q in queries]
    import redis

    with redis_server(args.redis_url) as info:
        client = redis.Redis.from_url(info.url, protocol=2)
        for algorithm in args.algorithms.split(","):
            client.flushall()
            log(f"{algorithm}: building {args.entries:,} entries")
            build(client, algorithm, args.dtype, vectors, rng)
            rows = []
            for j, share in enumerate(SHARES):
                texts = forms(algorithm, j, args.radius, args.ef_runtime, whole=share == 1.0)
                times: dict[str, list[float]] = {name: [] for name in texts}
                for _ in range(args.rounds):
                    for name, text in texts.items():
                        for blob in blobs:
                            t0 = time.perf_counter()
                            client.execute_command(
                                "FT.SEARCH", "x", text, "RETURN", 1, "dist", "SORTBY", "dist", "LIMIT", 0, 4,
                                "PARAMS", 2, "vec", blob, "DIALECT", 2,
                            )  # fmt: skip
                            times[name].append(time.perf_counter() - t0)
                row = {"share": share, **{name: float(np.median(t)) * 1e6 for name, t in times.items()}}
                rows.append(row)
                print(f"{algorithm} share {share:4.2f}  " + "  ".join(f"{n} {row[n]:8.0f} us" for n in texts))
            out = ROOT / "bench" / "results" / f"query_crossover-{algorithm.lower()}-{args.entries}.json"
            out.write_text(
                json.dumps(
                    {
                        "command": "python -m bench.query_crossover " + " ".join(argv or sys.argv[1:]),
                        "dtype": args.dtype,
                        "entries": args.entries,
                        "rows": rows,
                    },
                    indent=1,
                )
                + "\n"
            )
        client.flushall()
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
