"""Cache entries built directly, for tests that fill a backend in bulk (``store_many``)."""

from __future__ import annotations

from collections.abc import Sequence

from redis_semcache import CacheEntry
from redis_semcache._keys import entry_id, scope_id


def bulk_entry(prompt: str, response: object, tags: Sequence[str] = (), model: str = "default") -> CacheEntry:
    scope = scope_id(model)
    return CacheEntry(key=entry_id(scope, prompt), prompt=prompt, response=response, model=model, scope=scope,
                      tags=tuple(tags))  # fmt: skip


def bulk(n: int, stem: str = "bulk", tags: Sequence[str] = (), ttl: float | None = 3600.0) -> list:
    """``n`` (entry, ttl) pairs for ``store_many``: prompts "<stem> 0" .. "<stem> n-1", responses 0 .. n-1."""
    return [(bulk_entry(f"{stem} {i}", i, tags), ttl) for i in range(n)]
