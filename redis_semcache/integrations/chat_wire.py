"""The chat-completions wire format as plain JSON, shared by the OpenAI client
wrapper (:mod:`.openai`) and the gateway (:mod:`redis_semcache.gateway`).

No ``openai`` import here: the gateway reads request bodies and SSE events as
dicts, the client wrapper converts its pydantic objects at the edge.

* :func:`chat_cache_key` - the manager's keywords for a request, or None when
  it is not cached (the key: model, messages, every parameter but ``UNKEYED``).
* :class:`ChunkAssembler` - the completion a stream of chunks adds up to.
* :func:`replay_chunks` - a stored completion as stream chunks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import InvalidInputError
from .._keys import canonical_param
from ..request import build_request

__all__ = ["UNKEYED", "ChunkAssembler", "chat_cache_key", "replay_chunks"]

# Arguments of create() that do not change the answer, so they stay out of the key.
UNKEYED = frozenset(
    {
        "stream",
        "stream_options",
        "user",
        "metadata",
        "store",
        "service_tier",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "safety_identifier",
        "extra_headers",
        "extra_query",
        "timeout",
    }
)


def chat_cache_key(given: Mapping[str, Any], cache_multiple: bool = False) -> dict[str, Any] | None:
    """The manager's keywords (``model``, ``messages``, ``openai``) for the request
    ``given`` (create()'s arguments or a request body), or None when it is not cached."""
    if not isinstance(given.get("model"), str) or "messages" not in given:
        return None
    if given.get("n", 1) != 1 and not cache_multiple:
        return None  # the caller wants distinct samples
    # None is sent as null, which the API reads as "not given": one key for both
    params = {k: v for k, v in given.items() if v is not None and k not in UNKEYED and k not in ("model", "messages")}
    messages = list(given["messages"])
    try:
        build_request(messages=messages)
        canonical_param(params, "openai")
    except InvalidInputError:
        return None  # images, audio, objects that are not JSON: not comparable, not cached
    return {"model": given["model"], "messages": messages, "openai": params}


class ChunkAssembler:
    """Builds the ChatCompletion (as JSON) that a stream of chunks adds up to."""

    def __init__(self) -> None:
        self.head: dict[str, Any] = {}
        self.choices: dict[int, dict[str, Any]] = {}
        self.usage: Any = None

    def add(self, chunk: Any) -> None:
        """Add one chunk: a dict, or anything with pydantic's ``model_dump``."""
        data = chunk if isinstance(chunk, dict) else chunk.model_dump(mode="json")
        self.head = {k: data.get(k) for k in ("id", "created", "model", "system_fingerprint", "service_tier")}
        self.usage = data.get("usage") or self.usage
        for choice in data.get("choices") or []:
            slot = self.choices.setdefault(choice["index"], {"content": [], "refusal": [], "tools": {}, "finish": None})
            delta = choice.get("delta") or {}
            slot["content"].append(delta.get("content") or "")
            slot["refusal"].append(delta.get("refusal") or "")
            for call in delta.get("tool_calls") or []:
                tool = slot["tools"].setdefault(call["index"], {"id": None, "name": "", "arguments": ""})
                tool["id"] = call.get("id") or tool["id"]
                function = call.get("function") or {}
                tool["name"] += function.get("name") or ""
                tool["arguments"] += function.get("arguments") or ""
            slot["finish"] = choice.get("finish_reason") or slot["finish"]

    def result(self) -> dict[str, Any] | None:
        """The whole answer, or None when some choice never finished (a broken stream)."""
        if not self.choices or any(slot["finish"] is None for slot in self.choices.values()):
            return None
        choices = []
        for index, slot in sorted(self.choices.items()):
            message: dict[str, Any] = {"role": "assistant", "content": "".join(slot["content"]) or None}
            if any(slot["refusal"]):
                message["refusal"] = "".join(slot["refusal"])
            if slot["tools"]:
                message["tool_calls"] = [
                    {"id": t["id"], "type": "function", "function": {"name": t["name"], "arguments": t["arguments"]}}
                    for _, t in sorted(slot["tools"].items())
                ]
            choices.append({"index": index, "message": message, "finish_reason": slot["finish"], "logprobs": None})
        head = {k: v for k, v in self.head.items() if v is not None}
        return {**head, "object": "chat.completion", "choices": choices, "usage": self.usage}


def replay_chunks(stored: Mapping[str, Any], request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A stored completion as chunks: one delta and one finish per choice, then
    usage if ``request`` (create()'s arguments or the body) asked for it."""
    head: dict[str, Any] = {k: stored[k] for k in ("id", "created", "model") if k in stored}
    head["object"] = "chat.completion.chunk"
    if stored.get("system_fingerprint"):
        head["system_fingerprint"] = stored["system_fingerprint"]
    out = []
    for choice in stored["choices"]:
        message = choice["message"]
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        if message.get("refusal"):
            delta["refusal"] = message["refusal"]
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
        index = choice["index"]
        out.append({**head, "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
        out.append({**head, "choices": [{"index": index, "delta": {}, "finish_reason": choice["finish_reason"]}]})
    if (request.get("stream_options") or {}).get("include_usage") and stored.get("usage"):
        out.append({**head, "choices": [], "usage": stored["usage"]})
    return out
