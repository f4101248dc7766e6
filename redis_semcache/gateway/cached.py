"""The cache side of a chat request: one lookup that says what kind of hit it was,
then, on a miss, single flight (concurrent identical misses call the upstream once).

``get_or_compute`` returns only the value; the gateway also needs to know
whether it was an exact or a semantic hit (and the similarity) for its
``x-semcache`` header, so this composes the manager's own plans - the
``lookup`` plan without counting the miss, then the flight plan - the way
:func:`redis_semcache.quality_plans.get_or_compute_plan` does.  Each request
counts once in the statistics, as with ``get_or_compute``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .._plan import Plan
from ..manager import LLMCachingManager
from ..quality_plans import lookup_plan
from ..request import build_request

__all__ = ["Served", "aget_or_fetch", "alookup"]


@dataclass(frozen=True)
class Served:
    outcome: str  # "exact", "semantic" or "miss"
    response: Any
    similarity: float | None = None


def _keywords(key: dict[str, Any]) -> tuple[Any, str, dict[str, Any]]:
    params = {k: v for k, v in key.items() if k not in ("model", "messages")}
    return build_request(messages=key["messages"]), key["model"], params


def _plan(cache: LLMCachingManager, key: dict[str, Any], compute: Callable[[], Awaitable[Any]] | None) -> Plan[Served]:
    request, model, params = _keywords(key)
    found = yield from lookup_plan(cache, request, model, None, None, None, params, count_miss=compute is None)
    if found.hit:
        return Served(found.kind or "exact", found.response, found.similarity)
    if compute is None:
        return Served("miss", None)
    ran = []

    async def tracked() -> Any:
        ran.append(True)
        return await compute()

    value = yield from cache._flight_plan(request, tracked, model, None, None, None, params)
    # Not computed here: another caller's computation of this very entry served it.
    return Served("miss" if ran else "exact", value, None if ran else 1.0)


async def alookup(cache: LLMCachingManager, key: dict[str, Any]) -> Served:
    """A lookup only (a streamed miss is relayed, not computed); counts a miss."""
    return await cache._arun(_plan(cache, key, None))


async def aget_or_fetch(cache: LLMCachingManager, key: dict[str, Any], fetch: Callable[[], Awaitable[Any]]) -> Served:
    """The cached answer, or ``fetch()``'s, stored; concurrent identical misses fetch once."""
    return await cache._arun(_plan(cache, key, fetch))
