"""Hit-quality labels in Redis, shared by every instance of one cache.

Two hashes per partition, fields ``ok:<bin>`` / ``bad:<bin>`` (see
:mod:`redis_semcache.quality.labels`)::

    semcache:{<name>:<p>}:labels            every scope of the partition
    semcache:{<name>:<p>}:labels:<scope>    one scope

plus the newest ``RECENT`` labels of each, in order, as capped lists (LPUSH then
LTRIM: bounded however many labels arrive) for the change detector::

    semcache:{<name>:<p>}:recent            semcache:{<name>:<p>}:recent:<scope>

A label goes to its scope's partition, all four keys in one pipelined round trip
(same slot).  Reading a scope's rule needs its hash and every partition's
total: one pipeline (on a cluster, redis-py routes each command to its node).
The hashes live under the cache's key pattern, so ``drop`` removes them and an
ACL for the cache covers them; ``clear`` (entries only) keeps them.
"""

from __future__ import annotations

from typing import Any

from ...quality.labels import RECENT, LabelCounts, field_of, parse_fields
from .codec import text
from .layout import KeyLayout
from .wire import Command, Pipeline, WirePlan

__all__ = ["read_labels", "record_label"]


def _total(layout: KeyLayout, p: int) -> str:
    return f"{layout.base(p)}labels"


def _scope(layout: KeyLayout, scope: str) -> str:
    return f"{_total(layout, layout.partition_of(scope))}:{scope}"


def _recent(layout: KeyLayout, p: int, scope: str | None = None) -> str:
    return f"{layout.base(p)}recent" + ("" if scope is None else f":{scope}")


def record_label(layout: KeyLayout, scope: str, similarity: float, correct: bool) -> WirePlan[None]:
    field = field_of(similarity, correct)
    p = layout.partition_of(scope)
    commands = [
        Command(("HINCRBY", _total(layout, p), field, 1)),
        Command(("HINCRBY", _scope(layout, scope), field, 1)),
    ]
    for key in (_recent(layout, p), _recent(layout, p, scope)):
        commands += [Command(("LPUSH", key, field)), Command(("LTRIM", key, 0, RECENT - 1))]
    replies = yield Pipeline(tuple(commands))
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply


def read_labels(layout: KeyLayout, scope: str) -> WirePlan[tuple[LabelCounts, LabelCounts]]:
    """(every scope's labels, this scope's labels)."""
    parts = range(layout.partitions)
    keys = [_scope(layout, scope), *(_total(layout, p) for p in parts)]
    recent = [_recent(layout, layout.partition_of(scope), scope), *(_recent(layout, p) for p in parts)]
    replies = yield Pipeline(
        tuple(Command(("HGETALL", key)) for key in keys) + tuple(Command(("LRANGE", key, 0, -1)) for key in recent)
    )
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    hashes, lists = replies[: len(keys)], replies[len(keys) :]
    counts = [
        parse_fields({text(k): int(v) for k, v in _pairs(reply)}).with_recent([text(f) for f in newest])
        for reply, newest in zip(hashes, lists, strict=True)
    ]
    total = LabelCounts.empty()
    for part in counts[1:]:
        total = total + part
    return total, counts[0]


def _pairs(reply: Any) -> list[tuple[Any, Any]]:
    """HGETALL replies a dict (RESP3 / redis-py callbacks) or a flat list."""
    if isinstance(reply, dict):
        return list(reply.items())
    flat = list(reply)
    return list(zip(flat[::2], flat[1::2], strict=True))
