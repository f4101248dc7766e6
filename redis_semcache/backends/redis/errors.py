"""From redis-py exceptions to this library's, in one place.

All matching on server error text happens here::

    no password for a protected server     -> BackendUnavailableError "authentication required"
    no cluster node reachable              -> ClusterUnreachableError (a BackendUnavailableError)
    redis ConnectionError / TimeoutError,
    a cluster slot no node serves          -> BackendUnavailableError
    "unknown command 'FT.*'"               -> SearchModuleMissingError
    "<index>: no such index"               -> IndexMissingError (internal: recreate it)
    "Index already exists"                 -> IndexExistsError (internal: another process made it)
    NOSCRIPT                               -> ScriptMissingError (internal: load the scripts, re-run)
    OOM (maxmemory reached, noeviction)    -> OutOfMemoryError
    wrong username or password             -> BackendUnavailableError "authentication failed"
    an ERR reply (the arguments refused)   -> CommandRejectedError (never counted by the breaker)
    any other RedisError                   -> BackendError

Messages never contain a password: the ones we build name only host and port,
and any configured secret found in a server message is redacted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from redis import exceptions as rx

from ..._errors import (
    BackendError,
    BackendUnavailableError,
    ClusterUnreachableError,
    CommandRejectedError,
    IndexExistsError,
    IndexMissingError,
    OutOfMemoryError,
    ScriptMissingError,
    SearchModuleMissingError,
)

__all__ = [
    "REDIS_ERRORS",
    "IndexExistsError",
    "IndexMissingError",
    "OutOfMemoryError",
    "ScriptMissingError",
    "classify",
    "is_index_exists",
    "is_index_missing",
    "translate",
]

SEARCH_MISSING_HINT = (
    "this Redis has no RediSearch: use Redis Stack or Redis 8 (e.g. the redis/redis-stack-server image), "
    "or start redis-server with --loadmodule /path/to/redisearch.so"
)


def _redact(message: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message


def _message(exc: BaseException) -> str:
    return str(exc.args[0]) if exc.args else str(exc)


def is_unknown_search_command(exc: BaseException) -> bool:
    msg = _message(exc).lower()
    return "unknown command" in msg and "ft." in msg


def is_index_missing(exc: BaseException) -> bool:
    msg = _message(exc).lower()
    return "no such index" in msg or "unknown index name" in msg


def is_auth_required(exc: BaseException) -> bool:
    """No credentials sent to a server that wants them.  redis-py says so in the
    words of the command that failed (RESP3: "HELLO must be called with the client
    already authenticated ...", RESP2: "NOAUTH Authentication required")."""
    msg = _message(exc).lower()
    return "hello must be called with the client already authenticated" in msg or msg.startswith(
        ("noauth", "authentication required")
    )


def is_index_exists(exc: BaseException) -> bool:
    return "index already exists" in _message(exc).lower()


# A server error reply starts with a code; redis-py strips the generic one, "ERR", and keeps
# the others (WRONGTYPE, MISCONF, BUSY, LOADING, MASTERDOWN, CLUSTERDOWN, NOPERM ...), which
# describe the server's state rather than the command's arguments.
_ERROR_CODE = re.compile(r"[A-Z]{3,}\b")
# ERR replies that are about the server's state after all.
_STATE_ERRORS = ("max number of clients", "too many cursors", "timeout")


def is_rejected_arguments(exc: BaseException) -> bool:
    """A plain ``ERR`` reply: the command's arguments were refused (invalid expire time, not an
    integer, syntax error...), which says nothing about the server's health."""
    msg = _message(exc)
    if type(exc) is not rx.ResponseError or _ERROR_CODE.match(msg) is not None:
        return False
    return not any(state in msg.lower() for state in _STATE_ERRORS)


# Everything redis-py raises about the server; cluster routing errors are not RedisErrors.
REDIS_ERRORS = (rx.RedisError, rx.RedisClusterException)


def classify(exc: BaseException, where: str, secrets: Sequence[str] = ()) -> BackendError:
    """The library error for a redis-py error raised while talking to ``where``."""
    detail = _redact(f"{type(exc).__name__}: {_message(exc)}", secrets)
    if isinstance(exc, rx.RedisError) and is_auth_required(exc):
        return BackendUnavailableError(
            f"Redis at {where}: authentication required (give the password in the URL, redis://:<password>@host, "
            "or as password=)"
        )
    if isinstance(exc, rx.RedisClusterUnreachableError):
        return ClusterUnreachableError(f"Redis Cluster via {where}: no node answers ({detail})")
    if isinstance(exc, rx.AuthenticationError):
        return BackendUnavailableError(f"Redis at {where}: authentication failed ({detail})")
    if isinstance(exc, (rx.ConnectionError, rx.TimeoutError, rx.SlotNotCoveredError)):
        return BackendUnavailableError(f"Redis at {where} is unavailable ({detail})")
    if isinstance(exc, rx.ResponseError) and is_unknown_search_command(exc):
        return SearchModuleMissingError(f"Redis at {where}: {SEARCH_MISSING_HINT}")
    if isinstance(exc, rx.ResponseError) and is_index_missing(exc):
        return IndexMissingError(f"Redis at {where}: search index missing ({detail})")
    if isinstance(exc, rx.ResponseError) and is_index_exists(exc):
        return IndexExistsError(f"Redis at {where}: search index exists ({detail})")
    if isinstance(exc, rx.OutOfMemoryError):
        return OutOfMemoryError(f"Redis at {where} is out of memory ({detail})")
    if isinstance(exc, rx.NoScriptError):
        return ScriptMissingError(f"Redis at {where}: script not loaded ({detail})")
    if is_rejected_arguments(exc):
        return CommandRejectedError(f"Redis at {where} refused the command ({detail})")
    return BackendError(f"Redis at {where} failed ({detail})")


@contextmanager
def translate(where: str, secrets: Sequence[str] = ()) -> Iterator[None]:
    """Re-raise redis-py errors as BackendError subclasses, chained with ``from``."""
    try:
        yield
    except REDIS_ERRORS as exc:
        raise classify(exc, where, secrets) from exc
