"""The gateway's ASGI app (Starlette): routes, startup and shutdown.

``create_app(config)`` builds the cache from the configuration (Redis when
REDIS_URL or REDIS_HOST is set, in memory otherwise); tests and embedders may
pass their own ``cache`` and an httpx ``transport`` for the upstream.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._errors import UpstreamError
from ..config import read_env
from ..factories import from_env
from ..manager import LLMCachingManager
from .chat import ChatEndpoint, Outcome
from .config import GatewayConfig
from .forwarding import Upstream, passthrough, relay
from .observe import GatewayMetrics, health
from .tenancy import Tenancy

__all__ = ["build_cache", "create_app"]

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def build_cache(config: GatewayConfig) -> LLMCachingManager:
    """The cache the configuration describes (REDIS_*/CACHE_* as :func:`~redis_semcache.from_env` reads them)."""
    env = dict(config.env)
    if config.redis_url:
        env["REDIS_URL"] = config.redis_url
    overrides: dict[str, Any] = {"enable_semantic": config.semantic}
    if read_env(env).uses_redis:
        overrides["backend_kwargs"] = {"name": config.name}
    return from_env(env, **overrides)


def create_app(
    config: GatewayConfig,
    *,
    cache: LLMCachingManager | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    owned = cache is None
    cache = build_cache(config) if cache is None else cache
    shared = getattr(cache.backend, "blocking_io", False)  # a server other gateways may share
    tenancy = Tenancy(config.tenant_key, pooled=config.pool_tenants, shared_backend=shared)
    upstream = Upstream(config.upstream, config.upstream_timeout, transport)
    chat = ChatEndpoint(cache, upstream, tenancy)
    metrics = GatewayMetrics(cache, config.name if shared else "memory")

    async def chat_completions(request: Request) -> Response:
        started, outcome = time.perf_counter(), Outcome()
        try:
            return await chat(request, outcome)
        finally:
            metrics.observe(outcome.label, started)

    async def forward(request: Request) -> Response:
        """Every other /v1 path: forwarded unchanged, never cached."""
        started, outcome = time.perf_counter(), "forwarded"
        try:
            has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
            body = request.stream() if has_body else None  # a GET stays without a body (not an empty chunked one)
            response = await upstream.open(
                request.method, request.url.path, request.url.query, request.headers.items(), body
            )
            return relay(response)
        except UpstreamError as error:
            outcome = "upstream_error"
            return passthrough(error)
        finally:
            metrics.observe(outcome, started)

    async def healthz(request: Request) -> Response:
        return await health(cache)

    async def not_found(request: Request, exc: Exception) -> Response:
        return Response(b'{"error": {"message": "not found", "type": "invalid_request_error"}}', 404,
                        media_type="application/json")  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if owned and cache.enable_semantic:
            await cache.awarmup()  # load the model before the first request rather than during it
        try:
            yield
        finally:  # runs after uvicorn let in-flight requests and streams finish
            await upstream.aclose()
            if owned:
                await cache.aclose()

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/v1/{path:path}", forward, methods=_METHODS),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found})
    app.state.cache = cache
    return app
