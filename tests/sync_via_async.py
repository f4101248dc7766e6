"""Run the sync contract suite through the async API.

``SyncViaAsync(manager)`` exposes the sync method names, each driving the
manager's ``a``-prefixed twin on a private event loop, so every contract test
also checks the async path without a second copy of the suite.  It wraps a
backend the same way.  Wrappers that must share one event loop (a caller's
``redis.asyncio`` client belongs to one loop) pass ``loop=``.
"""

from __future__ import annotations

import asyncio
from typing import Any


class SyncViaAsync:
    def __init__(self, wrapped: Any, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.wrapped = wrapped
        self.loop = loop or asyncio.new_event_loop()
        self._owns_loop = loop is None

    def __getattr__(self, name: str) -> Any:
        twin = getattr(self.wrapped, "a" + name, None)
        if twin is None:  # plain attributes (backend, semantic_threshold, ...)
            return getattr(self.wrapped, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.loop.run_until_complete(twin(*args, **kwargs))

        return call

    def run(self, awaitable: Any) -> Any:
        """Run a coroutine on this wrapper's event loop."""
        return self.loop.run_until_complete(awaitable)

    def close(self) -> None:
        self.loop.run_until_complete(self.wrapped.aclose())
        if self._owns_loop:
            self.loop.close()
