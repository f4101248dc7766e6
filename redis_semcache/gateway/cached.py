"""The cache side of a chat request: one lookup that says what kind of hit it was,
then, on a miss, single flight (concurrent identical misses call the upstream once).

``get_or_compute`` returns only the value; the gateway also needs to know
whether it was an exact or a semantic hit (and the similarity) for its
``x-semcache`` header, so this composes the manager's own plans - the
``lookup`` plan without counting the miss, then the flight plan - the way
:func:`redis_semcache.quality_plans.get_or_compute_plan` does.  Each request
counts once in the statistics, as with ``get_or_compute``.

A streamed miss cannot run inside the flight (its answer is relayed while it
arrives), so :func:`aclaim_stream` only claims it: a :class:`Lead` relays the
upstream, stores the answer if complete and then releases the flight; the
identical requests meanwhile wait and get the stored answer, or one of them
leads next if nothing was stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .._plan import Plan
from ..manager import LLMCachingManager
from ..quality_plans import lookup_plan
from ..request import build_request
from ..singleflight import claim_flight, release_flight

__all__ = ["Lead", "Served", "aclaim_stream", "aget_or_fetch"]


@dataclass(frozen=True)
class Served:
    outcome: str  # "exact", "semantic" or "miss"
    response: Any
    similarity: float | None = None


def _keywords(key: dict[str, Any]) -> tuple[Any, str, dict[str, Any]]:
    params = {k: v for k, v in key.items() if k not in ("model", "messages")}
    return build_request(messages=key["messages"]), key["model"], params


def _plan(cache: LLMCachingManager, key: dict[str, Any], compute: Callable[[], Awaitable[Any]]) -> Plan[Served]:
    request, model, params = _keywords(key)
    found = yield from lookup_plan(cache, request, model, None, None, None, params, count_miss=False)
    if found.hit:
        return Served(found.kind or "exact", found.response, found.similarity)
    ran = []

    async def tracked() -> Any:
        ran.append(True)
        return await compute()

    value = yield from cache._flight_plan(request, tracked, model, None, None, None, params)
    # Not computed here: another caller's computation of this very entry served it.
    return Served("miss" if ran else "exact", value, None if ran else 1.0)


@dataclass(frozen=True)
class Lead:
    """This streamed miss calls the upstream; identical ones wait until :meth:`release`."""

    cache: LLMCachingManager
    flight: str  # the entry key the flight is on
    token: str | None  # None: it gave up waiting, so it holds no lock

    async def release(self) -> None:
        await self.cache._arun(release_flight(self.flight, self.token))


def _stream_plan(cache: LLMCachingManager, key: dict[str, Any]) -> Plan[Served | Lead]:
    request, model, params = _keywords(key)
    found = yield from lookup_plan(cache, request, model, None, None, None, params, count_miss=False)
    if found.hit:
        return Served(found.kind or "exact", found.response, found.similarity)
    flight = cache._request(request, model, None, params).key
    claim = yield from claim_flight(flight, cache._lookup_version(None), cache.flight_policy)
    if claim.joined:  # another request's stream stored it while this one waited
        return Served("exact", claim.response, 1.0)
    return Lead(cache, flight, claim.token)


async def aclaim_stream(cache: LLMCachingManager, key: dict[str, Any]) -> Served | Lead:
    """The cached answer (a hit, or one stored while waiting), or the lead of this miss."""
    return await cache._arun(_stream_plan(cache, key))


async def aget_or_fetch(cache: LLMCachingManager, key: dict[str, Any], fetch: Callable[[], Awaitable[Any]]) -> Served:
    """The cached answer, or ``fetch()``'s, stored; concurrent identical misses fetch once."""
    return await cache._arun(_plan(cache, key, fetch))
