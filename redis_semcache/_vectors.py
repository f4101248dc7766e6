"""Embedding validation and encoding, shared by every backend."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._errors import DimensionMismatchError, EmbeddingCountError, InvalidInputError

__all__ = [
    "SIMILARITY_EPSILON",
    "VECTOR_DTYPES",
    "as_unit_vector",
    "check_threshold",
    "distance_slack",
    "similarity_floor",
    "to_bytes",
    "unit_rows",
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


def unit_rows(embeddings: Any, count: int, dim: int | None = None) -> np.ndarray:
    """``count`` vectors (a 2-d array or a sequence of sequences) as L2-normalised float32 rows.

    All of them are checked before any is used, so a caller can refuse a batch
    whole: EmbeddingCountError for another count, DimensionMismatchError for
    another length than ``dim`` (or ragged rows), InvalidInputError for
    non-numeric, non-finite or all-zero rows (naming the first bad row).
    """
    try:
        got = len(embeddings)
    except TypeError as exc:
        raise InvalidInputError(f"embeddings must be a sequence of vectors: {exc}") from exc
    if got != count:
        raise EmbeddingCountError(count, got)
    if count == 0:
        return np.zeros((0, dim or 0), dtype=np.float32)
    try:
        matrix = np.array(embeddings, dtype=np.float64)  # our own copy, normalised in place
    except (TypeError, ValueError) as exc:  # ragged rows (lengths differ) land here too
        lengths = {len(row) for row in embeddings if hasattr(row, "__len__")}
        if dim is not None and lengths - {dim}:
            raise DimensionMismatchError(dim, next(iter(sorted(lengths - {dim})))) from exc
        raise InvalidInputError(f"embeddings must be equal-length sequences of numbers: {exc}") from exc
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise InvalidInputError(f"embeddings must be one non-empty 1-d vector per item, got shape {matrix.shape}")
    if dim is not None and matrix.shape[1] != dim:
        raise DimensionMismatchError(dim, matrix.shape[1])
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))  # NaN or infinite where a component is
    bad = np.flatnonzero(~np.isfinite(norms) | (norms == 0.0))
    if bad.size:
        i = int(bad[0])
        why = "is all zeros" if norms[i] == 0.0 else "contains NaN or infinite values"
        raise InvalidInputError(f"embeddings[{i}] {why}")
    matrix /= norms[:, None]
    return matrix.astype(np.float32)


def check_threshold(threshold: Any) -> float:
    """Validate a cosine-similarity threshold in (0, 1]."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise InvalidInputError(f"semantic_threshold must be a number, not {type(threshold).__name__}")
    if not 0.0 < float(threshold) <= 1.0:
        raise InvalidInputError(f"semantic_threshold must be in (0, 1], got {threshold}")
    return float(threshold)


# numpy's little-endian type for each RediSearch vector type this library stores
# (numpy has no bfloat16: BFLOAT16 is the top half of a float32's bits, as uint16).
VECTOR_DTYPES = {"FLOAT32": "<f4", "FLOAT16": "<f2", "BFLOAT16": "<u2"}


def distance_slack(dtype: str, dim: int) -> float:
    """How far a cosine distance RediSearch computes on ``dim``-dimensional vectors of
    ``dtype`` may stray from the exact one.

    FLOAT16 and BFLOAT16 vectors are rounded, then normalised in their own type
    by the server, so a distance comes back off by up to about c / sqrt(dim).
    Measured (bench/fp16_error.py, bench/results/fp16_error*.json): FLOAT16 gave
    an identical vector back at up to 5.7e-4 (8-d), 3.5e-4 (32-d) and 1.4e-4
    (384-d) from 0, and 120,000 distances of real 384-d embeddings were off by
    at most 1.3e-4: slack 4e-3 / sqrt(dim), 1.5 to 2.5 times those.  BFLOAT16
    keeps 8 significant bits to FLOAT16's 11, and its errors are about 6-9 times
    larger: up to 4.8e-3 (8-d), 3.1e-3 (32-d) and 7.8e-4 (384-d) for an
    identical vector, 7.7e-4 on 40,000 distances of real pairs: slack
    3.2e-2 / sqrt(dim), 1.8 to 2.3 times those.  A semantic lookup accepts a distance up to
    1 - threshold + SIMILARITY_EPSILON + slack: everything the exact distance
    accepts is accepted, plus candidates up to 2 x slack below the threshold
    (docs/semantics.md).  FLOAT32 needs none beyond SIMILARITY_EPSILON.
    """
    return _SLACK.get(dtype, 0.0) / math.sqrt(dim)


_SLACK = {"FLOAT16": 4e-3, "BFLOAT16": 3.2e-2}  # c of c / sqrt(dim), per reduced type

# The same as numpy dtypes, parsed once: numpy takes microseconds to parse "<f2" on each call.
_NUMPY_DTYPES = {name: np.dtype(code) for name, code in VECTOR_DTYPES.items()}


def to_bytes(vec: np.ndarray, dtype: str = "FLOAT32") -> bytes:
    """Little-endian bytes of ``dtype`` (FLOAT32, FLOAT16 or BFLOAT16), as RediSearch vector fields expect."""
    if dtype == "BFLOAT16":
        return _bfloat16(vec).tobytes()
    return np.asarray(vec, dtype=_NUMPY_DTYPES[dtype]).tobytes()


def _bfloat16(vec: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits, rounded to nearest even (finite unit vectors only: no NaN care needed)."""
    bits = np.asarray(vec, dtype="<f4").view("<u4")
    return ((bits + (0x7FFF + ((bits >> 16) & 1))) >> 16).astype("<u2")


# float32 dot products of equal unit vectors can land just under 1.0; without
# this slack a threshold of 1.0 would never match an identical prompt.
SIMILARITY_EPSILON = 1e-6


def similarity_floor(threshold: Any) -> Any:
    """The lowest similarity that matches ``threshold`` (a float, or an array of them):
    ``similarity >= threshold - SIMILARITY_EPSILON``, the rule of every backend and of eval."""
    return threshold - SIMILARITY_EPSILON
