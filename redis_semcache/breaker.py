"""A circuit breaker, so a dead server is not hammered by every call.

closed     calls go through; ``failure_threshold`` consecutive failures open it.
open       calls are refused at once (the manager then fails open) until
           ``cooldown`` seconds have passed.
half-open  one probe call is let through; success closes the breaker, failure
           opens it for another cooldown.  A probe that ends without a verdict
           (cancelled, or an error that says nothing about the server) must
           call ``release``, or no other call could ever probe again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ._errors import InvalidInputError
from ._validate import check_positive

__all__ = ["CircuitBreaker"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitBreaker:
    def __init__(
        self, *, failure_threshold: int = 3, cooldown: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if isinstance(failure_threshold, bool) or not isinstance(failure_threshold, int) or failure_threshold < 1:
            raise InvalidInputError(f"failure_threshold must be a positive int, got {failure_threshold!r}")
        self.failure_threshold = failure_threshold
        self.cooldown = check_positive(cooldown, "cooldown")
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at >= self.cooldown:
            return HALF_OPEN
        return OPEN

    def allow(self) -> bool:
        """May a call go to the server now?  In half-open state only one probe may."""
        with self._lock:
            state = self._state()
            if state == CLOSED:
                return True
            if state == HALF_OPEN and not self._probing:
                self._probing = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def release(self) -> None:
        """A call let through ended without a verdict: let the next call probe."""
        with self._lock:
            self._probing = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
            self._probing = False
