"""The gateway under test and the upstream behind it, both on free local ports.

:class:`Upstream` is :class:`~tests.openai_server.OpenAIServer` plus what a
gateway test needs to see: the headers of every request, a one-shot error
status (held by ``release`` like an answer), other paths (``GET /v1/models``, ``POST /v1/embeddings``), an
``arrived`` event and an optional per-answer delay (for bench/gateway.py).  It
counts, holds answers (``release``) and signals ``arrivals`` as every local
server does (tests/counting_server.py).
:class:`RunningGateway` serves an app with uvicorn in a thread, on a socket
bound and listening before the thread starts (a client can connect at once).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any, cast

import uvicorn

from .counting_server import Handler
from .openai_server import OpenAIServer


class UpstreamHandler(Handler):
    """The OpenAI server's handler, plus the gateway tests' other paths and one-shot failures."""

    @property
    def upstream(self) -> Upstream:
        return cast(Upstream, self.owner)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._other(b"")
            self.send_json(200, {"object": "list", "data": [{"id": "m", "object": "model", "created": 0,
                                                             "owned_by": "test"}]})  # fmt: skip
            return
        super().do_GET()

    def do_POST(self) -> None:
        if self.path == "/v1/embeddings":
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self._other(body)
            count = len(json.loads(body)["input"])
            data = [{"object": "embedding", "index": i, "embedding": [0.5, 0.25]} for i in range(count)]
            self.send_json(200, {"object": "list", "data": data, "model": "e",
                                 "usage": {"prompt_tokens": 1, "total_tokens": 1}})  # fmt: skip
            return
        if self.path.split("?")[0] == "/v1/chat/completions":
            upstream = self.upstream
            upstream.chat_paths.append(self.path)
            status = upstream.take_failure({k.lower(): v for k, v in self.headers.items()})
            upstream.arrived.set()
            if upstream.html_next:
                upstream.html_next = False
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
                upstream.release.wait(timeout=upstream.hold_limit)  # held like an answer: a test lines others up
                self.send_json(status, {"error": {"message": "upstream broke", "type": "server_error"}})
                return
            if upstream.delay:
                time.sleep(upstream.delay)  # a model's latency, for the benchmark
        super().do_POST()

    def _other(self, body: bytes) -> None:
        with self.upstream._lock:
            headers = {k.lower(): v for k, v in self.headers.items()}
            self.upstream.other.append((self.command, self.path, headers, body))


class Upstream(OpenAIServer):
    handler = UpstreamHandler

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.chat_paths: list[str] = []  # with their query strings
        self.chat_headers: list[dict[str, str]] = []  # every chat request, failed ones included
        self.other: list[tuple[str, str, dict[str, str], bytes]] = []  # method, path, headers, body
        self.fail_next: int | None = None
        self.html_next = False  # answer the next chat request 200 with an HTML page (a misrouted proxy)
        self.arrived = threading.Event()

    def take_failure(self, headers: dict[str, str]) -> int | None:
        with self._lock:
            self.chat_headers.append(headers)
            status, self.fail_next = self.fail_next, None
            return status


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
