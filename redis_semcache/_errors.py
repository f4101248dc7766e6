"""Exceptions raised by redis_semcache.

All of them derive from one root, so ``except SemanticCacheError`` catches
everything this library raises on purpose::

    SemanticCacheError
    ├── InvalidInputError          bad argument: empty prompt, bad TTL, bad threshold ...
    │   ├── DimensionMismatchError embedding of the wrong length for this cache
    │   ├── EmbeddingCountError    set_many given a number of embeddings other than its items'
    │   ├── SerializationError     response that cannot round-trip through JSON
    │   └── ForeignResultError     feedback on another cache's LookupResult (quality/result.py)
    ├── ConfigurationError         bad settings, e.g. a malformed environment variable
    ├── EmbeddingError             the embedder failed or returned unusable vectors
    │   └── EmbeddingUnavailableError  the optional embedding extra is not installed
    └── BackendError               the storage backend failed
        ├── BackendUnavailableError    the server cannot be reached
        ├── SearchModuleMissingError   the Redis server has no RediSearch
        └── InvalidationError          an invalidation or clear did not complete

Errors from a server are wrapped with ``raise ... from exc`` so the original
cause stays visible in tracebacks.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "ConfigurationError",
    "DimensionMismatchError",
    "EmbeddingCountError",
    "EmbeddingError",
    "EmbeddingUnavailableError",
    "InvalidInputError",
    "InvalidationError",
    "SearchModuleMissingError",
    "SemanticCacheError",
    "SerializationError",
]


class SemanticCacheError(Exception):
    """Root of every error raised by redis_semcache."""


class InvalidInputError(SemanticCacheError, ValueError):
    """An argument is out of range or of the wrong type."""


class DimensionMismatchError(InvalidInputError):
    """An embedding's length differs from the cache's vector dimension."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"embedding has dimension {got}, but this cache uses dimension {expected}")
        self.expected = expected
        self.got = got


class EmbeddingCountError(InvalidInputError):
    """``set_many``/``warm`` got ``embeddings=`` with a count other than one per item."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"embeddings has {got} vectors for {expected} items: pass one per item, in order")
        self.expected = expected
        self.got = got


class SerializationError(InvalidInputError):
    """A response cannot be stored so that it comes back equal."""


class ConfigurationError(SemanticCacheError, ValueError):
    """A setting (argument or environment variable) is invalid."""


class EmbeddingError(SemanticCacheError):
    """The embedder failed or produced unusable output."""


class EmbeddingUnavailableError(EmbeddingError, ImportError):
    """The packages for built-in embeddings are not installed."""


class BackendError(SemanticCacheError):
    """The storage backend failed."""


class BackendUnavailableError(BackendError):
    """The storage backend cannot be reached."""


class SearchModuleMissingError(BackendError):
    """The Redis server lacks the search module needed for the vector index."""


class InvalidationError(BackendError):
    """An invalidation or ``clear()`` did not complete: matching entries may remain.

    Raised whatever ``strict`` says, since returning a count would claim the
    work was done.  ``deleted`` is how many entries it deleted before failing.
    """

    def __init__(self, message: str, *, deleted: int = 0) -> None:
        super().__init__(message)
        self.deleted = deleted
