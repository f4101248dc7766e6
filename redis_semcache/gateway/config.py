"""The gateway's settings: command-line flags, else environment variables, else defaults.

==========================  ==================================================
SEMCACHE_UPSTREAM           the API's base URL as OpenAI clients take it (https://api.openai.com/v1)
REDIS_URL                   the cache's Redis (and the other REDIS_* / CACHE_* variables of
                            :mod:`redis_semcache.config`); in memory when unset
SEMCACHE_NAME               the cache name on Redis (default ``gateway``)
SEMCACHE_HOST / _PORT       where to listen (default 127.0.0.1:8080)
SEMCACHE_TENANT_KEY         the secret keying the hash of API keys; every gateway on one Redis
                            needs the same one to share entries (generated per process if unset)
SEMCACHE_POOL_TENANTS       true: every API key shares one cache (default false)
SEMCACHE_UPSTREAM_TIMEOUT   seconds an upstream call may take (default 600)
ENABLE_SEMANTIC_CACHE       false: exact matches only (the gateway's default is true)
==========================  ==================================================
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .._errors import ConfigurationError
from ..config import read_env

__all__ = ["GatewayConfig", "configure", "from_args"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class GatewayConfig:
    upstream: str
    redis_url: str | None = None
    name: str = "gateway"
    host: str = "127.0.0.1"
    port: int = 8080
    pool_tenants: bool = False
    tenant_key: bytes | None = field(default=None, repr=False)  # a secret: never in repr or logs
    semantic: bool = True
    upstream_timeout: float = 600.0
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # REDIS_*/CACHE_* for from_env

    def __post_init__(self) -> None:
        if not self.upstream.startswith(("http://", "https://")):
            raise ConfigurationError(f"the upstream must be an http(s) URL, got {self.upstream!r}")
        if self.upstream_timeout <= 0:
            raise ConfigurationError("the upstream timeout must be positive")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upstream", help="the API's base URL, e.g. https://api.openai.com/v1 (SEMCACHE_UPSTREAM)")
    parser.add_argument("--redis-url", help="the cache's Redis (REDIS_URL; in memory when neither is given)")
    parser.add_argument("--name", help="cache name on Redis (SEMCACHE_NAME, default gateway)")
    parser.add_argument("--host", help="address to listen on (SEMCACHE_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (SEMCACHE_PORT, default 8080)")
    parser.add_argument(
        "--pool-tenants", action="store_true", default=None,
        help="share entries between API keys (SEMCACHE_POOL_TENANTS); by default each key has its own",
    )  # fmt: skip
    parser.add_argument("--exact-only", action="store_true", help="no semantic matching (ENABLE_SEMANTIC_CACHE=false)")
    parser.add_argument("--upstream-timeout", type=float, help="seconds per upstream call (default 600)")


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    text = env.get(name)
    if text is None or not text.strip():
        return default
    value = text.strip().lower()
    if value not in _TRUE | _FALSE:
        raise ConfigurationError(f"{name} must be true or false, got {text!r}")
    return value in _TRUE


def _number(env: Mapping[str, str], name: str, parse: type[int] | type[float]) -> int | float | None:
    text = env.get(name)
    if text is None or not text.strip():
        return None
    try:
        return parse(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {text!r}") from None


def from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """The settings of ``semcache serve``: a flag wins over its variable."""
    env = dict(os.environ if env is None else env)
    upstream = args.upstream or env.get("SEMCACHE_UPSTREAM")
    if not upstream:
        raise ConfigurationError("semcache serve needs --upstream or SEMCACHE_UPSTREAM")
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url  # read back by from_env with the other REDIS_* settings
    cache_env = read_env(env)  # validates REDIS_*/CACHE_* now rather than at the first request
    key = env.get("SEMCACHE_TENANT_KEY")
    pool = args.pool_tenants if args.pool_tenants is not None else _flag(env, "SEMCACHE_POOL_TENANTS", False)
    semantic = False if args.exact_only else _flag(env, "ENABLE_SEMANTIC_CACHE", True)
    port = args.port if args.port is not None else _number(env, "SEMCACHE_PORT", int)
    timeout = args.upstream_timeout or _number(env, "SEMCACHE_UPSTREAM_TIMEOUT", float)
    return GatewayConfig(
        upstream=upstream.rstrip("/"),
        redis_url=cache_env.redis_url,
        name=args.name or env.get("SEMCACHE_NAME") or "gateway",
        host=args.host or env.get("SEMCACHE_HOST") or "127.0.0.1",
        port=8080 if port is None else int(port),
        pool_tenants=pool,
        tenant_key=key.encode() if key else None,
        semantic=semantic,
        upstream_timeout=600.0 if timeout is None else float(timeout),
        env=env,
    )
