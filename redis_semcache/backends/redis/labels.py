"""Hit-quality labels in Redis, shared by every instance of one cache.

Two hashes per partition, fields ``ok:<bin>`` / ``bad:<bin>`` (see
:mod:`redis_semcache.quality.labels`)::

    semcache:{<name>:<p>}:labels            every scope of the partition
    semcache:{<name>:<p>}:labels:<scope>    one scope

A label goes to its scope's partition, both hashes in one pipelined round trip
(same slot).  Reading a scope's rule needs its hash and every partition's
total: one pipeline (on a cluster, redis-py routes each command to its node).
The hashes live under the cache's key pattern, so ``drop`` removes them and an
ACL for the cache covers them; ``clear`` (entries only) keeps them.
"""

from __future__ import annotations

from typing import Any

from ...quality.labels import LabelCounts, field_of, parse_fields
from .codec import text
from .layout import KeyLayout
from .wire import Command, Pipeline, WirePlan

__all__ = ["read_labels", "record_label"]


def _total(layout: KeyLayout, p: int) -> str:
    return f"{layout.base(p)}labels"


def _scope(layout: KeyLayout, scope: str) -> str:
    return f"{_total(layout, layout.partition_of(scope))}:{scope}"


def record_label(layout: KeyLayout, scope: str, similarity: float, correct: bool) -> WirePlan[None]:
    field = field_of(similarity, correct)
    p = layout.partition_of(scope)
    replies = yield Pipeline(
        (Command(("HINCRBY", _total(layout, p), field, 1)), Command(("HINCRBY", _scope(layout, scope), field, 1)))
    )
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply


def read_labels(layout: KeyLayout, scope: str) -> WirePlan[tuple[LabelCounts, LabelCounts]]:
    """(every scope's labels, this scope's labels)."""
    keys = [_scope(layout, scope), *(_total(layout, p) for p in range(layout.partitions))]
    replies = yield Pipeline(tuple(Command(("HGETALL", key)) for key in keys))
    counts = []
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
        counts.append(parse_fields({text(k): int(v) for k, v in _pairs(reply)}))
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
