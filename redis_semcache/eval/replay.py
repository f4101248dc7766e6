"""Cache replay: store every first prompt, look up every second prompt, through the library.

The cache is a real :class:`~redis_semcache.LLMCachingManager` on the chosen
backend.  Vectors are computed once by the caller and passed with
``embedding=``, so replay measures the cache (threshold, guards, verifier,
backend search) and not the embedder's speed.

Each distinct first prompt becomes one entry whose response is its entry
number; a lookup's response therefore says which entry came back.

Two ways to replay:

* :func:`replay` looks every query up with ``cache.get`` at one threshold,
  with the given guards and verifier: what an application would see.
* :func:`record_candidates` looks every query up once, at the lowest
  threshold, with a verifier that records each candidate the backend offers
  (in the backend's order, after its scope, version and ``k`` filtering) and
  vetoes it, so the backend offers the next.  Since the backend serves the
  first candidate the accept callback keeps, the result for *any* guard set
  and any higher threshold follows from that log
  (:meth:`CandidateLog.run`) without storing and looking up everything again.
  The evaluation checks this against :func:`replay` at one threshold.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import ConfigurationError
from .._vectors import as_unit_vector
from ..engine import Verifier
from ..manager import LLMCachingManager
from .pairs import PairSet

__all__ = ["CandidateLog", "ReplayRun", "entry_numbers", "make_manager", "record_candidates", "replay"]

ManagerFactory = Callable[[float, Any, Verifier | None], LLMCachingManager]


@dataclass(frozen=True)
class ReplayRun:
    """Per-query results of one replay at one threshold.

    ``found[i]`` is the entry number returned for query ``i`` (-1 for a miss)
    and ``similarity[i]`` its cosine similarity to the query (NaN for a miss);
    ``own[i]`` is the entry number of pair ``i``'s own first prompt.
    """

    threshold: float
    found: np.ndarray
    similarity: np.ndarray
    own: np.ndarray
    duplicate: np.ndarray
    entries: int
    info: dict[str, Any] = field(default_factory=dict)


def entry_numbers(pairs: PairSet) -> tuple[list[str], np.ndarray]:
    """The distinct first prompts (one entry each) and each pair's entry number."""
    number: dict[str, int] = {}
    own = np.array([number.setdefault(p, len(number)) for p in pairs.first], dtype=np.int64)
    return list(number), own


def make_manager(backend: str = "memory", *, redis_url: str | None = None, name: str | None = None) -> ManagerFactory:
    """A factory of empty semantic caches on ``backend`` ("memory" or "redis").

    The caches have no size limit and no TTL, so nothing is evicted or expires
    mid-replay, no embedder (vectors always come with the call), and are
    strict: a backend error raises instead of passing for a miss.
    """
    if backend not in ("memory", "redis"):
        raise ConfigurationError(f"backend must be 'memory' or 'redis', got {backend!r}")
    if backend == "redis" and not redis_url:
        raise ConfigurationError("the redis backend needs a redis URL (--redis-url)")

    def factory(threshold: float, guards: Any, verifier: Verifier | None) -> LLMCachingManager:
        common: dict[str, Any] = {
            "enable_semantic": True,
            "semantic_threshold": threshold,
            "embedder": None,
            "default_ttl": None,
            "guards": guards,
            "verifier": verifier,
            "strict": True,  # a backend error must stop the evaluation, not count as a miss
        }
        if backend == "memory":
            from ..backends.memory import InMemoryCacheBackend

            return LLMCachingManager(InMemoryCacheBackend(max_size=None), **common)
        try:
            from ..factories import create_redis_cache_manager

            cache_name = name or f"semcache-eval-{uuid.uuid4().hex[:8]}"
            return create_redis_cache_manager(
                url=redis_url, max_size=None, backend_kwargs={"name": cache_name}, **common
            )
        except ImportError as exc:
            raise ConfigurationError(f"the redis backend is not available in this build: {exc}") from exc

    return factory


def _store_entries(pairs: PairSet, first_vectors: np.ndarray, cache: LLMCachingManager, progress: bool) -> np.ndarray:
    """Store each distinct first prompt with its entry number as response; return the entry vectors."""
    texts, _ = entry_numbers(pairs)
    first_row: dict[str, int] = {}
    for i, text in enumerate(pairs.first):
        first_row.setdefault(text, i)
    entry_vectors = np.stack([as_unit_vector(first_vectors[first_row[t]]) for t in texts])
    cache.clear()
    for n, text in enumerate(_bar(texts, progress, "storing")):
        if not cache.set(text, n, embedding=entry_vectors[n]):
            raise RuntimeError(f"the cache refused to store entry {n}")
    return entry_vectors


def _check_lengths(pairs: PairSet, first_vectors: np.ndarray, second_vectors: np.ndarray) -> None:
    if len(first_vectors) != len(pairs) or len(second_vectors) != len(pairs):
        raise ValueError("need one first and one second vector per pair")


def _info(cache: LLMCachingManager) -> dict[str, Any]:
    stats = cache.statistics()
    return {
        "backend": type(cache.backend).__name__,
        "exact_hits": stats.exact_hits,
        "semantic_hits": stats.semantic_hits,
        "misses": stats.misses,
    }


def _dispose(cache: LLMCachingManager) -> None:
    """Remove the evaluation's cache: the whole of it (index too) where the backend can."""
    drop = getattr(cache.backend, "drop", None)
    try:
        if callable(drop):
            drop()
        else:
            cache.clear()
    finally:
        cache.close()


def replay(
    pairs: PairSet,
    first_vectors: np.ndarray,
    second_vectors: np.ndarray,
    *,
    threshold: float,
    guards: Any = (),
    verifier: Verifier | None = None,
    manager_factory: ManagerFactory | None = None,
    progress: bool = False,
) -> ReplayRun:
    """Store every first prompt in a new cache, then ``get`` every second prompt.

    ``first_vectors[i]`` and ``second_vectors[i]`` are the embeddings of pair
    ``i``'s prompts.  The cache is cleared and closed afterwards.
    """
    _check_lengths(pairs, first_vectors, second_vectors)
    _, own = entry_numbers(pairs)
    cache = (manager_factory or make_manager())(threshold, guards, verifier)
    try:
        entry_vectors = _store_entries(pairs, first_vectors, cache, progress)
        found = np.full(len(pairs), -1, dtype=np.int64)
        similarity = np.full(len(pairs), np.nan)
        for i, text in enumerate(_bar(pairs.second, progress, "looking up")):
            query = as_unit_vector(second_vectors[i])
            response = cache.get(text, embedding=query)
            if response is not None:
                found[i] = int(response)
                similarity[i] = float(entry_vectors[found[i]] @ query)
        info = _info(cache)
    finally:
        _dispose(cache)
    return ReplayRun(threshold, found, similarity, own, pairs.duplicate, len(entry_vectors), info)


@dataclass(frozen=True)
class CandidateLog:
    """What the cache offered each query at ``threshold``, best first.

    ``exact[i]`` is the entry number of an exact hit (-1 if none; exact hits
    bypass guards), ``candidates[i]`` the (entry number, similarity) pairs the
    backend offered to the accept callback, in its order.
    """

    threshold: float
    exact: np.ndarray
    candidates: list[list[tuple[int, float]]]
    entry_prompts: list[str]
    own: np.ndarray
    duplicate: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def run(self, queries: Sequence[str], guards: Any = (), verifier: Verifier | None = None) -> ReplayRun:
        """The replay result had the cache used ``guards`` (and ``verifier``): the first kept candidate wins."""
        from ..guards import combine, resolve_guards

        accept = combine(resolve_guards(guards), verifier)
        found = self.exact.copy()
        similarity = np.where(found >= 0, 1.0, np.nan)
        for i, offered in enumerate(self.candidates):
            if found[i] >= 0:
                continue
            for entry, sim in offered:
                if accept is None or accept(queries[i], self.entry_prompts[entry], sim):
                    found[i] = entry
                    similarity[i] = sim
                    break
        entries = len(self.entry_prompts)
        return ReplayRun(self.threshold, found, similarity, self.own, self.duplicate, entries, self.info)


def record_candidates(
    pairs: PairSet,
    first_vectors: np.ndarray,
    second_vectors: np.ndarray,
    *,
    threshold: float,
    manager_factory: ManagerFactory | None = None,
    progress: bool = False,
) -> CandidateLog:
    """Look every second prompt up once and log every candidate the backend offers (see the module docstring)."""
    _check_lengths(pairs, first_vectors, second_vectors)
    texts, own = entry_numbers(pairs)
    number = {t: n for n, t in enumerate(texts)}
    candidates: list[list[tuple[int, float]]] = []

    def record_and_veto(query: str, candidate: str, similarity: float) -> bool:
        candidates[-1].append((number[candidate], float(similarity)))
        return False

    cache = (manager_factory or make_manager())(threshold, (), record_and_veto)
    exact = np.full(len(pairs), -1, dtype=np.int64)
    try:
        _store_entries(pairs, first_vectors, cache, progress)
        for i, text in enumerate(_bar(pairs.second, progress, "looking up")):
            candidates.append([])
            response = cache.get(text, embedding=as_unit_vector(second_vectors[i]))
            if response is not None:  # an exact hit: no candidate was offered
                exact[i] = int(response)
        info = {
            "backend": type(cache.backend).__name__,
            "lookups": len(pairs),
            "exact_hits": int(np.sum(exact >= 0)),
            "candidates_offered": sum(len(c) for c in candidates),
            "k": cache.engine.candidates,
        }
    finally:
        _dispose(cache)
    return CandidateLog(threshold, exact, candidates, texts, own, pairs.duplicate, info)


def _bar(items: Sequence[str], enabled: bool, desc: str) -> Sequence[str]:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    bar: Sequence[str] = tqdm(items, desc=desc, unit="prompt", leave=False)
    return bar
