"""The manager's hit-quality methods: ``lookup``, ``feedback`` and their async twins.

A mixin of :class:`~redis_semcache.manager.LLMCachingManager`, kept here so the
manager's module stays one screen of public API; the plans are in :mod:`.plans`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..operations import CacheOperations
from ..request import build_request
from . import plans as quality_plans
from .result import LookupResult

__all__ = ["HitQualityAPI"]


class HitQualityAPI(CacheOperations):
    """``lookup``/``alookup`` and ``feedback``/``afeedback`` (docs/quality.md)."""

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
