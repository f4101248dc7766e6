"""A local OpenAI Responses API server for tests: POST /v1/responses, JSON or SSE.

The answer is derived from the last user message's text ("answer to: <question>").
With ``tools`` it calls the first function tool instead.  A stream sends the
events the API sends: response.created, response.in_progress, then per output
item response.output_item.added, the content part, response.output_text.delta
word by word (or response.function_call_arguments.delta in two pieces), the
matching .done events, and response.completed with the whole response.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from .counting_server import Answer, CountingServer, Route


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(part["text"] for part in content if part.get("type") in ("input_text", "output_text"))


def question_of(body: dict[str, Any]) -> str:
    given = body["input"]
    if isinstance(given, str):
        return given
    return text_of([item for item in given if item.get("role") == "user"][-1]["content"])


def response(body: dict[str, Any], number: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": f"msg_{number}",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": f"answer to: {question_of(body)}", "annotations": []}],
    }
    tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    if tools:
        item = {"id": f"fc_{number}", "type": "function_call", "status": "completed", "call_id": f"call_{number}",
                "name": tools[0]["name"], "arguments": '{"q": 1}'}  # fmt: skip
    return {
        "id": f"resp_{number}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": body["model"],
        "instructions": body.get("instructions"),
        "output": [item],
        "parallel_tool_calls": True,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "temperature": body.get("temperature"),
        "usage": {
            "input_tokens": 5,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 3,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 8,
        },
    }


def events(done: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    seq = iter(range(1000))
    out: list[dict[str, Any]] = []

    def emit(kind: str, **fields: Any) -> None:
        out.append({"type": kind, "sequence_number": next(seq), **fields})

    start = {**done, "status": "in_progress", "output": [], "usage": None}
    emit("response.created", response=start)
    emit("response.in_progress", response=start)
    item = done["output"][0]
    if item["type"] == "message":
        emit("response.output_item.added", output_index=0, item={**item, "status": "in_progress", "content": []})
        part = {"type": "output_text", "text": "", "annotations": []}
        emit("response.content_part.added", item_id=item["id"], output_index=0, content_index=0, part=part)
        words = item["content"][0]["text"].split(" ")
        for i, word in enumerate(words):
            emit("response.output_text.delta", item_id=item["id"], output_index=0, content_index=0,
                 delta=word if i == 0 else " " + word, logprobs=[])  # fmt: skip
        full = item["content"][0]
        emit("response.output_text.done", item_id=item["id"], output_index=0, content_index=0, text=full["text"],
             logprobs=[])  # fmt: skip
        emit("response.content_part.done", item_id=item["id"], output_index=0, content_index=0, part=full)
    else:
        emit("response.output_item.added", output_index=0, item={**item, "status": "in_progress", "arguments": ""})
        for piece in ('{"q": ', "1}"):
            emit("response.function_call_arguments.delta", item_id=item["id"], output_index=0, delta=piece)
        emit("response.function_call_arguments.done", item_id=item["id"], output_index=0, arguments=item["arguments"])
    emit("response.output_item.done", output_index=0, item=item)
    emit("response.completed", response=done)
    return [(event["type"], event) for event in out]


def responses_route(body: dict[str, Any], number: int) -> Answer:
    done = response(body, number)
    if body.get("stream"):
        return list(events(done))
    return 200, done


class ResponsesServer(CountingServer):
    routes: ClassVar[dict[str, Route]] = {"/v1/responses": responses_route}
    prefix = "/v1"
