"""Ready-made managers: in memory, on Redis, or configured from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._enums import CacheStrategy
from ._errors import ConfigurationError
from .backends.memory import InMemoryCacheBackend
from .config import read_env
from .engine import DEFAULT_EMBEDDER
from .manager import LLMCachingManager

__all__ = ["create_in_memory_cache_manager", "create_redis_cache_manager", "from_env"]


def create_in_memory_cache_manager(
    max_size: int = 10_000,
    default_ttl: float | None = 3600,
    *,
    eviction_strategy: CacheStrategy | str = CacheStrategy.LRU,
    embedding_threads: int | None = None,
    precision: str | None = None,
    **manager_kwargs: Any,
) -> LLMCachingManager:
    """A manager over a new in-process backend.  Extra keywords go to LLMCachingManager.

    ``embedding_threads`` and ``precision`` give the built-in model its own instance
    with that many intra-op threads and that arithmetic ("float32" or "bfloat16"; default:
    the shared instance, 1 thread or $SEMCACHE_EMBEDDING_THREADS, float32 or
    $SEMCACHE_EMBEDDING_PRECISION).  Either with your own ``embedder=`` is a ConfigurationError.
    """
    _own_builtin(manager_kwargs, embedding_threads, precision)  # before the backend: it may raise
    backend = InMemoryCacheBackend(max_size=max_size, eviction_strategy=eviction_strategy)
    return LLMCachingManager(backend, default_ttl=default_ttl, **manager_kwargs)


def _own_builtin(manager_kwargs: dict[str, Any], threads: int | None, precision: str | None) -> None:
    """Put a built-in model of its own in ``manager_kwargs`` when a setting of it is given."""
    given = [name for name, value in (("embedding_threads", threads), ("precision", precision)) if value is not None]
    if not given:
        return
    if manager_kwargs.get("embedder", DEFAULT_EMBEDDER) is not DEFAULT_EMBEDDER:
        raise ConfigurationError(
            f"{'= and '.join(given)}= set up the built-in model; pass them to your own embedder instead"
        )
    from .embeddings import BuiltinEmbedder

    manager_kwargs["embedder"] = BuiltinEmbedder(embedding_threads=threads, precision=precision)  # checks both


def create_redis_cache_manager(
    host: str = "localhost",
    port: int = 6379,
    password: str | None = None,
    db: int = 0,
    *,
    url: str | None = None,
    cluster_mode: bool = False,
    max_size: int | None = 10_000,
    default_ttl: float | None = 3600,
    eviction_strategy: CacheStrategy | str = CacheStrategy.LRU,
    socket_timeout: float | None = 1.0,
    socket_connect_timeout: float | None = 1.0,
    backend_kwargs: Mapping[str, Any] | None = None,
    embedding_threads: int | None = None,
    precision: str | None = None,
    **manager_kwargs: Any,
) -> LLMCachingManager:
    """A manager over a Redis Stack backend.  ``backend_kwargs`` go to RedisCacheBackend.

    ``socket_timeout`` and ``socket_connect_timeout`` are seconds (default 1.0,
    i.e. 1000 ms): a call to a stalled or unreachable server gives up after
    that long and, unless ``strict=True``, the lookup is a miss.
    ``cluster_mode=True`` connects to a Redis Cluster through ``url`` or
    ``host``/``port`` of any node (a cluster has only database 0).
    ``embedding_threads`` and ``precision`` are as for :func:`create_in_memory_cache_manager`.
    """
    from .backends.redis import RedisCacheBackend

    _own_builtin(manager_kwargs, embedding_threads, precision)  # before connecting: it may raise
    options: dict[str, Any] = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_connect_timeout}
    if cluster_mode:
        if db != 0:
            raise ConfigurationError(f"a Redis Cluster has only database 0, got db={db!r}")
        options["cluster_mode"] = True
    else:
        options["db"] = db
    options.update(backend_kwargs or {})
    backend = RedisCacheBackend(
        url=url,
        host=host,
        port=port,
        password=password,
        max_size=max_size,
        eviction_strategy=eviction_strategy,
        **options,
    )
    return LLMCachingManager(backend, default_ttl=default_ttl, **manager_kwargs)


def from_env(env: Mapping[str, str] | None = None, **overrides: Any) -> LLMCachingManager:
    """Build a manager from REDIS_* and CACHE_* variables (see :mod:`redis_semcache.config`).

    Uses Redis when REDIS_URL or REDIS_HOST is set, the in-memory backend otherwise.
    """
    cfg = read_env(env)
    settings = {
        "default_ttl": cfg.default_ttl,
        "eviction_strategy": cfg.eviction_strategy,
        "enable_semantic": cfg.enable_semantic,
        "semantic_threshold": cfg.semantic_threshold,
        "max_size": cfg.max_size,
        "error_budget": cfg.error_budget,
    }
    if cfg.uses_redis:
        settings.update(
            socket_timeout=cfg.socket_timeout,
            socket_connect_timeout=cfg.connect_timeout,
            cluster_mode=True if cfg.redis_cluster else None,
        )
    kwargs: dict[str, Any] = {name: value for name, value in settings.items() if value is not None}  # unset: default
    kwargs.update(overrides)
    if cfg.uses_redis:
        return create_redis_cache_manager(
            cfg.redis_host or "localhost", cfg.redis_port, cfg.redis_password, cfg.redis_db, url=cfg.redis_url, **kwargs
        )
    return create_in_memory_cache_manager(**kwargs)
