"""The upstream API, through one ``httpx.AsyncClient`` with pooled connections.

A gateway path ``/v1/X`` is the upstream's ``<base>/X`` (the base URL as an
OpenAI client takes it, ending in ``/v1``).  Requests keep every header but the
hop-by-hop ones (Authorization included: the upstream authenticates the
caller); responses keep theirs, bodies are relayed as they arrive.  A status
of 400 or more, a timeout or an unreachable upstream becomes an
:class:`~redis_semcache._errors.UpstreamError` on the cached path so that
nothing is stored, and is passed through to the caller either way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any

import anyio
import httpx
from starlette.responses import Response, StreamingResponse

from .._errors import UpstreamError

__all__ = ["Upstream", "error_body", "relay"]

log = logging.getLogger("redis_semcache.gateway")

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
     "transfer-encoding", "upgrade", "host", "content-length"}
)  # fmt: skip
# accept-encoding: httpx negotiates and decodes itself; the bypass header is the gateway's own.
_REQUEST_DROP = _HOP_BY_HOP | {"accept-encoding", "x-semcache-bypass"}
_RESPONSE_DROP = _HOP_BY_HOP | {"content-encoding"}  # bodies are relayed decoded


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None) -> bytes:
    """An OpenAI-style error object."""
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}}).encode()


def upstream_headers(headers: Iterable[tuple[str, str]], streamed_body: bool = False) -> list[tuple[str, str]]:
    """The caller's headers for the upstream.  A body relayed as a stream keeps its
    content-length (else httpx would send it chunked, which not every server reads)."""
    kept = [(k, v) for k, v in headers if k.lower() not in _REQUEST_DROP]
    if streamed_body:
        kept += [(k, v) for k, v in headers if k.lower() == "content-length"]
    return kept


def response_headers(response: httpx.Response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _RESPONSE_DROP]


def with_headers(response: Response, headers: Iterable[tuple[str, str]]) -> Response:
    """``response`` with ``headers`` added (a list: repeated headers such as set-cookie survive)."""
    response.raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return response


class Upstream:
    def __init__(self, base_url: str, timeout: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
            transport=transport,
        )

    def url(self, path: str, query: str = "") -> str:
        rest = path[len("/v1") :] if path.startswith("/v1") else path
        return self.base_url + rest + (f"?{query}" if query else "")

    async def open(
        self, method: str, path: str, query: str, headers: Iterable[tuple[str, str]], content: Any
    ) -> httpx.Response:
        """The upstream's response, its body still to read (``aiter_bytes``, then ``aclose``)."""
        headers = list(headers)
        sent = upstream_headers(headers, streamed_body=content is not None and not isinstance(content, bytes))
        request = self.client.build_request(method, self.url(path, query), headers=sent, content=content)
        try:
            return await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, path) from exc

    async def fetch_json(
        self, path: str, query: str, headers: Iterable[tuple[str, str]], content: bytes
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """POST ``content``; the JSON object answered and the response headers.  Anything
        else (an error status, a body that is not a JSON object) raises UpstreamError."""
        response = await self.open("POST", path, query, headers, content)
        try:
            body = await response.aread()
        except httpx.HTTPError as exc:
            raise _transport_error(exc, path) from exc
        finally:
            await response.aclose()
        passed = response_headers(response)
        if response.status_code >= 300:
            log.info("upstream answered %d on %s", response.status_code, path)
            raise UpstreamError(response.status_code, body, passed)
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise UpstreamError(502, error_body("the upstream answered something other than JSON", "upstream_error"))
        return data, passed

    async def aclose(self) -> None:
        await self.client.aclose()


def _transport_error(exc: httpx.HTTPError, path: str) -> UpstreamError:
    if isinstance(exc, httpx.TimeoutException):
        log.warning("upstream timed out on %s", path)
        return UpstreamError(504, error_body("the upstream did not answer in time", "upstream_error", "timeout"))
    log.warning("upstream unreachable on %s: %s", path, type(exc).__name__)
    return UpstreamError(502, error_body("the upstream could not be reached", "upstream_error", "unreachable"))


class _Relay(StreamingResponse):
    """A StreamingResponse that closes its body and runs ``on_close`` once it is done with
    the caller however that went - whole, broken off, the caller gone (its send cancelled
    while the body waited on the upstream) - not whenever the generator is collected."""

    def __init__(self, body: AsyncGenerator[bytes], status: int, on_close: Callable[[], Awaitable[None]]) -> None:
        super().__init__(body, status_code=status)
        self._body = body
        self._on_close = on_close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):  # also when this request itself is cancelled
                try:
                    await self._body.aclose()  # its finally closes the upstream response
                finally:
                    await self._on_close()


def relay(
    response: httpx.Response,
    headers: Iterable[tuple[str, str]] = (),
    on_piece: Callable[[bytes], Awaitable[None]] | None = None,
    on_end: Callable[[], Awaitable[None]] | None = None,
    on_close: Callable[[], Awaitable[None]] | None = None,
) -> Response:
    """Stream ``response`` to the caller as it arrives.  ``on_piece`` sees every piece
    before the caller does; ``on_end`` runs once the body ended whole - not when it
    broke off or the caller went away; ``on_close`` runs after it either way."""

    async def body() -> AsyncGenerator[bytes]:
        try:
            async for piece in response.aiter_bytes():
                if on_piece is not None:
                    await on_piece(piece)
                yield piece
            if on_end is not None:
                await on_end()
        finally:
            await response.aclose()

    if on_close is None:
        out = StreamingResponse(body(), status_code=response.status_code)
    else:
        out = _Relay(body(), response.status_code, on_close)
    out.raw_headers = []  # StreamingResponse's defaults give way to the upstream's
    return with_headers(out, [*response_headers(response), *headers])


def passthrough(error: UpstreamError, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """The upstream's error response (or the gateway's 502/504) as the caller gets it."""
    out = Response(error.body, status_code=error.status)
    out.raw_headers = [(b"content-length", str(len(error.body)).encode())]
    passed = error.headers or [("content-type", "application/json")]
    return with_headers(out, [*passed, *headers])
