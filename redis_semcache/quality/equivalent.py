"""default_equivalent: whether two responses say the same thing (get_or_compute's labels).

An explored ``get_or_compute`` compares the candidate's cached response with the
one it just computed.  Two right LLM answers to paraphrased questions are almost
never byte-equal, so ``==`` would label every explored hit wrong and an error
budget would never open.  This compares meaning instead: equal text (up to case
and spacing) is equal; otherwise both texts are embedded by the built-in model
and compared at ``ANSWER_THRESHOLD``, a cosine measured on answer pairs
(``bench/answer_equivalence.py``, docs/quality.md), and texts whose numbers
contradict are different (embeddings blur "3 days" and "5 days").  Responses that
are not strings are compared with ``==``.  An LLM judge can be passed instead
as ``equivalent=``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "ANSWER_THRESHOLD", "answer_similarity", "cosine", "default_equivalent", "embed_answers", "numbers_contradict",
    "same_answer", "settled",
]  # fmt: skip

# The lowest cosine (built-in model) at which two answers count as the same: see
# bench/answer_equivalence.py for the pairs it was measured on and its error rates.
ANSWER_THRESHOLD = 0.78


def _plain(text: str) -> str:
    return " ".join(text.split()).casefold()


def embed_answers(texts: list[str]) -> Any:
    """``texts`` embedded by the built-in model, loaded here on first use: an async caller
    runs this whole call in a thread (quality_plans.same_plan), the model's load included."""
    from ..embeddings.builtin import default_embedder

    return default_embedder()(texts)


def cosine(vectors: Any) -> float:
    """Cosine of the two rows of ``vectors`` (0.0 when one is all zeros)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    if not np.all(norms > 0):
        return 0.0
    return float(vectors[0] @ vectors[1] / (norms[0] * norms[1]))


def answer_similarity(a: str, b: str, embedder: Any = None) -> float:
    """Cosine of ``a`` and ``b`` embedded by ``embedder`` (default: the built-in model)."""
    return cosine((embed_answers if embedder is None else embedder)([a, b]))


def numbers_contradict(a: str, b: str) -> bool:
    """Both texts give numbers and neither's are among the other's ("42" / "24"; but "366
    days" / "366 days, February 29th" agree: one only adds a number)."""
    from ..guards import numbers_in  # lazily: guards imports the backends, which import this package

    x, y = numbers_in(a), numbers_in(b)
    return bool(x) and bool(y) and not (x <= y or y <= x)


def settled(a: Any, b: Any) -> bool | None:
    """The rule of :func:`default_equivalent` where it needs no model; None where only the
    two texts' similarity can tell."""
    if a == b:
        return True
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    if _plain(a) == _plain(b):
        return True
    if not a.strip() or not b.strip() or numbers_contradict(a, b):
        return False
    return None


def same_answer(a: Any, b: Any, threshold: float, similarity: Callable[[str, str], float]) -> bool:
    """The rule of :func:`default_equivalent`, at ``threshold``, with ``similarity(a, b)``."""
    verdict = settled(a, b)
    return verdict if verdict is not None else similarity(a, b) >= threshold


def default_equivalent(a: Any, b: Any) -> bool:
    """True when responses ``a`` and ``b`` mean the same (see the module docstring)."""
    return same_answer(a, b, ANSWER_THRESHOLD, answer_similarity)
