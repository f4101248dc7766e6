"""The gateway under test and the upstream behind it, both on free local ports.

:class:`Upstream` is :class:`~tests.openai_server.OpenAIServer` plus what a
gateway test needs to see: the headers of every request, a one-shot error
status (held by ``release`` like an answer), other paths (``GET /v1/models``,
``POST /v1/embeddings``), an ``arrived`` event and an optional per-answer delay
(for bench/gateway.py).
:class:`RunningGateway` serves an app with uvicorn in a thread, on a socket
bound and listening before the thread starts (a client can connect at once).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any

import uvicorn

from .openai_server import OpenAIServer, _handler


class Upstream(OpenAIServer):
    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.chat_paths: list[str] = []  # with their query strings
        self.chat_headers: list[dict[str, str]] = []  # every chat request, failed ones included
        self.other: list[tuple[str, str, dict[str, str], bytes]] = []  # method, path, headers, body
        self.fail_next: int | None = None
        self.html_next = False  # answer the next chat request 200 with an HTML page (a misrouted proxy)
        self.arrived = threading.Event()
        self.arrivals = threading.Semaphore(0)  # released once per chat request, as it arrives
        self._httpd.RequestHandlerClass = _gateway_handler(self)

    def take_failure(self, headers: dict[str, str]) -> int | None:
        with self._lock:
            self.chat_headers.append(headers)
            status, self.fail_next = self.fail_next, None
            return status


def _gateway_handler(server: Upstream) -> type:
    base = _handler(server)

    class Handler(base):  # type: ignore[misc, valid-type]
        def do_GET(self) -> None:
            if self.path == "/v1/models":
                self._other(b"")
                self._send_json(200, {"object": "list", "data": [{"id": "m", "object": "model", "created": 0,
                                                                   "owned_by": "test"}]})  # fmt: skip
                return
            super().do_GET()

        def do_POST(self) -> None:
            if self.path == "/v1/embeddings":
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self._other(body)
                count = len(json.loads(body)["input"])
                data = [{"object": "embedding", "index": i, "embedding": [0.5, 0.25]} for i in range(count)]
                self._send_json(200, {"object": "list", "data": data, "model": "e",
                                      "usage": {"prompt_tokens": 1, "total_tokens": 1}})  # fmt: skip
                return
            if self.path.split("?")[0] == "/v1/chat/completions":
                server.chat_paths.append(self.path)
                self.path = "/v1/chat/completions"
                status = server.take_failure({k.lower(): v for k, v in self.headers.items()})
                server.arrived.set()
                server.arrivals.release()
                if server.html_next:
                    server.html_next = False
                    self.rfile.read(int(self.headers["Content-Length"]))
                    page = b"<html>502 Bad Gateway</html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                if status is not None:
                    self.rfile.read(int(self.headers["Content-Length"]))
                    server.release.wait(timeout=10)  # held like an answer, so a test can line others up
                    self._send_json(status, {"error": {"message": "upstream broke", "type": "server_error"}})
                    return
                if server.delay:
                    time.sleep(server.delay)  # a model's latency, for the benchmark
            super().do_POST()

        def _other(self, body: bytes) -> None:
            with server._lock:
                server.other.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))

    return Handler


class RunningGateway:
    """``app`` served by uvicorn in a thread; ``base_url`` is ready as soon as it exists."""

    def __init__(self, app: Any, **config: Any) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(512)
        options = {"log_level": "warning", **config}
        self.server = uvicorn.Server(uvicorn.Config(app, **options))
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.run(self.server.serve(sockets=[self._socket]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def __enter__(self) -> RunningGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()
