"""Health of one partition: server and index facts, and whether the server takes writes.

:class:`Health` is a part of :class:`~.partition.Partition`, which supplies
the attributes and helpers declared at the top of the class.
"""

from __future__ import annotations

import time
from typing import Any

from ..._enums import CacheStrategy
from ..._errors import BackendError, BackendUnavailableError
from .codec import parse_info, text
from .errors import IndexMissingError, OutOfMemoryError
from .layout import IndexName, KeyLayout
from .wire import Command, WirePlan

__all__ = ["Health"]


class Health:
    """The health report of a partition."""

    # Supplied by Partition.
    _layout: KeyLayout
    _number: int
    _index: IndexName | None
    max_size: int | None
    eviction_strategy: CacheStrategy
    sliding_ttl: bool
    unbooked_hits: int

    def _ready(self) -> WirePlan[IndexName]:
        raise NotImplementedError

    def on_node(self, *args: Any) -> Command:
        raise NotImplementedError

    def size(self) -> WirePlan[int]:
        raise NotImplementedError

    def health(self) -> WirePlan[dict[str, Any]]:
        """Server and index facts, and the round-trip latency of a PING; no secrets."""
        index = yield from self._ready()
        started = time.perf_counter()
        yield self.on_node("PING")
        latency_ms = (time.perf_counter() - started) * 1000.0
        try:
            info = parse_info((yield self.on_node("FT.INFO", self._layout.index(self._number, index))))
        except IndexMissingError:  # dropped or flushed: recreate it, as the next operation would
            self._index = None
            index = yield from self._ready()
            info = parse_info((yield self.on_node("FT.INFO", self._layout.index(self._number, index))))
        try:  # facts a restricted ACL user may not be allowed to read
            redis_version: str | None = text((yield self.on_node("INFO", "server"))["redis_version"])
        except (BackendError, KeyError, TypeError):
            redis_version = None
        try:
            search_version = _search_version((yield self.on_node("MODULE", "LIST")))
        except BackendError:
            search_version = None
        memory = yield from self._memory()
        report = {
            "status": "healthy" if memory["writes_accepted"] else "degraded",
            "backend": "redis",
            "redis_version": redis_version,
            "search_version": search_version,
            "index": self._layout.index(self._number, index),
            "index_algorithm": index.algorithm,
            "vector_dtype": index.dtype if index.dim else None,
            "index_state": {
                "num_docs": int(info.get("num_docs", 0)),
                "indexing": bool(int(info.get("indexing", 0))),
                "percent_indexed": float(info.get("percent_indexed", 1.0)),
                "hash_indexing_failures": int(info.get("hash_indexing_failures", 0)),
            },
            "vector_dimension": index.dim or None,
            "entries": (yield from self.size()),
            "max_size": self.max_size,
            "eviction_strategy": self.eviction_strategy.value,
            "sliding_ttl": self.sliding_ttl,
            "latency_ms": round(latency_ms, 3),
            "memory": memory,
        }
        if "reason" in memory:
            report["reason"] = memory["reason"]
        if str(memory.get("policy", "")).startswith("allkeys-"):
            # The bookkeeping (seq counter, order zsets, stats) has no TTL: only an allkeys-*
            # policy can evict it, and a lost seq counter makes sweeps unbounded (sweep.py).
            report["warning"] = (
                f"maxmemory-policy {memory['policy']} can evict the cache's bookkeeping keys (no TTL); "
                "use noeviction, or a volatile-* policy, and let max_size bound the cache"
            )
        return report

    def _memory(self) -> WirePlan[dict[str, Any]]:
        """Whether the server takes writes (a full Redis with noeviction refuses them:
        hits are then served without bookkeeping and nothing new is cached), and
        its memory figures when the ACL allows INFO."""
        try:
            yield Command(("SET", self._layout.probe(self._number), "1", "PX", 1000))
            refused = None
        except OutOfMemoryError:
            refused = "Redis is out of memory (maxmemory reached, noeviction): writes are refused"
        except BackendUnavailableError:
            raise
        except BackendError as exc:  # e.g. READONLY (a replica): it answers, but nothing can be cached
            refused = f"Redis refuses writes ({exc})"
        report: dict[str, Any] = {"writes_accepted": refused is None, "unbooked_hits": self.unbooked_hits}
        if refused is not None:
            report["reason"] = refused
        try:
            info = yield self.on_node("INFO", "memory")
            report.update(
                used_bytes=int(info["used_memory"]),
                max_bytes=int(info["maxmemory"]),
                policy=text(info["maxmemory_policy"]),
            )
        except (BackendError, KeyError, TypeError, ValueError):
            pass
        return report


def _search_version(modules: Any) -> str | None:
    """RediSearch's version from a MODULE LIST reply."""
    for module in modules:
        info = parse_info(module)
        if text(info.get("name", "")).lower() in ("search", "ft"):
            ver = int(info.get("ver", 0))
            return f"{ver // 10000}.{ver // 100 % 100}.{ver % 100}"
    return None
