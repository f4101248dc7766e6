"""The demo: set, exact and semantic get, invalidation and statistics, on real local embeddings.

Runs on the in-memory backend by default; ``--redis-url`` runs it on Redis.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any

PARAPHRASE = ("How do I reset my password?", "I forgot my password, how can I change it?")
UNRELATED = "What is the capital of Australia?"
NEAR_MISS = "How do I reset my email address?"  # shares words, asks something else


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis-url", help="run against this Redis Stack instead of the in-memory backend")
    parser.add_argument(
        "--from-env", action="store_true", help="run against the Redis in $REDIS_URL (keeps a password out of `ps`)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.85,
        help="semantic threshold (cosine similarity); 0.85 here because the demo's paraphrase scores 0.89, "
        "below the library default 0.92 that docs/quality.md chose for fewer wrong answers",
    )
    parser.add_argument("--name", default="semcache-demo", help="cache name (key prefix) on Redis")


def _show(label: str, value: Any) -> None:
    print(f"  {label:<58} -> {value!r}")


def run(args: argparse.Namespace) -> int:
    from . import SemanticCacheError

    try:
        return _run(args)
    except SemanticCacheError as exc:  # e.g. the server went away mid-demo: one line, not a traceback
        print(f"semcache demo: error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from . import LLMCachingManager, create_in_memory_cache_manager, create_redis_cache_manager

    threshold_kw = {"semantic_threshold": args.threshold}
    if args.from_env and not args.redis_url:
        args.redis_url = os.environ.get("REDIS_URL")
        if not args.redis_url:
            print("semcache demo: error: --from-env needs REDIS_URL", file=sys.stderr)
            return 2
    cache: LLMCachingManager
    if args.redis_url:
        # strict: a demo that cannot reach its server must say so, not quietly show misses
        cache = create_redis_cache_manager(
            url=args.redis_url, enable_semantic=True, backend_kwargs={"name": args.name}, strict=True, **threshold_kw
        )
        health = cache.health_check()
        if health["status"] != "healthy":
            cache.close()
            print(f"semcache demo: error: the Redis server is unreachable or unusable: {health.get('reason')}",
                  file=sys.stderr)  # fmt: skip
            return 1
        where = f"Redis at {health.get('server', 'the given URL')}"
        logging.basicConfig(level=logging.WARNING)
    else:
        cache = create_in_memory_cache_manager(max_size=10_000, default_ttl=3600, enable_semantic=True, **threshold_kw)
        where = "the in-memory backend"
        logging.basicConfig(level=logging.WARNING)
    with cache:
        cache.clear()
        print(f"redis_semcache demo on {where} (semantic threshold {cache.semantic_threshold})")

        print("\n1. Load the local embedding model (all-MiniLM-L6-v2, offline)")
        started = time.perf_counter()
        cache.warmup()
        print(f"  loaded in {time.perf_counter() - started:.1f} s")

        print("\n2. Store responses")
        cache.set(prompt="What is machine learning?", response="Machine learning is...", model="gpt-4")
        cache.set(
            prompt=PARAPHRASE[0],
            response="Use 'Forgot password' on the login page.",
            model="gpt-4",
            tags=["support", "user:123"],
        )
        cache.set(
            prompt="Summarise our refund policy",
            response={"days": 30, "receipt": True},
            model="gpt-4",
            version="policy-2024",
            tags=["policy"],
        )
        cache.set(
            prompt="Summarise our shipping policy", response="Free over $50.", model="gpt-4", version="policy-2025"
        )
        print("  4 entries stored")

        print("\n3. Look them up")
        _show("exact: 'What is machine learning?'", cache.get("What is machine learning?", model="gpt-4"))
        _show(
            "exact, extra spaces: '  What is   machine learning? '",
            cache.get("  What is   machine learning? ", model="gpt-4"),
        )
        _show(f"semantic: {PARAPHRASE[1]!r}", cache.get(PARAPHRASE[1], model="gpt-4"))
        _show(f"near miss: {NEAR_MISS!r}", cache.get(NEAR_MISS, model="gpt-4"))
        _show(f"unrelated: {UNRELATED!r}", cache.get(UNRELATED, model="gpt-4"))
        _show(
            "other model (claude): 'What is machine learning?'", cache.get("What is machine learning?", model="claude")
        )
        _show("JSON response: 'Summarise our refund policy'", cache.get("Summarise our refund policy", model="gpt-4"))

        print("\n4. Invalidate")
        _show("invalidate(tags=['user:123'])", cache.invalidate(tags=["user:123"]))
        _show(f"  then get {PARAPHRASE[0]!r}", cache.get(PARAPHRASE[0], model="gpt-4"))
        _show("invalidate(version='policy-2024')", cache.invalidate(version="policy-2024"))
        _show("  then get 'Summarise our refund policy'", cache.get("Summarise our refund policy", model="gpt-4"))
        _show(
            "  'Summarise our shipping policy' (2025) survives",
            cache.get("Summarise our shipping policy", model="gpt-4"),
        )

        print("\n5. Statistics")
        stats = cache.get_statistics()
        for field in (
            "total_requests",
            "exact_hits",
            "semantic_hits",
            "misses",
            "hit_rate",
            "cache_size",
            "invalidations",
            "average_latency_ms",
            "p99_latency_ms",
        ):
            print(
                f"  {field:<20} {stats[field]:.3f}"
                if isinstance(stats[field], float)
                else f"  {field:<20} {stats[field]}"
            )

        print("\n6. Top entries")
        for entry in cache.get_top_entries(limit=3, sort_by="access_count"):
            print(f"  {entry['access_count']:>3} reads  {entry['prompt']!r}  key={entry['key']}")

        print("\n7. Health check")
        print("  " + json.dumps(cache.health_check(), default=str))
        if args.redis_url:
            cache.clear()
    return 0
