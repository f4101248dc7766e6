"""Cache ``messages.create`` and ``messages.stream`` of an Anthropic client::

    client = cached_anthropic(anthropic.Anthropic(), cache)     # or anthropic.AsyncAnthropic()
    reply = client.messages.create(model="claude-sonnet-4-5", max_tokens=512, messages=[...])

``create`` takes the same arguments and returns a real ``Message`` (or, with
``stream=True``, a stream of raw events); ``stream`` returns a context manager
whose ``MessageStream`` is the SDK's own, so ``text_stream``,
``get_final_message()`` and the events work on hits too.  The key is the model,
the messages as a chat request (``system`` first, the last user message's text
compared, earlier turns in the scope; see :mod:`redis_semcache.request`) and
every other parameter except those in ``UNKEYED`` (``max_tokens``, ``tools``,
``tool_choice``, sampling, ``thinking`` ... all scope the entry).

Not cached, passed straight to the API: messages the cache cannot compare
(images, documents, a last user message without text, e.g. a tool result),
``stream(output_format=...)``, and everything on the client other than these
two methods.  Concurrent identical non-streaming requests call the API once
(``get_or_compute``).  A streamed miss passes events through as they arrive
and stores the message once ``message_stop`` arrived; a hit is replayed as the
events the API sends (one delta per content block).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from anthropic import AsyncAnthropic
from anthropic.lib.streaming import AsyncMessageStream, MessageStream
from anthropic.types import Message, RawMessageStreamEvent

from .._errors import InvalidInputError
from .._keys import canonical_param
from ..manager import LLMCachingManager
from ..request import build_request
from ._streams import (
    AsyncRecording,
    AsyncReplay,
    Proxy,
    Recording,
    Replay,
    as_json,
    check_wrapper_args,
    event_maker,
    given,
    plain,
)

__all__ = ["UNKEYED", "cached_anthropic"]

# Arguments that do not change the answer, so they stay out of the key.
UNKEYED = frozenset(
    {"stream", "metadata", "service_tier", "inference_geo", "diagnostics", "cache_control", "extra_headers",
     "extra_query", "timeout", "betas", "user_profile_id"}
)  # fmt: skip
_UNCOMPARABLE = frozenset({"image", "document", "search_result", "container_upload"})
_EVENT = event_maker(RawMessageStreamEvent)


def cached_anthropic(client: Any, cache: LLMCachingManager, **options: Any) -> Any:
    """Wrap an ``anthropic.Anthropic`` or ``anthropic.AsyncAnthropic`` client.

    ``options`` (``ttl``, ``tags``, ``namespace``) go to every write.
    """
    check_wrapper_args("cached_anthropic", cache, options)
    messages = _Messages(client.messages, cache, options, isinstance(client, AsyncAnthropic))
    return Proxy(client, {"messages": messages})


def request_key(kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The manager's keywords for a Messages API request, or None when it is not cached."""
    args = given(kwargs)
    if not isinstance(args.get("model"), str) or "messages" not in args:
        return None
    try:
        messages = chat_messages(args.get("system"), args["messages"])
        build_request(messages=messages)
        params = {k: v for k, v in args.items() if k not in UNKEYED and k not in ("model", "messages", "system")}
        canonical_param(params, "anthropic")
    except (InvalidInputError, TypeError, AttributeError, KeyError):
        return None  # images, tool results as the question, objects that are not JSON: not cached
    return {"model": args["model"], "messages": messages, "anthropic": params}


def chat_messages(system: Any, messages: Any) -> list[dict[str, Any]]:
    """Anthropic's ``system`` and ``messages`` as OpenAI-style messages: text as ``content``,
    any other block (tool use, tool result, thinking) kept whole under ``blocks`` (in the scope)."""
    out = [] if system is None else [{"role": "system", "content": _text_parts(system)}]
    for message in map(plain, messages):
        content = message["content"]
        if isinstance(content, str):
            out.append({"role": message["role"], "content": content})
            continue
        blocks = [plain(b) for b in content]
        if any(b.get("type") in _UNCOMPARABLE for b in blocks):
            raise InvalidInputError("a message with an image or a document is not cached")
        texts = [{"type": "text", "text": b["text"]} for b in blocks if b.get("type") == "text"]
        entry: dict[str, Any] = {"role": message["role"], "content": texts}
        others = [b if b.get("type") != "text" else {"type": "text"} for b in blocks]
        if len(texts) < len(blocks):  # where each non-text block stands among the texts
            entry["blocks"] = others
        out.append(entry)
    return out


def _text_parts(system: Any) -> Any:
    if isinstance(system, str):
        return system
    return [{"type": "text", "text": plain(block)["text"]} for block in system]


class _Messages(Proxy):
    def __init__(self, target: Any, cache: LLMCachingManager, options: dict[str, Any], is_async: bool) -> None:
        if is_async:
            super().__init__(target, {"create": self._acreate, "stream": self._astream})
        else:
            super().__init__(target, {"create": self._create, "stream": self._stream})
        self._cache = cache
        self._options = options

    def _create(self, **kwargs: Any) -> Any:
        key = request_key(kwargs)
        if key is None:
            return self._target.create(**kwargs)
        if kwargs.get("stream"):
            return self._events(key, kwargs)
        stored = self._cache.get_or_compute(
            compute=lambda: as_json(self._target.create(**kwargs)), **key, **self._options
        )
        return Message.model_construct(**stored)

    def _events(self, key: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        stored = self._cache.get(**key)
        if stored is not None:
            return Replay(replay_events(stored))
        stream = self._target.create(**{**kwargs, "stream": True})
        return Recording(stream, _Assembler(), lambda done: self._cache.set(response=done, **key, **self._options))

    def _stream(self, **kwargs: Any) -> Any:
        key = request_key(kwargs)
        if key is None or "output_format" in given(kwargs):
            return self._target.stream(**kwargs)
        return _StreamManager(lambda: MessageStream(self._events(key, kwargs), output_format=_not_given()))

    async def _acreate(self, **kwargs: Any) -> Any:
        key = request_key(kwargs)
        if key is None:
            return await self._target.create(**kwargs)
        if kwargs.get("stream"):
            return await self._aevents(key, kwargs)

        async def compute() -> dict[str, Any]:
            return as_json(await self._target.create(**kwargs))

        return Message.model_construct(**await self._cache.aget_or_compute(compute=compute, **key, **self._options))

    async def _aevents(self, key: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        stored = await self._cache.aget(**key)
        if stored is not None:
            return AsyncReplay(replay_events(stored))

        async def store(done: dict[str, Any]) -> None:
            await self._cache.aset(response=done, **key, **self._options)

        return AsyncRecording(await self._target.create(**{**kwargs, "stream": True}), _Assembler(), store)

    def _astream(self, **kwargs: Any) -> Any:
        key = request_key(kwargs)
        if key is None or "output_format" in given(kwargs):
            return self._target.stream(**kwargs)

        async def open_stream() -> AsyncMessageStream[Any]:
            return AsyncMessageStream(await self._aevents(key, kwargs), output_format=_not_given())

        return _AsyncStreamManager(open_stream)


def _not_given() -> Any:
    from anthropic import NOT_GIVEN

    return NOT_GIVEN


class _StreamManager:
    """What ``messages.stream()`` returns: the request is made (or the cache asked) on enter."""

    def __init__(self, open_stream: Any) -> None:
        self._open = open_stream
        self._stream: Any = None

    def __enter__(self) -> MessageStream[Any]:
        self._stream = self._open()
        return self._stream

    def __exit__(self, *exc: object) -> None:
        if self._stream is not None:
            self._stream.close()


class _AsyncStreamManager:
    def __init__(self, open_stream: Any) -> None:
        self._open = open_stream
        self._stream: Any = None

    async def __aenter__(self) -> AsyncMessageStream[Any]:
        self._stream = await self._open()
        return self._stream

    async def __aexit__(self, *exc: object) -> None:
        if self._stream is not None:
            await self._stream.close()


class _Assembler:
    """The Message (as JSON) that a stream of raw events adds up to."""

    def __init__(self) -> None:
        self.message: dict[str, Any] | None = None
        self.partial_json: dict[int, str] = {}
        self.stopped = False

    def add(self, event: Any) -> None:
        data = as_json(event) if hasattr(event, "model_dump") else dict(event)
        kind = data.get("type")
        if kind == "message_start":
            self.message = data["message"]
            return
        message = self.message
        if message is None:
            return
        if kind == "content_block_start":
            message["content"].append(data["content_block"])
        elif kind == "content_block_delta":
            block, delta = message["content"][data["index"]], data["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "input_json_delta":
                self.partial_json[data["index"]] = self.partial_json.get(data["index"], "") + delta["partial_json"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "citations_delta":
                block["citations"] = [*(block.get("citations") or []), delta["citation"]]
        elif kind == "content_block_stop" and data["index"] in self.partial_json:
            message["content"][data["index"]]["input"] = json.loads(self.partial_json.pop(data["index"]) or "{}")
        elif kind == "message_delta":
            message.update({k: v for k, v in data["delta"].items() if k in ("stop_reason", "stop_sequence")})
            usage = {k: v for k, v in (data.get("usage") or {}).items() if v is not None}
            message["usage"] = {**(message.get("usage") or {}), **usage}
        elif kind == "message_stop":
            self.stopped = True

    def result(self) -> dict[str, Any] | None:
        """The whole message, or None when the stream never reached message_stop."""
        if self.message is None or not self.stopped or self.message.get("stop_reason") is None:
            return None
        return self.message


def replay_events(stored: Mapping[str, Any]) -> list[Any]:
    """A stored Message as the raw events the API streams: one delta per content block."""
    usage = dict(stored.get("usage") or {})
    start = {**stored, "content": [], "stop_reason": None, "stop_sequence": None}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(stored.get("content") or []):
        kind = block.get("type")
        opening, deltas = dict(block), []
        if kind == "text":
            opening["text"], deltas = "", [{"type": "text_delta", "text": block["text"]}]
        elif kind in ("tool_use", "server_tool_use"):
            opening["input"] = {}
            deltas = [{"type": "input_json_delta", "partial_json": json.dumps(block.get("input") or {})}]
        elif kind == "thinking":
            opening.update(thinking="", signature="")
            deltas = [{"type": "thinking_delta", "thinking": block["thinking"]}]
            deltas.append({"type": "signature_delta", "signature": block.get("signature") or ""})
        events.append({"type": "content_block_start", "index": index, "content_block": opening})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    delta = {"stop_reason": stored.get("stop_reason"), "stop_sequence": stored.get("stop_sequence")}
    events.append({"type": "message_delta", "delta": delta, "usage": usage})
    events.append({"type": "message_stop"})
    return [_EVENT(json.loads(json.dumps(e))) for e in events]
