"""Exact cosine search over unit vectors, one contiguous float32 matrix per scope.

Rows are appended into a matrix that grows by doubling, so adding is amortised
O(d) and searching never rebuilds anything.  Deleting moves the last row into
the hole (O(d)).  Because a semantic match never crosses scopes, each scope has
its own block and a search touches only the rows it could return.
"""

from __future__ import annotations

import numpy as np

from .._vectors import similarity_floor


class _Block:
    __slots__ = ("keys", "matrix", "row_of")

    def __init__(self, dim: int) -> None:
        self.matrix = np.empty((16, dim), dtype=np.float32)
        self.keys: list[str] = []
        self.row_of: dict[str, int] = {}


class VectorIndex:
    def __init__(self) -> None:
        self.dim: int | None = None
        self._blocks: dict[str, _Block] = {}
        self._scope_of: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._scope_of)

    def add(self, scope: str, key: str, vector: np.ndarray) -> None:
        """Insert or replace ``key``'s vector; ``vector`` must be unit float32 of ``dim``."""
        self.remove(key)
        if self.dim is None:
            self.dim = int(vector.shape[0])
        block = self._blocks.get(scope)
        if block is None:
            block = self._blocks[scope] = _Block(self.dim)
        row = len(block.keys)
        if row == block.matrix.shape[0]:
            grown = np.empty((2 * row, self.dim), dtype=np.float32)
            grown[:row] = block.matrix
            block.matrix = grown
        block.matrix[row] = vector
        block.keys.append(key)
        block.row_of[key] = row
        self._scope_of[key] = scope

    def remove(self, key: str) -> None:
        scope = self._scope_of.pop(key, None)
        if scope is None:
            return
        block = self._blocks[scope]
        row = block.row_of.pop(key)
        last = len(block.keys) - 1
        if row != last:
            moved = block.keys[last]
            block.matrix[row] = block.matrix[last]
            block.keys[row] = moved
            block.row_of[moved] = row
        block.keys.pop()
        if not block.keys:
            del self._blocks[scope]

    def search(self, scope: str, vector: np.ndarray, min_similarity: float) -> list[tuple[str, float]]:
        """All keys in ``scope`` with cosine similarity >= ``min_similarity``, best first."""
        block = self._blocks.get(scope)
        if block is None:
            return []
        sims = block.matrix[: len(block.keys)] @ vector
        rows = np.flatnonzero(sims >= similarity_floor(min_similarity))
        rows = rows[np.argsort(-sims[rows], kind="stable")]
        return [(block.keys[r], float(sims[r])) for r in rows]

    def clear(self) -> None:
        self._blocks.clear()
        self._scope_of.clear()
        self.dim = None
