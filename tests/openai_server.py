"""A local OpenAI-compatible server for tests: POST /v1/chat/completions, JSON or SSE.

The answer is derived from the last user message ("answer to: <question>"), so a
test can tell which question an answer belongs to.  With ``tools`` in the
request it calls the first tool instead.  With ``n`` it answers that many
choices; ``unfinished_choice`` (an index) makes the next stream end cleanly
without that choice's finish chunk.  Counting, ``release`` and the stream faults
are the skeleton's (tests/counting_server.py).
"""

from __future__ import annotations

import functools
import time
from typing import Any, ClassVar

from .counting_server import Answer, CountingServer, Route


def completion(body: dict[str, Any], number: int) -> dict[str, Any]:
    question = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    message: dict[str, Any] = {"role": "assistant", "content": f"answer to: {question}"}
    finish = "stop"
    if body.get("tools"):
        name = body["tools"][0]["function"]["name"]
        call = {"id": f"call_{number}", "type": "function", "function": {"name": name, "arguments": '{"q": 1}'}}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls"
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [
            {"index": i, "message": message, "finish_reason": finish, "logprobs": None} for i in range(body.get("n", 1))
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def chunks(done: dict[str, Any], include_usage: bool, unfinished: int | None = None) -> list[dict[str, Any]]:
    """The completion as stream chunks, choice after choice: role, content word by word (or tool
    call pieces), finish (left out for choice ``unfinished``); then usage if asked."""
    base = {"id": done["id"], "object": "chat.completion.chunk", "created": done["created"], "model": done["model"]}
    out = []
    for choice in done["choices"]:
        out += _choice_chunks(base, choice, finish=choice["index"] != unfinished)
    if include_usage:
        out.append({**base, "choices": [], "usage": done["usage"]})
    return out


def _choice_chunks(base: dict[str, Any], choice: dict[str, Any], *, finish: bool) -> list[dict[str, Any]]:
    message, index = choice["message"], choice["index"]

    def chunk(delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": index, "delta": delta, "finish_reason": reason, "logprobs": None}]}

    out = [chunk({"role": "assistant", "content": ""})]
    if message.get("tool_calls"):
        call = message["tool_calls"][0]
        head = {"index": 0, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"]}}
        out.append(chunk({"tool_calls": [{**head, "function": {**head["function"], "arguments": '{"q": '}}]}))
        out.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}))
    else:
        words = message["content"].split(" ")
        out += [chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(words)]
    if finish:
        out.append(chunk({}, choice["finish_reason"]))
    return out


def chat_route(body: dict[str, Any], number: int, unfinished: int | None = None) -> Answer:
    done = completion(body, number)
    if not body.get("stream"):
        return 200, done
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    return [*((None, c) for c in chunks(done, include_usage, unfinished)), (None, "[DONE]")]


class OpenAIServer(CountingServer):
    routes: ClassVar[dict[str, Route]] = {"/v1/chat/completions": chat_route}
    prefix = "/v1"
    not_found_type = "invalid_request_error"

    def __init__(self) -> None:
        super().__init__()
        self.unfinished_choice: int | None = None

    def route(self, path: str) -> Route | None:
        if path not in self.routes:
            return None
        with self._lock:  # a one-shot setting, taken by the request it applies to
            unfinished, self.unfinished_choice = self.unfinished_choice, None
        return functools.partial(chat_route, unfinished=unfinished)
