"""Labels of one in-process cache: per scope, counted by similarity bin."""

from __future__ import annotations

import threading

from ..quality.labels import LabelCounts

__all__ = ["LabelStore"]


class LabelStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all = LabelCounts.empty()
        self._scopes: dict[str, LabelCounts] = {}

    def record(self, scope: str, similarity: float, correct: bool) -> None:
        one = LabelCounts.of([(similarity, correct)])
        with self._lock:
            self._all = self._all + one
            self._scopes[scope] = self._scopes.get(scope, LabelCounts.empty()) + one

    def counts(self, scope: str) -> tuple[LabelCounts, LabelCounts]:
        """(every scope's labels, this scope's labels)."""
        with self._lock:
            return self._all, self._scopes.get(scope, LabelCounts.empty())
