"""How many intra-op threads our embedding model may use: 1 unless told otherwise.

A model runtime left to its defaults starts one thread per core in every
process, and an application server runs several processes (or several
threads, each entering the runtime): on a busy 2-core machine torch's default
two threads took 625 ms per embedding against 32 ms with one (docs/embeddings.md).
One thread per process is the safe default; ``embedding_threads=`` or the
``SEMCACHE_EMBEDDING_THREADS`` environment variable raise it for a process
that has the cores to itself.
"""

from __future__ import annotations

import os

from .._errors import ConfigurationError, InvalidInputError

__all__ = ["DEFAULT_EMBEDDING_THREADS", "THREADS_ENV", "embedding_threads", "usable_cores"]

THREADS_ENV = "SEMCACHE_EMBEDDING_THREADS"
DEFAULT_EMBEDDING_THREADS = 1


def embedding_threads(value: int | None = None) -> int:
    """``value`` if given, else $SEMCACHE_EMBEDDING_THREADS, else 1; always a positive int."""
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"embedding_threads must be a positive int, got {value!r}")
        return value
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return DEFAULT_EMBEDDING_THREADS
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ConfigurationError(f"{THREADS_ENV} must be a positive integer, got {raw!r}")
    return threads


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1
