"""Deterministic stand-ins for unit tests that do not need the real model."""

from __future__ import annotations

import hashlib

import numpy as np


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingEmbedder:
    """Bag-of-words hashing embedder: texts sharing words get similar vectors.

    Deterministic, fast, and it counts how many texts it embedded.
    """

    embedder_id = "fake-bow-64"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.texts_embedded = 0
        self.calls = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0
            out[i, -1] += 0.01  # never all zeros
        return out


def unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.standard_normal(dim)
    return v / np.linalg.norm(v)


def near(v: np.ndarray, similarity: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector with exactly the given cosine similarity to unit vector ``v``."""
    noise = rng.standard_normal(v.shape[0])
    noise -= noise.dot(v) * v
    noise /= np.linalg.norm(noise)
    return similarity * v + np.sqrt(max(0.0, 1 - similarity**2)) * noise
