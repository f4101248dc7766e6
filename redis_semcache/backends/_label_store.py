"""Labels of one in-process cache: per scope, counted by similarity bin."""

from __future__ import annotations

import threading
from collections import deque

from ..quality.labels import RECENT, LabelCounts, field_of

__all__ = ["LabelStore"]


class LabelStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all = LabelCounts.empty()
        self._scopes: dict[str, LabelCounts] = {}
        # the newest labels in order, capped as on Redis (the change detector reads them)
        self._recent_all: deque[str] = deque(maxlen=RECENT)
        self._recent: dict[str, deque[str]] = {}

    def record(self, scope: str, similarity: float, correct: bool) -> None:
        one = LabelCounts.of([(similarity, correct)])
        with self._lock:
            self._all = self._all + one
            self._scopes[scope] = self._scopes.get(scope, LabelCounts.empty()) + one
            self._recent_all.append(field_of(similarity, correct))
            self._recent.setdefault(scope, deque(maxlen=RECENT)).append(field_of(similarity, correct))

    def counts(self, scope: str) -> tuple[LabelCounts, LabelCounts]:
        """(every scope's labels, this scope's labels)."""
        with self._lock:
            mine = self._scopes.get(scope, LabelCounts.empty())
            return (
                self._all.with_recent(self._recent_all),
                mine.with_recent(self._recent.get(scope, ())),
            )
