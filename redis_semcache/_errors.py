"""Exceptions raised by redis_semcache.

All of them derive from one root, so ``except SemanticCacheError`` catches
everything this library raises on purpose::

    SemanticCacheError
    ├── InvalidInputError          bad argument: empty prompt, bad TTL, bad threshold ...
    │   ├── DimensionMismatchError embedding of the wrong length for this cache
    │   ├── SerializationError     response that cannot round-trip through JSON
    │   └── ForeignResultError     feedback on another cache's LookupResult (quality/result.py)
    ├── ConfigurationError         bad settings, e.g. a malformed environment variable
    ├── EmbeddingError             the embedder failed or returned unusable vectors
    │   └── EmbeddingUnavailableError  the optional embedding extra is not installed
    └── BackendError               the storage backend failed
        ├── BackendUnavailableError    the server cannot be reached
        │   └── ClusterUnreachableError    no seed node of a Redis Cluster answers
        ├── SearchModuleMissingError   the Redis server has no RediSearch
        ├── CommandRejectedError       the server refused a command's arguments: never an outage
        └── InvalidationError          an invalidation or clear did not complete
            └── ReplicationPendingError    done on the primary; its replicas did not acknowledge in time

Errors from a server are wrapped with ``raise ... from exc`` so the original
cause stays visible in tracebacks.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "ClusterUnreachableError",
    "CommandRejectedError",
    "ConfigurationError",
    "DimensionMismatchError",
    "EmbeddingError",
    "EmbeddingUnavailableError",
    "InvalidInputError",
    "InvalidationError",
    "ReplicationPendingError",
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


class ClusterUnreachableError(BackendUnavailableError):
    """No node of a Redis Cluster answered (every seed node is down or unreachable)."""


class SearchModuleMissingError(BackendError):
    """The Redis server lacks the search module needed for the vector index."""


class CommandRejectedError(BackendError):
    """The server refused a command's arguments (an ``ERR`` reply such as "invalid expire time").

    The request is at fault, not the server: the circuit breaker never counts it,
    so one caller's bad input cannot pause the cache for every other caller.
    """


class InvalidationError(BackendError):
    """An invalidation or ``clear()`` did not complete: matching entries may remain.

    Raised whatever ``strict`` says, since returning a count would claim the
    work was done.  ``deleted`` is how many entries it deleted before failing.
    """

    def __init__(self, message: str, *, deleted: int = 0) -> None:
        super().__init__(message)
        self.deleted = deleted


class ReplicationPendingError(InvalidationError):
    """A removal deleted its entries on the primary, but the replicas did not acknowledge
    the deletion in time: a failover now could bring the entries back.

    The primary answers, so the circuit breaker does not count it.
    """
