"""From labels to a threshold: the lowest one whose error is bounded by the budget.

For each similarity bin holding labels, from the top down, count the labelled
candidates at or above its lower edge (n) and the wrong ones among them (k).
The rule is the lowest such edge where the one-sided Clopper-Pearson upper
bound on k/n, at ``CONFIDENCE`` (90%), is within the budget; None (exact matches
only) when none is.  90% and not 95%: at 95% the rule needed about twice the
labels above a threshold before serving from it (docs/quality.md measures both).

Change detector: an edge also fails when the most recent labels at or above it
(``LabelCounts.recent``, the last ``labels.RECENT``) are significantly worse than
the budget: their one-sided Clopper-Pearson *lower* bound, at ``DETECTOR_CONFIDENCE``
(95%, whatever the rule's confidence: closing on weak evidence would cost hits
on unchanged traffic), exceeds it.  Old
labels then cannot keep a threshold open that new traffic contradicts; under
unchanged traffic this fires rarely and only ever raises the threshold.

Change test: where the recent labels at or above an edge err significantly more
often than the older ones (one-sided Fisher exact test, ``CHANGE_ALPHA``), the
traffic changed; the old labels no longer describe it and the rule is learned
from the recent labels alone (in practice: exact only until they bound the error).
docs/quality.md states the assumptions and what this guarantees.
"""

from __future__ import annotations

import numpy as np

from .labels import BINS, LabelCounts

__all__ = [
    "CHANGE_ALPHA",
    "CONFIDENCE",
    "DETECTOR_CONFIDENCE",
    "EXACT_ONLY",
    "changed",
    "contradicted",
    "learned_threshold",
    "upper_bounds",
]

EXACT_ONLY = None  # the rule before there is evidence: serve exact matches only
CHANGE_ALPHA = 0.01  # stricter than 5%: it is tested at every edge, on every refresh
CONFIDENCE = 0.90  # of the upper bound that opens a threshold (ErrorBudget's default)
DETECTOR_CONFIDENCE = 0.95  # of the lower bound that closes one: fixed, see the module docstring


def upper_bounds(counts: LabelCounts, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """(labels at or above each bin's edge, Clopper-Pearson upper bound on their error)."""
    from scipy.stats import beta

    n, k = counts.at_or_above()
    with np.errstate(invalid="ignore", divide="ignore"):
        bound = np.where(k >= n, 1.0, beta.ppf(confidence, k + 1, np.maximum(n - k, 1)))
    return n, np.nan_to_num(bound, nan=1.0)


def contradicted(counts: LabelCounts, budget: float, confidence: float = DETECTOR_CONFIDENCE) -> np.ndarray:
    """Per bin edge: whether the recent labels at or above it put the error above ``budget``.

    The one-sided Clopper-Pearson lower bound on their error rate exceeds the
    budget: with ``confidence``, the traffic at that edge now errs more often.
    """
    if counts.recent is None:
        return np.zeros(BINS, dtype=bool)
    from scipy.stats import beta

    n, k = counts.recent.at_or_above()
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = np.where(k > 0, beta.ppf(1.0 - confidence, np.maximum(k, 1), n - k + 1), 0.0)
    return np.nan_to_num(lower, nan=0.0) > budget


def changed(counts: LabelCounts, alpha: float = CHANGE_ALPHA) -> bool:
    """Whether, at some edge, the recent labels err significantly more often than the older ones."""
    if counts.recent is None or counts.recent.total == 0:
        return False
    n, k = counts.at_or_above()
    n_new, k_new = counts.recent.at_or_above()
    # only edges where the recent error rate is above the older one can be a change for the worse
    worse = np.flatnonzero((k_new > 0) & (n > n_new) & (k_new * (n - n_new) > (k - k_new) * n_new))
    if worse.size == 0:
        return False
    from scipy.stats import hypergeom

    # P(at least k_new wrong among the n_new recent | k wrong among all n, drawn at random)
    p = hypergeom.sf(k_new[worse] - 1, n[worse], k[worse], n_new[worse])
    return bool((np.nan_to_num(p, nan=1.0) < alpha).any())


def learned_threshold(counts: LabelCounts, budget: float, confidence: float = CONFIDENCE) -> float | None:
    """The lowest bin edge (holding labels) whose upper error bound is within ``budget``.

    Edges the recent labels contradict are skipped; after a change, only the recent
    labels count.
    """
    if changed(counts):
        counts = LabelCounts(counts.recent.right, counts.recent.wrong, counts.recent)  # type: ignore[union-attr]
    n, bound = upper_bounds(counts, confidence)
    labelled = (counts.right + counts.wrong) > 0
    ok = labelled & (n > 0) & (bound <= budget) & ~contradicted(counts, budget)
    passing = np.flatnonzero(ok)
    if passing.size == 0:
        return EXACT_ONLY
    return float(passing[0]) / BINS
