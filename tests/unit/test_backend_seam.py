"""The typed seam between the manager and its backends (backends/base.py).

The manager names backend methods with the ``BackendMethod`` literal; these
tests keep that list, the two protocols and both backends in step, and check
that bulk writes reach the backend as one ``store_many`` per batch.
"""

from __future__ import annotations

import inspect
from typing import get_args

import pytest

from redis_semcache import ConfigurationError, InMemoryCacheBackend, LLMCachingManager
from redis_semcache.backends.base import (
    STORE_MANY_BATCH,
    AsyncCacheBackend,
    BackendMethod,
    CacheBackend,
)
from redis_semcache.backends.redis import RedisCacheBackend

# Methods of the contract the manager calls directly, not through a BackendCall.
_DIRECT = {"configure", "close", "dimension"}


def _methods(protocol: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(protocol) if not name.startswith("_")} - {"max_size"}


def test_backend_method_names_every_operation_of_the_contract_once():
    names = get_args(BackendMethod)
    assert len(names) == len(set(names))
    assert set(names) == _methods(CacheBackend) - _DIRECT - {"blocking_io", "eviction_strategy"}


def test_every_backend_method_has_an_async_twin():
    assert {"a" + name for name in get_args(BackendMethod)} | {"aclose"} == _methods(AsyncCacheBackend)
    for name in _methods(AsyncCacheBackend):
        assert inspect.iscoroutinefunction(getattr(AsyncCacheBackend, name)), name


def test_both_backends_implement_the_seam():
    memory = InMemoryCacheBackend()
    redis_backend = RedisCacheBackend("redis://127.0.0.1:1/0")  # no connection is made until first use
    for backend in (memory, redis_backend):
        assert isinstance(backend, CacheBackend)
        for name in get_args(BackendMethod):
            assert callable(getattr(backend, name)), name
    assert redis_backend.blocking_io and not memory.blocking_io
    assert isinstance(redis_backend, AsyncCacheBackend) and not isinstance(memory, AsyncCacheBackend)
    for name in _methods(AsyncCacheBackend):
        assert inspect.iscoroutinefunction(getattr(redis_backend, name)), name
    redis_backend.close()


class _Recording(InMemoryCacheBackend):
    def __init__(self) -> None:
        super().__init__(max_size=None)
        self.calls: list[tuple[str, int]] = []

    def store(self, entry, ttl):
        self.calls.append(("store", 1))
        super().store(entry, ttl)

    def store_many(self, items):
        self.calls.append(("store_many", len(items)))
        return super().store_many(items)


@pytest.mark.parametrize("count", [0, 1, STORE_MANY_BATCH, 2 * STORE_MANY_BATCH + 7])
def test_set_many_and_warm_send_one_store_many_per_batch(count):
    backend = _Recording()
    cache = LLMCachingManager(backend, embedder=None)
    pairs = [(f"prompt {i}", i) for i in range(count)]
    assert cache.set_many(pairs) == count
    full, rest = divmod(count, STORE_MANY_BATCH)
    batches = [("store_many", STORE_MANY_BATCH)] * full + ([("store_many", rest)] if rest else [])
    stored = [call for call in backend.calls if call[0] == "store_many"]
    assert stored == batches
    backend.calls.clear()
    assert cache.warm(pairs, progress=False) == count
    assert [call for call in backend.calls if call[0] == "store_many"] == batches
    assert all(cache.get(p) == r for p, r in pairs)


class _OlderContract:
    """A backend written before ``lookup`` and ``count_flight`` joined the contract."""

    def __init__(self) -> None:
        self._inner = InMemoryCacheBackend()

    def __getattr__(self, name: str):
        if name in ("lookup", "count_flight"):
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_a_backend_missing_part_of_the_contract_is_refused_when_the_manager_is_built():
    with pytest.raises(ConfigurationError, match=r"backend _OlderContract does not implement lookup, count_flight"):
        LLMCachingManager(_OlderContract())
    with pytest.raises(ConfigurationError, match=r"fallback_backend _OlderContract .* lookup, count_flight"):
        LLMCachingManager(InMemoryCacheBackend(), fallback_backend=_OlderContract())
