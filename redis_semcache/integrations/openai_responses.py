"""Cache ``responses.create`` (the OpenAI Responses API) of a client wrapped by ``cached_openai``::

    client = cached_openai(openai.OpenAI(), cache)
    reply = client.responses.create(model="gpt-4o-mini", instructions="Be brief.", input="What is Redis?")
    reply.output_text

``create`` returns a real ``Response`` (or, with ``stream=True``, a stream of
``ResponseStreamEvent``).  The key is the model, the request as chat messages
(``instructions`` first, then ``input``: a string is one user message; the last
user message's text is compared, everything else scopes the entry) and every
other parameter except those in ``UNKEYED``; ``tools``, ``text`` (the
response format), ``reasoning`` and sampling parameters all scope the entry.

Not cached, passed straight to the API: requests whose context lives on the
server (``previous_response_id``, ``conversation``, a stored ``prompt``),
``background=True``, input the cache cannot compare (images, files, a last
user message without text), and the other methods of ``responses``.  A
streamed miss passes events through and stores the response carried by
``response.completed``; a hit is replayed as the events the API sends (one text
delta per content part) ending with ``response.completed``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from openai.types.responses import Response, ResponseStreamEvent

from .._errors import InvalidInputError
from .._keys import canonical_param
from ..manager import LLMCachingManager
from ..request import build_request
from ._streams import AsyncRecording, AsyncReplay, Proxy, Recording, Replay, as_json, event_maker, given, plain

__all__ = ["SERVER_STATE", "UNKEYED", "Responses"]

UNKEYED = frozenset(
    {"stream", "stream_options", "user", "metadata", "store", "service_tier", "include", "prompt_cache_key",
     "prompt_cache_options", "prompt_cache_retention", "safety_identifier", "extra_headers", "extra_query",
     "timeout"}
)  # fmt: skip
# The request's context lives on the server: the same arguments may mean another conversation.
SERVER_STATE = ("previous_response_id", "conversation", "prompt", "background")
_TEXT_PARTS = ("input_text", "output_text", "text")
_EVENT = event_maker(ResponseStreamEvent)


def request_key(kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The manager's keywords for a Responses API request, or None when it is not cached."""
    args = given(kwargs)
    if not isinstance(args.get("model"), str) or "input" not in args or any(args.get(k) for k in SERVER_STATE):
        return None
    try:
        messages = chat_messages(args.get("instructions"), args["input"])
        build_request(messages=messages)
        skipped = (*UNKEYED, "model", "input", "instructions")
        params = {k: v for k, v in args.items() if k not in skipped}
        canonical_param(params, "responses")
    except (InvalidInputError, TypeError, AttributeError, KeyError):
        return None  # images, files, tool output as the question, objects that are not JSON: not cached
    return {"model": args["model"], "messages": messages, "responses": params}


def chat_messages(instructions: Any, given_input: Any) -> list[dict[str, Any]]:
    """``instructions`` and ``input`` as OpenAI chat messages; items that are not messages
    (function calls and their output, reasoning) are kept whole under ``item``, in the scope."""
    out = [] if instructions is None else [{"role": "developer", "content": instructions}]
    if isinstance(given_input, str):
        return [*out, {"role": "user", "content": given_input}]
    for raw in given_input:
        item = plain(raw)
        if "role" not in item:
            out.append({"role": "assistant", "content": None, "item": item})
            continue
        content: Any = item.get("content")
        if not isinstance(content, str):
            parts = [plain(p) for p in content or ()]
            if any(p.get("type") not in _TEXT_PARTS for p in parts):
                raise InvalidInputError("input with an image or a file is not cached")
            content = [{"type": "text", "text": p["text"]} for p in parts]
        rest = {k: v for k, v in item.items() if k not in ("role", "content", "type")}
        out.append({"role": item["role"], "content": content, **rest})
    return out


class Responses(Proxy):
    """``client.responses`` with ``create`` cached."""

    def __init__(self, target: Any, cache: LLMCachingManager, options: dict[str, Any], is_async: bool) -> None:
        super().__init__(target, {"create": self._acreate if is_async else self._create})
        self._cache = cache
        self._options = options

    def _create(self, **kwargs: Any) -> Any:
        key = request_key(kwargs)
        if key is None:
            return self._target.create(**kwargs)
        if kwargs.get("stream"):
            stored = self._cache.get(**key)
            if stored is not None:
                return Replay(replay_events(stored))
            store = lambda done: self._cache.set(response=done, **key, **self._options)  # noqa: E731
            return Recording(self._target.create(**kwargs), _Assembler(), store)
        stored = self._cache.get_or_compute(
            compute=lambda: as_json(self._target.create(**kwargs)), **key, **self._options
        )
        return Response.model_construct(**stored)

    async def _acreate(self, **kwargs: Any) -> Any:
        key = request_key(kwargs)
        if key is None:
            return await self._target.create(**kwargs)
        if kwargs.get("stream"):
            stored = await self._cache.aget(**key)
            if stored is not None:
                return AsyncReplay(replay_events(stored))

            async def store(done: dict[str, Any]) -> None:
                await self._cache.aset(response=done, **key, **self._options)

            return AsyncRecording(await self._target.create(**kwargs), _Assembler(), store)

        async def compute() -> dict[str, Any]:
            return as_json(await self._target.create(**kwargs))

        return Response.model_construct(**await self._cache.aget_or_compute(compute=compute, **key, **self._options))


class _Assembler:
    """A stream's answer is the response its ``response.completed`` event carries."""

    def __init__(self) -> None:
        self.done: dict[str, Any] | None = None

    def add(self, event: Any) -> None:
        if getattr(event, "type", None) == "response.completed":
            self.done = as_json(event.response)

    def result(self) -> dict[str, Any] | None:
        return self.done


def replay_events(stored: Mapping[str, Any]) -> list[Any]:
    """A stored response as the events the API streams: one delta per text part or call's arguments."""
    out: list[dict[str, Any]] = []

    def emit(kind: str, **fields: Any) -> None:
        out.append({"type": kind, "sequence_number": len(out), **fields})

    start = {**stored, "status": "in_progress", "output": [], "usage": None}
    emit("response.created", response=start)
    emit("response.in_progress", response=start)
    for index, item in enumerate(stored.get("output") or []):
        where = {"item_id": item.get("id") or "", "output_index": index}
        if item.get("type") == "message":
            emit("response.output_item.added", output_index=index, item={**item, "status": "in_progress",
                                                                          "content": []})  # fmt: skip
            for part_index, part in enumerate(item.get("content") or []):
                at = {**where, "content_index": part_index}
                if part.get("type") == "output_text":
                    emit("response.content_part.added", **at, part={**part, "text": ""})
                    emit("response.output_text.delta", **at, delta=part["text"], logprobs=[])
                    emit("response.output_text.done", **at, text=part["text"], logprobs=[])
                elif part.get("type") == "refusal":
                    emit("response.content_part.added", **at, part={**part, "refusal": ""})
                    emit("response.refusal.delta", **at, delta=part["refusal"])
                    emit("response.refusal.done", **at, refusal=part["refusal"])
                else:
                    emit("response.content_part.added", **at, part=part)
                emit("response.content_part.done", **at, part=part)
        elif item.get("type") == "function_call":
            emit("response.output_item.added", output_index=index, item={**item, "status": "in_progress",
                                                                          "arguments": ""})  # fmt: skip
            emit("response.function_call_arguments.delta", **where, delta=item["arguments"])
            emit("response.function_call_arguments.done", **where, arguments=item["arguments"])
        else:
            emit("response.output_item.added", output_index=index, item=item)
        emit("response.output_item.done", output_index=index, item=item)
    emit("response.completed", response=dict(stored))
    return [_EVENT(json.loads(json.dumps(e))) for e in out]
