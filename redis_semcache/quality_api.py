"""The manager's hit-quality methods: ``lookup``, ``feedback`` and their async twins.

A layer of :class:`~redis_semcache.manager.LLMCachingManager` over the core
(operations.py): it adds those methods and routes ``get`` and ``get_or_compute``
to the error budget's plans (quality_plans.py) when one is set.  Kept here so the
manager's module stays one screen of public API and operations.py knows nothing
of quality; the maths and policy are in :mod:`redis_semcache.quality`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import quality_plans
from ._plan import Plan
from .operations import CacheOperations
from .quality.result import LookupResult
from .request import build_request

__all__ = ["HitQualityAPI"]


class HitQualityAPI(CacheOperations):
    """``lookup``/``alookup`` and ``feedback``/``afeedback`` (docs/quality.md)."""

    def _get_plan(
        self, prompt: Any, model: Any, embedding: Any, namespace: str | None, version: str | None,
        params: Mapping[str, Any], count_miss: bool = True,
    ) -> Plan[Any]:  # fmt: skip
        if self.quality.owns_lookups:  # the learned rule (and the judge) decide what is served
            return quality_plans.get_plan(self, prompt, model, embedding, namespace, version, params, count_miss)
        return super()._get_plan(prompt, model, embedding, namespace, version, params, count_miss)

    def _get_or_compute_plan(
        self, prompt: Any, compute: Callable[[], Any] | None, model: Any, ttl: Any, tags: Any,
        namespace: str | None, params: Mapping[str, Any], embedding: Any = None, version: str | None = None,
    ) -> Plan[Any]:  # fmt: skip
        if self.quality.active:  # may compute anyway, to label a candidate
            return quality_plans.get_or_compute_plan(
                self, prompt, compute, model, ttl, tags, namespace, params, embedding=embedding, version=version
            )
        return super()._get_or_compute_plan(prompt, compute, model, ttl, tags, namespace, params, embedding, version)

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
