"""Redis memory per cache entry: ours against RedisVL ``SemanticCache``, same data, same server.

Each system loads the same entries (bench/speed/workload.py: random unit
vectors, prompts ``entry <id>``, responses ``response <id>``) into the same
Redis, one system at a time with a FLUSHALL in between; bytes per entry is the
growth of ``INFO memory`` ``used_memory`` divided by the entry count.  Prints
bytes per entry for each system, the ratio ours / RedisVL, and where our bytes
go (FT.INFO sizes, MEMORY USAGE of an entry hash and of the bookkeeping keys).
Asserts nothing.

    python -m bench.memory_per_entry [--entries 10000] [--dim 384] [--algorithm FLAT]
                                     [--vector-dtype FLOAT32] [--redis-url URL]

Without ``--vector-dtype`` ours uses the library's default vector type (RedisVL
always stores FLOAT32 here).
"""

from __future__ import annotations

import argparse
import gc
import json
from typing import Any

import redis

from bench.speed.server import redis_server
from bench.speed.systems import OursSystem, RedisVLSystem, Threshold, ours_redis
from bench.speed.workload import Workload
from redis_semcache.backends.redis.codec import parse_info


def _used(client: redis.Redis) -> int:
    gc.collect()
    return int(client.info("memory")["used_memory"])


def _settle(client: redis.Redis) -> None:
    """Wait until every index has finished its background scan (it allocates as it goes)."""
    for name in client.execute_command("FT._LIST"):
        while int(parse_info(client.execute_command("FT.INFO", name)).get("indexing", 0)):
            pass


def _index_sizes(client: redis.Redis) -> dict[str, dict[str, float]]:
    wanted = (
        "num_docs", "inverted_sz_mb", "vector_index_sz_mb", "offset_vectors_sz_mb", "doc_table_size_mb",
        "sortable_values_size_mb", "key_table_size_mb", "tag_overhead_sz_mb", "total_index_memory_sz_mb",
    )  # fmt: skip
    out = {}
    for name in client.execute_command("FT._LIST"):
        info = parse_info(client.execute_command("FT.INFO", name))
        out[name.decode()] = {k: float(info[k]) for k in wanted if k in info}
    return out


def _key_sizes(client: redis.Redis) -> dict[str, int]:
    """MEMORY USAGE of one entry hash and of every non-entry key of our cache."""
    out: dict[str, int] = {}
    for key in client.scan_iter(match="semcache:*", count=1000):
        name = key.decode()
        if ":e:" in name:
            if "entry" not in out:
                out["entry"] = int(client.memory_usage(key, samples=0) or 0)
            continue
        out[name] = int(client.memory_usage(key, samples=0) or 0)
    return out


def _redisvl_entry(client: redis.Redis) -> dict[str, int]:
    for key in client.scan_iter(match="redisvl_bench_*", count=1000):
        return {"entry": int(client.memory_usage(key, samples=0) or 0), "fields": len(client.hkeys(key))}
    return {}


def measure(url: str, entries: int, dim: int, algorithm: str, dtype: str | None = None) -> dict[str, Any]:
    work = Workload(entries, dim=dim, queries=1, sets=1)
    prompts, vectors, responses = work.entries.prompts, work.entries.vectors, work.responses
    client = redis.Redis.from_url(url)
    threshold = Threshold(0.9)
    result: dict[str, Any] = {"entries": entries, "dim": dim, "algorithm": algorithm, "vector_dtype": dtype}
    for name in ("ours", "redisvl"):
        client.flushall()
        system: OursSystem | RedisVLSystem
        if name == "ours":
            options = None if dtype is None else {"vector_dtype": dtype}
            system = ours_redis(url, algorithm, threshold=threshold, options=options)
            system.manager.set("warm up", "x", embedding=vectors[0])  # creates the index: not an entry's cost
            system.manager.clear()
        else:
            system = RedisVLSystem(url, algorithm, dim=dim, threshold=threshold)
        _settle(client)
        before = _used(client)
        system.load(prompts, vectors, responses, progress=False)
        _settle(client)
        after = _used(client)
        result[name] = {"bytes_per_entry": (after - before) / entries, "used_memory_growth": after - before}
        result[name]["index"] = _index_sizes(client)
        result[name]["keys"] = _key_sizes(client) if name == "ours" else _redisvl_entry(client)
        system.close()
    result["ratio"] = result["ours"]["bytes_per_entry"] / result["redisvl"]["bytes_per_entry"]
    client.close()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--algorithm", default="FLAT", choices=("FLAT", "HNSW"))
    parser.add_argument("--vector-dtype", choices=("FLOAT32", "FLOAT16"), help="ours (default: the library's)")
    parser.add_argument("--redis-url", default=None, help="an existing Redis Stack (FLUSHALLed!); default: start one")
    args = parser.parse_args(argv)
    with redis_server(args.redis_url) as info:
        result = measure(info.url, args.entries, args.dim, args.algorithm, args.vector_dtype)
    result["redis"] = {"version": info.redis_version, "modules": info.modules}
    print(json.dumps({k: v for k, v in result.items() if k in ("ours", "redisvl")}, indent=2))
    print(
        f"{args.entries} entries, {args.dim}-d {args.algorithm} (ours {args.vector_dtype or 'default vectors'}): "
        f"ours {result['ours']['bytes_per_entry']:,.0f} B/entry, "
        f"RedisVL {result['redisvl']['bytes_per_entry']:,.0f} B/entry, ratio {result['ratio']:.2f}x"
    )


if __name__ == "__main__":
    main()
