"""The manager's bulk writes: ``set_many``, ``warm`` and their async twins.

A mixin of :class:`~redis_semcache.manager.LLMCachingManager`.  Entries are
built and checked first, then embedded (or given their precomputed vectors,
``embeddings=``), then stored ``STORE_MANY_BATCH`` per backend call, which a
server backend sends as one pipelined round trip.  Bad input - an item, or an
embedding of the wrong count, length or value - raises before anything is
written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._plan import BackendCall, Embed, Plan
from ._vectors import unit_rows
from .backends.base import STORE_MANY_BATCH
from .operations import CacheOperations

__all__ = ["BulkWriteAPI"]

Items = Iterable[tuple[str, Any]] | Mapping[str, Any]


class BulkWriteAPI(CacheOperations):
    """``set_many``/``aset_many`` and ``warm``/``awarm``."""

    def set_many(
        self,
        items: Items,
        model: str = "default",
        ttl: float | None = None,
        tags: Sequence[str] | None = None,
        version: str | None = None,
        *,
        namespace: str | None = None,
        progress: bool = False,
        embeddings: Any = None,
        **kwargs: Any,
    ) -> int:
        """Store (prompt or messages list, response) pairs; return how many were stored.

        Prompts are embedded in batches, unless ``embeddings`` gives one vector
        per item, in order (a 2-d array or a list of lists): then nothing is
        embedded.  A count other than one per item raises EmbeddingCountError,
        a vector of another length DimensionMismatchError; either before any
        entry is written.
        """
        return self._run(self._set_many_plan(items, model, ttl, tags, version, namespace, progress, embeddings, kwargs))

    async def aset_many(
        self,
        items: Items,
        model: str = "default",
        ttl: float | None = None,
        tags: Sequence[str] | None = None,
        version: str | None = None,
        *,
        namespace: str | None = None,
        progress: bool = False,
        embeddings: Any = None,
        **kwargs: Any,
    ) -> int:
        plan = self._set_many_plan(items, model, ttl, tags, version, namespace, progress, embeddings, kwargs)
        return await self._arun(plan)

    def warm(self, pairs: Items, *, progress: bool = True, **kwargs: Any) -> int:
        """Preload the cache from (prompt, response) pairs (``embeddings=`` as in
        :meth:`set_many`); shows a progress bar by default."""
        return self.set_many(pairs, progress=progress, **kwargs)

    async def awarm(self, pairs: Items, *, progress: bool = True, **kwargs: Any) -> int:
        return await self.aset_many(pairs, progress=progress, **kwargs)

    def _set_many_plan(
        self,
        items: Items,
        model: Any,
        ttl: Any,
        tags: Any,
        version: Any,
        namespace: str | None,
        progress: bool,
        embeddings: Any,
        params: Mapping[str, Any],
    ) -> Plan[int]:
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        built = [self._entry(p, r, model, ttl, tags, version, namespace, params) for p, r in pairs]
        if embeddings is not None:  # the caller's vectors: all checked before anything is stored
            rows = unit_rows(embeddings, len(built), self._dimension())
            built = [(e.with_embedding(v), t) for (e, t), v in zip(built, rows, strict=True)]
        elif self.enable_semantic and self.engine.can_embed and built:
            vectors = yield Embed(tuple(e.prompt for e, _ in built), self._dimension(), progress)
            built = [(e.with_embedding(v), t) for (e, t), v in zip(built, vectors, strict=True)]
        stored = 0
        bar = _progress_bar(len(built), progress, "caching")
        for start in range(0, len(built), STORE_MANY_BATCH):  # one pipelined round trip per batch
            batch = built[start : start + STORE_MANY_BATCH]
            stored += yield BackendCall("store_many", (batch,), fallback=0)
            if bar is not None:
                bar.update(len(batch))
        if bar is not None:
            bar.close()
        return stored


def _progress_bar(total: int, enabled: bool, desc: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="entry")
