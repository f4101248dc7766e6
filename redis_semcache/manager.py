"""LLMCachingManager: the public cache API over any backend, sync and async.

Lookup order: exact match on (scope, normalised prompt), then - only when
semantic caching is on and the exact match missed - a nearest-neighbour match
in the same scope, then miss.

Every operation is written once, as a plan (see :mod:`redis_semcache._plan`);
``get`` and ``aget`` drive the same plan, one calling the backend's methods,
the other awaiting its ``a``-prefixed twins.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import os
import random
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from ._entry import CacheEntry, encode_response
from ._enums import CacheStrategy, InvalidationStrategy
from ._errors import BackendError, BackendUnavailableError, InvalidationError, InvalidInputError
from ._keys import entry_id, scope_id
from ._plan import RESULT, BackendCall, Compute, Effect, Embed, Plan, Sleep, run_async, run_sync
from ._stats import CacheStatistics, LatencyHistogram, LatencyWindow
from ._validate import check_label, check_tags, check_ttl
from .backends.base import COUNTERS, SORT_FIELDS, CacheBackend
from .backends.memory import InMemoryCacheBackend
from .breaker import CircuitBreaker
from .embeddings import Embedder
from .engine import DEFAULT_EMBEDDER, DEFAULT_THRESHOLD, SemanticCacheEngine, Verifier
from .quality import plans as quality_plans
from .quality.control import QualityControl
from .quality.policy import ErrorBudget
from .quality.result import LookupResult
from .request import RequestText, build_request, request_of
from .singleflight import FlightPolicy

__all__ = ["LLMCachingManager"]

log = logging.getLogger("redis_semcache")
T = TypeVar("T")

DEFAULT_BREAKER: Any = object()  # sentinel: a CircuitBreaker() for backends that do I/O
_UNAVAILABLE: Any = object()  # fallback marking a lookup the backend could not answer
_NO_RESPONSE: Any = object()  # set() called without a response
_CIRCUIT_OPEN = BackendUnavailableError("circuit breaker open: backend calls paused after repeated failures")
# Calls that remove entries: they never fail open (see _unavailable), and the
# local fallback gets each one that succeeds on the backend.
_REMOVALS = frozenset({"delete_keys", "delete_tags", "delete_version", "delete_pattern", "clear"})


@dataclass(frozen=True)
class _Request:
    """A validated prompt and everything that scopes it."""

    prompt: str
    model: str
    namespace: str
    scope: str
    key: str


class LLMCachingManager:
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
            circuit_breaker = CircuitBreaker() if getattr(self.backend, "blocking_io", True) else None
        self.breaker = circuit_breaker
        self.fallback_backend = fallback_backend
        self._serving = "from the local fallback" if fallback_backend is not None else "misses"
        self.strict = strict
        self._latency = LatencyWindow()
        self._errors = 0
        self._errors_lock = threading.Lock()
        self._outage: str | None = None  # reason of the current backend outage, if any
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

    def set_many(
        self,
        items: Iterable[tuple[str, Any]] | Mapping[str, Any],
        model: str = "default",
        ttl: float | None = None,
        tags: Sequence[str] | None = None,
        version: str | None = None,
        *,
        namespace: str | None = None,
        progress: bool = False,
        **kwargs: Any,
    ) -> int:
        """Store (prompt or messages list, response) pairs, embedding them in batches; return how many were stored."""
        return self._run(self._set_many_plan(items, model, ttl, tags, version, namespace, progress, kwargs))

    async def aset_many(
        self,
        items: Iterable[tuple[str, Any]] | Mapping[str, Any],
        model: str = "default",
        ttl: float | None = None,
        tags: Sequence[str] | None = None,
        version: str | None = None,
        *,
        namespace: str | None = None,
        progress: bool = False,
        **kwargs: Any,
    ) -> int:
        return await self._arun(self._set_many_plan(items, model, ttl, tags, version, namespace, progress, kwargs))

    def warm(self, pairs: Iterable[tuple[str, Any]], *, progress: bool = True, **kwargs: Any) -> int:
        """Preload the cache from (prompt, response) pairs; shows a progress bar by default."""
        return self.set_many(pairs, progress=progress, **kwargs)

    async def awarm(self, pairs: Iterable[tuple[str, Any]], *, progress: bool = True, **kwargs: Any) -> int:
        return await self.aset_many(pairs, progress=progress, **kwargs)

    # -- hit quality (redis_semcache.quality) ---------------------------------

    def lookup(
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
    ) -> LookupResult:
        """Like ``get``, but a :class:`LookupResult`: what was served, and the best
        candidate and threshold also when nothing was (for ``feedback``)."""
        req = build_request(prompt, messages=messages, embed_text=embed_text)
        return self._run(quality_plans.lookup_plan(self, req, model, embedding, namespace, version, kwargs))

    async def alookup(
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
    ) -> LookupResult:
        """Async :meth:`lookup`."""
        req = build_request(prompt, messages=messages, embed_text=embed_text)
        return await self._arun(quality_plans.lookup_plan(self, req, model, embedding, namespace, version, kwargs))

    def feedback(self, result: LookupResult, correct: bool) -> bool:
        """Label ``result``'s candidate right or wrong (shared by every instance of a
        Redis cache).  True when a label was recorded; see docs/quality.md."""
        return self._run(quality_plans.feedback_plan(self, result, correct))

    async def afeedback(self, result: LookupResult, correct: bool) -> bool:
        """Async :meth:`feedback`."""
        return await self._arun(quality_plans.feedback_plan(self, result, correct))

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
        **kwargs: Any,
    ) -> Any:
        """The cached response, or ``compute()``'s result, cached.  Concurrent
        misses of the same entry - across threads, tasks and processes sharing
        the backend - run ``compute`` once (see :mod:`redis_semcache.singleflight`).
        Each call counts once in the statistics: a miss when it computes, else a
        hit (an exact hit and a ``single_flight_joins`` when another caller computed)."""
        req = build_request(prompt, messages=messages, embed_text=embed_text)
        return self._run(self._get_or_compute_plan(req, compute, model, ttl, tags, namespace, kwargs))

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
        **kwargs: Any,
    ) -> Any:
        """Async :meth:`get_or_compute`; ``compute`` may be a coroutine function."""
        req = build_request(prompt, messages=messages, embed_text=embed_text)
        return await self._arun(self._get_or_compute_plan(req, compute, model, ttl, tags, namespace, kwargs))

    def cached(self, model: str = "default", **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorate a sync or async function whose first argument is the prompt
        (a str) or a chat request (a list of messages, see :meth:`get`).

        Other arguments are passed through and do not enter the cache key; put
        request parameters that change the answer in ``options`` (they scope
        the entry, like keywords of ``get``).
        """

        params = dict(options)
        ttl, tags, namespace = params.pop("ttl", None), params.pop("tags", None), params.pop("namespace", None)

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_wrapper(prompt: Any, *args: Any, **kwargs: Any) -> Any:
                    compute = functools.partial(fn, prompt, *args, **kwargs)
                    return await self._arun(
                        self._get_or_compute_plan(request_of(prompt), compute, model, ttl, tags, namespace, params)
                    )

                return async_wrapper

            @functools.wraps(fn)
            def wrapper(prompt: Any, *args: Any, **kwargs: Any) -> Any:
                compute = functools.partial(fn, prompt, *args, **kwargs)
                return self._run(
                    self._get_or_compute_plan(request_of(prompt), compute, model, ttl, tags, namespace, params)
                )

            return wrapper

        return decorate

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
        return self._write_report(path, self.get_statistics(), self.get_top_entries(limit=10), self._config())

    async def aexport_stats(self, path: str | os.PathLike[str]) -> Path:
        stats, top = await self.aget_statistics(), await self.aget_top_entries(limit=10)
        return await asyncio.to_thread(self._write_report, path, stats, top, self._config())

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
        aclose = getattr(self.backend, "aclose", None)
        if aclose is not None:
            await aclose()
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
        if self.quality.owns_lookups:  # the learned rule (and the judge) decide what is served
            plan = quality_plans.lookup_plan(self, prompt, model, embedding, namespace, version, params, count_miss)
            return (yield from plan).response
        started = time.perf_counter()
        req = self._request(prompt, model, namespace, params)
        version = self._lookup_version(version)
        semantic = self.enable_semantic and (embedding is not None or self.engine.can_embed)
        vector = None if embedding is None else self.engine.vector(req.prompt, embedding, self._dimension())
        try:
            final = count_miss and not semantic
            entry = yield BackendCall(
                "lookup_exact", (req.key,), {"version": version, "final": final}, fallback=_UNAVAILABLE
            )
            if entry is _UNAVAILABLE:  # the backend just failed: don't pay a second timeout on it
                return None
            if entry is not None:
                return entry.response
            if not semantic:
                return None
            if vector is None:
                vector = (yield Embed((req.prompt,), self._dimension()))[0]
            if vector is None:  # too long to embed whole: exact match only
                yield BackendCall("count_skipped_long", (req.key, count_miss))
                return None
            query = self.engine.query(req.prompt, vector, model=req.model, scope=req.scope, version=version)
            match = yield BackendCall("lookup_semantic", (replace(query, count_miss=count_miss),))
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
            entry = replace(entry, embedding=self.engine.vector(entry.prompt, embedding, self._dimension()))
        elif self.enable_semantic and self.engine.can_embed:  # None when too long to embed
            entry = replace(entry, embedding=(yield Embed((entry.prompt,), self._dimension()))[0])
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
            entry = yield BackendCall("lookup_exact", (req.key,), {"version": version, "final": not semantic})
            self._latency.add(time.perf_counter() - started)
            if entry is not None:
                results[i] = entry.response
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

    def _set_many_plan(
        self,
        items: Iterable[tuple[str, Any]] | Mapping[str, Any],
        model: Any,
        ttl: Any,
        tags: Any,
        version: Any,
        namespace: str | None,
        progress: bool,
        params: Mapping[str, Any],
    ) -> Plan[int]:
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        built = [self._entry(p, r, model, ttl, tags, version, namespace, params) for p, r in pairs]
        if self.enable_semantic and self.engine.can_embed and built:
            vectors = yield Embed(tuple(e.prompt for e, _ in built), self._dimension(), progress)
            built = [(replace(e, embedding=v), t) for (e, t), v in zip(built, vectors, strict=True)]
        stored = 0
        for entry, ttl_s in _progress(built, progress, "caching"):
            stored += yield BackendCall("store", (entry, ttl_s), fallback=0, on_success=1)
        return stored

    def _get_or_compute_plan(
        self,
        prompt: Any,
        compute: Callable[[], Any] | None,
        model: Any,
        ttl: Any,
        tags: Any,
        namespace: str | None,
        params: Mapping[str, Any],
    ) -> Plan[Any]:
        if not callable(compute):
            raise InvalidInputError("compute must be callable")
        if self.quality.active:  # may compute anyway, to label a candidate
            plan = quality_plans.get_or_compute_plan(self, prompt, compute, model, ttl, tags, namespace, params)
            return (yield from plan)
        # A miss is not counted yet: this call may end up served by another caller's computation.
        value = yield from self._get_plan(prompt, model, None, namespace, None, params, count_miss=False)
        if value is not None:
            return value
        return (yield from self._flight_plan(prompt, compute, model, ttl, tags, namespace, params))

    def _flight_plan(
        self,
        prompt: Any,
        compute: Callable[[], Any],
        model: Any,
        ttl: Any,
        tags: Any,
        namespace: str | None,
        params: Mapping[str, Any],
    ) -> Plan[Any]:
        """Compute a missed entry once across every caller (single flight), and cache it."""
        req = self._request(prompt, model, namespace, params)

        def count(joined: bool) -> BackendCall:
            return BackendCall("count_flight", (req.key, joined), fallback=None)

        version = self._lookup_version(None)
        policy = self.flight_policy
        token = secrets.token_hex(16)
        deadline = time.monotonic() + policy.wait_timeout
        pauses = policy.backoff()
        # A failing backend grants the lock: computing beats waiting on a dead server.
        acquire = BackendCall("acquire_lock", (req.key, token, policy.lock_ttl), fallback=True)
        acquired = yield acquire
        while True:
            if acquired:
                try:
                    entry, _ = yield BackendCall("flight_status", (req.key, version), fallback=(None, False))
                    yield count(entry is not None)
                    if entry is not None:  # stored between our miss and our lock
                        return entry.response
                    value = yield Compute(compute)
                    yield from self._set_plan(prompt, value, model, ttl, None, tags, None, namespace, params)
                    return value
                finally:
                    yield BackendCall("release_lock", (req.key, token), fallback=False)
            if time.monotonic() >= deadline:
                log.warning("redis_semcache: gave up waiting for another caller's compute; computing")
                yield count(False)
                value = yield Compute(compute)
                yield from self._set_plan(prompt, value, model, ttl, None, tags, None, namespace, params)
                return value
            yield Sleep(next(pauses))
            entry, locked = yield BackendCall("flight_status", (req.key, version), fallback=(None, False))
            if entry is not None:
                yield count(True)
                return entry.response
            # no value and no lock: the holder failed or crashed, so try to take over
            acquired = False if locked else (yield acquire)

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
            errors=self._errors,
            cache_size=size,
            max_size=self.backend.max_size,
            latency_ms=self._latency.summary_ms(),
        )

    def _statistics_dict(self, stats: CacheStatistics) -> dict[str, Any]:
        report = stats.to_dict()
        if self._outage is not None:
            report["backend_error"] = self._outage
        return report

    def _reset_plan(self) -> Plan[None]:
        yield BackendCall("reset_counters")
        self._latency.clear()
        with self._errors_lock:
            self._errors = 0

    def _top_plan(self, limit: Any, sort_by: Any) -> Plan[list[dict[str, Any]]]:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise InvalidInputError(f"limit must be a non-negative int, got {limit!r}")
        if sort_by not in SORT_FIELDS:
            raise InvalidInputError(f"sort_by must be one of {', '.join(SORT_FIELDS)}; got {sort_by!r}")
        entries = yield BackendCall("top_entries", (limit, sort_by), fallback=[])
        return [e.to_dict() for e in entries]

    def _health_plan(self) -> Plan[dict[str, Any]]:
        try:
            facts = yield BackendCall("health")
            report = {"status": "unhealthy", "reason": self._outage} if facts is None else dict(facts)
        except Exception as exc:  # a health check reports failures instead of raising them
            report = {"status": "unhealthy", "reason": f"{type(exc).__name__}: {exc}"}
        embeddings = self.engine.embeddings
        report.update(
            semantic_enabled=self.enable_semantic,
            embedder_loaded=bool(embeddings and getattr(embeddings.embedder, "loaded", True)),
            errors=self._errors,
        )
        return report

    # -- drivers: how effects are performed ------------------------------------

    def _run(self, plan: Plan[T]) -> T:
        return run_sync(plan, self._perform)

    async def _arun(self, plan: Plan[T]) -> T:
        return await run_async(plan, self._aperform)

    def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, BackendCall):
            return self._guarded(effect)
        if isinstance(effect, Embed):
            return self.engine.vectors_that_fit(effect.texts, effect.dim, progress=effect.progress)
        if isinstance(effect, Sleep):
            time.sleep(effect.seconds)
            return None
        return effect.fn()

    async def _aperform(self, effect: Effect) -> Any:
        if isinstance(effect, BackendCall):
            return await self._aguarded(effect)
        if isinstance(effect, Embed):
            fit = self.engine.vectors_that_fit
            return await asyncio.to_thread(fit, effect.texts, effect.dim, progress=effect.progress)
        if isinstance(effect, Sleep):
            await asyncio.sleep(effect.seconds)
            return None
        result = effect.fn()
        return await result if inspect.isawaitable(result) else result

    def _guarded(self, call: BackendCall) -> Any:
        """Run a backend call through the breaker; on failure fail open (or raise when strict)."""
        if self.breaker is not None and not self.breaker.allow():
            return self._unavailable(call, _CIRCUIT_OPEN)
        try:
            result = getattr(self.backend, call.method)(*call.args, **call.kwargs)
        except BackendError as exc:
            return self._unavailable(call, exc)
        except BaseException:
            self._no_verdict()
            raise
        return self._succeeded(call, result)

    async def _aguarded(self, call: BackendCall) -> Any:
        if self.breaker is not None and not self.breaker.allow():
            await asyncio.sleep(0)  # refused at once, yet a loop of awaits must let other tasks run
            return self._unavailable(call, _CIRCUIT_OPEN)
        method = getattr(self.backend, "a" + call.method, None)
        try:
            if method is not None:
                result = await method(*call.args, **call.kwargs)
            elif getattr(self.backend, "blocking_io", True):
                sync = getattr(self.backend, call.method)
                result = await asyncio.to_thread(sync, *call.args, **call.kwargs)
            else:  # in-process backend: no I/O to wait for
                result = getattr(self.backend, call.method)(*call.args, **call.kwargs)
        except BackendError as exc:
            return self._unavailable(call, exc)
        except BaseException:  # cancelled (asyncio.wait_for), or an error that says nothing about the server
            self._no_verdict()
            raise
        return self._succeeded(call, result)

    def _no_verdict(self) -> None:
        """The call ended neither in success nor in a backend failure: if it was the
        breaker's half-open probe, let another call probe."""
        if self.breaker is not None:
            self.breaker.release()

    def _succeeded(self, call: BackendCall, result: Any) -> Any:
        if self.breaker is not None:
            self.breaker.record_success()
        if self._outage is not None:
            with self._errors_lock:  # threads race here: only one logs the recovery
                ended, self._outage = self._outage, None
            if ended is not None:
                log.warning("redis_semcache: backend recovered after: %s", ended)
                if self.fallback_backend is not None:
                    self.fallback_backend.clear()  # see _mirror
        self._mirror(call)
        return result if call.on_success is RESULT else call.on_success

    def _mirror(self, call: BackendCall) -> None:
        """Keep the local fallback from ever serving what the backend no longer holds.

        The fallback is emptied when an outage ends, and while the backend is
        healthy every removal, and every write of a key, also applies to the
        fallback (an outage call may finish after the emptying).
        """
        fallback = self.fallback_backend
        if fallback is None:
            return
        if call.method in _REMOVALS:
            getattr(fallback, call.method)(*call.args, **call.kwargs)
        elif call.method == "store":
            fallback.delete_keys([call.args[0].key])

    def _unavailable(self, call: BackendCall, exc: BackendError) -> Any:
        """Count and log a failed (or refused) call, then raise, use the local fallback, or fail open.

        A failed removal (invalidate, clear) raises InvalidationError whatever
        ``strict`` says: the entries it was to remove may still be served.
        """
        reason = None if exc is _CIRCUIT_OPEN else f"{type(exc).__name__}: {exc}"
        with self._errors_lock:
            self._errors += 1
            began = reason is not None and self._outage is None
            if reason is not None:
                self._outage = reason
        if self.breaker is not None and exc is not _CIRCUIT_OPEN:
            self.breaker.record_failure()
        if began:  # log once per outage, not once per call (nor once per thread)
            log.warning("redis_semcache: backend failing, serving %s: %s", self._serving, reason)
        if call.method in _REMOVALS:
            if self.fallback_backend is not None:
                getattr(self.fallback_backend, call.method)(*call.args, **call.kwargs)
            if isinstance(exc, InvalidationError):
                raise exc
            raise InvalidationError(f"{call.method} did not complete: {exc}") from exc
        if self.strict:
            raise exc
        if self.fallback_backend is not None and call.method != "health":  # health reports the backend itself
            result = getattr(self.fallback_backend, call.method)(*call.args, **call.kwargs)
            return result if call.on_success is RESULT else call.on_success
        return call.fallback

    # -- validation and entry building -------------------------------------------

    def _request(self, prompt: Any, model: Any, namespace: str | None, params: Mapping[str, Any]) -> _Request:
        request = request_of(prompt)  # a RequestText from the public methods; a bare str is a prompt
        model = check_label(model, "model")
        ns = self.namespace if namespace is None else check_label(namespace, "namespace", allow_empty=True)
        scope = scope_id(model, ns, params, request.context)
        return _Request(request.text, model, ns, scope, entry_id(scope, request.text))

    def _lookup_version(self, version: str | None) -> str | None:
        if version is not None:
            return check_label(version, "version")
        if self.invalidation_strategy is InvalidationStrategy.VERSIONED:
            return self.cache_version
        return None

    def _entry(
        self,
        prompt: Any,
        response: Any,
        model: Any,
        ttl: Any,
        tags: Any,
        version: Any,
        namespace: str | None,
        params: Mapping[str, Any],
    ) -> tuple[CacheEntry, float | None]:
        req = self._request(prompt, model, namespace, params)
        encode_response(response)  # raises SerializationError before anything is stored
        if ttl is not None:
            ttl_s: float | None = check_ttl(ttl)
        elif self.invalidation_strategy is InvalidationStrategy.MANUAL:
            ttl_s = None
        else:
            ttl_s = self.default_ttl
        entry = CacheEntry(
            key=req.key,
            prompt=req.prompt,
            response=response,
            model=req.model,
            scope=req.scope,
            namespace=req.namespace,
            tags=check_tags(tags),
            version=self.cache_version if version is None else check_label(version, "version"),
        )
        return entry, ttl_s

    def _dimension(self) -> int | None:
        return getattr(self.backend, "dimension", None)

    def _config(self) -> dict[str, Any]:
        return {
            "backend": type(self.backend).__name__,
            "enable_semantic": self.enable_semantic,
            "semantic_threshold": self.semantic_threshold,
            "default_ttl": self.default_ttl,
            "invalidation_strategy": self.invalidation_strategy.value,
            "eviction_strategy": self.backend.eviction_strategy.value,
        }

    @staticmethod
    def _write_report(
        path: str | os.PathLike[str], stats: dict[str, Any], top: list[dict[str, Any]], config: dict[str, Any]
    ) -> Path:
        target = Path(path)
        report = {"exported_at": time.time(), "statistics": stats, "top_entries": top, "config": config}
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(report, fh, indent=2)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


def _set_request(prompt: Any, response: Any, messages: Any, embed_text: Any) -> RequestText:
    if response is _NO_RESPONSE:
        raise InvalidInputError("set needs a response")
    return build_request(prompt, messages=messages, embed_text=embed_text)


def _progress(items: Sequence[T], enabled: bool, desc: str) -> Iterable[T]:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="entry")
