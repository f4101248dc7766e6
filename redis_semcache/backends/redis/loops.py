"""The backend's ``redis.asyncio`` clients, one per event loop, and closing every one of them.

A ``redis.asyncio`` connection belongs to the loop that opened it, and cannot
be closed with ``await`` once that loop is closed (``asyncio.run()`` per batch
does exactly that).  Left alone, each dead loop's connections stay open until
garbage collection, if ever: 40-111 sockets after a few hundred batches.  So
the clients of closed loops are closed here at the socket level, when the
next loop arrives and on ``close()``; ``aclose()`` awaits its own loop's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from .wire import AsyncDriver

__all__ = ["LoopDrivers"]

log = logging.getLogger("redis_semcache.redis")


class LoopDrivers:
    """An AsyncDriver per event loop, made by ``make`` on first use."""

    def __init__(self, make: Callable[[], AsyncDriver]) -> None:
        self._make = make
        self._drivers: dict[asyncio.AbstractEventLoop, AsyncDriver] = {}

    def get(self) -> AsyncDriver:
        loop = asyncio.get_running_loop()
        driver = self._drivers.get(loop)
        if driver is None:
            self.drop_dead()
            driver = self._drivers[loop] = self._make()
        return driver

    def drop_dead(self) -> None:
        """Close the connections of the clients of closed loops (they cannot be awaited)."""
        for loop in [loop for loop in self._drivers if loop.is_closed()]:
            abandon(self._drivers.pop(loop).client)

    async def aclose_current(self) -> None:
        driver = self._drivers.pop(asyncio.get_running_loop(), None)
        if driver is not None:
            await driver.close()

    def close_all(self) -> None:
        """Release every connection of every loop's client, from any thread, with no loop running."""
        while self._drivers:
            _, driver = self._drivers.popitem()
            abandon(driver.client)


def abandon(client: Any) -> None:
    """Close a ``redis.asyncio`` client's sockets without its (possibly closed) event loop."""
    for connection in _connections(client):
        writer = getattr(connection, "_writer", None)
        transport = getattr(writer, "transport", None)
        sock = getattr(transport, "_sock", None)  # the transport's own close() needs the loop
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        with contextlib.suppress(AttributeError):
            connection._reader = None
            connection._writer = None


def _connections(client: Any) -> Iterator[Any]:
    pool = getattr(client, "connection_pool", None)
    if pool is not None:  # redis.asyncio.Redis
        yield from list(getattr(pool, "_available_connections", ()))
        yield from list(getattr(pool, "_in_use_connections", ()))
        return
    nodes_manager = getattr(client, "nodes_manager", None)  # redis.asyncio.cluster.RedisCluster
    nodes = {
        id(node): node
        for table in ("nodes_cache", "startup_nodes")  # the seed nodes keep their own connections
        for node in list(getattr(nodes_manager, table, {}).values())
    }
    for node in nodes.values():
        yield from list(getattr(node, "_connections", ()))
    if nodes_manager is not None:  # closed, as aclose() leaves it (else: "Unclosed RedisCluster client")
        with contextlib.suppress(AttributeError):
            nodes_manager.default_node = None
