"""redis_semcache: cache LLM responses in Redis, by exact and semantic prompt match.

Importing this package is cheap: most public names are imported on first use
(``_LAZY`` below), and torch and the embedding model load only when a semantic
lookup first needs an embedding (or on ``warmup()``).
"""

from __future__ import annotations

import importlib
import logging
import warnings
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and readers
    from ._entry import CacheEntry
    from ._keys import normalize_prompt
    from ._stats import CacheStatistics
    from .backends.base import CacheBackend
    from .backends.memory import InMemoryCacheBackend
    from .backends.redis import RedisCacheBackend
    from .embeddings import Embedder, SentenceTransformerEmbedder
    from .factories import create_in_memory_cache_manager, create_redis_cache_manager, from_env
    from .manager import LLMCachingManager
    from .quality import ErrorBudget, ForeignResultError, LookupResult
    from .request import InvalidMessagesError, PromptTooLongError, make_cache_key

# Public names imported on first use (PEP 562), not with the package: a fresh process that only
# embeds (or only builds an in-memory cache) skips numpy's users, redis-py and its OpenTelemetry
# hooks, which were about half of the time to a first embedding (docs/embeddings.md, "Cold start").
# The errors and enums above are cheap and stay eager.  Keep in step with the TYPE_CHECKING block.
_LAZY: dict[str, str] = {
    "CacheEntry": "._entry",
    "normalize_prompt": "._keys",
    "CacheStatistics": "._stats",
    "CacheBackend": ".backends.base",
    "InMemoryCacheBackend": ".backends.memory",
    "RedisCacheBackend": ".backends.redis",
    "Embedder": ".embeddings",
    "SentenceTransformerEmbedder": ".embeddings",
    "create_in_memory_cache_manager": ".factories",
    "create_redis_cache_manager": ".factories",
    "from_env": ".factories",
    "LLMCachingManager": ".manager",
    "ErrorBudget": ".quality",
    "ForeignResultError": ".quality",
    "LookupResult": ".quality",
    "InvalidMessagesError": ".request",
    "PromptTooLongError": ".request",
    "make_cache_key": ".request",
}

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
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value  # later lookups skip this hook
        return value
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


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
