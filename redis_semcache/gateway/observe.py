"""``GET /metrics`` and ``GET /healthz``.

The metrics are the library's collector (:class:`~redis_semcache.metrics.PrometheusCollector`:
hits, misses, entries, errors, lookup latency, breaker) and the gateway's own
request latency by outcome, in a registry of this app's own (two apps in one
process, as in the tests, do not collide).  Nothing is labelled by caller: no
API key or tenant digest ever reaches a metric.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..manager import LLMCachingManager
from ..metrics import PrometheusCollector

__all__ = ["GatewayMetrics", "health"]

# exact/semantic hits, misses, bypasses, upstream errors, bad requests, other forwarded paths
OUTCOMES = ("exact", "semantic", "miss", "bypass", "upstream_error", "invalid", "forwarded")
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class GatewayMetrics:
    def __init__(self, cache: LLMCachingManager, name: str) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(PrometheusCollector(cache, name=name))
        self.latency = Histogram(
            "semcache_gateway_request_seconds",
            "Gateway request latency until the response starts, by outcome.",
            ["outcome"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        for outcome in OUTCOMES:  # every series from the first scrape, at 0
            self.latency.labels(outcome)

    def observe(self, outcome: str, started: float) -> None:
        self.latency.labels(outcome).observe(time.perf_counter() - started)

    async def endpoint(self, request: Request) -> Response:
        # the collector reads the cache's statistics: a Redis round trip, kept off the event loop
        return Response(await asyncio.to_thread(generate_latest, self.registry), media_type=CONTENT_TYPE_LATEST)


async def health(cache: LLMCachingManager) -> Response:
    """200 while the gateway can serve - a cache that is down included (it fails open) -
    with the cache's own health check in the body."""
    try:
        report: Any = await cache.ahealth_check()
    except Exception as exc:  # a strict cache raises; the gateway still serves
        report = {"status": "unhealthy", "error": type(exc).__name__}
    return JSONResponse({"status": "ok", "cache": report})
