"""Making a removal outlive a failover: wait for the partition's replicas (WAIT / WAITAOF).

Redis replicates asynchronously.  A sweep that deleted entries on a primary
whose replica had not received the deletes yet would be undone by a failover:
the promoted replica still holds the entries, and serves them again.  So every
removal (invalidation, ``clear``, ``drop``) ends by waiting for the replicas:

* the removal's first round trip also reads ``INFO replication persistence``
  from the partition's node (no extra round trip): how many replicas are
  online, and whether the node writes an AOF;
* with no replica online (a single Redis), nothing more is sent;
* otherwise one more round trip: a small marker write, then ``WAIT n t``
  (and, with ``wait_aof`` and appendonly on, ``WAITAOF 1 0 t``), on one connection.  WAIT waits
  for the replicas to acknowledge the connection's last write; the marker is
  written after every delete of the removal has been answered, so its
  replication offset covers them all.  A removal whose replicas did not
  acknowledge within the timeout raises ReplicationPendingError, an
  InvalidationError (``deleted`` says how many entries the primary deleted).

``Durability.replicas`` None means "every replica online when the removal
began"; an int asks for that many (0: do not wait for replicas).

``Durability.aof`` (off by default) also waits for the primary's AOF fsync,
against losing the deletion to a restart of the primary.  Redis fsyncs the AOF
once a second under ``appendfsync everysec``, so that wait takes up to a
second: raise ``replica_timeout`` and ``socket_timeout`` with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..._errors import ConfigurationError, InvalidationError, ReplicationPendingError
from .codec import text
from .wire import Command, Pipeline, WirePlan

__all__ = ["DEFAULT_TIMEOUT", "Durability", "Needs", "confirm", "needs_from_info"]

DEFAULT_TIMEOUT = 0.5  # seconds a removal waits for its replicas (below the default 1 s socket timeout)
_MARKER_MS = 10_000  # the marker key's life; any write would do, this one cleans up after itself


@dataclass(frozen=True)
class Durability:
    """How many replicas must acknowledge a removal, and how long to wait for them."""

    replicas: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    aof: bool = False

    def __post_init__(self) -> None:
        r = self.replicas
        if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 0):
            raise ConfigurationError(f"wait_replicas must be None (every online replica) or an int >= 0, got {r!r}")
        t = self.timeout
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < math.inf:
            raise ConfigurationError(f"replica_timeout must be a positive number of seconds, got {t!r}")

    @classmethod
    def build(cls, replicas: int | None, timeout: float | None, aof: bool, socket_timeout: float | None) -> Durability:
        """The settings of a backend.  WAIT blocks the connection, so the wait must end before the
        socket timeout: unset, it is DEFAULT_TIMEOUT or half the socket timeout, the shorter."""
        if timeout is None:
            timeout = DEFAULT_TIMEOUT if socket_timeout is None else min(DEFAULT_TIMEOUT, socket_timeout / 2)
        elif socket_timeout is not None and timeout >= socket_timeout:
            raise ConfigurationError(
                f"replica_timeout={timeout!r} must be shorter than socket_timeout={socket_timeout!r}"
            )
        return cls(replicas, timeout, bool(aof))


@dataclass(frozen=True)
class Needs:
    """What one removal must wait for on its node."""

    replicas: int
    aof: bool

    @property
    def any(self) -> bool:
        return self.replicas > 0 or self.aof


def info_command(route: str) -> Command:
    """The read, on the partition's node, that a removal pipelines into its first round trip."""
    return Command(("INFO", "replication", "persistence"), route=route)


def needs_from_info(reply: Any, durability: Durability) -> Needs:
    """What to wait for, from an ``INFO replication persistence`` reply (parsed by redis-py, or raw)."""
    info = _info_dict(reply)
    online = sum(1 for k, v in info.items() if k.startswith("slave") and k[5:].isdigit() and _online(v))
    replicas = online if durability.replicas is None else durability.replicas
    aof = durability.aof and str(info.get("aof_enabled", "0")).strip() == "1"
    return Needs(replicas=replicas, aof=aof)


def confirm(marker: str, route: str, needs: Needs | None, durability: Durability, deleted: int) -> WirePlan[None]:
    """Wait until ``needs`` are met for every write made so far on this node, else raise InvalidationError."""
    if needs is None or not needs.any:
        return
    ms = max(1, round(durability.timeout * 1000))
    commands = [Command(("SET", marker, "1", "PX", _MARKER_MS))]
    if needs.aof:
        commands.append(Command(("WAITAOF", 1, 0, ms), route=route))
    if needs.replicas:
        commands.append(Command(("WAIT", needs.replicas, ms), route=route))
    results = yield Pipeline(tuple(commands))
    failed = next((r for r in results if isinstance(r, BaseException)), None)
    if failed is not None:
        raise InvalidationError(
            f"deleted {deleted} entries, but could not confirm that replicas hold the deletion ({failed})",
            deleted=deleted,
        )
    problems = []
    if needs.aof and int(results[1][0]) < 1:
        problems.append("the primary did not fsync its AOF")
    if needs.replicas and int(results[-1]) < needs.replicas:
        problems.append(f"{int(results[-1])} of {needs.replicas} replicas acknowledged")
    if problems:
        raise ReplicationPendingError(
            f"deleted {deleted} entries on the primary, but {' and '.join(problems)} within "
            f"{durability.timeout} s: a failover now could bring the entries back",
            deleted=deleted,
        )


def _info_dict(reply: Any) -> dict[str, Any]:
    if isinstance(reply, Mapping):
        return {text(k): v for k, v in reply.items()}
    pairs = (line.split(":", 1) for line in text(reply).splitlines() if ":" in line and not line.startswith("#"))
    return {k: v for k, v in pairs}


def _online(replica: Any) -> bool:
    """One ``slaveN`` line: ``ip=...,port=...,state=online,...`` (a dict once redis-py parsed it)."""
    if isinstance(replica, Mapping):
        return text(replica.get("state", b"")) == "online"
    return "state=online" in text(replica)
