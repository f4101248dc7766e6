"""Embedding validation and encoding, shared by every backend."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._errors import DimensionMismatchError, InvalidInputError

__all__ = [
    "SIMILARITY_EPSILON",
    "VECTOR_DTYPES",
    "as_unit_vector",
    "check_threshold",
    "distance_slack",
    "similarity_floor",
    "to_bytes",
]


def as_unit_vector(embedding: Any, dim: int | None = None) -> np.ndarray:
    """Return ``embedding`` as an L2-normalised 1-d float32 array.

    Raises InvalidInputError for non-numeric, non-1-d, non-finite or all-zero
    input, and DimensionMismatchError when ``dim`` is given and differs.
    """
    try:
        vec = np.array(embedding, dtype=np.float64)  # a copy of our own, normalised in place below
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"embedding must be a sequence of numbers: {exc}") from exc
    if vec.ndim != 1 or vec.size == 0:
        raise InvalidInputError(f"embedding must be a non-empty 1-d vector, got shape {vec.shape}")
    if dim is not None and vec.size != dim:
        raise DimensionMismatchError(dim, vec.size)
    norm = math.sqrt(float(vec @ vec))  # NaN or infinite when any component is
    if not math.isfinite(norm):
        raise InvalidInputError("embedding contains NaN or infinite values")
    if norm == 0.0:
        raise InvalidInputError("embedding is all zeros; its direction is undefined")
    vec /= norm
    return vec.astype(np.float32)


def check_threshold(threshold: Any) -> float:
    """Validate a cosine-similarity threshold in (0, 1]."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise InvalidInputError(f"semantic_threshold must be a number, not {type(threshold).__name__}")
    if not 0.0 < float(threshold) <= 1.0:
        raise InvalidInputError(f"semantic_threshold must be in (0, 1], got {threshold}")
    return float(threshold)


# numpy's little-endian type for each RediSearch vector type this library stores.
VECTOR_DTYPES = {"FLOAT32": "<f4", "FLOAT16": "<f2"}


def distance_slack(dtype: str, dim: int) -> float:
    """How far a cosine distance RediSearch computes on ``dim``-dimensional vectors of
    ``dtype`` may stray from the exact one.

    FLOAT16 vectors are rounded, then normalised in FLOAT16 by the server, so a
    distance comes back off by up to about 2.7e-3 / sqrt(dim): measured
    (bench/fp16_error.py), an identical vector came back at up to 5.7e-4 (8-d),
    3.5e-4 (32-d) and 1.4e-4 (384-d) from 0, and 120,000 distances of real 384-d
    embeddings were off by at most 1.3e-4.  The slack, 4e-3 / sqrt(dim), is 1.5 to
    2.5 times those.  A semantic lookup accepts a
    distance up to 1 - threshold + SIMILARITY_EPSILON + slack: everything the exact
    distance accepts is accepted, plus candidates up to 2 x slack below the
    threshold (docs/semantics.md).  FLOAT32 needs none beyond SIMILARITY_EPSILON.
    """
    return 4e-3 / math.sqrt(dim) if dtype == "FLOAT16" else 0.0


# The same as numpy dtypes, parsed once: numpy takes microseconds to parse "<f2" on each call.
_NUMPY_DTYPES = {name: np.dtype(code) for name, code in VECTOR_DTYPES.items()}


def to_bytes(vec: np.ndarray, dtype: str = "FLOAT32") -> bytes:
    """Little-endian bytes of ``dtype`` (FLOAT32 or FLOAT16), as RediSearch vector fields expect."""
    return np.asarray(vec, dtype=_NUMPY_DTYPES[dtype]).tobytes()


# float32 dot products of equal unit vectors can land just under 1.0; without
# this slack a threshold of 1.0 would never match an identical prompt.
SIMILARITY_EPSILON = 1e-6


def similarity_floor(threshold: Any) -> Any:
    """The lowest similarity that matches ``threshold`` (a float, or an array of them):
    ``similarity >= threshold - SIMILARITY_EPSILON``, the rule of every backend and of eval."""
    return threshold - SIMILARITY_EPSILON
