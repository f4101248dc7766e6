"""redis_semcache: cache LLM responses in Redis, by exact and semantic prompt match.

Importing this package is cheap: torch and the embedding model load only when
a semantic lookup first needs an embedding (or on ``warmup()``).
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

from ._entry import CacheEntry
from ._enums import CacheStrategy, InvalidationStrategy
from ._errors import (
    BackendError,
    BackendUnavailableError,
    ClusterUnreachableError,
    CommandRejectedError,
    ConfigurationError,
    DimensionMismatchError,
    EmbeddingCountError,
    EmbeddingError,
    EmbeddingUnavailableError,
    InvalidationError,
    InvalidInputError,
    ReplicationPendingError,
    SearchModuleMissingError,
    SemanticCacheError,
    SerializationError,
)
from ._keys import normalize_prompt
from ._stats import CacheStatistics
from .backends.base import CacheBackend
from .backends.memory import InMemoryCacheBackend
from .embeddings import Embedder, SentenceTransformerEmbedder
from .factories import create_in_memory_cache_manager, create_redis_cache_manager, from_env
from .manager import LLMCachingManager
from .quality import ErrorBudget, ForeignResultError, LookupResult
from .request import InvalidMessagesError, PromptTooLongError, make_cache_key

if TYPE_CHECKING:
    from .backends.redis import RedisCacheBackend

# A library leaves logging to the application: without a handler configured there,
# our warnings must not reach stderr through logging's last-resort handler.
logging.getLogger("redis_semcache").addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "CacheBackend",
    "CacheEntry",
    "CacheStatistics",
    "CacheStrategy",
    "ClusterUnreachableError",
    "CommandRejectedError",
    "ConfigurationError",
    "DimensionMismatchError",
    "Embedder",
    "EmbeddingCountError",
    "EmbeddingError",
    "EmbeddingUnavailableError",
    "ErrorBudget",
    "ForeignResultError",
    "InMemoryCacheBackend",
    "InvalidInputError",
    "InvalidMessagesError",
    "InvalidationError",
    "InvalidationStrategy",
    "LLMCachingManager",
    "LookupResult",
    "PromptTooLongError",
    "RedisCacheBackend",
    "ReplicationPendingError",
    "SearchModuleMissingError",
    "SemanticCacheError",
    "SentenceTransformerEmbedder",
    "SerializationError",
    "create_in_memory_cache_manager",
    "create_redis_cache_manager",
    "from_env",
    "make_cache_key",
    "normalize_prompt",
]


def __getattr__(name: str) -> Any:
    # The Redis backend pulls in redis-py's search module; load it on first use.
    if name == "RedisCacheBackend":
        from .backends.redis import RedisCacheBackend

        return RedisCacheBackend
    if name == "SemanticCacheEngine":
        # Internal: the manager builds it from its own settings (docs/semantics.md, "Names that look alike").
        warnings.warn(
            "redis_semcache.SemanticCacheEngine is internal and no longer exported; "
            "configure the manager instead (or import it from redis_semcache.engine)",
            DeprecationWarning,
            stacklevel=2,
        )
        from .engine import SemanticCacheEngine

        return SemanticCacheEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
