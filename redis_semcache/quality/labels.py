"""Labelled candidates, counted by similarity bin: the evidence an error budget learns from.

A label says whether a candidate (served or not) was a right answer for the
query it was found for.  What the threshold needs from it is only its
similarity and its verdict, so labels are kept as two counts per similarity
bin (``BINS`` bins of width 1/BINS over [0, 1]): small, additive, and on Redis
shared by every instance with one HINCRBY per label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["BINS", "RECENT", "LabelCounts", "bin_of", "field_of", "parse_fields"]

BINS = 200  # bins of 0.005: finer than any threshold anyone tunes by hand
# The last RECENT labels (per scope, and per partition for all scopes) are also kept
# in order, in a capped list: the change detector of rule.py compares them with the
# budget, so a change of traffic closes the budget however many old labels agree.
RECENT = 300


def bin_of(similarity: float) -> int:
    return min(BINS - 1, max(0, int(similarity * BINS + 1e-9)))


def field_of(similarity: float, correct: bool) -> str:
    """The counter one label adds to (a hash field on Redis)."""
    return f"{'ok' if correct else 'bad'}:{bin_of(similarity)}"


def parse_fields(fields: Mapping[str, int | str]) -> LabelCounts:
    """LabelCounts from ``{"ok:<bin>": n, "bad:<bin>": n}``; unknown fields are skipped."""
    right = np.zeros(BINS, dtype=np.int64)
    wrong = np.zeros(BINS, dtype=np.int64)
    for name, value in fields.items():
        kind, _, index = str(name).partition(":")
        if kind in ("ok", "bad") and index.isdigit() and int(index) < BINS:
            (right if kind == "ok" else wrong)[int(index)] += int(value)
    return LabelCounts(right, wrong)


@dataclass(frozen=True)
class LabelCounts:
    """Right and wrong labels per similarity bin."""

    right: np.ndarray
    wrong: np.ndarray
    recent: LabelCounts | None = None  # the newest labels among these (None: not tracked)

    @classmethod
    def empty(cls) -> LabelCounts:
        return cls(np.zeros(BINS, dtype=np.int64), np.zeros(BINS, dtype=np.int64))

    @classmethod
    def of(cls, labels: Iterable[tuple[float, bool]]) -> LabelCounts:
        counts = cls.empty()
        for similarity, correct in labels:
            (counts.right if correct else counts.wrong)[bin_of(similarity)] += 1
        return counts

    @property
    def total(self) -> int:
        return int(self.right.sum() + self.wrong.sum())

    def with_recent(self, fields: Iterable[str]) -> LabelCounts:
        """These counts, with the newest labels given as their fields (``ok:<bin>``...)."""
        return LabelCounts(self.right, self.wrong, parse_fields(_tally(fields)))

    def __add__(self, other: LabelCounts) -> LabelCounts:
        if self.recent is None and other.recent is None:
            recent = None
        else:
            recent = (self.recent or LabelCounts.empty()) + (other.recent or LabelCounts.empty())
        return LabelCounts(self.right + other.right, self.wrong + other.wrong, recent)

    def at_or_above(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels, wrong labels) with similarity >= each bin's lower edge."""
        wrong = np.cumsum(self.wrong[::-1])[::-1]
        return np.cumsum(self.right[::-1])[::-1] + wrong, wrong


def _tally(fields: Iterable[str]) -> dict[str, int]:
    tally: dict[str, int] = {}
    for name in fields:
        tally[name] = tally.get(name, 0) + 1
    return tally
