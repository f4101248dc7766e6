"""The built-in model's arithmetic: float32 (sentence-transformers' vectors) unless told otherwise.

``"float32"`` runs ONNX Runtime fp32: the vectors equal sentence-transformers'
(min cosine 0.9999996).  ``"bfloat16"`` runs OpenVINO in bfloat16 on a CPU that
computes it natively (AMX, AVX-512 BF16): about half the CPU per text, vectors
within cosine 0.9999 of float32 but not equal (``openvino_runtime``).  Set by
``BuiltinEmbedder(precision=...)`` or $SEMCACHE_EMBEDDING_PRECISION.
"""

from __future__ import annotations

import os

from .._errors import ConfigurationError, InvalidInputError

__all__ = ["DEFAULT_PRECISION", "PRECISIONS", "PRECISION_ENV", "embedding_precision"]

PRECISION_ENV = "SEMCACHE_EMBEDDING_PRECISION"
PRECISIONS = ("float32", "bfloat16")
DEFAULT_PRECISION = "float32"


def embedding_precision(value: str | None = None) -> str:
    """``value`` if given, else $SEMCACHE_EMBEDDING_PRECISION, else float32; one of PRECISIONS."""
    if value is not None:
        if value not in PRECISIONS:
            raise InvalidInputError(f"precision must be one of {', '.join(PRECISIONS)}, got {value!r}")
        return value
    raw = os.environ.get(PRECISION_ENV, "").strip().lower()
    if not raw:
        return DEFAULT_PRECISION
    if raw not in PRECISIONS:
        raise ConfigurationError(f"{PRECISION_ENV} must be one of {', '.join(PRECISIONS)}, got {raw!r}")
    return raw
