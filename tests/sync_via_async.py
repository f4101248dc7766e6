"""Run the sync contract suite through the async API.

``SyncViaAsync(manager)`` exposes the sync method names, each driving the
manager's ``a``-prefixed twin on a private event loop, so every contract test
also checks the async path without a second copy of the suite.  It wraps a
backend the same way.  Wrappers that must share one event loop (a caller's
``redis.asyncio`` client belongs to one loop) pass ``loop=``; clients a test
made for the wrapped object, given as ``closing=``, are closed on that loop by
:meth:`close`.
"""

from __future__ import annotations

import asyncio
from typing import Any


class SyncViaAsync:
    def __init__(
        self, wrapped: Any, *, loop: asyncio.AbstractEventLoop | None = None, closing: tuple[Any, ...] = ()
    ) -> None:
        self.wrapped = wrapped
        self.loop = loop or asyncio.new_event_loop()
        self._owns_loop = loop is None
        self._closing = closing

    def __getattr__(self, name: str) -> Any:
        twin = getattr(self.wrapped, "a" + name, None)
        if twin is None:  # plain attributes (backend, semantic_threshold, ...)
            return getattr(self.wrapped, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.loop.run_until_complete(twin(*args, **kwargs))

        return call

    def close(self) -> None:
        self.loop.run_until_complete(self.wrapped.aclose())
        for client in self._closing:
            self.loop.run_until_complete(client.aclose())
        if self._owns_loop:
            self.loop.close()
