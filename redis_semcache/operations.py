"""Every cache operation, written once as a plan, and the drivers that run plans.

:class:`CacheOperations` is the core of :class:`~redis_semcache.manager.LLMCachingManager`
(which adds the public sync and async API on top): each operation is a plan
(a generator of :mod:`redis_semcache._plan` effects), so ``get`` and ``aget``
share every decision; ``_run`` performs the effects blocking, ``_arun`` awaits
them.  Backend calls go through the failure policy (failure_policy.py), the
single-flight algorithm is singleflight.py, and request building request.py.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from ._entry import CacheEntry
from ._enums import InvalidationStrategy
from ._errors import InvalidInputError
from ._match import match_plan
from ._plan import BackendCall, Effect, Embed, Plan, Sleep, run_async, run_sync
from ._stats import CacheStatistics, LatencyWindow
from ._validate import check_label, check_tags
from .backends.base import COUNTERS, CacheBackend, check_sort_by
from .engine import SemanticCacheEngine
from .failure_policy import FailurePolicy
from .quality.control import QualityControl
from .request import ScopedRequest, build_entry, lookup_version, scoped_request
from .singleflight import FlightPolicy, single_flight

__all__ = ["CacheOperations", "LookupSetup"]

T = TypeVar("T")


@dataclass(frozen=True)
class LookupSetup:
    """What a lookup knows before any I/O (``get`` and ``lookup`` both start here)."""

    req: ScopedRequest
    version: str | None  # the version it reads (None: any)
    semantic: bool  # whether a miss of the exact check goes on to a semantic search
    vector: np.ndarray | None  # known already (the caller's, or the embedding cache's): one round trip


class CacheOperations:
    """The plans of the manager's operations and their drivers (the settings are the manager's)."""

    backend: CacheBackend
    engine: SemanticCacheEngine
    enable_semantic: bool
    default_ttl: float | None
    invalidation_strategy: InvalidationStrategy
    namespace: str
    cache_version: str
    flight_policy: FlightPolicy
    failures: FailurePolicy
    quality: QualityControl
    _latency: LatencyWindow

    # -- plans: every decision, written once -----------------------------------

    def _get_plan(
        self,
        prompt: Any,
        model: Any,
        embedding: Any,
        namespace: str | None,
        version: str | None,
        params: Mapping[str, Any],
        count_miss: bool = True,
    ) -> Plan[Any]:
        """The plain ``get``: exact, then semantic at the engine's threshold (quality_api.py
        overrides it when an error budget owns lookups)."""
        started = time.perf_counter()
        setup = self._lookup_setup(prompt, model, embedding, namespace, version, params)
        req, version = setup.req, setup.version
        try:
            match = yield from match_plan(
                req.key, req.prompt, setup.vector, semantic=setup.semantic, version=version, count_miss=count_miss,
                dimension=self._dimension,
                query=lambda v: self.engine.query(
                    req.prompt, v, model=req.model, scope=req.scope, version=version, count_miss=count_miss
                ),
            )  # fmt: skip
            return None if match is None else match.entry.response
        finally:
            self._latency.add(time.perf_counter() - started)

    def _set_plan(
        self,
        prompt: Any,
        response: Any,
        model: Any,
        ttl: Any,
        embedding: Any,
        tags: Any,
        version: Any,
        namespace: str | None,
        params: Mapping[str, Any],
    ) -> Plan[bool]:
        entry, ttl_s = self._entry(prompt, response, model, ttl, tags, version, namespace, params)
        if embedding is not None:
            entry = entry.with_embedding(self.engine.vector(entry.prompt, embedding, self._dimension()))
        elif self.enable_semantic and self.engine.can_embed:  # None when too long to embed
            entry = entry.with_embedding((yield Embed((entry.prompt,), self._dimension()))[0])
        stored: bool = yield BackendCall("store", (entry, ttl_s), fallback=False, on_success=True)
        return stored

    def _get_many_plan(
        self,
        prompts: Sequence[Any],
        model: Any,
        namespace: str | None,
        progress: bool,
        params: Mapping[str, Any],
    ) -> Plan[list[Any]]:
        reqs = [self._request(p, model, namespace, params) for p in prompts]
        semantic = self.enable_semantic and self.engine.can_embed
        version = self._lookup_version(None)
        results: list[Any] = [None] * len(reqs)
        pending: list[int] = []
        for i, req in enumerate(reqs):
            started = time.perf_counter()
            exact = yield BackendCall("lookup_exact", (req.key,), {"version": version, "final": not semantic})
            self._latency.add(time.perf_counter() - started)
            if exact is not None:
                results[i] = exact.entry.response
            elif semantic:
                pending.append(i)
        if pending:
            vectors = yield Embed(tuple(reqs[i].prompt for i in pending), self._dimension(), progress)
            for i, vector in zip(pending, vectors, strict=True):
                req = reqs[i]
                if vector is None:
                    yield BackendCall("count_skipped_long", (req.key,))
                    continue
                query = self.engine.query(req.prompt, vector, model=req.model, scope=req.scope, version=version)
                match = yield BackendCall("lookup_semantic", (query,))
                results[i] = None if match is None else match.entry.response
        return results

    def _get_or_compute_plan(
        self,
        prompt: Any,
        compute: Callable[[], Any] | None,
        model: Any,
        ttl: Any,
        tags: Any,
        namespace: str | None,
        params: Mapping[str, Any],
        embedding: Any = None,
        version: str | None = None,
    ) -> Plan[Any]:
        """``embedding`` and ``version`` mean what they mean to ``get`` and to the ``set`` of a computed value
        (quality_api.py overrides it when an error budget explores)."""
        if not callable(compute):
            raise InvalidInputError("compute must be callable")
        # A miss is not counted yet: this call may end up served by another caller's computation.
        value = yield from self._get_plan(prompt, model, embedding, namespace, version, params, count_miss=False)
        if value is not None:
            return value
        return (yield from self._flight_plan(prompt, compute, model, ttl, tags, namespace, params, embedding, version))

    def _flight_plan(
        self,
        prompt: Any,
        compute: Callable[[], Any],
        model: Any,
        ttl: Any,
        tags: Any,
        namespace: str | None,
        params: Mapping[str, Any],
        embedding: Any = None,
        version: str | None = None,
    ) -> Plan[Any]:
        """Compute a missed entry once across every caller (single flight), and cache it."""
        key = self._request(prompt, model, namespace, params).key

        def store(value: Any) -> Plan[bool]:
            return self._set_plan(prompt, value, model, ttl, embedding, tags, version, namespace, params)

        return (yield from single_flight(key, self._lookup_version(version), self.flight_policy, compute, store))

    def _invalidate_plan(self, pattern: Any, tags: Any, version: Any, keys: Any) -> Plan[int]:
        if pattern is None and tags is None and version is None and keys is None:
            raise InvalidInputError("invalidate needs pattern, tags, version or keys")
        calls: list[BackendCall] = []
        if keys is not None:
            key_list = [keys] if isinstance(keys, str) else [check_label(k, "key") for k in keys]
            calls.append(BackendCall("delete_keys", (key_list,), fallback=0))
        if tags is not None:
            calls.append(BackendCall("delete_tags", (check_tags(tags),), fallback=0))
        if version is not None:
            calls.append(BackendCall("delete_version", (check_label(version, "version"),), fallback=0))
        if pattern is not None:
            calls.append(BackendCall("delete_pattern", (check_label(pattern, "pattern"),), fallback=0))
        deleted = 0
        for call in calls:
            deleted += yield call
        return deleted

    def _clear_plan(self) -> Plan[bool]:
        cleared: bool = yield BackendCall("clear", fallback=False, on_success=True)
        return cleared

    def _statistics_plan(self) -> Plan[CacheStatistics]:
        counters = yield BackendCall("counters", fallback=dict.fromkeys(COUNTERS, 0))
        size = yield BackendCall("size", fallback=0)
        return CacheStatistics.build(
            counters,
            errors=self.failures.errors,
            cache_size=size,
            max_size=self.backend.max_size,
            latency_ms=self._latency.summary_ms(),
        )

    def _statistics_dict(self, stats: CacheStatistics) -> dict[str, Any]:
        report = stats.to_dict()
        if self.failures.outage is not None:
            report["backend_error"] = self.failures.outage
        return report

    def _reset_plan(self) -> Plan[None]:
        yield BackendCall("reset_counters")
        self._latency.clear()
        self.failures.reset_errors()

    def _top_plan(self, limit: Any, sort_by: Any) -> Plan[list[dict[str, Any]]]:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise InvalidInputError(f"limit must be a non-negative int, got {limit!r}")
        check_sort_by(sort_by)
        entries = yield BackendCall("top_entries", (limit, sort_by), fallback=[])
        return [e.to_dict() for e in entries]

    def _health_plan(self) -> Plan[dict[str, Any]]:
        try:
            facts = yield BackendCall("health")
            report = {"status": "unhealthy", "reason": self.failures.outage} if facts is None else dict(facts)
        except Exception as exc:  # a health check reports failures instead of raising them
            report = {"status": "unhealthy", "reason": f"{type(exc).__name__}: {exc}"}
        embeddings = self.engine.embeddings
        report.update(
            semantic_enabled=self.enable_semantic,
            embedder_loaded=bool(embeddings and getattr(embeddings.embedder, "loaded", True)),
            errors=self.failures.errors,
        )
        return report

    # -- drivers: how effects are performed ------------------------------------

    def _run(self, plan: Plan[T]) -> T:
        return run_sync(plan, self._perform)

    async def _arun(self, plan: Plan[T]) -> T:
        return await run_async(plan, self._aperform)

    def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, BackendCall):
            return self.failures.call(effect)
        if isinstance(effect, Embed):
            return self._embed(effect)
        if isinstance(effect, Sleep):
            time.sleep(effect.seconds)
            return None
        return effect.fn()

    def _embed(self, effect: Embed) -> Any:
        if effect.embedder is not None:  # a model of its own (answers compared), not the index's
            return effect.embedder(list(effect.texts))
        return self.engine.vectors_that_fit(effect.texts, effect.dim, progress=effect.progress)

    async def _aperform(self, effect: Effect) -> Any:
        if isinstance(effect, BackendCall):
            return await self.failures.acall(effect)
        if isinstance(effect, Embed):
            return await asyncio.to_thread(self._embed, effect)
        if isinstance(effect, Sleep):
            await asyncio.sleep(effect.seconds)
            return None
        result = effect.fn()
        return await result if inspect.isawaitable(result) else result

    # -- validation and entry building -------------------------------------------

    def _request(self, prompt: Any, model: Any, namespace: str | None, params: Mapping[str, Any]) -> ScopedRequest:
        return scoped_request(prompt, model, namespace, params, default_namespace=self.namespace)

    def _lookup_setup(
        self, prompt: Any, model: Any, embedding: Any, namespace: str | None, version: str | None,
        params: Mapping[str, Any], *, check_embedding: bool = False,
    ) -> LookupSetup:  # fmt: skip
        """``check_embedding``: validate a caller's embedding also when semantic caching is off."""
        req = self._request(prompt, model, namespace, params)
        version = self._lookup_version(version)
        semantic = self.enable_semantic and (embedding is not None or self.engine.can_embed)
        known = semantic or (check_embedding and embedding is not None)
        vector = self.engine.known_vector(req.prompt, embedding, self._dimension()) if known else None
        return LookupSetup(req, version, semantic, vector)

    def _lookup_version(self, version: str | None) -> str | None:
        return lookup_version(version, self.invalidation_strategy, self.cache_version)

    def _entry(
        self, prompt: Any, response: Any, model: Any, ttl: Any, tags: Any, version: Any,
        namespace: str | None, params: Mapping[str, Any],
    ) -> tuple[CacheEntry, float | None]:  # fmt: skip
        req = self._request(prompt, model, namespace, params)
        return build_entry(
            req, response, ttl, tags, version,
            default_ttl=self.default_ttl, strategy=self.invalidation_strategy, cache_version=self.cache_version,
        )  # fmt: skip

    def _dimension(self) -> int | None:
        return self.backend.dimension

    def _config(self) -> dict[str, Any]:
        return {
            "backend": type(self.backend).__name__,
            "enable_semantic": self.enable_semantic,
            "semantic_threshold": self.engine.threshold,
            "default_ttl": self.default_ttl,
            "invalidation_strategy": self.invalidation_strategy.value,
            "eviction_strategy": self.backend.eviction_strategy.value,
        }
