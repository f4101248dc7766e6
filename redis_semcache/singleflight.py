"""Stampede protection settings: one caller computes, the others wait.

When N callers miss the same entry at once, the first to take a short-lived
lock on the entry key computes; the others poll for the value with exponential
backoff (5 ms doubling to 100 ms, with jitter), so a waiter learns the value
at most ~100 ms plus one round trip after it is stored.  Polling needs no
extra connection per waiter (pub/sub would) and survives a server restart.

* A crashed holder's lock expires after ``lock_ttl``; waiters then take over.
* A waiter gives up after ``wait_timeout`` and computes itself.
* If ``compute`` raises, the error reaches its caller, nothing is cached, and
  the lock is released so the waiters try again.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from ._validate import check_positive

__all__ = ["FlightPolicy"]


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
