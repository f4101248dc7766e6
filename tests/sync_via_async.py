"""Run the sync contract suite through the async API.

``SyncViaAsync(manager)`` exposes the sync method names, each driving the
manager's ``a``-prefixed twin on a private event loop, so every contract test
also checks the async path without a second copy of the suite.
"""

from __future__ import annotations

import asyncio
from typing import Any


class SyncViaAsync:
    def __init__(self, manager: Any) -> None:
        self._manager = manager
        self._loop = asyncio.new_event_loop()

    def __getattr__(self, name: str) -> Any:
        twin = getattr(self._manager, "a" + name, None)
        if twin is None:  # plain attributes (backend, semantic_threshold, ...)
            return getattr(self._manager, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run_until_complete(twin(*args, **kwargs))

        return call

    def run(self, awaitable: Any) -> Any:
        """Run a coroutine on this wrapper's event loop."""
        return self._loop.run_until_complete(awaitable)

    def close(self) -> None:
        self._loop.run_until_complete(self._manager.aclose())
        self._loop.close()
