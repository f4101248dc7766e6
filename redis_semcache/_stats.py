"""Statistics: an immutable snapshot built from counters and local latencies.

Counters come from the backend (shared across processes on Redis).  Latencies
are measured in this process only, kept in a bounded window.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["CacheStatistics", "LatencyWindow"]


class LatencyWindow:
    """The most recent lookup latencies of this process, in seconds."""

    def __init__(self, size: int = 10_000) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._samples.append(seconds)

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()

    def summary_ms(self) -> dict[str, float]:
        with self._lock:
            samples = np.fromiter(self._samples, dtype=np.float64)
        if samples.size == 0:
            return {"average": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0}
        p50, p95, p99 = np.percentile(samples, [50, 95, 99]) * 1000.0
        return {"average": float(samples.mean() * 1000.0), "p50": float(p50), "p95": float(p95), "p99": float(p99)}


@dataclass(frozen=True)
class CacheStatistics:
    """A point-in-time view of a cache.  ``hit_rate`` is a percentage."""

    total_requests: int
    hits: int
    exact_hits: int
    semantic_hits: int
    misses: int
    hit_rate: float
    sets: int
    evictions: int
    expirations: int
    invalidations: int
    semantic_skipped_long: int  # misses that were exact-only: the text exceeds the embedder's window
    errors: int
    cache_size: int
    max_size: int | None
    average_latency_ms: float
    p50_latency_ms: float
    p95_latency_ms: float
    p99_latency_ms: float
    latency_scope: str = "instance"  # percentiles cover this process only

    @classmethod
    def build(
        cls,
        counters: dict[str, int],
        *,
        errors: int,
        cache_size: int,
        max_size: int | None,
        latency_ms: dict[str, float],
    ) -> CacheStatistics:
        hits = counters["exact_hits"] + counters["semantic_hits"]
        total = hits + counters["misses"]
        return cls(
            total_requests=total,
            hits=hits,
            exact_hits=counters["exact_hits"],
            semantic_hits=counters["semantic_hits"],
            misses=counters["misses"],
            hit_rate=round(100.0 * hits / total, 4) if total else 0.0,
            sets=counters["sets"],
            evictions=counters["evictions"],
            expirations=counters["expirations"],
            invalidations=counters["invalidations"],
            semantic_skipped_long=counters.get("semantic_skipped_long", 0),
            errors=errors,
            cache_size=cache_size,
            max_size=max_size,
            average_latency_ms=latency_ms["average"],
            p50_latency_ms=latency_ms["p50"],
            p95_latency_ms=latency_ms["p95"],
            p99_latency_ms=latency_ms["p99"],
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
