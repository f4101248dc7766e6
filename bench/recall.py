"""Recall of the Redis backend's semantic query against numpy brute force, on real embeddings.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/recall.py                 # local redis-server from the wheels
    HF_HUB_OFFLINE=1 .venv/bin/python bench/recall.py --redis-url redis://localhost:6379/0

Stores ``--entries`` (10,000) distinct question1s from ../shared/data/qqp_val.csv
(``--data``: any CSV with question1,question2 columns), embedded with the built-in
all-MiniLM-L6-v2, and looks up ``--queries`` (1,000) question2s of the same rows -
paraphrases and hard negatives - for FLAT and HNSW:

* ``recall@1``: ``lookup_semantic`` with no threshold (the backend's own KNN
  query: scope pre-filter, k=4, its HNSW hybrid policy) returns the brute-force
  nearest neighbour (ties within 1e-6 count as equal);
* ``lookup agreement`` at thresholds 0.7/0.8/0.9: ``lookup_semantic`` (the whole
  path, Lua distance check included) returns a hit exactly when brute force has a
  neighbour at or above the threshold, and the same entry;
* ``VECTOR_RANGE recall``: a range query at radius 1 - threshold instead, the
  alternative the issue warns about, as the fraction of brute-force hits it finds.

Run twice: with every entry in one scope (the filter keeps everything) and with ten
scopes of 1,000 (a selective filter).  Prints a table and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis_semcache import CacheEntry  # noqa: E402
from redis_semcache._keys import entry_id, normalize_prompt, scope_id  # noqa: E402
from redis_semcache._vectors import SIMILARITY_EPSILON, to_bytes  # noqa: E402
from redis_semcache.backends.base import SemanticQuery  # noqa: E402
from redis_semcache.backends.redis import RedisCacheBackend  # noqa: E402
from redis_semcache.backends.redis import fields as F  # noqa: E402
from redis_semcache.backends.redis.codec import parse_search  # noqa: E402
from redis_semcache.backends.redis.queries import digest, escape_tag  # noqa: E402
from redis_semcache.embeddings import SentenceTransformerEmbedder  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "qqp_val.csv"
DEFAULT_OUT = ROOT / "bench" / "results" / "recall.json"
THRESHOLDS = (0.7, 0.8, 0.9)
MODEL = "all-MiniLM-L6-v2"


def load_questions(path: Path, entries: int, queries: int) -> tuple[list[str], list[str]]:
    """``entries`` distinct normalised question1s to store, and up to ``queries`` question2s of the
    same rows (not stored themselves) to ask: paraphrases and Quora's hard negatives, as a cache sees."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    stored: dict[str, None] = {}
    for row in rows:
        try:
            stored.setdefault(normalize_prompt(row["question1"]))
        except ValueError:
            continue
        if len(stored) == entries:
            break
    if len(stored) < entries:
        raise SystemExit(f"{path} has {len(stored)} distinct question1s; need {entries}")
    asked: dict[str, None] = {}
    for row in rows:
        try:
            q1, q2 = normalize_prompt(row["question1"]), normalize_prompt(row["question2"])
        except ValueError:
            continue
        if q1 in stored and q2 not in stored:
            asked.setdefault(q2)
        if len(asked) == queries:
            break
    return list(stored), list(asked)


def build(backend: RedisCacheBackend, stored: list[str], vectors: np.ndarray, scopes: list[str]) -> float:
    started = time.perf_counter()
    items = []
    for i, (prompt, vector) in enumerate(zip(stored, vectors, strict=True)):
        scope = scopes[i % len(scopes)]
        entry = CacheEntry(
            key=entry_id(scope, prompt), prompt=prompt, response=i, model=MODEL, scope=scope, embedding=vector
        )
        items.append((entry, None))
    backend.store_many(items)
    return time.perf_counter() - started


def range_hits(backend: RedisCacheBackend, vector: np.ndarray, scope: str, radius: float) -> set[str]:
    query = (
        f"(@{F.SCOPE}:{{{escape_tag(scope)}}} @{F.MODEL_H}:{{{digest(MODEL)}}} "
        f"@{F.EMBEDDING}:[VECTOR_RANGE $r $vec]=>{{$YIELD_DISTANCE_AS: dist}})"
    )
    reply = backend._client.execute_command(
        "FT.SEARCH", backend.index_name, query, "PARAMS", 4, "r", radius, "vec", to_bytes(vector),
        "RETURN", 1, "dist", "LIMIT", 0, 10_000, "DIALECT", 2,
    )  # fmt: skip
    _, hits = parse_search(reply)
    return {h.id for h in hits}


def measure(
    backend: RedisCacheBackend,
    stored: list[str],
    stored_vectors: np.ndarray,
    query_vectors: np.ndarray,
    queries: list[str],
    scopes: list[str],
) -> dict[str, Any]:
    prefix = backend._layout.entry_prefix(0)
    scope_of = np.array([i % len(scopes) for i in range(len(stored_vectors))])
    agree = 0
    knn_ms: list[float] = []
    lookup = {t: {"agree": 0, "bf_hits": 0} for t in THRESHOLDS}
    ranged = {t: {"found": 0, "bf_hits": 0} for t in THRESHOLDS}
    for qi, (prompt, qv) in enumerate(zip(queries, query_vectors, strict=True)):
        s = qi % len(scopes)
        members = np.flatnonzero(scope_of == s)
        sims = stored_vectors[members] @ qv
        best = int(np.argmax(sims))
        best_sim = float(sims[best])
        expected = prefix + entry_id(scopes[s], stored[members[best]])

        # recall@1 of the backend's own lookup, with the threshold out of the way
        started = time.perf_counter()
        top = backend.lookup_semantic(
            SemanticQuery(vector=qv, prompt=prompt, model=MODEL, scope=scopes[s], min_similarity=-1.0)
        )
        knn_ms.append((time.perf_counter() - started) * 1000)
        if top is not None and (prefix + top.entry.key == expected or abs(top.similarity - best_sim) <= 1e-6):
            agree += 1

        for t in THRESHOLDS:
            bf_hit = best_sim + SIMILARITY_EPSILON >= t
            match = backend.lookup_semantic(
                SemanticQuery(vector=qv, prompt=prompt, model=MODEL, scope=scopes[s], min_similarity=t)
            )
            ok = (match is None) if not bf_hit else (match is not None and abs(match.similarity - best_sim) <= 1e-5)
            lookup[t]["agree"] += ok
            lookup[t]["bf_hits"] += bf_hit
            if bf_hit:
                ranged[t]["bf_hits"] += 1
                ranged[t]["found"] += expected in range_hits(backend, qv, scopes[s], 1.0 - t + SIMILARITY_EPSILON)
    n = len(queries)
    return {
        "recall_at_1": agree / n,
        "lookup_ms_p50": float(np.percentile(knn_ms, 50)),
        "lookup_ms_p99": float(np.percentile(knn_ms, 99)),
        "lookup_agreement": {str(t): v["agree"] / n for t, v in lookup.items()},
        "brute_force_hits": {str(t): v["bf_hits"] for t, v in lookup.items()},
        "vector_range_recall": {
            str(t): (v["found"] / v["bf_hits"] if v["bf_hits"] else None) for t, v in ranged.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--hnsw-m", type=int, default=16)
    parser.add_argument("--hnsw-ef-construction", type=int, default=200)
    parser.add_argument("--hnsw-ef-runtime", type=lambda t: [int(x) for x in t.split(",")], default=[10, 50],
                        help="comma-separated EF_RUNTIME values, each measured on the same HNSW index")  # fmt: skip
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--embeddings-cache", type=Path, help="reuse/save the embeddings here (.npz, outside the repo)")
    args = parser.parse_args(argv)

    stored, queries = load_questions(args.data, args.entries, args.queries)
    started = time.perf_counter()
    cache = args.embeddings_cache
    if cache is not None and cache.exists():
        saved = np.load(cache)
        stored_vectors, query_vectors = saved["stored"], saved["queries"]
    else:
        embedder = SentenceTransformerEmbedder()
        stored_vectors = np.asarray(embedder(stored), dtype=np.float32)
        query_vectors = np.asarray(embedder(queries), dtype=np.float32)
        if cache is not None:
            np.savez(cache, stored=stored_vectors, queries=query_vectors)
    stored_vectors /= np.linalg.norm(stored_vectors, axis=1, keepdims=True)
    query_vectors /= np.linalg.norm(query_vectors, axis=1, keepdims=True)
    print(f"embedded {len(stored) + len(queries)} questions in {time.perf_counter() - started:.1f} s", flush=True)

    server = None
    url = args.redis_url
    if url is None:
        from tests.redis_server import LocalRedis

        server = LocalRedis().start()
        url = server.url
    results: list[dict[str, Any]] = []
    try:
        for algorithm in ("FLAT", "HNSW"):
            for n_scopes in (1, 10):
                scopes = [scope_id(MODEL, f"tenant-{i}") for i in range(n_scopes)]
                backend = RedisCacheBackend(
                    url=url, name=f"recall-{algorithm.lower()}-{n_scopes}", max_size=None,
                    index_algorithm=algorithm, hnsw_m=args.hnsw_m, hnsw_ef_construction=args.hnsw_ef_construction,
                    hnsw_ef_runtime=args.hnsw_ef_runtime[0], socket_timeout=30,
                )  # fmt: skip
                backend.drop()
                try:
                    before = int(backend._client.info("memory")["used_memory"])
                    build_s = build(backend, stored, stored_vectors, scopes)
                    after = int(backend._client.info("memory")["used_memory"])
                    for ef in args.hnsw_ef_runtime if algorithm == "HNSW" else [None]:
                        if ef is not None:
                            backend.hnsw_ef_runtime = ef
                        row = {
                            "algorithm": algorithm,
                            "ef_runtime": ef,
                            "scopes": n_scopes,
                            "entries": len(stored),
                            "build_s": build_s,
                            "bytes_per_entry": round((after - before) / len(stored)),
                        }
                        row.update(measure(backend, stored, stored_vectors, query_vectors, queries, scopes))
                        results.append(row)
                        print(json.dumps(row), flush=True)
                finally:
                    backend.drop()
                    backend.close()
    finally:
        if server is not None:
            server.close()

    print()
    print(f"{'index':<9} {'scopes':>6} {'recall@1':>9} {'lookup@0.7':>10} {'@0.8':>6} {'@0.9':>6} "
          f"{'RANGE@0.7':>9} {'@0.8':>6} {'@0.9':>6} {'lookup p50 ms':>13}")  # fmt: skip
    for r in results:
        la, vr = r["lookup_agreement"], r["vector_range_recall"]
        label = r["algorithm"] if r["ef_runtime"] is None else f"{r['algorithm']}/{r['ef_runtime']}"
        print(
            f"{label:<9} {r['scopes']:>6} {r['recall_at_1']:>9.4f} {la['0.7']:>10.4f} {la['0.8']:>6.4f} "
            f"{la['0.9']:>6.4f} {vr['0.7'] or 0:>9.4f} {vr['0.8'] or 0:>6.4f} {vr['0.9'] or 0:>6.4f} "
            f"{r['lookup_ms_p50']:>13.2f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "command": " ".join(["bench/recall.py", *(argv if argv is not None else sys.argv[1:])]),
        "commit": _commit(),
        "data": str(args.data.name),
        "model": MODEL,
        "queries": len(queries),
        "hnsw": {"m": args.hnsw_m, "ef_construction": args.hnsw_ef_construction, "ef_runtime": args.hnsw_ef_runtime},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "results": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    flat = [r for r in results if r["algorithm"] == "FLAT"]
    return 0 if all(r["recall_at_1"] >= 0.99 for r in flat) else 1


def _commit() -> str | None:
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    except OSError:
        return None
    return done.stdout.strip() or None


if __name__ == "__main__":
    raise SystemExit(main())
