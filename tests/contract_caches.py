"""The ``make_cache`` fixture body that every run of the contract suites shares.

The suites (tests/contract.py, chat_contract.py, quality_contract.py) ask a
``make_cache`` fixture for caches; memory (tests/unit/test_contract_memory.py),
Redis (tests/integration/test_contract_redis.py) and the cluster
(tests/integration/test_cluster.py) each say only how to build a backend and
which API to drive, and yield from :func:`contract_caches`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from redis_semcache import LLMCachingManager

from .sync_via_async import SyncViaAsync

# build(max_size=..., eviction_strategy=...) -> (backend, clients to close with the cache)
BuildBackend = Callable[..., tuple[Any, tuple[Any, ...]]]


def contract_caches(api: str, build: BuildBackend, *, strict: bool) -> Iterator[Callable[..., Any]]:
    """Yield ``make(*, max_size=1000, eviction_strategy="lru", embedder=None, **manager_kwargs)``.

    Each made cache is a manager over a new ``build(...)`` backend, used through
    the sync API when ``api`` is "sync" and through the async one otherwise
    (SyncViaAsync); ``strict`` managers let a backend error fail the test
    instead of passing as a miss.  Every cache is closed after the test.
    """
    made: list[Any] = []

    def make(
        *, max_size: int | None = 1000, eviction_strategy: str = "lru", embedder: Any = None, **kwargs: Any
    ) -> Any:
        backend, closing = build(max_size=max_size, eviction_strategy=eviction_strategy)
        if strict:
            kwargs = {"strict": True, **kwargs}
        manager = LLMCachingManager(backend, embedder=embedder, **kwargs)
        made.append(manager if api == "sync" else SyncViaAsync(manager, closing=closing))
        return made[-1]

    yield make
    for cache in made:
        cache.close()
