"""Settings from environment variables.

==========================  ===========================================
REDIS_URL                   e.g. redis://user:pass@host:6379/0 (wins over the next four)
REDIS_HOST / REDIS_PORT     server address (default localhost / 6379)
REDIS_PASSWORD / REDIS_DB   password and database number
REDIS_CLUSTER               true/false: the server is a Redis Cluster (cluster_mode=True)
REDIS_SOCKET_TIMEOUT        seconds a command may take before it fails (default 1.0)
REDIS_CONNECT_TIMEOUT       seconds a connection attempt may take (default 1.0)
CACHE_MAX_SIZE              positive int
CACHE_TTL                   default TTL in seconds (positive number)
CACHE_EVICTION_STRATEGY     lru, lfu, fifo or ttl
ENABLE_SEMANTIC_CACHE       true/false, 1/0, yes/no, on/off
SEMANTIC_THRESHOLD          cosine similarity in (0, 1]
CACHE_ERROR_BUDGET          share of wrong semantic hits to allow, in (0, 1) (docs/quality.md)
==========================  ===========================================

A malformed value raises ConfigurationError naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ._enums import CacheStrategy
from ._errors import ConfigurationError

__all__ = ["EnvConfig", "read_env"]

T = TypeVar("T")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class EnvConfig:
    redis_url: str | None = None
    redis_host: str | None = None
    redis_port: int = 6379
    redis_password: str | None = None
    redis_db: int = 0
    redis_cluster: bool | None = None
    socket_timeout: float | None = None
    connect_timeout: float | None = None
    max_size: int | None = None
    default_ttl: float | None = None
    eviction_strategy: CacheStrategy | None = None
    enable_semantic: bool | None = None
    semantic_threshold: float | None = None
    error_budget: float | None = None

    @property
    def uses_redis(self) -> bool:
        return self.redis_url is not None or self.redis_host is not None

    def __repr__(self) -> str:
        """Every setting, with the password and a URL's password shown as ``***``."""
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "redis_password" and value is not None:
                value = "***"
            elif f.name == "redis_url" and value is not None:
                value = redact_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"EnvConfig({', '.join(shown)})"


def redact_url(url: str) -> str:
    """``url`` with any password (``user:pw@`` or ``?password=``) shown as ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            host = parts.hostname or ""
            if ":" in host:  # IPv6 literal
                host = f"[{host}]"
            port = f":{parts.port}" if parts.port is not None else ""
            parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}{port}")
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(k.lower() == "password" for k, _ in pairs):
            query = [(k, "***" if k.lower() == "password" else v) for k, v in pairs]
            parts = parts._replace(query=urlencode(query, safe="*"))
        return url if parts.geturl() == urlsplit(url).geturl() else urlunsplit(parts)
    except ValueError:  # unparseable: show nothing of it
        return "<redacted>"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be positive")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise ValueError("must be 1-65535")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a positive finite number")
    return value


def _threshold(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise ValueError("must be in (0, 1]")
    return value


def _budget(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise ValueError("must be in (0, 1)")
    return value


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("must be true/false, 1/0, yes/no or on/off")


def _strategy(text: str) -> CacheStrategy:
    try:
        return CacheStrategy(text.strip().lower())
    except ValueError:
        raise ValueError("must be one of lru, lfu, fifo, ttl") from None


def _read(env: Mapping[str, str], name: str, parse: Callable[[str], T]) -> T | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse(raw)
    except ValueError as exc:
        shown = "<hidden>" if "PASSWORD" in name else repr(raw)
        raise ConfigurationError(f"environment variable {name}={shown} is invalid: {exc}") from None


def read_env(env: Mapping[str, str] | None = None) -> EnvConfig:
    """Parse the variables above from ``env`` (default ``os.environ``)."""
    env = os.environ if env is None else env
    return EnvConfig(
        redis_url=_read(env, "REDIS_URL", str),
        redis_host=_read(env, "REDIS_HOST", str),
        redis_port=_read(env, "REDIS_PORT", _port) or 6379,
        redis_password=_read(env, "REDIS_PASSWORD", str),
        redis_db=_read(env, "REDIS_DB", _non_negative_int) or 0,
        redis_cluster=_read(env, "REDIS_CLUSTER", _bool),
        socket_timeout=_read(env, "REDIS_SOCKET_TIMEOUT", _positive_float),
        connect_timeout=_read(env, "REDIS_CONNECT_TIMEOUT", _positive_float),
        max_size=_read(env, "CACHE_MAX_SIZE", _positive_int),
        default_ttl=_read(env, "CACHE_TTL", _positive_float),
        eviction_strategy=_read(env, "CACHE_EVICTION_STRATEGY", _strategy),
        enable_semantic=_read(env, "ENABLE_SEMANTIC_CACHE", _bool),
        semantic_threshold=_read(env, "SEMANTIC_THRESHOLD", _threshold),
        error_budget=_read(env, "CACHE_ERROR_BUDGET", _budget),
    )
