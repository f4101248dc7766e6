"""A local OpenAI-compatible server for tests: POST /v1/chat/completions, JSON or SSE.

The answer is derived from the last user message ("answer to: <question>"), so a
test can tell which question an answer belongs to.  With ``tools`` in the
request it calls the first tool instead.  ``calls`` counts requests;
``break_next_stream`` makes the next stream stop after two chunks by cutting the
connection mid-body (the client sees a protocol error, not a clean end).  With
``n`` it answers that many choices; ``unfinished_choice`` (an index) makes the
next stream end cleanly without that choice's finish chunk.  ``release`` holds
every answer until it is set, ``midway`` every stream after its first two chunks.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OpenAIServer:
    def __init__(self) -> None:
        self.calls = 0
        self.requests: list[dict[str, Any]] = []
        self.break_next_stream = False
        self.unfinished_choice: int | None = None
        self.release = threading.Event()  # set: answer at once; cleared: hold answers until set
        self.release.set()
        self.midway = threading.Event()  # cleared: a stream stops after two chunks until it is set
        self.midway.set()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.midway.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def record(self, body: dict[str, Any]) -> tuple[int, bool, int | None]:
        with self._lock:
            self.calls += 1
            self.requests.append(body)
            broken, self.break_next_stream = self.break_next_stream, False
            unfinished, self.unfinished_choice = self.unfinished_choice, None
            return self.calls, broken, unfinished


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


def _handler(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/v1/chat/completions":
                self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
                return
            number, broken, unfinished = server.record(body)
            server.release.wait(timeout=10)
            done = completion(body, number)
            if not body.get("stream"):
                self._send_json(200, done)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = [f"data: {json.dumps(c)}\n\n" for c in chunks(done, include_usage, unfinished)] + [
                "data: [DONE]\n\n"
            ]
            for i, event in enumerate(events):
                if broken and i == 2:  # cut the connection without the final zero-length chunk
                    self.close_connection = True
                    return
                if i == 2:
                    server.midway.wait(timeout=10)
                data = event.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        def _send_json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
