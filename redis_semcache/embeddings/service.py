"""Embedding with an in-process LRU cache in front of any embedder.

Keys are (embedder id, normalised text), so a ``get`` that missed and the
``set`` that follows it (cache-aside) embed the prompt once.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from cachetools import LRUCache

from .base import Embedder, check_embedder_output, embedder_id

__all__ = ["EmbeddingService"]


class EmbeddingService:
    def __init__(self, embedder: Embedder, *, cache_size: int = 10_000, batch_size: int = 64) -> None:
        self.embedder = embedder
        self.batch_size = batch_size
        self._id = embedder_id(embedder)
        self._cache: LRUCache[tuple[str, str], np.ndarray] | None = LRUCache(cache_size) if cache_size > 0 else None
        self._lock = threading.Lock()
        self.dimension: int | None = None
        self.calls = 0  # embedder invocations, for tests and stats

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit float32 vectors for ``texts`` (already normalised prompts), shape (n, d)."""
        found: dict[str, np.ndarray] = {}
        if self._cache is not None:
            with self._lock:
                for text in texts:
                    vec = self._cache.get((self._id, text))
                    if vec is not None:
                        found[text] = vec
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            self.calls += 1
            vectors = check_embedder_output(self.embedder(batch), batch, self.dimension)
            self.dimension = vectors.shape[1]
            with self._lock:
                for text, vec in zip(batch, vectors, strict=True):
                    found[text] = vec
                    if self._cache is not None:
                        self._cache[(self._id, text)] = vec
        if not texts:
            return np.empty((0, self.dimension or 0), dtype=np.float32)
        return np.stack([found[t] for t in texts])
