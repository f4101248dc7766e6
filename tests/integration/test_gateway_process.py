"""`semcache serve` as a process: configured from the environment, a graceful shutdown
that lets requests and streams in flight finish, and no API key in its output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import openai

from ..gateway_servers import Upstream
from ..redis_server import free_port
from .test_gateway_redis import SECRET, ask, create, gateway, redis_cache

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-proc-7d2e91c4b8a3f605"


class Process:
    """The gateway process; ``lines`` is its whole output, ``saw(text)`` waits for a line."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "redis_semcache", "serve", *args], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self.lines.append("<exit>")
            self._cond.notify_all()

    def saw(self, text: str, timeout: float = 120) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: any(text in line for line in self.lines) or "<exit>" in self.lines,
                                       timeout) and any(text in line for line in self.lines)  # fmt: skip


def test_sigterm_lets_requests_and_streams_in_flight_finish(redis_url, cache_names):
    name = cache_names.new("proc")
    port = free_port()
    with Upstream() as upstream:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SEMCACHE_UPSTREAM": upstream.base_url, "REDIS_URL": redis_url,
               "SEMCACHE_NAME": name, "SEMCACHE_PORT": str(port), "SEMCACHE_TENANT_KEY": SECRET.decode()}  # fmt: skip
        process = Process(env, "--exact-only")
        try:
            assert process.saw("Uvicorn running on"), "".join(process.lines)
            base_url = f"http://127.0.0.1:{port}/v1"
            api = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=60)
            results: dict[str, object] = {}

            def plain() -> None:
                results["json"] = create(base_url, "in flight", key=KEY)

            def streamed() -> None:
                chunks = api.chat.completions.create(model="m", messages=ask("streaming"), stream=True)
                results["stream"] = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

            upstream.release.clear()  # both requests reach the upstream and wait there
            threads = [threading.Thread(target=plain), threading.Thread(target=streamed)]
            for thread in threads:
                thread.start()
            assert upstream.arrivals.acquire(timeout=60) and upstream.arrivals.acquire(timeout=60)
            process.proc.send_signal(signal.SIGTERM)
            assert process.saw("Shutting down")
            upstream.release.set()
            for thread in threads:
                thread.join(timeout=60)
            reply, headers = results["json"]  # type: ignore[misc]
            assert reply.choices[0].message.content == "answer to: in flight" and headers["x-semcache"] == "miss"
            assert results["stream"] == "answer to: streaming"
            # uvicorn re-raises the signal once it has shut down cleanly: killed by SIGTERM, after the finish
            assert process.proc.wait(timeout=60) in (0, -signal.SIGTERM)
            api.close()
        finally:
            if process.proc.poll() is None:
                process.proc.kill()
        output = "".join(process.lines)
        assert "Finished server process" in output and '"POST /v1/chat/completions HTTP/1.1" 200' in output
        assert KEY not in output and SECRET.decode() not in output
        # The stream that finished during shutdown was stored: another gateway with the key serves it.
        with gateway(upstream, redis_cache(redis_url, name)) as running:
            assert create(running.base_url, "streaming", key=KEY)[1]["x-semcache"] == "exact"
        assert upstream.calls == 2


def test_serve_refuses_to_start_without_an_upstream():
    env = {k: v for k, v in os.environ.items() if k != "SEMCACHE_UPSTREAM"}
    done = subprocess.run([sys.executable, "-m", "redis_semcache", "serve"], cwd=ROOT, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(ROOT)}, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "needs --upstream or SEMCACHE_UPSTREAM" in done.stderr
