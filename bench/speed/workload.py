"""The data every system receives: stored entries and three kinds of queries.

Stored entries are random 384-d unit vectors with prompts ``entry <id>``.  Queries:

* exact    - a stored prompt with its stored vector (a repeated request);
* semantic - a new prompt whose vector has cosine ``similarity`` with a stored
  vector (exactly, by construction), far above every threshold;
* miss     - a new prompt with a fresh random vector (cosine to any stored
  vector is about N(0, 1/sqrt(d)), far below every threshold);
* set      - new prompts with fresh random vectors, inserted.

Random unit vectors are fine for speed: every system does the same work on
them.  Vectors are float32 numpy rows; ``as_list`` gives them as Python lists
for APIs that take lists (RedisVL), built once outside any timed loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Queries", "Workload", "code", "unit_rows"]

# Prompts carry ids spelled in lowercase consonants, not digits: the library's
# default guards veto a semantic hit whose prompts differ in numbers, negation
# or named entities, and these prompts must differ in none of them.
_LETTERS = "bcdfghjklmnpqrstvwxz"


def code(i: int) -> str:
    """``i`` spelled in consonants (no digits, no words)."""
    out = []
    while True:
        i, r = divmod(i, len(_LETTERS))
        out.append(_LETTERS[r])
        if i == 0:
            return "".join(reversed(out))


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """``n`` random unit vectors of ``dim`` float32 components."""
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def at_similarity(rng: np.random.Generator, anchors: np.ndarray, similarity: float) -> np.ndarray:
    """For each anchor row, a unit vector with exactly that cosine similarity to it."""
    noise = rng.standard_normal(anchors.shape).astype(np.float64)
    anchors64 = anchors.astype(np.float64)
    noise -= (noise * anchors64).sum(axis=1, keepdims=True) * anchors64  # orthogonal to the anchor
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    out = similarity * anchors64 + np.sqrt(1 - similarity**2) * noise
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


@dataclass
class Queries:
    """One kind of query: prompts and their vectors, in order."""

    prompts: list[str]
    vectors: np.ndarray
    _lists: list[list[float]] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.prompts)

    def as_list(self, i: int) -> list[float]:
        if self._lists is None:
            self._lists = self.vectors.tolist()
        return self._lists[i]


class Workload:
    """Entries for up to ``max_entries`` plus query sets, from one seed."""

    def __init__(
        self,
        max_entries: int,
        *,
        dim: int = 384,
        queries: int = 2000,
        sets: int = 10_000,
        similarity: float = 0.95,
        seed: int = 5,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.dim = dim
        self.similarity = similarity
        self.entries = Queries([f"entry {code(i)}" for i in range(max_entries)], unit_rows(rng, max_entries, dim))
        self.responses = [f"response {code(i)}" for i in range(max_entries)]
        self._rng = rng
        self._queries = queries
        self.miss = Queries([f"miss {code(i)}" for i in range(queries)], unit_rows(rng, queries, dim))
        self.sets = Queries([f"set {code(i)}" for i in range(sets)], unit_rows(rng, sets, dim))

    def exact(self, n_entries: int) -> Queries:
        """Repeats of stored entries, spread over the first ``n_entries``."""
        idx = self._spread(n_entries)
        return Queries([self.entries.prompts[i] for i in idx], self.entries.vectors[idx])

    def semantic(self, n_entries: int) -> Queries:
        """New prompts close to stored entries among the first ``n_entries``."""
        idx = self._spread(n_entries)
        rng = np.random.default_rng(int(n_entries))
        vectors = at_similarity(rng, self.entries.vectors[idx], self.similarity)
        return Queries([f"paraphrase of entry {code(int(i))}" for i in idx], vectors)

    def _spread(self, n_entries: int) -> np.ndarray:
        rng = np.random.default_rng(int(n_entries) + 1)
        return rng.integers(0, n_entries, size=self._queries)
