"""``semcache stats | top | health | invalidate | clear | drop``: look at and act on a running cache.

Every command connects to ``--redis-url`` (or ``REDIS_URL``) and works on the
cache named ``--name``; ``--json`` prints data as JSON.  Exit codes: 0 done,
1 failed (or unhealthy), 2 refused or bad usage.  A failure prints one line on
stderr, naming the server by host and port only, never by its URL (which may
hold a password).

The commands touch nothing else: a name with no cache behind it is an error,
not a new empty cache.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._errors import ConfigurationError, SemanticCacheError
from .backends.base import SORT_FIELDS

__all__ = ["COMMANDS", "OpsCommand"]

# Statistics that describe the cache itself; the rest (latencies, errors) are this process's.
CACHE_WIDE = ("total_requests", "hits", "exact_hits", "semantic_hits", "misses", "hit_rate", "sets", "evictions",
              "expirations", "invalidations", "single_flight_joins", "explorations", "cache_size")  # fmt: skip
_INDEX = re.compile(r"^semcache:\{(?P<name>.+):\d+\}:idx:")


@dataclass(frozen=True)
class OpsCommand:
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class Refused(Exception):
    """The command would do something irreversible without ``--yes``."""


def add_connection(parser: argparse.ArgumentParser, *, data: bool = True) -> None:
    parser.add_argument("--redis-url", default=None, help="the cache's Redis (default: $REDIS_URL)")
    parser.add_argument("--name", default="llmcache", help="the cache name given to the backend (default llmcache)")
    parser.add_argument("--cluster", action="store_true", help="the server is a Redis Cluster (or REDIS_CLUSTER=1)")
    if data:
        parser.add_argument("--json", action="store_true", help="print JSON")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _configure_top(parser: argparse.ArgumentParser) -> None:
    add_connection(parser)
    parser.add_argument("--limit", type=_positive, default=10, help="how many entries (default 10)")
    parser.add_argument("--sort-by", choices=SORT_FIELDS, default="access_count", help="order (descending)")


def _configure_invalidate(parser: argparse.ArgumentParser) -> None:
    add_connection(parser)
    what = parser.add_argument_group("what to delete (at least one; an entry matching any is deleted)")
    what.add_argument("--tag", action="append", help="entries carrying this tag (repeatable)")
    what.add_argument("--version", help="entries stored with this version")
    what.add_argument("--pattern", help="entries whose normalised prompt matches this glob")
    what.add_argument("--key", action="append", help="the entry with this id (repeatable)")


def _configure_destructive(parser: argparse.ArgumentParser) -> None:
    add_connection(parser, data=False)
    parser.add_argument("--yes", action="store_true", help="really do it")


# -- connecting -------------------------------------------------------------------


def _open(args: argparse.Namespace) -> Any:
    """A strict manager over the existing cache ``args.name`` (ConfigurationError if there is none)."""
    from .backends.redis import RedisCacheBackend
    from .config import read_env
    from .manager import LLMCachingManager

    env = read_env()
    url = args.redis_url or env.redis_url
    if not url:
        raise ConfigurationError("no Redis to talk to: pass --redis-url or set REDIS_URL")
    cluster = args.cluster or bool(env.redis_cluster)
    # max_size=None: this process must never trim a cache whose size limit it does not know.
    backend = RedisCacheBackend(url=url, name=args.name, max_size=None, cluster_mode=cluster)
    try:
        if not cluster:
            _require_cache(backend)
    except BaseException:
        backend.close()
        raise
    return LLMCachingManager(backend, embedder=None, strict=True, circuit_breaker=None)


def _require_cache(backend: Any) -> None:
    from .backends.redis.probe import refuse_cluster_node

    backend._run(refuse_cluster_node(backend._where))  # a cluster node lists only its own indexes
    with backend._translate():
        names = sorted({m["name"] for m in map(_INDEX.match, _texts(backend._client.execute_command("FT._LIST"))) if m})
    if backend.name not in names:
        known = ", ".join(names) if names else "none"
        raise ConfigurationError(f"no cache named {backend.name!r} at {backend._where} (caches there: {known})")


def _texts(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _fail(command: str, message: str, code: int = 1) -> int:
    print(f"semcache {command}: error: {message}", file=sys.stderr)
    return code


def _guarded(command: str, action: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run ``action``; errors become one line on stderr and an exit code, never a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return action(args)
        except Refused as exc:
            return _fail(command, str(exc), 2)
        except SemanticCacheError as exc:
            return _fail(command, str(exc))

    return run


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if getattr(args, "json", False) else text)


# -- the commands -------------------------------------------------------------------


def _stats(args: argparse.Namespace) -> int:
    with _open(args) as cache:
        stats = cache.get_statistics()
    shown = {k: stats[k] for k in CACHE_WIDE}
    _emit(args, shown, "\n".join(f"{k:<20} {v}" for k, v in shown.items()))
    return 0


def _top(args: argparse.Namespace) -> int:
    with _open(args) as cache:
        entries = cache.get_top_entries(limit=args.limit, sort_by=args.sort_by)
    rows = [f"{'reads':>6}  {'last access (UTC)':<19}  {'key':<40}  prompt"]
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e["last_access"]))
        prompt = e["prompt"] if len(e["prompt"]) <= 60 else e["prompt"][:57] + "..."
        rows.append(f"{e['access_count']:>6}  {when:<19}  {e['key']:<40}  {prompt!r}")
    _emit(args, entries, "\n".join(rows))
    return 0


def _health(args: argparse.Namespace) -> int:
    try:
        cache = _open(args)
    except SemanticCacheError as exc:  # unreachable, or no such cache: unhealthy, said the same way
        report: dict[str, Any] = {"status": "unhealthy", "reason": str(exc)}
    else:
        with cache:
            report = cache.health_check()
        for local in ("errors", "semantic_enabled", "embedder_loaded"):  # this process's, not the cache's
            report.pop(local, None)
    lines = [f"{k:<20} {json.dumps(v, default=str)}" for k, v in report.items()]
    _emit(args, report, "\n".join(lines))
    return 0 if report.get("status") == "healthy" else 1


def _invalidate(args: argparse.Namespace) -> int:
    if not (args.tag or args.version or args.pattern or args.key):
        raise Refused("say what to delete: --tag, --version, --pattern or --key")
    with _open(args) as cache:
        deleted = cache.invalidate(pattern=args.pattern, tags=args.tag, version=args.version, keys=args.key)
    _emit(args, {"deleted": deleted}, f"deleted {deleted} entries")
    return 0


def _clear(args: argparse.Namespace) -> int:
    if not args.yes:
        raise Refused(f"this deletes every entry of cache {args.name!r}: add --yes")
    with _open(args) as cache:
        before = cache.get_statistics()["cache_size"]
        cache.clear()
    print(f"cleared cache {args.name!r} ({before} entries)")
    return 0


def _drop(args: argparse.Namespace) -> int:
    if not args.yes:
        raise Refused(f"this deletes cache {args.name!r} entirely (index, entries, statistics): add --yes")
    with _open(args) as cache:
        cache.backend.drop()
    print(f"dropped cache {args.name!r}")
    return 0


COMMANDS = {
    "stats": OpsCommand("a running cache's shared statistics", add_connection, _guarded("stats", _stats)),
    "top": OpsCommand("a running cache's most used entries", _configure_top, _guarded("top", _top)),
    "health": OpsCommand("check a running cache; exit 1 when unhealthy or unreachable", add_connection, _health),
    "invalidate": OpsCommand(
        "delete entries by tag, version, prompt pattern or key", _configure_invalidate,
        _guarded("invalidate", _invalidate),
    ),
    "clear": OpsCommand("delete every entry (needs --yes)", _configure_destructive, _guarded("clear", _clear)),
    "drop": OpsCommand("delete the cache: index, entries, statistics (needs --yes)", _configure_destructive,
                       _guarded("drop", _drop)),
}  # fmt: skip
