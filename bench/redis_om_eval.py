"""What redis-om would add to the lookup path, measured against this library's Lua path.

redis-om is NOT a dependency.  Run this in a throwaway venv, so its extra packages
(hiredis, which changes redis-py's parser, and types-redis, whose stubs shadow
redis-py's own types for mypy) never reach the project venv:

    python3.11 -m venv /tmp/omvenv
    /tmp/omvenv/bin/pip install "redis==8.1.0" redis-om numpy
    /tmp/omvenv/bin/pip uninstall -y hiredis        # same parser as the project venv
    /tmp/omvenv/bin/python bench/redis_om_eval.py   # local redis-server from the wheels (or --redis-url)

Same server, same 384-d FLAT cosine index shape, ``--entries`` entries, ``--lookups``
lookups per case; every client is RESP2 with decode_responses=True, as redis-om
requires.  For each path it reports, per lookup: round trips (counted on the
wire), server time (INFO commandstats), client CPU time (process_time) and wall
time p50/p99 (only meaningful on a quiet machine):

* exact hit    - ours: lookup.lua, exact check only (read + hit bookkeeping in one script);
                 redis-om: ``Model.get(pk)`` (HGETALL + pydantic), plus the bookkeeping
                 it lacks as a pipeline (ZADD lru, ZINCRBY lfu, HINCRBY stats);
* semantic hit - ours: lookup.lua, search only (query + distance check + bookkeeping);
                 redis-om: ``Model.find(filters, knn=KNNExpression(...)).first()`` plus the
                 same bookkeeping pipeline.

Writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis_semcache import CacheEntry  # noqa: E402
from redis_semcache._keys import entry_id, scope_id  # noqa: E402
from redis_semcache.backends.base import SemanticQuery  # noqa: E402
from redis_semcache.backends.redis import RedisCacheBackend  # noqa: E402

DIM = 384
MODEL = "gpt-4"


class Counter:
    n = 0


def counting_client(url: str) -> redis.Redis:
    class CountingConnection(redis.Connection):
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            Counter.n += 1
            super().send_packed_command(command, check_health)

    kwargs = redis.connection.parse_url(url)
    pool = redis.ConnectionPool(connection_class=CountingConnection, protocol=2, decode_responses=True, **kwargs)
    return redis.Redis(connection_pool=pool)


def server_usec(client: redis.Redis, scripted: bool) -> float:
    """Server time so far: EVALSHA alone for our scripts (the commands they call are inside it),
    every command for redis-om (which runs no scripts)."""
    stats = client.info("commandstats")
    if scripted:
        return float(stats.get("cmdstat_evalsha", {}).get("usec", 0))
    return float(sum(v["usec"] for k, v in stats.items() if k not in ("cmdstat_info", "cmdstat_config|resetstat")))


def measure(cases: list[tuple[str, Any, bool]], n: int, client: redis.Redis, rounds: int = 10) -> dict[str, Any]:
    """Per lookup: wall time, client CPU, server time and round trips, for each case.

    The cases run interleaved, ``rounds`` rounds of ``n // rounds`` lookups each,
    so load from other processes on a shared machine hits them alike; wall
    figures are medians over the rounds of each round's p50/p99.
    """
    per = max(1, n // rounds)
    acc: dict[str, dict[str, list[float]]] = {}
    failed: dict[str, str] = {}
    for name, fn, _ in cases:
        try:
            for i in range(20):  # warm-up
                fn(i)
        except Exception as exc:  # record what redis-om cannot do rather than stop
            failed[name] = f"{type(exc).__name__}: {exc}"[:300]
        acc[name] = {"p50": [], "p99": [], "cpu": [], "server": [], "trips": []}
    for r in range(rounds):
        for name, fn, scripted in cases:
            if name in failed:
                continue
            client.config_resetstat()
            Counter.n = 0
            samples = []
            cpu = time.process_time()
            for i in range(r * per, (r + 1) * per):
                started = time.perf_counter()
                fn(i)
                samples.append((time.perf_counter() - started) * 1e6)
            a = acc[name]
            a["cpu"].append((time.process_time() - cpu) * 1e6 / per)
            a["trips"].append(Counter.n / per)
            a["server"].append(server_usec(client, scripted) / per)
            a["p50"].append(float(np.percentile(samples, 50)))
            a["p99"].append(float(np.percentile(samples, 99)))
    out: dict[str, Any] = {}
    for name, _, _ in cases:
        if name in failed:
            out[name] = {"error": failed[name]}
            continue
        a = acc[name]
        out[name] = {
            "wall_p50_us": float(np.median(a["p50"])),
            "wall_p99_us": float(np.median(a["p99"])),
            "client_cpu_us": float(np.median(a["cpu"])),
            "server_us": float(np.median(a["server"])),
            "round_trips": float(np.median(a["trips"])),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url")
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "redis_om.json")
    args = parser.parse_args(argv)

    import redis_om  # imported here: only the throwaway venv has it
    import redis_om.model.model as om_model
    from redis_om import Field, HashModel, KNNExpression, VectorFieldOptions

    # redis-om checks for RediSearch with COMMAND INFO json.set / ft.search (cached per
    # connection); with redis-py 8.1 and no RedisJSON that check itself crashes in
    # redis-py's COMMAND reply parser.  Skip it: the search module is there.
    om_model.has_redisearch = lambda conn=None: True

    server = None
    url = args.redis_url
    if url is None:
        from tests.redis_server import LocalRedis

        server = LocalRedis().start()
        url = server.url
    try:
        client = counting_client(url)
        rng = np.random.default_rng(0)
        vectors = rng.standard_normal((args.entries, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        scope = scope_id(MODEL)
        prompts = [f"question number {i}" for i in range(args.entries)]

        # -- ours ---------------------------------------------------------------
        ours = RedisCacheBackend(client=client, name="om-eval", max_size=None, dimension=DIM)
        ours.drop()
        ours.store_many(
            [
                (
                    CacheEntry(
                        key=entry_id(scope, p), prompt=p, response=i, model=MODEL, scope=scope, embedding=vectors[i]
                    ),
                    None,
                )
                for i, p in enumerate(prompts)
            ]
        )
        keys = [entry_id(scope, p) for p in prompts]
        queries = vectors + rng.standard_normal(vectors.shape).astype(np.float32) * 0.01
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)

        def ours_exact(i: int) -> None:
            assert ours.lookup_exact(keys[i % args.entries], version=None, final=True) is not None

        def ours_semantic(i: int) -> None:
            vector = queries[i % args.entries]
            q = SemanticQuery(vector=vector, prompt="q", model=MODEL, scope=scope, min_similarity=0.9)
            assert ours.lookup_semantic(q) is not None

        # -- redis-om -----------------------------------------------------------
        class OmEntry(HashModel, index=True):
            prompt: str = Field(index=True)
            response: str
            model: str = Field(index=True)
            scope: str = Field(index=True)
            version: str = Field(index=True, default="v1")
            created_at: float = Field(index=True, sortable=True, default=0.0)
            embedding: list[float] = Field(
                vector_options=VectorFieldOptions.flat(
                    type=VectorFieldOptions.TYPE.FLOAT32,
                    dimension=DIM,
                    distance_metric=VectorFieldOptions.DISTANCE_METRIC.COSINE,
                )
            )
            embedding_score: float | None = Field(default=None, sortable=True)

            class Meta:
                database = client
                global_key_prefix = "omeval"
                model_key_prefix = "entry"

        for key in client.scan_iter(match="omeval:*", count=1000):
            client.delete(key)
        started = time.perf_counter()
        redis_om.Migrator().run()
        migrate_s = time.perf_counter() - started
        created = time.perf_counter()
        pipe = client.pipeline(transaction=False)
        for i, p in enumerate(prompts):
            OmEntry(pk=keys[i], prompt=p, response=f"answer {i}", model=MODEL, scope=scope,
                    embedding=vectors[i].tolist()).save(pipeline=pipe)  # fmt: skip
        pipe.execute()
        om_write_s = time.perf_counter() - created
        raw = redis.Redis.from_url(url, protocol=2)  # binary-safe, for the vector bytes

        def index_state() -> dict[str, int]:
            info = raw.ft(OmEntry.Meta.index_name).info()
            return {"num_docs": int(info["num_docs"]), "failures": int(info["hash_indexing_failures"])}

        om_index_after_save = index_state()

        def repair_vectors() -> dict[str, int]:
            """redis-om 1.2 stores a HashModel vector base64-encoded, which RediSearch cannot index.
            Rewrite it as raw FLOAT32 bytes so the KNN path can be timed at all (after this,
            Model.get() fails: the raw bytes are not UTF-8 for a decode_responses client)."""
            pipe = raw.pipeline(transaction=False)
            for i in range(args.entries):
                pipe.hset(OmEntry.make_primary_key(keys[i]), "embedding", vectors[i].tobytes())
            pipe.execute()
            return index_state()

        def bookkeeping(key: str) -> None:
            pipe = client.pipeline(transaction=False)
            pipe.zadd("omeval:lru", {key: time.time()})
            pipe.zincrby("omeval:lfu", 1, key)
            pipe.hincrby("omeval:stats", "hits", 1)
            pipe.execute()

        def om_exact(i: int) -> None:
            entry = OmEntry.get(keys[i % args.entries])
            bookkeeping(entry.pk)

        def om_exact_bare(i: int) -> None:
            OmEntry.get(keys[i % args.entries])

        def om_semantic(i: int) -> None:
            knn = KNNExpression(
                k=1, vector_field=OmEntry.embedding, score_field=OmEntry.embedding_score,  # type: ignore[attr-defined]
                reference_vector=queries[i % args.entries].tobytes(),
            )  # fmt: skip
            query = OmEntry.find((OmEntry.scope == scope) & (OmEntry.model == MODEL), knn=knn)
            hit = query.only("pk", "prompt", "response").first()
            bookkeeping(hit["pk"] if isinstance(hit, dict) else hit.pk)

        results: dict[str, Any] = {
            "entries": args.entries,
            "dim": DIM,
            "redis_om_version": getattr(redis_om, "__version__", None) or _version("redis-om"),
            "redis_py_version": redis.__version__,
            "hiredis": _has("hiredis"),
            "redis_om_migrate_s": migrate_s,
            "redis_om_write_s": om_write_s,
            "redis_om_index_after_save": om_index_after_save,
            "redis_om_tag_separator": "|",
        }
        n = args.lookups

        def run(cases: list[tuple[str, Any, bool]]) -> None:
            measured = measure(cases, n, client)
            for name, value in measured.items():
                results[name] = value
                print(name, json.dumps(value), flush=True)

        run(
            [
                ("ours_exact_hit", ours_exact, True),
                ("redis_om_get_only", om_exact_bare, False),
                ("redis_om_exact_hit_with_bookkeeping", om_exact, False),
            ]
        )
        results["redis_om_index_after_vector_repair"] = repair_vectors()
        run(
            [
                ("ours_semantic_hit", ours_semantic, True),
                ("redis_om_semantic_hit_with_bookkeeping", om_semantic, False),
            ]
        )
        ours.drop()
        for key in client.scan_iter(match="omeval:*", count=1000):
            client.delete(key)
        with contextlib.suppress(redis.RedisError):
            client.execute_command("FT.DROPINDEX", OmEntry.Meta.index_name)
        raw.close()
    finally:
        if server is not None:
            server.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    raise SystemExit(main())
