"""SemanticCacheEngine: from a prompt to a semantic query.

It owns the embedder (behind an embedding cache), the similarity threshold,
the guards (:mod:`redis_semcache.guards`) and the optional ``verifier`` that
can veto a candidate.  It does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._errors import InvalidInputError
from ._vectors import as_unit_vector, check_threshold
from .backends.base import SemanticQuery
from .embeddings import Embedder, EmbeddingService, default_embedder
from .guards import Guard, combine, resolve_guards
from .request import PromptTooLongError

__all__ = ["DEFAULT_EMBEDDER", "DEFAULT_THRESHOLD", "LONG_PROMPTS", "SemanticCacheEngine", "Verifier"]

# What to do with a text longer than the embedder's window: look it up by exact
# match only (counted as semantic_skipped_long), or raise PromptTooLongError.
LONG_PROMPTS = ("exact", "error")

# The default cosine-similarity threshold, chosen by the hit-quality evaluation
# (docs/quality.md): on Quora question pairs replayed through the cache with
# all-MiniLM-L6-v2, right hits minus wrong hits peak at 0.92 (0.90 serves
# 1,702 right and 1,483 wrong; 0.92 serves 1,414 right and 1,158 wrong), and
# 0.92 is the lowest threshold with pairwise precision >= 0.80.
DEFAULT_THRESHOLD = 0.92

# (query prompt, candidate prompt, cosine similarity) -> keep the hit?  The name ``verifier=`` uses.
Verifier = Guard


class _DefaultEmbedder:
    """Sentinel: use the built-in local sentence-transformers model."""

    def __repr__(self) -> str:
        return "DEFAULT_EMBEDDER"


DEFAULT_EMBEDDER: Any = _DefaultEmbedder()


class SemanticCacheEngine:
    """Embeds prompts and builds scoped nearest-neighbour queries.

    ``embedder`` is any :class:`~redis_semcache.embeddings.Embedder`, None (the
    caller always passes ``embedding=``) or DEFAULT_EMBEDDER (the built-in model,
    loaded on first need).  ``guards`` is anything
    :func:`~redis_semcache.guards.resolve_guards` takes ("default", None, names,
    callables); guards and then the ``verifier`` must all keep a candidate.
    ``long_prompts`` is one of LONG_PROMPTS.
    """

    def __init__(
        self,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        embedder: Embedder | None = DEFAULT_EMBEDDER,
        embedding_cache_size: int = 10_000,
        verifier: Verifier | None = None,
        candidates: int = 4,
        guards: Any = "default",
        long_prompts: str = "exact",
    ) -> None:
        if long_prompts not in LONG_PROMPTS:
            raise InvalidInputError(f"long_prompts must be one of {', '.join(LONG_PROMPTS)}; got {long_prompts!r}")
        self.long_prompts = long_prompts
        self.threshold = check_threshold(threshold)
        if embedder is DEFAULT_EMBEDDER:
            embedder = default_embedder()  # shared: the model loads once per process
        self.embeddings = None if embedder is None else EmbeddingService(embedder, cache_size=embedding_cache_size)
        self.verifier = verifier
        self.guards: tuple[Guard, ...] = resolve_guards(guards)
        self.candidates = candidates
        # scope -> the learned threshold (None: exact only) of an error budget, else None
        self.rule: Callable[[str], float | None] | None = None

    @property
    def can_embed(self) -> bool:
        return self.embeddings is not None

    def warmup(self) -> None:
        """Load the embedding model now (if it has a ``warmup``) rather than on first use."""
        if self.embeddings is not None:
            warm = getattr(self.embeddings.embedder, "warmup", None)
            if callable(warm):
                warm()

    def vector(self, normalized_prompt: str, embedding: Any = None, dim: int | None = None) -> np.ndarray | None:
        """The unit vector for a prompt: the caller's, else the embedder's, else None."""
        if embedding is not None:
            return as_unit_vector(embedding, dim)
        if self.embeddings is None:
            return None
        return as_unit_vector(self.embeddings.embed_one(normalized_prompt), dim)

    def known_vector(self, normalized_prompt: str, embedding: Any = None, dim: int | None = None) -> np.ndarray | None:
        """The caller's vector, else the embedding cache's, else None: never runs the embedder."""
        if embedding is not None:
            return as_unit_vector(embedding, dim)
        if self.embeddings is None:
            return None
        cached = self.embeddings.cached(normalized_prompt)
        return None if cached is None else as_unit_vector(cached, dim)

    def vectors(
        self, normalized_prompts: Sequence[str], dim: int | None = None, *, progress: bool = False
    ) -> np.ndarray | None:
        """Batch form of :meth:`vector` for prompts without caller-supplied embeddings."""
        if self.embeddings is None:
            return None
        matrix = self.embeddings.embed(normalized_prompts, progress=progress)
        if dim is not None and len(matrix) and matrix.shape[1] != dim:
            as_unit_vector(matrix[0], dim)  # raises DimensionMismatchError
        return matrix

    def vectors_that_fit(
        self, texts: Sequence[str], dim: int | None = None, *, progress: bool = False
    ) -> list[np.ndarray | None]:
        """A vector per text, or None for a text the embedder could not read whole
        (never embedded: a truncated embedding matches on the shared beginning)."""
        if self.embeddings is None:
            return [None] * len(texts)
        fits = self.embeddings.fits(texts)
        if self.long_prompts == "error" and not all(fits):
            raise PromptTooLongError(
                "the text to compare exceeds the embedder's window; pass embed_text= (the question) "
                'or use long_prompts="exact"'
            )
        matrix = self.vectors([t for t, ok in zip(texts, fits, strict=True) if ok], dim, progress=progress)
        rows = iter(() if matrix is None else matrix)
        return [next(rows) if ok else None for ok in fits]

    def query(
        self, prompt: str, vector: np.ndarray, *, model: str, scope: str, version: str | None, count_miss: bool = True
    ) -> SemanticQuery:
        return SemanticQuery(
            vector=vector,
            prompt=prompt,
            model=model,
            scope=scope,
            min_similarity=self.threshold if self.rule is None else _min_similarity(self.rule(scope)),
            version=version,
            k=self.candidates,
            accept=combine(self.guards, self.verifier),
            count_miss=count_miss,
        )


def _min_similarity(rule: float | None) -> float:
    return 2.0 if rule is None else rule  # above any cosine similarity: no semantic match
