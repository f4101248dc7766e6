"""Server facts the Redis backend's design rests on, measured on the running RediSearch.

    .venv/bin/python bench/redis_probes.py                      # local redis-server from the wheels
    .venv/bin/python bench/redis_probes.py --redis-url redis://localhost:6379/0

1. ``reindex``: any write to an indexed hash re-indexes the whole document, vector
   included - the cost per HINCRBY of an indexed vs a non-indexed field, FLAT vs HNSW.
   (Why hit counters live in sorted sets, not in the entry hash.)
2. ``escaping``: raw user values in a CASESENSITIVE TAG field, queried with every
   non-word character backslash-escaped: which values fail to match only themselves.
   (Why tags, model and version are indexed as digests.)
3. ``wildcard``: a TAG wildcard query over 10,000 distinct values matching the pattern:
   how many documents come back.  (Why patterns use FT.AGGREGATE FILTER instead.)
4. ``hybrid_policy``: KNN server time with a TAG pre-filter keeping 100%, 10% or 1% of
   10,000 entries, for RediSearch's automatic choice, ADHOC_BF and BATCHES.
   (Why the lookup script chooses the HNSW policy from the scope's size.)

Uses throwaway keys under ``probe:`` and drops them.  Writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DIM = 384


def usec_per_call(client: redis.Redis, command: str) -> float:
    return float(client.info("commandstats").get(f"cmdstat_{command}", {}).get("usec_per_call", 0.0))


def fresh(client: redis.Redis) -> None:
    for name in client.execute_command("FT._LIST"):
        if (name.decode() if isinstance(name, bytes) else name).startswith("probe"):
            client.execute_command("FT.DROPINDEX", name, "DD")
    for key in client.scan_iter(match="probe:*", count=1000):
        client.delete(key)


def vector_schema(algorithm: str) -> list[Any]:
    extra = ["M", 16, "EF_CONSTRUCTION", 200] if algorithm == "HNSW" else []
    return [
        "v",
        "VECTOR",
        algorithm,
        6 + len(extra),
        "TYPE",
        "FLOAT32",
        "DIM",
        DIM,
        "DISTANCE_METRIC",
        "COSINE",
        *extra,
    ]


def fill(client: redis.Redis, n: int, fields: Any) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.hset(f"probe:{i}", mapping=fields(i))
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


def reindex(client: redis.Redis, rng: np.random.Generator) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for algorithm in ("FLAT", "HNSW"):
        fresh(client)
        client.execute_command("FT.CREATE", "probe-idx", "ON", "HASH", "PREFIX", 1, "probe:", "SCHEMA",
                               "cnt", "NUMERIC", *vector_schema(algorithm))  # fmt: skip
        vectors = rng.standard_normal((10_000, DIM)).astype(np.float32)
        fill(client, 10_000, lambda i, v=vectors: {"cnt": 0, "other": 0, "v": v[i].tobytes()})
        row: dict[str, Any] = {}
        for field in ("cnt", "other"):
            before = int(client.ft("probe-idx").info()["max_doc_id"])
            client.config_resetstat()
            for i in range(1000):
                client.hincrby(f"probe:{i}", field, 1)
            row[field] = {
                "server_us_per_write": usec_per_call(client, "hincrby"),
                "documents_reindexed": int(client.ft("probe-idx").info()["max_doc_id"]) - before,
            }
        out[algorithm] = row
    fresh(client)
    return out


def escape(value: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "\\" + ch for ch in value)


def escaping(client: redis.Redis) -> dict[str, Any]:
    fresh(client)
    client.execute_command("FT.CREATE", "probe-idx", "ON", "HASH", "PREFIX", 1, "probe:", "SCHEMA",
                           "t", "TAG", "SEPARATOR", "\x1f", "CASESENSITIVE")  # fmt: skip
    values = ["a|b", "*", "user:1}", "a b", "x-y", "{", "\\", "'", '"', "@tag", "a,b", "ünï", "日本語", "-1", "(a)",
              " lead", "trail ", "e\u0301", "emoji😀", "ab\x7f", "zero\x00x", "\x1e", "x" * 5000]  # fmt: skip
    fill(client, len(values), lambda i: {"t": values[i]})
    failures = []
    for i, value in enumerate(values):
        try:
            reply = client.execute_command("FT.SEARCH", "probe-idx", f"@t:{{{escape(value)}}}", "NOCONTENT",
                                           "DIALECT", 2, "LIMIT", 0, 100)  # fmt: skip
            found = sorted(k.decode() for k in reply[1:])
            if found != [f"probe:{i}"]:
                failures.append({"value": repr(value)[:40], "matched": found[:5]})
        except redis.ResponseError as exc:
            failures.append({"value": repr(value)[:40], "error": str(exc)[:80]})
    fresh(client)
    return {"values": len(values), "failures": failures}


def wildcard(client: redis.Redis) -> dict[str, Any]:
    fresh(client)
    client.execute_command("FT.CREATE", "probe-idx", "ON", "HASH", "PREFIX", 1, "probe:", "SCHEMA",
                           "pk", "TAG", "CASESENSITIVE")  # fmt: skip
    fill(client, 10_000, lambda i: {"pk": f"entry_{i}"})
    reply = client.execute_command("FT.SEARCH", "probe-idx", "@pk:{w'entry_*'}", "NOCONTENT", "LIMIT", 0, 0,
                                   "DIALECT", 2)  # fmt: skip
    config = client.execute_command("FT.CONFIG", "GET", "MAXEXPANSIONS")
    fresh(client)
    return {"documents_matching": 10_000, "documents_returned": int(reply[0]), "maxexpansions": str(config)}


def hybrid_policy(client: redis.Redis, rng: np.random.Generator) -> dict[str, Any]:
    out: dict[str, Any] = {}
    vectors = rng.standard_normal((10_000, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for algorithm in ("FLAT", "HNSW"):
        for groups in (1, 10, 100):
            fresh(client)
            client.execute_command("FT.CREATE", "probe-idx", "ON", "HASH", "PREFIX", 1, "probe:", "SCHEMA",
                                   "s", "TAG", *vector_schema(algorithm))  # fmt: skip
            fill(client, 10_000, lambda i, g=groups: {"s": f"g{i % g}", "v": vectors[i].tobytes()})
            row = {}
            for policy in ("", " HYBRID_POLICY ADHOC_BF", " HYBRID_POLICY BATCHES"):
                query = f"(@s:{{g0}})=>[KNN 4 @v $vec{policy} AS dist]"
                rounds = []
                for _ in range(5):
                    client.config_resetstat()
                    for j in range(40):
                        client.execute_command("FT.SEARCH", "probe-idx", query, "PARAMS", 2, "vec",
                                               vectors[j * groups].tobytes(), "RETURN", 1, "dist", "SORTBY", "dist",
                                               "LIMIT", 0, 4, "DIALECT", 2)  # fmt: skip
                    rounds.append(usec_per_call(client, "FT.SEARCH"))
                row[policy.replace(" HYBRID_POLICY ", "") or "auto"] = round(statistics.median(rounds))
            out[f"{algorithm} filter keeps {100 // groups}%"] = row
    fresh(client)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "redis_probes.json")
    args = parser.parse_args(argv)
    server = None
    url = args.redis_url
    if url is None:
        from tests.redis_server import LocalRedis

        server = LocalRedis().start()
        url = server.url
    client = redis.Redis.from_url(url, protocol=2, socket_timeout=120)
    rng = np.random.default_rng(0)
    results: dict[str, Any] = {}
    try:
        info = client.info("server")
        results["server"] = {"redis_version": info["redis_version"]}
        for name, probe in (
            ("reindex", lambda: reindex(client, rng)),
            ("escaping", lambda: escaping(client)),
            ("wildcard", lambda: wildcard(client)),
            ("hybrid_policy", lambda: hybrid_policy(client, rng)),
        ):
            started = time.perf_counter()
            results[name] = probe()
            print(name, json.dumps(results[name]), f"({time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        fresh(client)
        client.close()
        if server is not None:
            server.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
