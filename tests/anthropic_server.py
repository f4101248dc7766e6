"""A local Anthropic Messages API server for tests: POST /v1/messages, JSON or SSE.

The answer is derived from the last user message's text ("answer to: <question>"),
so a test can tell which question an answer belongs to.  With ``tools`` in the
request it calls the first tool instead.  A stream sends the events the API
sends: message_start, then per block content_block_start / _delta (word by
word, or the tool input in two pieces) / _stop, then message_delta and
message_stop, with a ping in between.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .counting_server import Answer, CountingServer, Route


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(block["text"] for block in content if block.get("type") == "text")


def message(body: dict[str, Any], number: int) -> dict[str, Any]:
    question = text_of([m for m in body["messages"] if m["role"] == "user"][-1]["content"])
    block: dict[str, Any] = {"type": "text", "text": f"answer to: {question}"}
    stop = "end_turn"
    if body.get("tools"):
        block = {"type": "tool_use", "id": f"toolu_{number}", "name": body["tools"][0]["name"], "input": {"q": 1}}
        stop = "tool_use"
    return {
        "id": f"msg_{number}",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 3},
    }


def events(done: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    start = {**done, "content": [], "stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 1}}
    out: list[tuple[str | None, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
    block = done["content"][0]
    if block["type"] == "text":
        empty = {"type": "text", "text": ""}
        words = block["text"].split(" ")
        deltas = [{"type": "text_delta", "text": w if i == 0 else " " + w} for i, w in enumerate(words)]
    else:
        empty = {**block, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in ('{"q": ', "1}")]
    out.append(("content_block_start", {"type": "content_block_start", "index": 0, "content_block": empty}))
    out.append(("ping", {"type": "ping"}))
    out += [("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d}) for d in deltas]
    out.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    delta = {"stop_reason": done["stop_reason"], "stop_sequence": None}
    out.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": {"output_tokens": 3}}))
    out.append(("message_stop", {"type": "message_stop"}))
    return out


def messages_route(body: dict[str, Any], number: int) -> Answer:
    done = message(body, number)
    if body.get("stream"):
        return list(events(done))
    return 200, done


class AnthropicServer(CountingServer):
    routes: ClassVar[dict[str, Route]] = {"/v1/messages": messages_route}
