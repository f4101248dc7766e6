"""default_equivalent: whether two responses say the same thing (get_or_compute's labels).

An explored ``get_or_compute`` compares the candidate's cached response with the
one it just computed.  Two right LLM answers to paraphrased questions are almost
never byte-equal, so ``==`` would label every explored hit wrong and an error
budget would never open.  This compares meaning instead: equal text (up to case
and spacing) is equal; otherwise both texts are embedded by the built-in model
and compared at ``ANSWER_THRESHOLD``, a cosine measured on answer pairs
(``bench/answer_equivalence.py``, docs/quality.md), and texts whose numbers
differ are different (embeddings blur "3 days" and "5 days").  Responses that
are not strings are compared with ``==``.  An LLM judge can be passed instead
as ``equivalent=``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ANSWER_THRESHOLD", "answer_similarity", "default_equivalent"]

# The lowest cosine (built-in model) at which two answers count as the same: see
# bench/answer_equivalence.py for the pairs it was measured on and its error rates.
ANSWER_THRESHOLD = 0.85


def _plain(text: str) -> str:
    return " ".join(text.split()).casefold()


def answer_similarity(a: str, b: str, embedder: Any = None) -> float:
    """Cosine of ``a`` and ``b`` embedded by ``embedder`` (default: the built-in model)."""
    if embedder is None:
        from ..embeddings.sentence_transformer import default_embedder

        embedder = default_embedder()
    vectors = np.asarray(embedder([a, b]), dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    if not np.all(norms > 0):
        return 0.0
    return float(vectors[0] @ vectors[1] / (norms[0] * norms[1]))


def default_equivalent(a: Any, b: Any) -> bool:
    """True when responses ``a`` and ``b`` mean the same (see the module docstring)."""
    if a == b:
        return True
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    if _plain(a) == _plain(b):
        return True
    if not a.strip() or not b.strip():
        return False
    from ..guards import numbers_agree  # lazily: guards imports the backends, which import this package

    if not numbers_agree(a, b, 1.0):
        return False
    return answer_similarity(a, b) >= ANSWER_THRESHOLD
