"""Redis memory taken by a bulk load: INFO ``used_memory`` before and after, on a settled server.

``settle`` waits until every RediSearch index has finished background indexing
(FT.INFO ``indexing`` 0, ``percent_indexed`` 1) and then asks the allocator to
release what it can (MEMORY PURGE, when the server has it), so that two readings
differ only by what was stored in between.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import redis

__all__ = ["ft_info", "load_delta", "settle", "text", "used_memory"]


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def ft_info(client: redis.Redis, index: str) -> dict[str, Any]:
    """FT.INFO's top-level pairs as a dict with str keys (values as the server sent them)."""
    reply = client.execute_command("FT.INFO", index)
    if isinstance(reply, dict):  # redis-py parsed it already
        return {text(k): v for k, v in reply.items()}
    return {text(reply[i]): reply[i + 1] for i in range(0, len(reply) - 1, 2)}


def _indexes(client: redis.Redis) -> list[str]:
    return [text(name) for name in client.execute_command("FT._LIST")]


def settle(client: redis.Redis, *, timeout: float = 600.0) -> float:
    """Wait until no index is indexing in the background, then MEMORY PURGE; return the seconds waited."""
    t0 = time.perf_counter()
    while True:
        busy = []
        for name in _indexes(client):
            info = ft_info(client, name)
            if int(info.get("indexing", 0)) or float(info.get("percent_indexed", 1)) < 1:
                busy.append(name)
        if not busy:
            break
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"indexes still indexing after {timeout:.0f}s: {busy}")
        time.sleep(0.05)
    with contextlib.suppress(redis.ResponseError):  # not built with jemalloc: nothing to purge
        client.execute_command("MEMORY PURGE")
    return time.perf_counter() - t0


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def load_delta(client: redis.Redis, load: Callable[[], None]) -> dict[str, Any]:
    """Run ``load`` between two settled readings of ``used_memory``; return both, the delta and the waits."""
    wait_before = settle(client)
    before = used_memory(client)
    t0 = time.perf_counter()
    load()
    load_s = time.perf_counter() - t0
    wait_after = settle(client)
    after = used_memory(client)
    return {
        "used_memory_before": before,
        "used_memory_after": after,
        "bytes": after - before,
        "load_s": round(load_s, 2),
        "indexing_wait_s": round(wait_before + wait_after, 2),
    }
