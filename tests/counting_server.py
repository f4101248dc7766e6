"""The skeleton of the local LLM API servers for tests (openai_server.py, anthropic_server.py,
responses_server.py, llm_api_server.py; gateway_servers.py's upstream).

A ThreadingHTTPServer on a free loopback port, served in a thread from ``with``
to its end.  A subclass says only what differs: its ``routes`` (path -> answer),
the ``prefix`` its client's base_url adds, the error ``not_found_type`` its API
names, and if it needs more, its own :meth:`route` or ``handler`` class.

``calls`` counts the requests a route answered, ``requests`` keeps their bodies
and ``arrivals`` is released once for each as it is counted.  One-shot faults for
the next stream: ``break_next_stream`` stops it after two events by cutting the
connection mid-body (the client sees a protocol error, not a clean end);
``end_next_stream_early`` ends it cleanly without its last event (as a proxy that
truncates a body would).  ``release`` holds answers while cleared (for
``hold_limit`` seconds at most) and sends them once set; ``midway``, while
cleared, holds every stream after its first two events.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, TypeVar, cast

# A route: (request body, call number) -> (status, JSON body) or a list of SSE events (name, data).
Answer = tuple[int, dict[str, Any]] | list[tuple[str | None, dict[str, Any] | str]]
Route = Callable[[dict[str, Any], int], Answer]
S = TypeVar("S", bound="CountingServer")


class Handler(BaseHTTPRequestHandler):
    """Answers a POST from its server's route (404 for other paths and every GET)."""

    protocol_version = "HTTP/1.1"

    @property
    def owner(self) -> CountingServer:
        return cast(_HTTPServer, self.server).owner

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.send_not_found()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        route = self.owner.route(self.path.split("?")[0])
        if route is None:
            self.send_not_found()
            return
        number, broken, short = self.owner.record(body)
        answer = route(body, number)
        self.owner.release.wait(timeout=self.owner.hold_limit)
        if isinstance(answer, tuple):
            self.send_json(*answer)
        else:
            self.send_events(answer[:-1] if short else answer, broken)

    def send_events(self, events: list[tuple[str | None, dict[str, Any] | str]], broken: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, (name, data) in enumerate(events):
            if broken and i == 2:  # cut the connection without the final zero-length chunk
                self.close_connection = True
                return
            if i == 2:
                self.owner.midway.wait(timeout=self.owner.hold_limit)
            payload = data if isinstance(data, str) else json.dumps(data)
            event = ((f"event: {name}\n" if name else "") + f"data: {payload}\n\n").encode()
            self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_not_found(self) -> None:
        self.send_json(404, {"error": {"message": f"no route {self.path}", "type": self.owner.not_found_type}})


class _HTTPServer(ThreadingHTTPServer):
    # socketserver's backlog of 5 overflowed when a gateway opened ~20 connections at once: some failed
    # with ReadError (tests/unit/test_gateway.py's 32 concurrent clients, about 1 run in 3)
    request_queue_size = 128

    def __init__(self, owner: CountingServer) -> None:
        self.owner = owner  # what the handlers answer for
        super().__init__(("127.0.0.1", 0), owner.handler)


class CountingServer:
    routes: ClassVar[dict[str, Route]] = {}
    prefix = ""  # what the client's base_url adds to the host
    not_found_type = "not_found_error"
    handler: ClassVar[type[Handler]] = Handler

    def __init__(self) -> None:
        self.calls = 0
        self.requests: list[dict[str, Any]] = []
        self.arrivals = threading.Semaphore(0)
        self.break_next_stream = False
        self.end_next_stream_early = False
        self.release = threading.Event()  # set: answer at once; cleared: hold answers until set
        self.release.set()
        self.midway = threading.Event()  # cleared: every stream stops after two events until it is set
        self.midway.set()
        self.hold_limit = 10.0
        self._lock = threading.Lock()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{self.prefix}"

    def __enter__(self: S) -> S:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.midway.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def route(self, path: str) -> Route | None:
        return self.routes.get(path)

    def record(self, body: dict[str, Any]) -> tuple[int, bool, bool]:
        """Counts a request; its number and whether its stream breaks or ends early."""
        with self._lock:
            self.calls += 1
            self.requests.append(body)
            self.arrivals.release()
            broken, self.break_next_stream = self.break_next_stream, False
            short, self.end_next_stream_early = self.end_next_stream_early, False
            return self.calls, broken, short
