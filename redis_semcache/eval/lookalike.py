"""A lookalike stream: traffic on which near-duplicate-looking prompts are mostly different.

Built from a pairs file's own hard negatives: every non-duplicate pair whose two
prompts score at least ``min_similarity`` (0.88) with the embedder, plus a
minority of duplicate pairs above the same similarity (``duplicate_share`` of
the stream), shuffled.  Each pair's first prompt is stored and its second is
looked up, as in :func:`.online.online_replay`.  A cache whose rule was learned
on friendlier traffic (``prior_labels``: a warm start) must be driven back
within its budget by the wrong labels this stream produces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pairs import PairSet

__all__ = ["Lookalikes", "lookalike_stream"]


@dataclass(frozen=True)
class Lookalikes:
    pairs: PairSet
    first: np.ndarray
    second: np.ndarray
    source_index: np.ndarray  # each stream pair's index in the original file


def lookalike_stream(
    pairs: PairSet,
    first: np.ndarray,
    second: np.ndarray,
    *,
    min_similarity: float = 0.88,
    duplicate_share: float = 0.25,
    seed: int = 0,
) -> Lookalikes:
    """The non-duplicates at or above ``min_similarity`` and a ``duplicate_share`` of duplicates."""
    similarity = np.einsum("ij,ij->i", first, second)
    close = similarity >= min_similarity
    duplicate = np.asarray(pairs.duplicate, dtype=bool)
    lookalikes = np.flatnonzero(close & ~duplicate)
    rng = np.random.default_rng(seed)
    wanted = round(len(lookalikes) * duplicate_share / (1.0 - duplicate_share))
    duplicates = np.flatnonzero(close & duplicate)
    chosen = rng.choice(duplicates, size=min(wanted, len(duplicates)), replace=False)
    order = rng.permutation(np.concatenate([lookalikes, chosen]))
    subset = PairSet(
        tuple(pairs.first[i] for i in order),
        tuple(pairs.second[i] for i in order),
        duplicate[order],
        f"{pairs.source} (lookalikes >= {min_similarity})",
    )
    return Lookalikes(subset, first[order], second[order], order)
