"""Exceptions raised by redis_semcache.

All of them derive from one root, so ``except SemanticCacheError`` catches
everything this library raises on purpose::

    SemanticCacheError
    ├── InvalidInputError          bad argument: empty prompt, bad TTL, bad threshold ...
    │   ├── DimensionMismatchError embedding of the wrong length for this cache
    │   ├── EmbeddingCountError    set_many given a number of embeddings other than its items'
    │   ├── SerializationError     response that cannot round-trip through JSON
    │   ├── InvalidMessagesError   chat ``messages`` that are not a usable request
    │   ├── PromptTooLongError     text beyond the embedder's window with long_prompts="error"
    │   ├── ForeignResultError     feedback on another cache's LookupResult
    │   └── PairFileError          a labelled-pairs file that cannot be read (semcache eval)
    ├── ConfigurationError         bad settings, e.g. a malformed environment variable
    ├── UpstreamError              the gateway's upstream API answered an error or timed out
    ├── EmbeddingError             the embedder failed or returned unusable vectors
    │   └── EmbeddingUnavailableError  the optional embedding extra is not installed
    └── BackendError               the storage backend failed
        ├── BackendUnavailableError    the server cannot be reached
        │   └── ClusterUnreachableError    no seed node of a Redis Cluster answers
        ├── SearchModuleMissingError   the Redis server has no RediSearch
        ├── CommandRejectedError       the server refused a command's arguments: never an outage
        ├── InvalidationError          an invalidation or clear did not complete
        │   └── ReplicationPendingError    done on the primary; its replicas did not acknowledge in time
        ├── OutOfMemoryError           the server refused a write (maxmemory, noeviction)
        ├── IndexMissingError          internal: the index is gone; the backend recreates it
        ├── IndexExistsError           internal: another process made the index first
        └── ScriptMissingError         internal: the server lost a script; the backend reloads it

Signals that never leave the library (or its command line), outside the tree
because callers are not meant to catch them::

    MalformedEntryError(ValueError)    a hash under our prefix we cannot read: skipped, not served
    DerivationMismatch(AssertionError) semcache eval: a literal replay disagreed with the sweep
    Refused(Exception)                 semcache clear/drop/invalidate: would act without --yes
    Uncacheable(Exception)             LangChain/LlamaIndex adapters: a request they do not cache (an image ...)

Each is also importable from the module that raises it (``redis_semcache.request``,
``redis_semcache.backends.redis.errors``, ...), where it lived before.
tests/unit/test_error_tree.py checks that no exception class is defined elsewhere.

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
    "DerivationMismatch",
    "DimensionMismatchError",
    "EmbeddingCountError",
    "EmbeddingError",
    "EmbeddingUnavailableError",
    "ForeignResultError",
    "IndexExistsError",
    "IndexMissingError",
    "InvalidInputError",
    "InvalidMessagesError",
    "InvalidationError",
    "MalformedEntryError",
    "OutOfMemoryError",
    "PairFileError",
    "PromptTooLongError",
    "Refused",
    "ReplicationPendingError",
    "ScriptMissingError",
    "SearchModuleMissingError",
    "SemanticCacheError",
    "SerializationError",
    "Uncacheable",
    "UpstreamError",
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


class InvalidMessagesError(InvalidInputError):
    """``messages`` is not a usable chat request (empty, no user message, unknown role ...)."""


class PromptTooLongError(InvalidInputError):
    """The text to compare exceeds the embedder's window and ``long_prompts="error"``."""


class ForeignResultError(InvalidInputError):
    """``feedback`` was given a result that another cache (manager) produced."""


class PairFileError(InvalidInputError):
    """A pairs file is missing, unreadable or not in a supported format."""


class ConfigurationError(SemanticCacheError, ValueError):
    """A setting (argument or environment variable) is invalid."""


class UpstreamError(SemanticCacheError):
    """The gateway's upstream answered an error status, or could not be reached in time.

    Raised by the gateway's compute so that nothing is cached; it carries the
    response to pass through (``status``, ``headers``, ``body``).
    """

    def __init__(self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(f"upstream answered {status}")
        self.status = status
        self.body = body
        self.headers = headers or []


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


class IndexMissingError(BackendError):
    """The search index is gone (dropped, or the database was flushed)."""


class IndexExistsError(BackendError):
    """FT.CREATE found the index already made (by another process or task)."""


class OutOfMemoryError(BackendError):
    """The server refused a write: maxmemory reached and the policy is noeviction."""


class ScriptMissingError(BackendError):
    """The server's script cache lacks a script (SCRIPT FLUSH, restart)."""


# -- signals that stay inside the library ---------------------------------------------


class MalformedEntryError(ValueError):
    """A hash under our prefix that this library did not write (or cannot read)."""


class DerivationMismatch(AssertionError):
    """A literal replay at one threshold disagreed with the numbers derived from the sweep."""


class Refused(Exception):
    """The command would do something irreversible without ``--yes``."""


class Uncacheable(Exception):
    """A request this adapter does not cache (e.g. a chat prompt with an image)."""
