"""The plans behind ``lookup``, ``feedback`` and a labelling ``get_or_compute``.

Written once as generators (see :mod:`redis_semcache._plan`) over the manager's
core, :class:`~redis_semcache.operations.CacheOperations`, whose sync and async
drivers run them; quality_api.py puts them on the manager.  The semantic query
asks the backend for candidates down to ``CANDIDATE_FLOOR`` and vets them
itself: the best one the guards keep is remembered whether or not it clears the
threshold, so a miss still tells which entry came closest - the evidence an
error budget learns from.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from ._errors import InvalidInputError
from ._keys import entry_id
from ._match import match_plan
from ._plan import BackendCall, Compute, Embed, Plan
from ._vectors import SIMILARITY_EPSILON
from .operations import CacheOperations
from .quality.control import Explorer
from .quality.equivalent import ANSWER_THRESHOLD, cosine, default_equivalent, embed_answers, settled
from .quality.judge import Case, JudgedCache
from .quality.result import ForeignResultError, LookupResult

if TYPE_CHECKING:
    from .backends.base import SemanticQuery


__all__ = ["CANDIDATE_FLOOR", "feedback_plan", "get_or_compute_plan", "get_plan", "lookup_plan", "same_plan"]

# Candidates less similar than this are not worth remembering: no rule serves them.
CANDIDATE_FLOOR = 0.5


def threshold_plan(cache: CacheOperations, scope: str) -> Plan[float | None]:
    """The similarity a candidate in ``scope`` needs now (None: exact only)."""
    budget = cache.quality.budget
    if budget is None:
        return cache.engine.threshold
    if budget.stale(scope):
        counts = yield BackendCall("label_counts", (scope,), fallback=None)
        if counts is not None:
            budget.update(scope, *counts)
    return budget.threshold_for(scope)


def lookup_plan(
    cache: CacheOperations,
    request: Any,
    model: Any,
    embedding: Any,
    namespace: str | None,
    version: str | None,
    params: Mapping[str, Any],
    count_miss: bool = True,
    serve: bool = True,
) -> Plan[LookupResult]:
    """The best candidate, served when it clears the threshold; ``serve=False`` serves
    exact hits only (an exploration), the result still naming the threshold."""
    started = time.perf_counter()
    setup = cache._lookup_setup(request, model, embedding, namespace, version, params, check_embedding=True)
    req, version, semantic, engine = setup.req, setup.version, setup.semantic, cache.engine
    try:
        threshold = (yield from threshold_plan(cache, req.scope)) if semantic else None
        miss = LookupResult(False, None, None, None, None, None, threshold, req.scope, cache.quality.origin)
        served = threshold if serve else None
        best: list[tuple[str, float]] = []

        def candidates(vector: Any) -> SemanticQuery:
            """The semantic query: candidates down to CANDIDATE_FLOOR, the best one the
            guards keep remembered in ``best``, served only from the threshold up."""
            query = engine.query(req.prompt, vector, model=req.model, scope=req.scope, version=version)
            guards = query.accept

            def keep(asked: str, prompt: str, similarity: float) -> bool:
                if best or (guards is not None and not guards(asked, prompt, similarity)):
                    return False
                best.append((prompt, similarity))
                return served is not None and similarity >= served - SIMILARITY_EPSILON

            return replace(query, min_similarity=CANDIDATE_FLOOR, accept=keep, count_miss=count_miss,
                           serve_similarity=2.0 if served is None else served)  # fmt: skip

        match = yield from match_plan(
            req.key, req.prompt, setup.vector, semantic=semantic, version=version, count_miss=count_miss,
            dimension=cache._dimension, query=candidates,
        )  # fmt: skip
        if match is not None:
            return replace(miss, hit=True, kind="exact" if match.exact else "semantic", response=match.entry.response,
                           similarity=match.similarity, candidate_prompt=match.entry.prompt,
                           candidate_key=match.entry.key)  # fmt: skip
        if not best:
            return miss
        prompt, similarity = best[0]
        found = replace(miss, similarity=similarity, candidate_prompt=prompt, candidate_key=entry_id(req.scope, prompt))
        judge = cache.quality.judge
        if serve and judge is not None and judge.in_band(found):  # queued, never waited for (the cache is the manager)
            case = Case(found, req.prompt, request, req.model, req.namespace, params, version)
            judge.offer(cast(JudgedCache, cache), case)
        return found
    finally:
        cache._latency.add(time.perf_counter() - started)


def get_plan(
    cache: CacheOperations, request: Any, model: Any, embedding: Any, namespace: str | None, version: str | None,
    params: Mapping[str, Any], count_miss: bool = True,
) -> Plan[Any]:  # fmt: skip
    """``get`` under the learned rule: what :func:`lookup_plan` served, or None."""
    return (yield from lookup_plan(cache, request, model, embedding, namespace, version, params, count_miss)).response


def feedback_plan(cache: CacheOperations, result: Any, correct: Any) -> Plan[bool]:
    """Record whether ``result``'s candidate was a right answer.  True when a label was
    recorded; False for a result without a candidate, or when the backend could not take
    it (strict=False).  An exact hit is a label at similarity 1.0: the budget bounds the
    error among *all* served hits, exact ones included."""
    if not isinstance(result, LookupResult):
        raise InvalidInputError(f"feedback needs the LookupResult of a lookup, not {type(result).__name__}")
    if not isinstance(correct, bool):
        raise InvalidInputError(f"correct must be a bool, not {type(correct).__name__}")
    if result.origin != cache.quality.origin:
        raise ForeignResultError("this result came from another cache: give feedback to the cache that looked it up")
    if result.similarity is None:
        return False
    recorded: bool = yield BackendCall(
        "record_label", (result.scope, result.similarity, correct), fallback=False, on_success=True
    )
    if recorded and cache.quality.budget is not None:
        cache.quality.budget.add(result.scope, result.similarity, correct)
    return recorded


def get_or_compute_plan(
    cache: CacheOperations,
    request: Any,
    compute: Any,
    model: Any,
    ttl: Any,
    tags: Any,
    namespace: str | None,
    params: Mapping[str, Any],
    *,
    embedding: Any = None,
    version: str | None = None,
) -> Plan[Any]:
    """``get_or_compute`` that, at rate ``explore``, computes anyway to label the best
    candidate with ``equivalent(cached, computed)``.  Drawn before the lookup, so an
    explored call is a plain miss (it computes, through single flight, and is counted
    so); when its candidate would have been served it also counts an ``exploration``."""
    if not callable(compute):
        raise InvalidInputError("compute must be callable")
    explorer = cache.quality.explorer
    explore = explorer.should()
    result = yield from lookup_plan(
        cache, request, model, embedding, namespace, version, params, count_miss=False, serve=not explore
    )
    if result.kind == "exact":  # right by construction: a free label, at the same rate as the others
        if explore:
            yield from feedback_plan(cache, result, True)
        return result.response
    if result.hit:
        return result.response
    value = yield from cache._flight_plan(request, compute, model, ttl, tags, namespace, params, embedding, version)
    if explore and result.candidate_key is not None:
        would_serve = (
            result.threshold is not None
            and result.similarity is not None
            and (result.similarity >= result.threshold - SIMILARITY_EPSILON)
        )
        if would_serve:
            yield BackendCall("count_exploration", (result.candidate_key,), fallback=None)
        entry, _ = yield BackendCall("flight_status", (result.candidate_key, cache._lookup_version(version)),
                                     fallback=(None, False))  # fmt: skip
        if entry is not None:  # deleted meanwhile: nothing to compare with, so no label
            yield from feedback_plan(cache, result, (yield from same_plan(explorer, entry.response, value)))
    return value


def same_plan(explorer: Explorer, cached: Any, computed: Any) -> Plan[bool]:
    """Whether ``explorer.equivalent`` calls the two answers the same.  The default's
    embedding is an :class:`Embed` effect, so ``aget_or_compute`` runs it (and the model's
    first load) in a thread, as it does the prompt's; one's own ``equivalent`` is called like
    ``compute``: an awaitable it returns is awaited by the async driver."""
    if explorer.equivalent is not default_equivalent:
        return bool((yield Compute(partial(explorer.equivalent, cached, computed))))
    verdict = settled(cached, computed)
    if verdict is None:  # two texts only their meaning can tell apart
        verdict = cosine((yield Embed((cached, computed), embedder=embed_answers))) >= ANSWER_THRESHOLD
    return verdict
