"""An OpenAI-compatible caching gateway: ``semcache serve --upstream URL``.

Any app, in any language, points its OpenAI ``base_url`` at the gateway;
``POST /v1/chat/completions`` is answered from the cache (exact, then
semantic) or by the upstream, every other ``/v1/...`` request is forwarded
unchanged.  Needs the ``gateway`` extra (Starlette, uvicorn, httpx).

Modules: :mod:`.config` (flags and environment), :mod:`.app` (the ASGI app),
:mod:`.chat` (the cached endpoint), :mod:`.cached` (lookup then single flight),
:mod:`.sse` (event-stream framing), :mod:`.forwarding` (the upstream client),
:mod:`.tenancy` (the keyed hash of the API key), :mod:`.observe` (metrics and
health), :mod:`.serve` (the ``semcache serve`` command).
"""

from __future__ import annotations

from .config import GatewayConfig

__all__ = ["GatewayConfig", "create_app"]


def create_app(*args: object, **kwargs: object) -> object:
    """:func:`redis_semcache.gateway.app.create_app` (imported on first use: it needs the extra)."""
    from .app import create_app as create

    return create(*args, **kwargs)  # type: ignore[arg-type]
