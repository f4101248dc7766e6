"""How 50 concurrent identical get_or_compute calls are counted, on any backend."""

from __future__ import annotations

import asyncio

from redis_semcache import LLMCachingManager


def fifty_identical_calls(cache: LLMCachingManager) -> None:
    """One caller computes (a miss); the 49 served by its computation are exact hits and joins."""
    calls = 0

    async def compute() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.3)  # long enough for every caller to miss and start waiting
        return "the answer"

    # An entry with a vector first, so that semantic lookups (when on) really search an index.
    cache.set("an unrelated question about cats", "meow")

    async def main() -> list[str]:
        return await asyncio.gather(*(cache.aget_or_compute("same prompt", compute) for _ in range(50)))

    assert asyncio.run(main()) == ["the answer"] * 50
    assert calls == 1
    stats = cache.get_statistics()
    counts = {k: stats[k] for k in ("total_requests", "hits", "exact_hits", "misses", "single_flight_joins")}
    assert counts == {"total_requests": 50, "hits": 49, "exact_hits": 49, "misses": 1, "single_flight_joins": 49}
    assert stats["semantic_hits"] == 0 and stats["hit_rate"] == 98.0
    # A later call finds the value in its own lookup: an exact hit, not a join.
    assert cache.get_or_compute("same prompt", lambda: "never") == "the answer"
    after = cache.get_statistics()
    assert (after["exact_hits"], after["single_flight_joins"], after["misses"]) == (50, 49, 1)
    # A plain get still counts its own miss.
    assert cache.get("another prompt") is None
    assert cache.get_statistics()["misses"] == 2
