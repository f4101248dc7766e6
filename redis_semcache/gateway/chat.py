"""``POST /v1/chat/completions``: answered from the cache or by the upstream.

The request body is read the way :func:`redis_semcache.integrations.openai.cached_openai`
reads ``create()``'s arguments (:func:`~redis_semcache.integrations.chat_wire.chat_cache_key`),
scoped by the caller's tenant.  The response says what happened in ``x-semcache``:

* ``exact`` / ``semantic`` (with ``x-semcache-similarity``): served from the cache;
* ``miss``: the upstream answered, and the answer was stored;
* ``bypass``: the cache was neither read nor written - the caller asked
  (``Cache-Control: no-store`` or ``x-semcache-bypass: 1``), or the request
  cannot be compared (``n`` > 1, images, audio).

A malformed body is a 400 with an OpenAI-style error, before any lookup.  An
upstream error (any status from 400, a timeout) passes through and is never
stored.  A stream that misses is relayed as it arrives and stored once it ended
with ``[DONE]`` and a finish reason for every choice; a stream that hits is
replayed as chunks.  Concurrent identical misses call the upstream once,
streamed or not: a streamed one relays the upstream's chunks live to its own
caller while the others wait for the stored answer and get it replayed; if
nothing was stored (an error, a broken or unfinished stream), one of them calls
the upstream next.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .._errors import UpstreamError
from ..integrations.chat_wire import ChunkAssembler, chat_cache_key, replay_chunks
from ..manager import LLMCachingManager
from . import sse
from .cached import Served, aclaim_stream, aget_or_fetch
from .forwarding import Upstream, error_body, passthrough, relay, response_headers, with_headers
from .tenancy import Tenancy

__all__ = ["ChatEndpoint", "Outcome", "bad_request"]

log = logging.getLogger("redis_semcache.gateway")
PATH = "/v1/chat/completions"


@dataclass
class Outcome:
    """What a request came to, for the latency metric (set by the handler)."""

    label: str = "error"


def bad_request(message: str) -> Response:
    return Response(error_body(message), status_code=400, media_type="application/json")


def parse_body(raw: bytes) -> dict[str, Any] | str:
    """The request as a dict, or what is wrong with it."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return "the request body is not valid JSON"
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "'model' must be a non-empty string"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return "'messages' must be a non-empty array of message objects"
    return body


def bypassed(request: Request) -> bool:
    """The caller asked the cache to stay out of it."""
    directives = {d.strip().lower() for d in request.headers.get("cache-control", "").split(",")}
    flag = request.headers.get("x-semcache-bypass", "").strip().lower()
    return "no-store" in directives or flag in {"1", "true", "yes", "on"}


def served_headers(served: Served) -> list[tuple[str, str]]:
    headers = [("x-semcache", served.outcome)]
    if served.outcome == "semantic" and served.similarity is not None:
        headers.append(("x-semcache-similarity", f"{served.similarity:.4f}"))
    return headers


class ChatEndpoint:
    def __init__(self, cache: LLMCachingManager, upstream: Upstream, tenancy: Tenancy) -> None:
        self.cache = cache
        self.upstream = upstream
        self.tenancy = tenancy

    async def __call__(self, request: Request, outcome: Outcome) -> Response:
        raw = await request.body()
        body = parse_body(raw)
        if isinstance(body, str):
            outcome.label = "invalid"
            return bad_request(body)
        headers = request.headers.items()
        key = None if bypassed(request) else chat_cache_key(body)
        try:
            if key is None:
                outcome.label = "bypass"
                response = await self.upstream.open("POST", PATH, request.url.query, headers, raw)
                return relay(response, [("x-semcache", "bypass")])
            key.update(self.tenancy.scope(request.headers.get("authorization")))
            query = request.url.query  # passed on as it came (e.g. an api-version)
            if body.get("stream"):
                return await self._stream(body, key, raw, headers, query, outcome)
            return await self._json(key, raw, headers, query, outcome)
        except UpstreamError as error:
            outcome.label = "upstream_error"
            return passthrough(error, [("x-semcache", "miss" if key is not None else "bypass")])

    async def _json(self, key: dict[str, Any], raw: bytes, headers: Any, query: str, outcome: Outcome) -> Response:
        passed: list[tuple[str, str]] = []

        async def fetch() -> dict[str, Any]:
            data, upstream_headers = await self.upstream.fetch_json(PATH, query, headers, raw)
            passed.extend(upstream_headers)
            return data

        served = await aget_or_fetch(self.cache, key, fetch)
        outcome.label = served.outcome
        payload = json.dumps(served.response).encode()
        response = Response(payload, media_type="application/json")
        kept = [(k, v) for k, v in passed if k.lower() != "content-type"]  # the upstream's, on a miss
        return with_headers(response, [*kept, *served_headers(served)])

    async def _stream(
        self, body: dict[str, Any], key: dict[str, Any], raw: bytes, headers: Any, query: str, outcome: Outcome
    ) -> Response:
        served = await aclaim_stream(self.cache, key)
        if isinstance(served, Served):
            outcome.label = served.outcome
            events = [sse.encode(chunk) for chunk in replay_chunks(served.response, body)] + [sse.DONE]

            async def replay() -> Any:
                for event in events:
                    yield event

            return StreamingResponse(replay(), media_type="text/event-stream", headers=dict(served_headers(served)))
        outcome.label = "miss"
        lead = served  # identical streamed (and non-streamed) misses wait until lead.release()
        try:
            response = await self.upstream.open("POST", PATH, query, headers, raw)
            if response.status_code >= 300:
                error_bytes = await response.aread()
                await response.aclose()
                raise UpstreamError(response.status_code, error_bytes, response_headers(response))
        except BaseException:
            await lead.release()
            raise
        recorder = _Recorder(self.cache, key)
        return relay(
            response, [("x-semcache", "miss")], on_piece=recorder.feed, on_end=recorder.end, on_close=lead.release
        )


class _Recorder:
    """Assembles a relayed stream and stores it once, when it is complete."""

    def __init__(self, cache: LLMCachingManager, key: dict[str, Any]) -> None:
        self._cache = cache
        self._key = key
        self._reader = sse.EventReader()
        self._assembler = ChunkAssembler()
        self._stored = False

    async def feed(self, piece: bytes) -> None:
        for chunk in self._reader.feed(piece):
            self._assembler.add(chunk)
        if self._reader.done:  # stored before the caller sees [DONE], so its next request hits
            await self.end()

    async def end(self) -> None:
        done = self._assembler.result()
        if self._stored or done is None:
            return
        self._stored = True
        await self._cache.aset(response=done, **self._key)
