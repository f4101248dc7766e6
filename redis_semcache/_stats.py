"""Statistics: an immutable snapshot built from counters and local latencies.

Counters come from the backend (shared across processes on Redis).  Latencies
are measured in this process only: the percentiles over a bounded window of
recent lookups, and a cumulative histogram for Prometheus (redis_semcache.metrics).
"""

from __future__ import annotations

import bisect
import json
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .counters import COUNTER_NAMES

__all__ = ["LATENCY_BUCKETS", "CacheStatistics", "LatencyHistogram", "LatencyWindow", "write_report"]

# Upper bounds (seconds) of the lookup histogram: exact hits take well under a
# millisecond on a local Redis, semantic lookups with embedding several.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class LatencyHistogram:
    """Cumulative lookup latencies since the process started: ``counts[i]`` lookups
    took at most ``bounds[i]`` seconds (not cumulative over buckets; +Inf is ``count``)."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    sum: float


class LatencyWindow:
    """The most recent lookup latencies of this process, in seconds, and a histogram of all of them."""

    def __init__(self, size: int = 10_000) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one: above every bound
        self._sum = 0.0
        self._listeners: list[Callable[[float], None]] = []

    def subscribe(self, listener: Callable[[float], None]) -> None:
        """Call ``listener(seconds)`` after each added latency."""
        self._listeners.append(listener)

    def add(self, seconds: float) -> None:
        with self._lock:
            self._samples.append(seconds)
            self._buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self._sum += seconds
        for listener in self._listeners:
            listener(seconds)

    def clear(self) -> None:
        """Forget the window; the histogram stays (Prometheus counters never go back)."""
        with self._lock:
            self._samples.clear()

    def histogram(self) -> LatencyHistogram:
        with self._lock:
            buckets, total = list(self._buckets), self._sum
        return LatencyHistogram(LATENCY_BUCKETS, tuple(buckets[:-1]), sum(buckets), total)

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
    single_flight_joins: int  # of the exact hits: callers served by another caller's computation
    semantic_skipped_long: int  # misses that were exact-only: the text exceeds the embedder's window
    explorations: int  # of the misses: get_or_compute computed a would-be hit to label it (error budget)
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
        counts: dict[str, Any] = {name: counters.get(name, 0) for name in COUNTER_NAMES}  # a field each
        hits = counts["exact_hits"] + counts["semantic_hits"]
        total = hits + counts["misses"]
        return cls(
            total_requests=total,
            hits=hits,
            hit_rate=round(100.0 * hits / total, 4) if total else 0.0,
            **counts,
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


def write_report(
    path: str | os.PathLike[str], stats: dict[str, Any], top: list[dict[str, Any]], config: dict[str, Any]
) -> Path:
    """Write statistics, top entries and configuration as JSON, atomically (temp file, then rename)."""
    target = Path(path)
    report = {"exported_at": time.time(), "statistics": stats, "top_entries": top, "config": config}
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
