"""A min-heap of keys whose priorities can change, with lazy deletion.

Updating a key pushes a new item and remembers its stamp; stale items are
skipped when popped.  The heap is rebuilt when stale items outnumber live ones,
so memory stays proportional to the number of keys.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any


class LazyHeap:
    def __init__(self) -> None:
        self._heap: list[tuple[Any, int, str]] = []
        self._stamp: dict[str, int] = {}
        self._counter = itertools.count()

    def __len__(self) -> int:
        return len(self._stamp)

    def push(self, key: str, priority: Any) -> None:
        """Set ``key``'s priority (insert or update)."""
        stamp = next(self._counter)
        self._stamp[key] = stamp
        heapq.heappush(self._heap, (priority, stamp, key))
        if len(self._heap) > 2 * len(self._stamp) + 64:
            self._compact()

    def discard(self, key: str) -> None:
        self._stamp.pop(key, None)

    def peek(self) -> tuple[Any, str] | None:
        """The (priority, key) with the lowest priority, or None when empty."""
        while self._heap:
            priority, stamp, key = self._heap[0]
            if self._stamp.get(key) == stamp:
                return priority, key
            heapq.heappop(self._heap)
        return None

    def clear(self) -> None:
        self._heap.clear()
        self._stamp.clear()

    def _compact(self) -> None:
        self._heap = [item for item in self._heap if self._stamp.get(item[2]) == item[1]]
        heapq.heapify(self._heap)
