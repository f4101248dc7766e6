"""LLMCachingManager: the public cache API over any backend.

Lookup order: exact match on (scope, normalised prompt), then - only when
semantic caching is on and the exact match missed - a nearest-neighbour match
in the same scope, then miss.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ._entry import CacheEntry, encode_response
from ._enums import CacheStrategy, InvalidationStrategy
from ._errors import BackendError, InvalidInputError
from ._keys import entry_id, normalize_prompt, scope_id
from ._stats import CacheStatistics, LatencyWindow
from .backends.base import SORT_FIELDS, CacheBackend, SemanticQuery
from .backends.memory import InMemoryCacheBackend
from .embeddings import Embedder
from .engine import DEFAULT_EMBEDDER, SemanticCacheEngine, Verifier

__all__ = ["LLMCachingManager"]

log = logging.getLogger("redis_semcache")
T = TypeVar("T")

# Keyword arguments of get/set that are not request parameters.
_RESERVED = ("namespace", "version")


@dataclass(frozen=True)
class _Request:
    """A validated prompt and everything that scopes it."""

    prompt: str
    model: str
    namespace: str
    scope: str
    key: str


def _check_ttl(ttl: Any) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not np.isfinite(ttl):
        raise InvalidInputError(f"ttl must be a finite number of seconds, got {ttl!r}")
    if ttl <= 0:
        raise InvalidInputError(f"ttl must be positive, got {ttl!r}")
    return float(ttl)


def _check_label(value: Any, what: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a str, not {type(value).__name__}")
    if not value and not allow_empty:
        raise InvalidInputError(f"{what} must not be empty")
    return value


def _check_tags(tags: Any) -> tuple[str, ...]:
    if tags is None:
        return ()
    if isinstance(tags, str):  # one tag, not its characters
        tags = [tags]
    if not isinstance(tags, Iterable):
        raise InvalidInputError(f"tags must be a list of str, not {type(tags).__name__}")
    return tuple(dict.fromkeys(_check_label(t, "tag") for t in tags))


class LLMCachingManager:
    """Cache LLM responses by exact and semantic prompt match.

    ``backend`` defaults to a new :class:`InMemoryCacheBackend`.  ``max_cache_size``
    and ``eviction_strategy``, when given, are applied to the backend.
    ``embedder`` is used when semantic caching is on and a call passes no
    ``embedding``: by default the built-in local model, loaded on first need.
    With ``strict=False`` (the default) backend failures are counted and logged,
    and lookups then miss and writes return False instead of raising.
    """

    def __init__(
        self,
        backend: CacheBackend | None = None,
        *,
        enable_semantic: bool = False,
        semantic_threshold: float = 0.9,
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
        strict: bool = False,
    ) -> None:
        self.backend: CacheBackend = backend if backend is not None else InMemoryCacheBackend()
        self.enable_semantic = bool(enable_semantic)
        self.engine = SemanticCacheEngine(
            threshold=semantic_threshold,
            embedder=embedder,
            embedding_cache_size=embedding_cache_size,
            verifier=verifier,
        )
        self.default_ttl = None if default_ttl is None else _check_ttl(default_ttl)
        self.invalidation_strategy = InvalidationStrategy(invalidation_strategy)
        self.namespace = _check_label(namespace, "namespace", allow_empty=True)
        self.cache_version = _check_label(cache_version, "cache_version")
        self.strict = strict
        self._latency = LatencyWindow()
        self._errors = 0
        self._outage: str | None = None  # reason of the current backend outage, if any
        self.backend.configure(
            max_size=self.backend.max_size if max_cache_size is None else max_cache_size,
            eviction_strategy=(
                self.backend.eviction_strategy if eviction_strategy is None else CacheStrategy(eviction_strategy)
            ),
            sliding_ttl=sliding_ttl,
        )

    @property
    def semantic_threshold(self) -> float:
        return self.engine.threshold

    # -- the main calls ------------------------------------------------

    def get(
        self,
        prompt: str,
        model: str = "default",
        embedding: Any = None,
        *,
        namespace: str | None = None,
        version: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """The cached response for ``prompt`` in its scope, or None on a miss."""
        started = time.perf_counter()
        req = self._request(prompt, model, namespace, kwargs)
        version = self._lookup_version(version)
        semantic = self.enable_semantic and (embedding is not None or self.engine.can_embed)
        if embedding is not None:  # validate before any I/O
            self.engine.vector(req.prompt, embedding)
        try:
            entry = self._lookup_exact(req, version, final=not semantic)
            if entry is not None:
                return entry.response
            if not semantic:
                return None
            vector = self.engine.vector(req.prompt, embedding, self._dimension())
            if vector is None:  # pragma: no cover - `semantic` guarantees a vector source
                return None
            query = self.engine.query(req.prompt, vector, model=req.model, scope=req.scope, version=version)
            return self._lookup_semantic(query)
        finally:
            self._latency.add(time.perf_counter() - started)

    def set(
        self,
        prompt: str,
        response: Any,
        model: str = "default",
        ttl: float | None = None,
        embedding: Any = None,
        tags: Sequence[str] | None = None,
        version: str | None = None,
        *,
        namespace: str | None = None,
        **kwargs: Any,
    ) -> bool:
        """Store ``response``; True when stored, False when the backend failed (non-strict)."""
        entry, ttl_s = self._entry(prompt, response, model, ttl, tags, version, namespace, kwargs)
        if embedding is not None or self.enable_semantic:
            vector = self.engine.vector(entry.prompt, embedding, self._dimension())
            entry = _with_embedding(entry, vector)
        return self._store(entry, ttl_s)

    def get_many(
        self,
        prompts: Sequence[str],
        model: str = "default",
        *,
        namespace: str | None = None,
        progress: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Look up many prompts; misses are None.  Exact misses are embedded in batches."""
        reqs = [self._request(p, model, namespace, kwargs) for p in prompts]
        return self._get_batch(reqs, progress)

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
        """Store (prompt, response) pairs, embedding them in batches; return how many were stored."""
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        built = [self._entry(p, r, model, ttl, tags, version, namespace, kwargs) for p, r in pairs]
        if self.enable_semantic and self.engine.can_embed and built:
            vectors = self.engine.vectors([e.prompt for e, _ in built], self._dimension(), progress=progress)
            if vectors is not None:
                built = [(_with_embedding(e, v), t) for (e, t), v in zip(built, vectors, strict=True)]
        return sum(self._store(entry, ttl_s) for entry, ttl_s in _progress(built, progress, "caching"))

    def warm(self, pairs: Iterable[tuple[str, Any]], *, progress: bool = True, **kwargs: Any) -> int:
        """Preload the cache from (prompt, response) pairs; shows a progress bar by default."""
        return self.set_many(pairs, progress=progress, **kwargs)

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
        that version, ``keys`` removes entries by id.
        """
        if pattern is None and tags is None and version is None and keys is None:
            raise InvalidInputError("invalidate needs pattern, tags, version or keys")
        steps: list[Callable[[], int]] = []
        if keys is not None:
            key_list = [keys] if isinstance(keys, str) else [_check_label(k, "key") for k in keys]
            steps.append(lambda: self.backend.delete_keys(key_list))
        if tags is not None:
            tag_list = _check_tags(tags)
            steps.append(lambda: self.backend.delete_tags(tag_list))
        if version is not None:
            ver = _check_label(version, "version")
            steps.append(lambda: self.backend.delete_version(ver))
        if pattern is not None:
            pat = _check_label(pattern, "pattern")
            steps.append(lambda: self.backend.delete_pattern(pat))
        return sum(self._call(step, 0) for step in steps)

    def clear(self) -> bool:
        """Delete every entry of this cache; True on success."""

        def op() -> bool:
            self.backend.clear()
            return True

        return self._call(op, False)

    # -- reporting -----------------------------------------------------

    def statistics(self) -> CacheStatistics:
        """An immutable snapshot of the counters, size and this process's latencies."""
        counters = self.backend.counters()
        return CacheStatistics.build(
            counters,
            errors=self._errors,
            cache_size=self.backend.size(),
            max_size=self.backend.max_size,
            latency_ms=self._latency.summary_ms(),
        )

    def get_statistics(self) -> dict[str, Any]:
        """Statistics as a dict: hit_rate (%), total_requests, cache_size, average_latency_ms, ..."""
        try:
            return self.statistics().to_dict()
        except BackendError as exc:
            self._failed(exc)
            if self.strict:
                raise
            empty = dict.fromkeys(
                ("exact_hits", "semantic_hits", "misses", "sets", "evictions", "expirations", "invalidations"), 0
            )
            stats = CacheStatistics.build(
                empty, errors=self._errors, cache_size=0, max_size=None, latency_ms=self._latency.summary_ms()
            ).to_dict()
            stats["backend_error"] = self._outage
            return stats

    def reset_statistics(self) -> None:
        self.backend.reset_counters()
        self._latency.clear()
        self._errors = 0

    def get_top_entries(self, limit: int = 10, sort_by: str = "access_count") -> list[dict[str, Any]]:
        """The most-used entries as dicts with 'key', 'prompt', 'access_count', ..."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise InvalidInputError(f"limit must be a non-negative int, got {limit!r}")
        if sort_by not in SORT_FIELDS:
            raise InvalidInputError(f"sort_by must be one of {', '.join(SORT_FIELDS)}; got {sort_by!r}")
        no_entries: list[CacheEntry] = []
        entries = self._call(lambda: self.backend.top_entries(limit, sort_by), no_entries)
        return [e.to_dict() for e in entries]

    def export_stats(self, path: str | os.PathLike[str]) -> Path:
        """Write statistics and top entries as JSON, atomically (temp file, then rename)."""
        target = Path(path)
        report = {
            "exported_at": time.time(),
            "statistics": self.get_statistics(),
            "top_entries": self.get_top_entries(limit=10),
            "config": {
                "backend": type(self.backend).__name__,
                "enable_semantic": self.enable_semantic,
                "semantic_threshold": self.semantic_threshold,
                "default_ttl": self.default_ttl,
                "invalidation_strategy": self.invalidation_strategy.value,
                "eviction_strategy": self.backend.eviction_strategy.value,
            },
        }
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(report, fh, indent=2)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def health_check(self) -> dict[str, Any]:
        """{'status': 'healthy' | 'unhealthy', ...} with backend facts; never raises."""
        try:
            report = dict(self.backend.health())
        except Exception as exc:  # a health check reports failures instead of raising them
            report = {"status": "unhealthy", "reason": f"{type(exc).__name__}: {exc}"}
        report.update(
            semantic_enabled=self.enable_semantic,
            embedder_loaded=bool(self.engine.embeddings and getattr(self.engine.embeddings.embedder, "loaded", True)),
            errors=self._errors,
        )
        return report

    def warmup(self) -> None:
        """Load the embedding model now rather than on the first semantic lookup."""
        self.engine.warmup()

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> LLMCachingManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------

    def _request(self, prompt: Any, model: Any, namespace: str | None, params: Mapping[str, Any]) -> _Request:
        text = normalize_prompt(prompt)
        model = _check_label(model, "model")
        ns = self.namespace if namespace is None else _check_label(namespace, "namespace", allow_empty=True)
        scope = scope_id(model, ns, params)
        return _Request(text, model, ns, scope, entry_id(scope, text))

    def _lookup_version(self, version: str | None) -> str | None:
        if version is not None:
            return _check_label(version, "version")
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
            ttl_s: float | None = _check_ttl(ttl)
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
            tags=_check_tags(tags),
            version=self.cache_version if version is None else _check_label(version, "version"),
        )
        return entry, ttl_s

    def _get_batch(self, reqs: Sequence[_Request], progress: bool = False) -> list[Any]:
        semantic = self.enable_semantic and self.engine.can_embed
        results: list[Any] = [None] * len(reqs)
        pending: list[int] = []
        version = self._lookup_version(None)
        for i, req in enumerate(reqs):
            started = time.perf_counter()
            entry = self._lookup_exact(req, version, final=not semantic)
            self._latency.add(time.perf_counter() - started)
            if entry is not None:
                results[i] = entry.response
            elif semantic:
                pending.append(i)
        if pending:
            vectors = self.engine.vectors([reqs[i].prompt for i in pending], self._dimension(), progress=progress)
            assert vectors is not None
            for i, vector in zip(pending, vectors, strict=True):
                req = reqs[i]
                query = self.engine.query(req.prompt, vector, model=req.model, scope=req.scope, version=version)
                results[i] = self._lookup_semantic(query)
        return results

    def _lookup_exact(self, req: _Request, version: str | None, *, final: bool) -> CacheEntry | None:
        return self._call(lambda: self.backend.lookup_exact(req.key, version=version, final=final), None)

    def _lookup_semantic(self, query: SemanticQuery) -> Any:
        match = self._call(lambda: self.backend.lookup_semantic(query), None)
        return None if match is None else match.entry.response

    def _store(self, entry: CacheEntry, ttl: float | None) -> bool:
        def op() -> bool:
            self.backend.store(entry, ttl)
            return True

        return self._call(op, False)

    def _dimension(self) -> int | None:
        return getattr(self.backend, "dimension", None)

    def _call(self, op: Callable[[], T], fallback: T) -> T:
        """Run a backend operation; on BackendError count it and fail open unless strict."""
        try:
            result = op()
        except BackendError as exc:
            self._failed(exc)
            if self.strict:
                raise
            return fallback
        if self._outage is not None:
            log.warning("redis_semcache: backend recovered after: %s", self._outage)
            self._outage = None
        return result

    def _failed(self, exc: BackendError) -> None:
        self._errors += 1
        reason = f"{type(exc).__name__}: {exc}"
        if self._outage is None:  # log once per outage, not once per call
            log.warning("redis_semcache: backend failing, serving misses: %s", reason)
        self._outage = reason


def _with_embedding(entry: CacheEntry, vector: np.ndarray | None) -> CacheEntry:
    from dataclasses import replace

    return entry if vector is None else replace(entry, embedding=vector)


def _progress(items: Sequence[T], enabled: bool, desc: str) -> Iterable[T]:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="entry")
