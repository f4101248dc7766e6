"""Stampede protection: one caller computes, the others wait.

When N callers miss the same entry at once, the first to take a short-lived
lock on the entry key computes; the others poll for the value with exponential
backoff (5 ms doubling to 100 ms, with jitter), so a waiter learns the value
at most ~100 ms plus one round trip after it is stored.  Polling needs no
extra connection per waiter (pub/sub would) and survives a server restart.

* A crashed holder's lock expires after ``lock_ttl``; waiters then take over.
* A waiter gives up after ``wait_timeout`` and computes itself.
* If ``compute`` raises, the error reaches its caller, nothing is cached, and
  the lock is released so the waiters try again.

:class:`FlightPolicy` holds the settings; :func:`single_flight` is the
algorithm, a plan the manager's ``get_or_compute`` runs after its lookup missed.
:func:`claim_flight` is its first half (wait, or lead), for a caller whose
computation outlives the plan (the gateway relaying a stream).
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ._plan import BackendCall, Compute, Plan, Sleep
from ._validate import check_positive

__all__ = ["Claim", "FlightPolicy", "claim_flight", "release_flight", "single_flight"]

log = logging.getLogger("redis_semcache")


@dataclass(frozen=True)
class FlightPolicy:
    lock_ttl: float = 30.0
    wait_timeout: float = 30.0
    initial_backoff: float = 0.005
    max_backoff: float = 0.1

    def __post_init__(self) -> None:
        for name in ("lock_ttl", "wait_timeout", "initial_backoff", "max_backoff"):
            check_positive(getattr(self, name), name)

    def backoff(self) -> Iterator[float]:
        """Pauses between polls: doubling from ``initial_backoff``, capped, +-20% jitter."""
        delay = self.initial_backoff
        while True:
            yield delay * random.uniform(0.8, 1.2)
            delay = min(delay * 2, self.max_backoff)


@dataclass(frozen=True)
class Claim:
    """One caller's share of a missed entry's flight: ``joined`` when another caller
    stored it (``response``); otherwise this caller computes, holding the lock if it
    has a ``token`` (then it must :func:`release_flight` once it stored or failed)."""

    joined: bool
    response: Any = None
    token: str | None = None


def claim_flight(key: str, version: str | None, policy: FlightPolicy) -> Plan[Claim]:
    """Wait until entry ``key`` is stored by another caller or this caller is to compute it.

    Run after a lookup that missed and counted nothing: this plan counts the
    outcome (a miss when this caller computes, a joined exact hit otherwise).
    """

    def count(joined: bool) -> BackendCall:
        return BackendCall("count_flight", (key, joined), fallback=None)

    token = secrets.token_hex(16)
    deadline = time.monotonic() + policy.wait_timeout
    pauses = policy.backoff()
    # A failing backend grants the lock: computing beats waiting on a dead server.
    acquire = BackendCall("acquire_lock", (key, token, policy.lock_ttl), fallback=True)
    acquired = yield acquire
    while True:
        if acquired:
            try:
                entry, _ = yield BackendCall("flight_status", (key, version), fallback=(None, False))
                yield count(entry is not None)
            except BaseException:  # cancelled while holding the lock
                yield from release_flight(key, token)
                raise
            if entry is not None:  # stored between our miss and our lock
                yield from release_flight(key, token)
                return Claim(True, entry.response)
            return Claim(False, token=token)
        if time.monotonic() >= deadline:
            log.warning("redis_semcache: gave up waiting for another caller's compute; computing")
            yield count(False)
            return Claim(False)
        yield Sleep(next(pauses))
        entry, locked = yield BackendCall("flight_status", (key, version), fallback=(None, False))
        if entry is not None:
            yield count(True)
            return Claim(True, entry.response)
        # no value and no lock: the holder failed or crashed, so try to take over
        acquired = False if locked else (yield acquire)


def release_flight(key: str, token: str | None) -> Plan[None]:
    """Let the callers waiting on ``key`` go: they find the stored entry, or one takes over."""
    if token is not None:
        yield BackendCall("release_lock", (key, token), fallback=False)


def single_flight(
    key: str,
    version: str | None,
    policy: FlightPolicy,
    compute: Callable[[], Any],
    store: Callable[[Any], Plan[bool]],
) -> Plan[Any]:
    """The value of entry ``key`` once one caller has computed and stored it (``store(value)``).

    Run after a lookup that missed and counted nothing (:func:`claim_flight` counts).
    """
    claim = yield from claim_flight(key, version, policy)
    if claim.joined:
        return claim.response
    try:
        value = yield Compute(compute)
        yield from store(value)
        return value
    finally:
        yield from release_flight(key, claim.token)
