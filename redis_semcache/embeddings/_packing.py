"""Several texts in one row of tokens, with no padding: the feed of the built-in model's packed export.

A padded batch computes every text at the length of its longest one: Quora
questions average 15.6 tokens, so a batch of 8 of them padded to about 25
wastes a third of the forward pass, and a padded batch cost more CPU per text
than one text at a time.  The packed export (``_export``) instead takes the
texts end to end in one row; each token attends only to tokens of its own text
(``segment_ids``), positions restart at 0 for every text, and the graph
mean-pools each text's tokens (``token_counts``).  So every token computed is a
real one and the weights are read once per row, not once per text: 0.85 / 0.77
/ 0.68 / 0.57x the CPU per text of padded batches of 4 / 8 / 16 / 32, the same
vectors (min cosine 0.9999996), docs/benchmarks.md "Session 8: packed rows".

Attention is over the whole row, so its cost grows with the row's square:
rows of up to ``PACK_TOKENS`` tokens were cheapest (a text longer than that
gets a row of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["PACK_TOKENS", "packed_feed", "rows", "run_rows"]

# Tokens per row: 96-128 cost the least per text, unbounded rows of 32 questions 1.7x more.
PACK_TOKENS = 128


def rows(lengths: Sequence[int], budget: int = PACK_TOKENS) -> list[slice]:
    """Consecutive runs of texts whose lengths add up to at most ``budget`` (a longer text: a run alone)."""
    out: list[slice] = []
    start, total = 0, 0
    for i, length in enumerate(lengths):
        if i > start and total + length > budget:
            out.append(slice(start, i))
            start, total = i, 0
        total += length
    if start < len(lengths):
        out.append(slice(start, len(lengths)))
    return out


def packed_feed(token_ids: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    """The packed export's inputs for these texts' token ids (special tokens included)."""
    lengths = np.fromiter((len(ids) for ids in token_ids), dtype=np.int64, count=len(token_ids))
    starts = np.cumsum(lengths) - lengths
    total = int(lengths.sum())
    return {
        "input_ids": np.fromiter((t for ids in token_ids for t in ids), dtype=np.int64, count=total)[None, :],
        "position_ids": (np.arange(total, dtype=np.int64) - np.repeat(starts, lengths))[None, :],
        "segment_ids": np.repeat(np.arange(len(lengths), dtype=np.int64), lengths),
        "token_counts": lengths.astype(np.float32),
    }


def run_rows(run_row: Callable[[dict[str, np.ndarray]], np.ndarray], token_ids: list[list[int]]) -> np.ndarray:
    """One vector per text, in order: the texts packed in rows, each row's feed through ``run_row``."""
    out = [run_row(packed_feed(token_ids[row])) for row in rows([len(ids) for ids in token_ids])]
    return np.asarray(out[0] if len(out) == 1 else np.concatenate(out), dtype=np.float32)
