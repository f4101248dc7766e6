"""Hit-quality arithmetic: pure functions over similarities, labels and lookups.

Nothing here embeds, stores or looks anything up; :mod:`.replay` produces the
per-query lookup results and these functions count them.

Replay outcome of one query at threshold ``t``, given the candidate the cache
returned at the sweep's lowest threshold (``found``, -1 for none) and its
cosine ``similarity``:

* **miss**: nothing came back, or its similarity is below ``t``;
* **right hit**: the pair is a duplicate and its own first prompt came back;
* **wrong hit**: anything else came back (a non-duplicate pair hit, or a
  duplicate pair hit another pair's entry).

Deriving every threshold from one lookup is exact because candidates are
tried best first: the cache returns the most similar *accepted* candidate, and
at a higher threshold it returns that same candidate if its similarity clears
the threshold, and nothing otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .._errors import InvalidInputError
from .._vectors import similarity_floor

__all__ = [
    "EqualRightHits",
    "PairwisePoint",
    "ReplayPoint",
    "equal_right_hits",
    "pairwise_curve",
    "parse_thresholds",
    "recommend",
    "replay_curve",
    "replay_point",
]


def parse_thresholds(spec: str) -> tuple[float, ...]:
    """``"0.70:0.99:0.01"`` (start:stop:step, stop included) or ``"0.8,0.85,0.9"``.

    Values are rounded to 6 decimals so a float step never yields 0.8200000001.
    """
    text = spec.strip()
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) != 3:
                raise ValueError("expected start:stop:step")
            start, stop, step = parts
            if step <= 0 or stop < start:
                raise ValueError("need step > 0 and stop >= start")
            count = math.floor((stop - start) / step + 1e-9) + 1
            values = [round(start + i * step, 6) for i in range(count)]
        else:
            values = [round(float(p), 6) for p in text.split(",") if p.strip()]
    except ValueError as exc:
        raise InvalidInputError(f"bad thresholds {spec!r}: {exc}") from exc
    if not values:
        raise InvalidInputError(f"bad thresholds {spec!r}: no values")
    for v in values:
        if not 0.0 < v <= 1.0:
            raise InvalidInputError(f"bad thresholds {spec!r}: {v} is outside (0, 1]")
    return tuple(sorted(set(values)))


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _at_least(similarity: np.ndarray, threshold: float) -> np.ndarray:
    return similarity >= similarity_floor(threshold)  # the backends' comparison


@dataclass(frozen=True)
class PairwisePoint:
    """Pairs predicted "same meaning" (similar enough and accepted) at one threshold."""

    threshold: float
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int

    @property
    def precision(self) -> float | None:
        return _ratio(self.true_positives, self.true_positives + self.false_positives)

    @property
    def recall(self) -> float | None:
        return _ratio(self.true_positives, self.true_positives + self.false_negatives)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall}


def pairwise_curve(
    similarity: np.ndarray,
    duplicate: np.ndarray,
    thresholds: Sequence[float],
    accepted: np.ndarray | None = None,
) -> list[PairwisePoint]:
    """Precision and recall of "similarity >= t (and accepted)" as a duplicate detector."""
    sim = np.asarray(similarity, dtype=np.float64)
    dup = np.asarray(duplicate, dtype=bool)
    ok = np.ones_like(dup) if accepted is None else np.asarray(accepted, dtype=bool)
    points = []
    for t in thresholds:
        predicted = _at_least(sim, t) & ok
        tp = int(np.sum(predicted & dup))
        fp = int(np.sum(predicted & ~dup))
        fn = int(np.sum(dup)) - tp
        points.append(PairwisePoint(float(t), tp, fp, fn, len(dup) - tp - fp - fn))
    return points


@dataclass(frozen=True)
class ReplayPoint:
    """Outcome of looking up every second prompt at one threshold."""

    threshold: float
    queries: int
    duplicates: int
    right: int
    wrong_non_duplicate: int  # a non-duplicate pair got a hit
    wrong_entry: int  # a duplicate pair got another pair's entry

    @property
    def wrong(self) -> int:
        return self.wrong_non_duplicate + self.wrong_entry

    @property
    def miss(self) -> int:
        return self.queries - self.right - self.wrong

    @property
    def precision(self) -> float | None:
        """Share of served hits that were right."""
        return _ratio(self.right, self.right + self.wrong)

    @property
    def hit_rate(self) -> float:
        return (self.right + self.wrong) / self.queries if self.queries else 0.0

    @property
    def recall(self) -> float | None:
        """Share of duplicate pairs that got their own entry back."""
        return _ratio(self.right, self.duplicates)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "wrong": self.wrong,
            "miss": self.miss,
            "precision": self.precision,
            "hit_rate": self.hit_rate,
            "recall": self.recall,
        }


def found_at(found: np.ndarray, similarity: np.ndarray, threshold: float) -> np.ndarray:
    """Per query, the entry returned at ``threshold`` (-1 for a miss), from a lower-threshold lookup."""
    f = np.asarray(found)
    return np.where((f >= 0) & _at_least(np.nan_to_num(similarity, nan=-2.0), threshold), f, -1)


def replay_point(
    found: np.ndarray, similarity: np.ndarray, own: np.ndarray, duplicate: np.ndarray, threshold: float
) -> ReplayPoint:
    """Count right and wrong hits and misses at ``threshold`` (see the module docstring)."""
    got = found_at(found, similarity, threshold)
    dup = np.asarray(duplicate, dtype=bool)
    hit = got >= 0
    right = hit & dup & (got == np.asarray(own))
    return ReplayPoint(
        threshold=float(threshold),
        queries=len(got),
        duplicates=int(dup.sum()),
        right=int(right.sum()),
        wrong_non_duplicate=int(np.sum(hit & ~dup)),
        wrong_entry=int(np.sum(hit & dup & ~right)),
    )


def replay_curve(
    found: np.ndarray, similarity: np.ndarray, own: np.ndarray, duplicate: np.ndarray, thresholds: Sequence[float]
) -> list[ReplayPoint]:
    return [replay_point(found, similarity, own, duplicate, t) for t in thresholds]


@dataclass(frozen=True)
class EqualRightHits:
    """A guarded replay point against the raw threshold that serves as many right hits."""

    threshold: float
    right: int
    wrong: int
    raw_threshold: float | None  # None when no raw threshold reaches ``right``
    raw_right: int
    raw_wrong: int

    @property
    def wrong_cut(self) -> float | None:
        """Fraction of the raw threshold's wrong hits that the guards avoid (0.3 = 30% fewer)."""
        if self.raw_threshold is None or self.raw_wrong == 0:
            return None
        return 1.0 - self.wrong / self.raw_wrong

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "wrong_cut": self.wrong_cut}


def equal_right_hits(
    guarded: ReplayPoint, raw_found: np.ndarray, raw_similarity: np.ndarray, own: np.ndarray, duplicate: np.ndarray
) -> EqualRightHits:
    """Find the highest raw threshold with at least ``guarded.right`` right hits.

    The raw lookups (no guards) give each query its best candidate; right hits
    at threshold t are the right candidates with similarity >= t, so the
    threshold is the ``right``-th highest similarity among them.
    """
    found = np.asarray(raw_found)
    sim = np.asarray(raw_similarity, dtype=np.float64)
    dup = np.asarray(duplicate, dtype=bool)
    is_right = (found >= 0) & dup & (found == np.asarray(own))
    right_sims = np.sort(sim[is_right])[::-1]
    if guarded.right == 0 or guarded.right > len(right_sims):
        return EqualRightHits(guarded.threshold, guarded.right, guarded.wrong, None, 0, 0)
    t = float(right_sims[guarded.right - 1])
    is_wrong = (found >= 0) & ~is_right
    return EqualRightHits(
        threshold=guarded.threshold,
        right=guarded.right,
        wrong=guarded.wrong,
        raw_threshold=t,
        raw_right=int(np.sum(is_right & (sim >= t))),
        raw_wrong=int(np.sum(is_wrong & (sim >= t))),
    )


def recommend(points: Sequence[Any], target_precision: float) -> Any | None:
    """The lowest threshold from which precision stays >= target up to the best threshold.

    ``points`` are PairwisePoint or ReplayPoint.  The best threshold is the
    highest one with the highest precision; above it raising the threshold only
    loses hits (in a replay, exact repeats of stored prompts hit at every
    threshold, so precision falls again at the top), so those points are not
    consulted.  Below it, a dip under the target disqualifies every lower
    threshold.  Points with no hits (precision undefined) are skipped.
    Returns None when even the best precision falls short.
    """
    if not 0.0 < target_precision <= 1.0:
        raise InvalidInputError(f"target precision must be in (0, 1], got {target_precision}")
    scored = sorted((p for p in points if p.precision is not None), key=lambda p: p.threshold)
    if not scored:
        return None
    peak = max(range(len(scored)), key=lambda i: (scored[i].precision, i))
    best = None
    for point in reversed(scored[: peak + 1]):
        if point.precision < target_precision:
            break
        best = point
    return best


def served_counts(point: Any) -> tuple[int, int]:
    """(wrong, served) hits of a ReplayPoint or PairwisePoint."""
    if isinstance(point, ReplayPoint):
        return point.wrong, point.right + point.wrong
    return point.false_positives, point.true_positives + point.false_positives


def recommend_bounded(points: Sequence[Any], max_error: float, confidence: float = 0.95) -> Any | None:
    """The lowest threshold whose one-sided Clopper-Pearson upper bound (at ``confidence``)
    on the error among served hits is within ``max_error``; None when none is."""
    from ..quality.bounds import clopper_pearson_upper

    if not 0.0 < max_error < 1.0:
        raise InvalidInputError(f"max error must be in (0, 1), got {max_error}")
    for point in sorted(points, key=lambda p: p.threshold):
        wrong, served = served_counts(point)
        if served and clopper_pearson_upper(wrong, served, confidence) <= max_error:
            return point
    return None
