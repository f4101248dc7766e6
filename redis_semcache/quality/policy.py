"""ErrorBudget: the acceptance rule a cache learns from its labels.

The rule of a scope is learned from that scope's labels once it has
``min_scope_labels`` of them, from every scope's labels together before that.
Rules are recomputed from the shared label counts at most every
``refresh_seconds`` per scope (one round trip on Redis), so a lookup usually
pays nothing for them; a label given here counts at once.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .._errors import InvalidInputError
from .labels import LabelCounts, field_of
from .rule import CONFIDENCE, EXACT_ONLY, learned_threshold

__all__ = ["ErrorBudget", "check_budget"]


def check_budget(value: object, name: str = "error_budget") -> float:
    """A share of wrong answers: a number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) < 1.0:
        raise InvalidInputError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


@dataclass
class _Known:
    counts: LabelCounts
    fetched_at: float


class ErrorBudget:
    """Learned thresholds keeping the served error within ``budget`` (see docs/quality.md)."""

    def __init__(
        self,
        budget: float,
        *,
        confidence: float = CONFIDENCE,
        min_scope_labels: int = 200,
        refresh_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget = check_budget(budget)
        self.confidence = check_budget(confidence, "confidence")
        if isinstance(min_scope_labels, bool) or not isinstance(min_scope_labels, int) or min_scope_labels < 1:
            raise InvalidInputError(f"min_scope_labels must be a positive int, got {min_scope_labels!r}")
        self.min_scope_labels = min_scope_labels
        self.refresh_seconds = float(refresh_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._global: _Known | None = None
        self._scopes: dict[str, _Known] = {}
        self._rules: dict[str, float | None] = {}

    def stale(self, scope: str) -> bool:
        """Whether the label counts of ``scope`` should be read again."""
        with self._lock:
            known = self._scopes.get(scope)
            return known is None or self._clock() - known.fetched_at >= self.refresh_seconds

    def update(self, scope: str, global_counts: LabelCounts, scope_counts: LabelCounts) -> None:
        """Take freshly read label counts (all scopes', and this scope's)."""
        now = self._clock()
        with self._lock:
            self._global = _Known(global_counts, now)
            self._scopes[scope] = _Known(scope_counts, now)
            self._rules.clear()  # the global counts changed: every scope's rule may have

    def add(self, scope: str, similarity: float, correct: bool) -> None:
        """Count a label given by this process before the next refresh shows it."""
        # counted among the recent labels too: the change detector sees it at once
        one = LabelCounts.of([(similarity, correct)]).with_recent([field_of(similarity, correct)])
        with self._lock:
            self._global = self._plus(self._global, one)
            self._scopes[scope] = self._plus(self._scopes.get(scope), one)
            self._rules.clear()

    @staticmethod
    def _plus(known: _Known | None, one: LabelCounts) -> _Known:
        if known is None:  # never read: stays stale, so the next lookup reads the shared counts
            return _Known(one, -math.inf)
        return _Known(known.counts + one, known.fetched_at)

    def threshold_for(self, scope: str) -> float | None:
        """The similarity a semantic candidate in ``scope`` needs, or None: exact matches only."""
        with self._lock:
            if scope in self._rules:
                return self._rules[scope]
            known = self._scopes.get(scope)
            if known is not None and known.counts.total >= self.min_scope_labels:
                counts: LabelCounts | None = known.counts
            else:
                counts = None if self._global is None else self._global.counts
            rule = EXACT_ONLY if counts is None else learned_threshold(counts, self.budget, self.confidence)
            self._rules[scope] = rule
            return rule
