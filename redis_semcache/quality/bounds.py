"""One-sided confidence bounds on an error rate from labelled hits."""

from __future__ import annotations

__all__ = ["clopper_pearson_upper"]


def clopper_pearson_upper(wrong: int, labelled: int, confidence: float = 0.95) -> float:
    """The exact (Clopper-Pearson) one-sided upper bound on a binomial proportion.

    With ``wrong`` failures in ``labelled`` independent trials, the true rate is
    below the returned value with probability at least ``confidence``.  No labels
    bound nothing: 1.0.
    """
    if labelled < 0 or not 0 <= wrong <= labelled:
        raise ValueError(f"need 0 <= wrong <= labelled, got wrong={wrong}, labelled={labelled}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if wrong == labelled:
        return 1.0
    from scipy.stats import beta  # imported on first need: the package import stays cheap

    return float(beta.ppf(confidence, wrong + 1, labelled - wrong))
