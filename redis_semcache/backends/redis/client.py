"""Building the redis-py client (single node or cluster) from the backend's settings, and naming it safely."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster as async_cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from ..._errors import ConfigurationError
from .errors import REDIS_ERRORS, classify

# redis-py 8 retries a failed command 10 times with backoff up to 1 s (about
# 4 s against a dead server).  A cache must fail fast: retry twice, quickly,
# which still hides a pooled connection the server closed meanwhile.
# Timeouts are not retried: each retry would cost the caller the whole timeout
# again (3x socket_timeout per call), and the stalled server may still run the
# timed-out command later, so a retried lookup script would count twice.
RETRIES = 2
RETRY_BACKOFF = ExponentialBackoff(cap=0.05, base=0.005)
RETRY_ON = (redis.ConnectionError,)

__all__ = ["ConnectionSettings", "describe", "is_cluster_client", "parse_cluster_nodes", "secrets_of"]


@dataclass(frozen=True, repr=False)
class ConnectionSettings:
    """Where and how to connect.  ``repr`` never shows the password.

    ``cluster=True`` builds Redis Cluster clients from the same settings, starting
    from ``cluster_nodes`` (``(host, port)`` pairs), else ``url`` or ``host``/``port``.
    """

    url: str | None = None
    host: str = "localhost"
    port: int = 6379
    username: str | None = None
    password: str | None = None
    db: int = 0
    ssl: bool = False
    ssl_ca_certs: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    socket_timeout: float | None = 1.0
    socket_connect_timeout: float | None = 1.0
    cluster: bool = False
    cluster_nodes: tuple[tuple[str, int], ...] | None = None

    def __post_init__(self) -> None:
        if self.cluster_nodes is not None and not self.cluster:
            raise ConfigurationError("cluster_nodes= needs cluster_mode=True")
        if self.cluster and self.db != 0:
            raise ConfigurationError(f"db={self.db!r}: a Redis Cluster has only database 0")
        if self.cluster and self.url is not None and self.cluster_nodes is not None:
            raise ConfigurationError("pass either url= or cluster_nodes=, not both")
        if self.url is None and not self.cluster_nodes:  # else host and port are not used
            _check_address(self.host, self.port)
        if isinstance(self.db, bool) or not isinstance(self.db, int) or self.db < 0:
            raise ConfigurationError(f"db must be a database number (an int >= 0), got {self.db!r}")
        timeouts = (("socket_timeout", self.socket_timeout), ("socket_connect_timeout", self.socket_connect_timeout))
        for what, value in timeouts:
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ConfigurationError(f"{what} must be a positive number of seconds or None, got {value!r}")
        tls_files = (self.ssl_ca_certs, self.ssl_certfile, self.ssl_keyfile)
        if any(f is not None for f in tls_files) and not self.tls:
            raise ConfigurationError("ssl_ca_certs/ssl_certfile/ssl_keyfile need ssl=True or a rediss:// URL")
        if self.url and self.ssl and not self.url.startswith("rediss://"):
            raise ConfigurationError("ssl=True with a URL: use a rediss:// URL")

    @property
    def tls(self) -> bool:
        return self.ssl or bool(self.url and self.url.startswith("rediss://"))

    def __repr__(self) -> str:
        where = "url=<set>" if self.url else f"host={self.host!r}, port={self.port}"
        password = "<set>" if self.password else None
        cluster = ", cluster" if self.cluster else ""
        return f"ConnectionSettings({where}, db={self.db}, ssl={self.ssl}, password={password}{cluster})"

    def build(self) -> Any:
        """A new blocking client (with its own pool) for these settings."""
        if self.cluster:  # redis-py's cluster client retries moved slots itself
            return self._build_cluster(RedisCluster, ClusterNode, None)
        return self._build(redis.Redis, Retry(RETRY_BACKOFF, RETRIES, supported_errors=RETRY_ON))

    def build_async(self) -> Any:
        """A new ``redis.asyncio`` client for these settings, bound to the running event loop."""
        retry = AsyncRetry(RETRY_BACKOFF, RETRIES, supported_errors=RETRY_ON)
        if self.cluster:
            return self._build_cluster(async_cluster.RedisCluster, async_cluster.ClusterNode, retry)
        return self._build(redis.asyncio.Redis, retry)

    def _build_cluster(self, client_class: Any, node_class: Any, retry: Any) -> Any:
        common = self._common(retry)
        try:
            if self.url is not None:  # the scheme says whether to use TLS; redis-py refuses ssl= with a URL
                return client_class.from_url(self.url, **common)
            nodes = self.cluster_nodes or ((self.host, self.port),)
            startup = [node_class(host, port) for host, port in nodes]
            return client_class(startup_nodes=startup, ssl=self.ssl, **common)
        except ValueError as exc:
            raise ConfigurationError("invalid Redis URL (expected redis:// or rediss://)") from exc
        except REDIS_ERRORS as exc:  # the blocking cluster client connects at once: every seed node is down
            where = "url=<set>" if self.url is not None else ", ".join(f"{h}:{p}" for h, p in nodes)
            raise classify(exc, where, (self.password or "",)) from exc

    def _build(self, client_class: Any, retry: Any) -> Any:
        common = self._common(retry)
        try:
            if self.url:
                return client_class.from_url(self.url, **common)
            return client_class(host=self.host, port=self.port, db=self.db, ssl=self.ssl, **common)
        except ValueError as exc:  # malformed URL; the message may quote it, so do not repeat it
            raise ConfigurationError("invalid Redis URL (expected redis://, rediss:// or unix://)") from exc

    def _common(self, retry: Any) -> dict[str, Any]:
        """Keywords both client kinds take: timeouts, retry, credentials, TLS files."""
        common: dict[str, Any] = {
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.socket_connect_timeout,
        }
        if retry is not None:
            common["retry"] = retry
        if self.username is not None:
            common["username"] = self.username
        if self.password is not None:
            common["password"] = self.password
        if self.ssl_ca_certs is not None:
            common["ssl_ca_certs"] = self.ssl_ca_certs
        if self.ssl_certfile is not None:
            common["ssl_certfile"] = self.ssl_certfile
        if self.ssl_keyfile is not None:
            common["ssl_keyfile"] = self.ssl_keyfile
        return common


def parse_cluster_nodes(nodes: Sequence[Mapping[str, Any]] | None) -> tuple[tuple[str, int], ...] | None:
    """``[{"host": ..., "port": ...}, ...]`` as ``(host, port)`` pairs (ConfigurationError if malformed)."""
    if nodes is None:
        return None
    try:
        pairs = tuple((str(node["host"]), int(node["port"])) for node in nodes)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError("cluster_nodes must be a list of {'host': ..., 'port': ...}") from exc
    if not pairs:
        raise ConfigurationError("cluster_nodes is empty")
    return pairs


def is_cluster_client(client: Any) -> bool:
    return isinstance(client, (RedisCluster, async_cluster.RedisCluster))


def describe(client: Any) -> str:
    """``host:port/db`` (or the socket path) of a client, with no credentials."""
    if isinstance(client, RedisCluster):
        return f"cluster via {describe(client.get_default_node().redis_connection)}"
    if isinstance(client, async_cluster.RedisCluster):
        return "cluster"
    try:
        kwargs = client.connection_pool.connection_kwargs
    except AttributeError:
        return type(client).__name__
    if "path" in kwargs:
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


def secrets_of(client: Any, settings: ConnectionSettings | None) -> tuple[str, ...]:
    """Passwords to redact from any message."""
    found = []
    if settings is not None and settings.password:
        found.append(settings.password)
    try:
        pw = client.connection_pool.connection_kwargs.get("password")
    except AttributeError:
        pw = None
    if pw:
        found.append(str(pw))
    return tuple(found)


def _check_address(host: Any, port: Any) -> None:
    """Refuse what redis-py would only trip over at the first command (a bare TypeError or ValueError)."""
    if not isinstance(host, str) or not host.strip():
        raise ConfigurationError(f"host must be a host name or address, got {host!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigurationError(f"port must be an int from 1 to 65535, got {port!r}")
