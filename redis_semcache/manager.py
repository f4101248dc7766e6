"""LLMCachingManager: the public cache API over any backend, sync and async.

Lookup order: exact match on (scope, normalised prompt), then - only when
semantic caching is on and the exact match missed - a nearest-neighbour match
in the same scope, then miss.

Every operation is written once, as a plan (operations.py, see
:mod:`redis_semcache._plan`); ``get`` and ``aget`` drive the same plan, one
calling the backend's methods, the other awaiting its ``a``-prefixed twins.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ._decorator import cached_decorator
from ._enums import CacheStrategy, InvalidationStrategy
from ._errors import InvalidInputError
from ._stats import CacheStatistics, LatencyHistogram, LatencyWindow, write_report
from ._validate import check_label, check_ttl
from .backends.base import CacheBackend, check_backend
from .backends.memory import InMemoryCacheBackend
from .breaker import CircuitBreaker
from .bulk import BulkWriteAPI
from .embeddings import Embedder
from .engine import DEFAULT_EMBEDDER, DEFAULT_THRESHOLD, SemanticCacheEngine, Verifier
from .failure_policy import FailurePolicy
from .operations import CacheOperations
from .quality.control import QualityControl
from .quality.policy import ErrorBudget
from .quality_api import HitQualityAPI
from .request import RequestText, build_request
from .singleflight import FlightPolicy

__all__ = ["LLMCachingManager"]

log = logging.getLogger("redis_semcache")
T = TypeVar("T")

DEFAULT_BREAKER: Any = object()  # sentinel: a CircuitBreaker() for backends that do I/O
_NO_RESPONSE: Any = object()  # set() called without a response


class LLMCachingManager(HitQualityAPI, BulkWriteAPI, CacheOperations):
    """Cache LLM responses by exact and semantic prompt match.

    ``backend`` defaults to a new :class:`InMemoryCacheBackend`.  ``max_cache_size``
    and ``eviction_strategy``, when given, are applied to the backend.
    ``embedder`` is used when semantic caching is on and a call passes no
    ``embedding``: by default the built-in local model, loaded on first need.
    With ``strict=False`` (the default) backend failures are counted and logged,
    and lookups then miss and writes return False instead of raising.  A
    ``circuit_breaker`` (on by default for servers) pauses calls to a backend
    that keeps failing; a ``fallback_backend`` (e.g. an InMemoryCacheBackend)
    serves and stores entries while the backend is down.  Entries written to
    the fallback stay local: they are not copied back when the server returns,
    and the fallback is emptied then.  ``invalidate`` and ``clear`` never fail
    open: when they cannot finish they raise InvalidationError.  ``namespace``
    scopes lookups only; it is not a tenant boundary (docs/operations.md).
    ``guards`` (see :mod:`redis_semcache.guards`) and then ``verifier``, a
    callable ``(query, candidate prompt, similarity) -> bool``, can veto a
    semantic candidate; the next most similar one is tried instead.
    ``long_prompts`` says what happens to a text longer than the embedder's
    window: ``"exact"`` (exact match only, counted as semantic_skipped_long) or
    ``"error"`` (raise PromptTooLongError).
    ``error_budget`` (a share of wrong answers in (0, 1)) makes the cache learn
    its semantic threshold from labels (``feedback``, and ``get_or_compute``
    computing anyway at rate ``explore`` and comparing with ``equivalent``),
    exact matches only until the labels bound the error: docs/quality.md.
    ``judge`` (a callable or a :class:`~redis_semcache.quality.judge.GreyZoneJudge`)
    vets near misses in a background thread and labels them.

    A request is a ``prompt``, or ``messages`` (an OpenAI-style chat request:
    the last user message is compared, the rest scopes the entry), or a
    ``prompt`` with ``embed_text``, the part of it to compare (see
    :mod:`redis_semcache.request`).

    Every public method has an async twin prefixed with ``a`` (``aget``,
    ``aset``, ``ainvalidate``, ...); embedding inside them runs in a worker
    thread so the event loop keeps running.
    """

    def __init__(
        self,
        backend: CacheBackend | None = None,
        *,
        enable_semantic: bool = False,
        semantic_threshold: float = DEFAULT_THRESHOLD,
        default_ttl: float | None = 3600,
        max_cache_size: int | None = None,
        eviction_strategy: CacheStrategy | str | None = None,
        invalidation_strategy: InvalidationStrategy | str = InvalidationStrategy.TTL_BASED,
        sliding_ttl: bool = False,
        namespace: str = "",
        cache_version: str = "v1",
        embedder: Embedder | None = DEFAULT_EMBEDDER,
        embedding_cache_size: int = 10_000,
        verifier: Verifier | None = None,
        guards: Any = "default",
        long_prompts: str = "exact",
        flight_policy: FlightPolicy | None = None,
        circuit_breaker: CircuitBreaker | None = DEFAULT_BREAKER,
        fallback_backend: CacheBackend | None = None,
        strict: bool = False,
        error_budget: float | ErrorBudget | None = None,
        explore: float | None = None,
        equivalent: Callable[[Any, Any], bool] | None = None,
        explore_rng: random.Random | None = None,
        judge: Any = None,
    ) -> None:
        self.backend: CacheBackend = backend if backend is not None else InMemoryCacheBackend()
        check_backend(self.backend)
        if fallback_backend is not None:
            check_backend(fallback_backend, "fallback_backend")
        self.enable_semantic = bool(enable_semantic)
        self.engine = SemanticCacheEngine(
            threshold=semantic_threshold,
            embedder=embedder,
            embedding_cache_size=embedding_cache_size,
            verifier=verifier,
            guards=guards,
            long_prompts=long_prompts,
        )
        self.default_ttl = None if default_ttl is None else check_ttl(default_ttl)
        self.invalidation_strategy = InvalidationStrategy(invalidation_strategy)
        self.namespace = check_label(namespace, "namespace", allow_empty=True)
        self.cache_version = check_label(cache_version, "cache_version")
        self.flight_policy = flight_policy or FlightPolicy()
        if circuit_breaker is DEFAULT_BREAKER:  # only a backend doing I/O can be down
            circuit_breaker = CircuitBreaker() if self.backend.blocking_io else None
        # Breaker, strict mode and local fallback: failure_policy.py.
        self.failures = FailurePolicy(self.backend, breaker=circuit_breaker, fallback=fallback_backend, strict=strict)
        self._latency = LatencyWindow()
        self.backend.configure(
            max_size=self.backend.max_size if max_cache_size is None else max_cache_size,
            eviction_strategy=(
                self.backend.eviction_strategy if eviction_strategy is None else CacheStrategy(eviction_strategy)
            ),
            sliding_ttl=sliding_ttl,
        )
        self.quality = QualityControl(
            error_budget=error_budget, explore=explore, equivalent=equivalent, rng=explore_rng, judge=judge,
            enable_semantic=self.enable_semantic, backend=self.backend,
        )  # fmt: skip
        if self.quality.budget is not None:  # get_many follows the learned rule too
            self.engine.rule = self.quality.budget.threshold_for

    @property
    def semantic_threshold(self) -> float:
        return self.engine.threshold

    @property
    def breaker(self) -> CircuitBreaker | None:
        return self.failures.breaker

    @property
    def fallback_backend(self) -> CacheBackend | None:
        return self.failures.fallback

    @property
    def strict(self) -> bool:
        return self.failures.strict

    @strict.setter
    def strict(self, value: bool) -> None:
        self.failures.strict = bool(value)

    # -- lookups and writes ------------------------------------------------

    def get(
        self,
        prompt: str | None = None,
        model: str = "default",
        embedding: Any = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        embed_text: str | None = None,
        namespace: str | None = None,
        version: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """The cached response for ``prompt`` (or ``messages``) in its scope, or None on a miss."""
        req = build_request(prompt, messages=messages, embed_text=embed_text)
        return self._run(self._get_plan(req, model, embedding, namespace, version, kwargs))

    async def aget(
        self,
        prompt: str | None = None,
        model: str = "default",
        embedding: Any = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        embed_text: str | None = None,
        namespace: str | None = None,
        version: str | None = None,
        **kwargs: Any,
    ) -> Any:
        req = build_request(prompt, messages=messages, embed_text=embed_text)
        return await self._arun(self._get_plan(req, model, embedding, namespace, version, kwargs))

    def set(
        self,
        prompt: str | None = None,
        response: Any = _NO_RESPONSE,
        model: str = "default",
        ttl: float | None = None,
        embedding: Any = None,
        tags: Sequence[str] | None = None,
        version: str | None = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        embed_text: str | None = None,
        namespace: str | None = None,
        **kwargs: Any,
    ) -> bool:
        """Store ``response``; True when stored, False when the backend failed (non-strict)."""
        req = _set_request(prompt, response, messages, embed_text)
        return self._run(self._set_plan(req, response, model, ttl, embedding, tags, version, namespace, kwargs))

    async def aset(
        self,
        prompt: str | None = None,
        response: Any = _NO_RESPONSE,
        model: str = "default",
        ttl: float | None = None,
        embedding: Any = None,
        tags: Sequence[str] | None = None,
        version: str | None = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        embed_text: str | None = None,
        namespace: str | None = None,
        **kwargs: Any,
    ) -> bool:
        req = _set_request(prompt, response, messages, embed_text)
        return await self._arun(self._set_plan(req, response, model, ttl, embedding, tags, version, namespace, kwargs))

    def get_many(
        self,
        prompts: Sequence[str],
        model: str = "default",
        *,
        namespace: str | None = None,
        progress: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Look up many prompts (or messages lists); misses are None.  Exact misses are embedded in batches."""
        return self._run(self._get_many_plan(prompts, model, namespace, progress, kwargs))

    async def aget_many(
        self,
        prompts: Sequence[str],
        model: str = "default",
        *,
        namespace: str | None = None,
        progress: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        return await self._arun(self._get_many_plan(prompts, model, namespace, progress, kwargs))

    # -- stampede protection -------------------------------------------------

    def get_or_compute(
        self,
        prompt: str | None = None,
        compute: Callable[[], Any] | None = None,
        model: str = "default",
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        embed_text: str | None = None,
        ttl: float | None = None,
        tags: Sequence[str] | None = None,
        namespace: str | None = None,
        embedding: Any = None,
        version: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """The cached response, or ``compute()``'s result, cached.  Concurrent
        misses of the same entry - across threads, tasks and processes sharing
        the backend - run ``compute`` once (see :mod:`redis_semcache.singleflight`).
        Each call counts once in the statistics: a miss when it computes, else a
        hit (an exact hit and a ``single_flight_joins`` when another caller computed).
        ``embedding`` and ``version`` are those of :meth:`get`, and of the :meth:`set` of the computed value."""
        req = build_request(prompt, messages=messages, embed_text=embed_text)
        plan = self._get_or_compute_plan(req, compute, model, ttl, tags, namespace, kwargs, embedding, version)
        return self._run(plan)

    async def aget_or_compute(
        self,
        prompt: str | None = None,
        compute: Callable[[], Any] | None = None,
        model: str = "default",
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        embed_text: str | None = None,
        ttl: float | None = None,
        tags: Sequence[str] | None = None,
        namespace: str | None = None,
        embedding: Any = None,
        version: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Async :meth:`get_or_compute`; ``compute`` may be a coroutine function."""
        req = build_request(prompt, messages=messages, embed_text=embed_text)
        plan = self._get_or_compute_plan(req, compute, model, ttl, tags, namespace, kwargs, embedding, version)
        return await self._arun(plan)

    def cached(self, model: str = "default", **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorate a sync or async function whose first argument is the prompt
        (a str) or a chat request (a list of messages, see :meth:`get`).

        Other arguments are passed through and do not enter the cache key; put
        request parameters that change the answer in ``options`` (they scope
        the entry, like keywords of ``get``).  ``ttl``, ``tags``, ``namespace`` and
        ``version`` apply to every call; ``embedding`` and ``embed_text`` are
        callables of the first argument (see :mod:`redis_semcache._decorator`).
        """
        return cached_decorator(self, model, options)

    # -- invalidation ----------------------------------------------------------

    def invalidate(
        self,
        pattern: str | None = None,
        tags: Sequence[str] | None = None,
        version: str | None = None,
        keys: Sequence[str] | None = None,
    ) -> int:
        """Delete entries matching any of the given criteria; return how many were deleted.

        ``pattern`` is a case-sensitive glob over the normalised prompt, ``tags``
        removes entries carrying any of the tags, ``version`` removes entries of
        that version, ``keys`` removes entries by id.  Raises InvalidationError
        (whatever ``strict`` says) when the backend could not finish.
        """
        return self._run(self._invalidate_plan(pattern, tags, version, keys))

    async def ainvalidate(
        self,
        pattern: str | None = None,
        tags: Sequence[str] | None = None,
        version: str | None = None,
        keys: Sequence[str] | None = None,
    ) -> int:
        return await self._arun(self._invalidate_plan(pattern, tags, version, keys))

    def clear(self) -> bool:
        """Delete every entry of this cache; True on success."""
        return self._run(self._clear_plan())

    async def aclear(self) -> bool:
        return await self._arun(self._clear_plan())

    # -- reporting -------------------------------------------------------------

    def statistics(self) -> CacheStatistics:
        """An immutable snapshot of the counters, size and this process's latencies."""
        return self._run(self._statistics_plan())

    async def astatistics(self) -> CacheStatistics:
        return await self._arun(self._statistics_plan())

    def get_statistics(self) -> dict[str, Any]:
        """Statistics as a dict: hit_rate (%), total_requests, cache_size, average_latency_ms, ..."""
        return self._statistics_dict(self.statistics())

    async def aget_statistics(self) -> dict[str, Any]:
        return self._statistics_dict(await self.astatistics())

    def reset_statistics(self) -> None:
        self._run(self._reset_plan())

    async def areset_statistics(self) -> None:
        await self._arun(self._reset_plan())

    def latency_histogram(self) -> LatencyHistogram:
        """This process's lookup latencies since it started (for metrics: never reset)."""
        return self._latency.histogram()

    def on_lookup(self, listener: Callable[[float], None]) -> None:
        """Call ``listener(seconds)`` after each lookup of this process (e.g. to feed a histogram)."""
        self._latency.subscribe(listener)

    def get_top_entries(self, limit: int = 10, sort_by: str = "access_count") -> list[dict[str, Any]]:
        """The most-used entries as dicts with 'key', 'prompt', 'access_count', ... (no responses)."""
        return self._run(self._top_plan(limit, sort_by))

    async def aget_top_entries(self, limit: int = 10, sort_by: str = "access_count") -> list[dict[str, Any]]:
        return await self._arun(self._top_plan(limit, sort_by))

    def export_stats(self, path: str | os.PathLike[str]) -> Path:
        """Write statistics and top entries as JSON, atomically (temp file, then rename)."""
        return write_report(path, self.get_statistics(), self.get_top_entries(limit=10), self._config())

    async def aexport_stats(self, path: str | os.PathLike[str]) -> Path:
        stats, top = await self.aget_statistics(), await self.aget_top_entries(limit=10)
        return await asyncio.to_thread(write_report, path, stats, top, self._config())

    def health_check(self) -> dict[str, Any]:
        """{'status': 'healthy' | 'degraded' | 'unhealthy', ...} with backend facts; never raises.

        'degraded': Redis answers but refuses writes (out of memory with noeviction).
        """
        return self._run(self._health_plan())

    async def ahealth_check(self) -> dict[str, Any]:
        return await self._arun(self._health_plan())

    def warmup(self) -> None:
        """Load the embedding model now rather than on the first semantic lookup."""
        self.engine.warmup()

    async def awarmup(self) -> None:
        await asyncio.to_thread(self.engine.warmup)

    def close(self) -> None:
        self.backend.close()

    async def aclose(self) -> None:
        if self.failures.async_backend is not None:
            await self.failures.async_backend.aclose()
        else:
            self.backend.close()

    def __enter__(self) -> LLMCachingManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> LLMCachingManager:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _set_request(prompt: Any, response: Any, messages: Any, embed_text: Any) -> RequestText:
    if response is _NO_RESPONSE:
        raise InvalidInputError("set needs a response")
    return build_request(prompt, messages=messages, embed_text=embed_text)
