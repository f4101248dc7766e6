"""From labels to a threshold: the lowest one whose error is bounded by the budget.

For each similarity bin holding labels, from the top down, count the labelled
candidates at or above its lower edge (n) and the wrong ones among them (k).
The rule is the lowest such edge where the one-sided Clopper-Pearson upper
bound on k/n is within the budget; None (exact matches only) when none is.
docs/quality.md states the assumptions and what this guarantees.
"""

from __future__ import annotations

import numpy as np

from .labels import BINS, LabelCounts

__all__ = ["EXACT_ONLY", "learned_threshold", "upper_bounds"]

EXACT_ONLY = None  # the rule before there is evidence: serve exact matches only


def upper_bounds(counts: LabelCounts, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """(labels at or above each bin's edge, Clopper-Pearson upper bound on their error)."""
    from scipy.stats import beta

    n, k = counts.at_or_above()
    with np.errstate(invalid="ignore", divide="ignore"):
        bound = np.where(k >= n, 1.0, beta.ppf(confidence, k + 1, np.maximum(n - k, 1)))
    return n, np.nan_to_num(bound, nan=1.0)


def learned_threshold(counts: LabelCounts, budget: float, confidence: float = 0.95) -> float | None:
    """The lowest bin edge (holding labels) whose upper error bound is within ``budget``."""
    n, bound = upper_bounds(counts, confidence)
    labelled = (counts.right + counts.wrong) > 0
    passing = np.flatnonzero(labelled & (n > 0) & (bound <= budget))
    if passing.size == 0:
        return EXACT_ONLY
    return float(passing[0]) / BINS
