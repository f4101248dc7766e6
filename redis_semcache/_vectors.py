"""Embedding validation and encoding, shared by every backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._errors import DimensionMismatchError, InvalidInputError

__all__ = ["SIMILARITY_EPSILON", "as_unit_vector", "check_threshold", "similarity_floor", "to_bytes"]


def as_unit_vector(embedding: Any, dim: int | None = None) -> np.ndarray:
    """Return ``embedding`` as an L2-normalised 1-d float32 array.

    Raises InvalidInputError for non-numeric, non-1-d, non-finite or all-zero
    input, and DimensionMismatchError when ``dim`` is given and differs.
    """
    try:
        vec = np.asarray(embedding, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"embedding must be a sequence of numbers: {exc}") from exc
    if vec.ndim != 1 or vec.size == 0:
        raise InvalidInputError(f"embedding must be a non-empty 1-d vector, got shape {vec.shape}")
    if dim is not None and vec.size != dim:
        raise DimensionMismatchError(dim, vec.size)
    if not np.all(np.isfinite(vec)):
        raise InvalidInputError("embedding contains NaN or infinite values")
    norm = float(np.linalg.norm(vec))
    if norm == 0.0:
        raise InvalidInputError("embedding is all zeros; its direction is undefined")
    return (vec / norm).astype(np.float32)


def check_threshold(threshold: Any) -> float:
    """Validate a cosine-similarity threshold in (0, 1]."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise InvalidInputError(f"semantic_threshold must be a number, not {type(threshold).__name__}")
    if not 0.0 < float(threshold) <= 1.0:
        raise InvalidInputError(f"semantic_threshold must be in (0, 1], got {threshold}")
    return float(threshold)


def to_bytes(vec: np.ndarray) -> bytes:
    """FLOAT32 little-endian bytes, as RediSearch vector fields expect."""
    return np.asarray(vec, dtype="<f4").tobytes()


# float32 dot products of equal unit vectors can land just under 1.0; without
# this slack a threshold of 1.0 would never match an identical prompt.
SIMILARITY_EPSILON = 1e-6


def similarity_floor(threshold: Any) -> Any:
    """The lowest similarity that matches ``threshold`` (a float, or an array of them):
    ``similarity >= threshold - SIMILARITY_EPSILON``, the rule of every backend and of eval."""
    return threshold - SIMILARITY_EPSILON
