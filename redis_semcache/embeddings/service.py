"""Embedding with an in-process LRU cache in front of any embedder.

Keys are (embedder id, normalised text), so a ``get`` that missed and the
``set`` that follows it (cache-aside) embed the prompt once, and so do
repeated misses.  Texts the cache lacks are embedded in batches of
``batch_size``: one embedder call per batch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from cachetools import LRUCache

from .._errors import EmbeddingError, InvalidInputError
from ._threads import usable_cores
from .base import Embedder, check_embedder_output, embedder_id
from .batcher import MicroBatcher

__all__ = ["BATCH_SLOTS_PER_CORE", "DEFAULT_BATCH_SIZE", "EmbeddingService"]

DEFAULT_BATCH_SIZE = 64
# Batches that may run at once, per usable core.  A caller spends part of every lookup outside its
# batch (Redis round trips, Python), and with one slot per core that core idled meanwhile: 8 threads
# on 2 cores kept 1.5-1.65 of them busy.  Single-threaded passes do not spin-wait, so a second slot
# per core is time-sliced, not collapsed: 1.65-1.8 cores busy, and 8 threads at a median 3.19x
# RedisVL's lookups/s against 2.73x (docs/benchmarks.md, "Session 8: packed rows").
BATCH_SLOTS_PER_CORE = 2


def _batch_size(embedder: object, batch_size: int | None) -> int:
    size = getattr(embedder, "batch_size", DEFAULT_BATCH_SIZE) if batch_size is None else batch_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidInputError(f"embedding batch_size must be a positive int, got {size!r}")
    return size


def _default_slots(embedder: object) -> int:
    """``BATCH_SLOTS_PER_CORE`` per usable core, shared out among the embedder's intra-op threads."""
    threads = getattr(embedder, "threads", 1)
    per_batch = threads if isinstance(threads, int) and not isinstance(threads, bool) and threads > 0 else 1
    return max(1, BATCH_SLOTS_PER_CORE * usable_cores() // per_batch)


class EmbeddingService:
    """Cached, batched, validated embeddings from one embedder.

    ``batch_size`` defaults to the embedder's own ``batch_size`` attribute, else
    64.  ``cache_size=0`` turns the cache off.  Thread-safe: the cache and the
    counters sit behind one lock; the embedder itself is called outside it,
    through a :class:`~.batcher.MicroBatcher`, so that concurrent callers (threads,
    or asyncio tasks in worker threads) share one embedder call of up to
    ``batch_size`` texts instead of queueing one by one.  Up to ``concurrency``
    batches run at once (default: ``BATCH_SLOTS_PER_CORE`` per CPU core this
    process may use, divided by the embedder's ``threads``): each runs on its
    caller's thread, the model with one intra-op thread (see ``_threads``).
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        cache_size: int = 10_000,
        batch_size: int | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.embedder = embedder
        self.batch_size = _batch_size(embedder, batch_size)
        self._id = embedder_id(embedder)
        self._cache: LRUCache[tuple[str, str], np.ndarray] | None = LRUCache(cache_size) if cache_size > 0 else None
        self._lock = threading.Lock()
        self.dimension: int | None = None  # discovered from the first output, then enforced
        self.calls = 0  # embedder invocations
        self.texts_embedded = 0  # texts sent to the embedder (cache misses)
        slots = concurrency or _default_slots(embedder)
        self.batcher = MicroBatcher(self._embed_batch, max_batch=self.batch_size, concurrency=slots)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Unit float32 vectors for ``texts`` (already normalised prompts), shape (n, d).

        ``progress`` shows a tqdm bar over the texts that need embedding, when
        there is more than one batch of them.
        """
        found = self._cached(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        for batch, vectors in self._embed_batches(missing, progress):
            with self._lock:
                for text, vec in zip(batch, vectors, strict=True):
                    found[text] = vec
                    if self._cache is not None:
                        self._cache[(self._id, text)] = vec
        if not texts:
            return np.empty((0, self.dimension or 0), dtype=np.float32)
        return np.stack([found[t] for t in texts])

    def cached(self, text: str) -> np.ndarray | None:
        """The cached embedding of ``text``, or None (never embeds)."""
        return self._cached([text]).get(text)

    def fits(self, texts: Sequence[str]) -> list[bool]:
        """Whether each text fits the embedder's window: its ``fits(texts)`` if it has
        one (the built-in embedders read only as much of a text as that takes),
        else ``max_tokens``/``count_tokens``.

        Texts already in the embedding cache fit; an embedder that does not
        report its window is trusted with any text.
        """
        fits = getattr(self.embedder, "fits", None)
        limit = getattr(self.embedder, "max_tokens", None)
        count = getattr(self.embedder, "count_tokens", None)
        if not callable(fits) and (not isinstance(limit, int) or not callable(count)):
            return [True] * len(texts)
        cached = self._cached(texts)
        unknown = [t for t in dict.fromkeys(texts) if t not in cached]
        if not unknown:
            ok: dict[str, bool] = {}
        elif callable(fits):
            ok = dict(zip(unknown, fits(unknown), strict=True))
        else:
            assert callable(count) and isinstance(limit, int)
            ok = {t: n <= limit for t, n in zip(unknown, count(unknown), strict=True)}
        return [t in cached or ok[t] for t in texts]

    def _cached(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        if self._cache is None:
            return found
        with self._lock:
            for text in texts:
                vec = self._cache.get((self._id, text))
                if vec is not None:
                    found[text] = vec
        return found

    def _embed_batches(self, texts: list[str], progress: bool) -> Iterator[tuple[list[str], np.ndarray]]:
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        bar = _progress_bar(len(texts)) if progress and len(batches) > 1 else None
        try:
            for batch in batches:
                yield batch, self.batcher.embed(batch)
                if bar is not None:
                    bar.update(len(batch))
        finally:
            if bar is not None:
                bar.close()

    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        try:
            raw = self.embedder(batch)
        except EmbeddingError:
            raise
        except Exception as exc:
            raise EmbeddingError(f"embedder {self._id} failed: {type(exc).__name__}: {exc}") from exc
        vectors = check_embedder_output(raw, batch, None)
        with self._lock:
            self.calls += 1
            self.texts_embedded += len(batch)
            if self.dimension is None:
                self.dimension = vectors.shape[1]
            elif vectors.shape[1] != self.dimension:
                raise EmbeddingError(
                    f"embedder {self._id} changed dimension: returned {vectors.shape[1]}, earlier {self.dimension}"
                )
        return vectors


def _progress_bar(total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="embedding", unit="text")
