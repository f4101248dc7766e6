"""The shared part of the local LLM API servers for tests (anthropic_server.py, responses_server.py).

A ThreadingHTTPServer on loopback whose routes answer JSON or server-sent
events.  ``calls`` counts requests, ``requests`` keeps their bodies;
``break_next_stream`` makes the next stream stop after two events by cutting
the connection mid-body (the client sees a protocol error, not a clean end);
``end_next_stream_early`` makes it end cleanly without its last event (as a
proxy that truncates a body would).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

# A route: (request body, call number) -> (status, JSON body) or a list of SSE events (name, data).
Answer = tuple[int, dict[str, Any]] | list[tuple[str | None, dict[str, Any] | str]]
Route = Callable[[dict[str, Any], int], Answer]


class CountingServer:
    routes: ClassVar[dict[str, Route]] = {}
    prefix = ""  # what the client's base_url adds to the host

    def __init__(self) -> None:
        self.calls = 0
        self.requests: list[dict[str, Any]] = []
        self.break_next_stream = False
        self.end_next_stream_early = False
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{self.prefix}"

    def __enter__(self) -> CountingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def record(self, body: dict[str, Any]) -> tuple[int, bool, bool]:
        with self._lock:
            self.calls += 1
            self.requests.append(body)
            broken, self.break_next_stream = self.break_next_stream, False
            short, self.end_next_stream_early = self.end_next_stream_early, False
            return self.calls, broken, short


def _handler(server: CountingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found_error"}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            route = server.routes.get(self.path.split("?")[0])
            if route is None:
                self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found_error"}})
                return
            number, broken, short = server.record(body)
            answer = route(body, number)
            if isinstance(answer, tuple):
                self._send_json(*answer)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i, (name, data) in enumerate(answer[:-1] if short else answer):
                if broken and i == 2:  # cut the connection without the final zero-length chunk
                    self.close_connection = True
                    return
                payload = data if isinstance(data, str) else json.dumps(data)
                event = (f"event: {name}\n" if name else "") + f"data: {payload}\n\n"
                encoded = event.encode()
                self.wfile.write(f"{len(encoded):x}\r\n".encode() + encoded + b"\r\n")
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
