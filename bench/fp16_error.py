"""How far FLOAT16 and BFLOAT16 vectors move RediSearch's cosine distances, on real embeddings.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.fp16_error            # 4,000 qqp_val pairs
    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.fp16_error --pairs 12000

Embeds question1 (stored) and question2 (asked) of ``--pairs`` rows of
../shared/data/qqp_val.csv with the built-in all-MiniLM-L6-v2, stores the
question1 vectors in three FLAT indexes of one Redis (FLOAT32, FLOAT16 and
BFLOAT16, each encoded as the library encodes it: ``_vectors.to_bytes``), asks
every question2 for its 10 nearest in each, and compares each reported distance
with the float64 cosine distance computed by numpy.  Prints the largest errors
and how many accept/reject decisions at the usual thresholds differ from
float64's.  Then, for random unit vectors of 8, 32 and 384 dimensions, the
distance at which each comes back when asked for itself (exactly 0), in each
reduced type; and the slack the library allows (``_vectors.distance_slack``)
beside the largest error seen.  Writes
bench/results/fp16_error.json.  Asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.speed.record import log
from bench.speed.server import redis_server
from redis_semcache._vectors import distance_slack, to_bytes

ROOT = Path(__file__).resolve().parent.parent
THRESHOLDS = (0.8, 0.85, 0.9, 0.92, 0.95)
DTYPES = ("FLOAT32", "FLOAT16", "BFLOAT16")
REDUCED = DTYPES[1:]
K = 10


def load_pairs(path: Path, n: int) -> tuple[list[str], list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["question1"].strip() and r["question2"].strip()]
    rows = rows[:n]
    return [r["question1"] for r in rows], [r["question2"] for r in rows]


def embed(texts: list[str]) -> np.ndarray:
    from redis_semcache.embeddings import default_embedder

    model = default_embedder()
    out = np.concatenate([np.asarray(model(texts[i : i + 256]), dtype=np.float64) for i in range(0, len(texts), 256)])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def build(client, name: str, dtype: str, vectors: np.ndarray) -> None:
    client.execute_command(
        "FT.CREATE", name, "ON", "HASH", "PREFIX", 1, f"{name}:", "SCHEMA",
        "v", "VECTOR", "FLAT", 6, "TYPE", dtype, "DIM", vectors.shape[1], "DISTANCE_METRIC", "COSINE",
    )  # fmt: skip
    pipe = client.pipeline(transaction=False)
    for i, vec in enumerate(vectors):
        pipe.hset(f"{name}:{i}", "v", to_bytes(vec.astype(np.float32), dtype))
        if i % 500 == 499:
            pipe.execute()
    pipe.execute()


def knn(client, name: str, dtype: str, query: np.ndarray) -> dict[int, float]:
    reply = client.execute_command(
        "FT.SEARCH", name, f"*=>[KNN {K} @v $vec AS d]", "RETURN", 1, "d", "SORTBY", "d", "LIMIT", 0, K,
        "PARAMS", 2, "vec", to_bytes(query.astype(np.float32), dtype), "DIALECT", 2,
    )  # fmt: skip
    return {int(reply[i].decode().rsplit(":", 1)[1]): float(reply[i + 1][1]) for i in range(1, len(reply), 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=4000)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "qqp_val.csv")
    p.add_argument("--redis-url", help="a Redis Stack to use (it gets FLUSHALLed!); default: start one")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fp16_error.json")
    args = p.parse_args(argv)
    stored, asked = load_pairs(args.data, args.pairs)
    log(f"embedding {len(stored) + len(asked):,} questions")
    vs, vq = embed(stored), embed(asked)
    import redis

    errors: dict[str, list[float]] = {dtype: [] for dtype in DTYPES}
    flips = {dtype: dict.fromkeys(map(str, THRESHOLDS), 0) for dtype in errors}
    near = {dtype: dict.fromkeys(map(str, THRESHOLDS), 0) for dtype in errors}
    with redis_server(args.redis_url) as info:
        client = redis.Redis.from_url(info.url, protocol=2)
        client.flushall()
        for dtype in errors:
            build(client, f"i{dtype}", dtype, vs)
        for qi, query in enumerate(vq):
            for dtype in errors:
                for doc, dist in knn(client, f"i{dtype}", dtype, query).items():
                    exact = 1.0 - float(vs[doc] @ query)
                    errors[dtype].append(abs(dist - exact))
                    for t in THRESHOLDS:
                        floor = 1.0 - t
                        near[dtype][str(t)] += abs(exact - floor) <= 1e-4
                        flips[dtype][str(t)] += (dist <= floor) != (exact <= floor)
            if qi % 1000 == 999:
                log(f"{qi + 1:,} queries")
        identical = {
            dtype: {dim: self_distances(client, dtype, dim, np.random.default_rng(dim)) for dim in (8, 32, 384)}
            for dtype in REDUCED
        }
        client.flushall()
        client.close()
    result = {
        "command": "python -m bench.fp16_error " + " ".join(argv or sys.argv[1:]),
        "pairs": len(stored),
        "model": "all-MiniLM-L6-v2 (built in)",
        "distances_compared": {d: len(e) for d, e in errors.items()},
        "max_abs_error": {d: float(np.max(e)) for d, e in errors.items()},
        "p99_abs_error": {d: float(np.quantile(e, 0.99)) for d, e in errors.items()},
        "decision_flips_vs_float64": flips,
        "distances_within_1e-4_of_threshold": near,
        "identical_vector_distance": {t: {str(dim): d for dim, d in by.items()} for t, by in identical.items()},
        "slack": {t: {str(dim): distance_slack(t, dim) for dim in (8, 32, 384)} for t in REDUCED},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for dtype in errors:
        print(
            f"{dtype}: {len(errors[dtype]):,} distances, largest error {result['max_abs_error'][dtype]:.2e}, "
            f"p99 {result['p99_abs_error'][dtype]:.2e}, flipped decisions {flips[dtype]}"
        )
    for dtype, by in identical.items():
        for dim, d in by.items():
            print(f"{dtype}, {dim}-d: an identical vector comes back at distance {d['min']:.2e} to {d['max']:.2e} "
                  f"(slack {distance_slack(dtype, dim):.2e})")  # fmt: skip
    return 0


def self_distances(client, dtype: str, dim: int, rng: np.random.Generator, n: int = 300) -> dict[str, float]:
    """The distances ``dtype`` reports between each of ``n`` random unit vectors and itself."""
    vectors = rng.standard_normal((n, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    build(client, f"self{dtype}{dim}", dtype, vectors)
    found = [knn(client, f"self{dtype}{dim}", dtype, vec).get(i) for i, vec in enumerate(vectors)]
    dists = [d for d in found if d is not None]
    return {"min": min(dists), "max": max(dists), "found": len(dists)}


if __name__ == "__main__":
    sys.exit(main())
