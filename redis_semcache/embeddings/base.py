"""The embedder protocol and the checks applied to every embedder's output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .._errors import EmbeddingError

__all__ = ["Embedder", "check_embedder_output", "embedder_id"]


@runtime_checkable
class Embedder(Protocol):
    """Anything callable as ``embedder(texts) -> array of shape (len(texts), d)``.

    Plain functions qualify.  Optional attributes, used when present:
    ``embedder_id`` (str) names the model, so that embedding caches can tell two
    embedders apart; ``batch_size`` (int) is how many texts one call may take
    (default 64); ``warmup()`` prepares the embedder ahead of the first call;
    ``max_tokens`` (int) is the model's window and ``count_tokens(texts)`` the
    number of tokens each text takes in it (special tokens included): with both,
    a text longer than the window is never embedded (a truncated embedding would
    match on its first tokens only; see ``long_prompts`` in docs/semantics.md).
    ``fits(texts)`` (list of bools), when present, answers that question
    directly and may read less of a long text than counting its tokens would.
    """

    def __call__(self, texts: list[str], /) -> Any: ...


def embedder_id(embedder: object) -> str:
    """A stable name for cache keys: the embedder's own id, else its type and identity."""
    name = getattr(embedder, "embedder_id", None)
    if isinstance(name, str) and name:
        return name
    return f"{type(embedder).__module__}.{type(embedder).__qualname__}@{id(embedder):x}"


def check_embedder_output(raw: Any, texts: Sequence[str], dim: int | None) -> np.ndarray:
    """Validate an embedder's output and return it L2-normalised as float32 (n, d).

    Raises EmbeddingError for the wrong shape, non-finite or all-zero rows, or
    a dimension other than ``dim`` (the one discovered on first use).
    """
    try:
        matrix = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise EmbeddingError(f"embedder returned something that is not a numeric array: {exc}") from exc
    if matrix.ndim != 2 or matrix.shape[0] != len(texts) or matrix.shape[1] == 0:
        raise EmbeddingError(f"embedder must return shape ({len(texts)}, d) for {len(texts)} texts, got {matrix.shape}")
    if dim is not None and matrix.shape[1] != dim:
        raise EmbeddingError(f"embedder changed dimension: returned {matrix.shape[1]}, earlier {dim}")
    if not np.all(np.isfinite(matrix)):
        raise EmbeddingError("embedder returned NaN or infinite values")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if np.any(norms == 0.0):
        raise EmbeddingError("embedder returned an all-zero vector")
    return (matrix / norms).astype(np.float32)
