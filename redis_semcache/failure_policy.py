"""What a backend call does when the backend fails: the manager's failure policy.

Every backend call of a plan (:class:`~redis_semcache._plan.BackendCall`) goes
through :class:`FailurePolicy`:

* the :class:`~redis_semcache.breaker.CircuitBreaker` (when there is one) may
  refuse it at once while the backend keeps failing;
* a failed or refused call is counted, and logged once per outage;
* removals (invalidate, clear) never fail open: they raise InvalidationError;
* otherwise ``strict`` raises the error, a local fallback backend answers, or
  the call's ``fallback`` value stands in (fail open);
* while the backend is healthy, removals and writes are mirrored onto the local
  fallback, and the fallback is emptied when an outage ends, so it never serves
  what the backend no longer holds.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from ._errors import (
    BackendError,
    BackendUnavailableError,
    CommandRejectedError,
    InvalidationError,
    ReplicationPendingError,
)
from ._plan import RESULT, BackendCall
from .backends.base import AsyncCacheBackend, CacheBackend
from .breaker import CircuitBreaker

__all__ = ["FailurePolicy"]

log = logging.getLogger("redis_semcache")

_CIRCUIT_OPEN = BackendUnavailableError("circuit breaker open: backend calls paused after repeated failures")
# Calls that remove entries: they never fail open, and the local fallback gets each one.
_REMOVALS = frozenset({"delete_keys", "delete_tags", "delete_version", "delete_pattern", "clear"})


class FailurePolicy:
    """Run backend calls through the breaker; on failure raise, use the fallback, or fail open."""

    def __init__(
        self,
        backend: CacheBackend,
        *,
        breaker: CircuitBreaker | None,
        fallback: CacheBackend | None,
        strict: bool,
    ) -> None:
        self.backend = backend
        self.async_backend = backend if isinstance(backend, AsyncCacheBackend) else None
        self.breaker = breaker
        self.fallback = fallback
        self.strict = strict
        self.errors = 0  # failed or refused calls since the last reset
        self.outage: str | None = None  # reason of the current backend outage, if any
        self._lock = threading.Lock()

    def record_error(self) -> None:
        """Count an error the library met outside a backend call (say, an unreadable cached value)."""
        with self._lock:
            self.errors += 1

    def reset_errors(self) -> None:
        with self._lock:
            self.errors = 0

    def call(self, call: BackendCall) -> Any:
        if self.breaker is not None and not self.breaker.allow():
            return self._unavailable(call, _CIRCUIT_OPEN)
        try:
            result = getattr(self.backend, call.method)(*call.args, **call.kwargs)
        except BackendError as exc:
            return self._unavailable(call, exc)
        except BaseException:
            self._no_verdict()
            raise
        return self._succeeded(call, result)

    async def acall(self, call: BackendCall) -> Any:
        if self.breaker is not None and not self.breaker.allow():
            await asyncio.sleep(0)  # refused at once, yet a loop of awaits must let other tasks run
            return self._unavailable(call, _CIRCUIT_OPEN)
        try:
            if self.async_backend is not None:
                result = await getattr(self.async_backend, "a" + call.method)(*call.args, **call.kwargs)
            elif self.backend.blocking_io:
                sync = getattr(self.backend, call.method)
                result = await asyncio.to_thread(sync, *call.args, **call.kwargs)
            else:  # in-process backend: no I/O to wait for
                result = getattr(self.backend, call.method)(*call.args, **call.kwargs)
        except BackendError as exc:
            return self._unavailable(call, exc)
        except BaseException:  # cancelled (asyncio.wait_for), or an error that says nothing about the server
            self._no_verdict()
            raise
        return self._succeeded(call, result)

    def _no_verdict(self) -> None:
        """The call ended neither in success nor in a backend failure: if it was the
        breaker's half-open probe, let another call probe."""
        if self.breaker is not None:
            self.breaker.release()

    def _succeeded(self, call: BackendCall, result: Any) -> Any:
        if self.breaker is not None:
            self.breaker.record_success()
        if self.outage is not None:
            with self._lock:  # threads race here: only one logs the recovery
                ended, self.outage = self.outage, None
            if ended is not None:
                log.warning("redis_semcache: backend recovered after: %s", ended)
                if self.fallback is not None:
                    self.fallback.clear()  # see _mirror
        self._mirror(call)
        return result if call.on_success is RESULT else call.on_success

    def _mirror(self, call: BackendCall) -> None:
        """Keep the local fallback from ever serving what the backend no longer holds.

        The fallback is emptied when an outage ends, and while the backend is
        healthy every removal, and every write of a key, also applies to the
        fallback (an outage call may finish after the emptying).
        """
        fallback = self.fallback
        if fallback is None:
            return
        if call.method in _REMOVALS:
            getattr(fallback, call.method)(*call.args, **call.kwargs)
        elif call.method == "store":
            fallback.delete_keys([call.args[0].key])
        elif call.method == "store_many":
            fallback.delete_keys([entry.key for entry, _ in call.args[0]])

    def _unavailable(self, call: BackendCall, exc: BackendError) -> Any:
        """Count and log a failed (or refused) call, then raise, use the local fallback, or fail open.

        A failed removal (invalidate, clear) raises InvalidationError whatever
        ``strict`` says: the entries it was to remove may still be served.
        """
        no_verdict = _no_verdict(exc)
        reason = None if exc is _CIRCUIT_OPEN or no_verdict else _reason(exc)
        with self._lock:
            self.errors += 1
            began = reason is not None and self.outage is None
            if reason is not None:
                self.outage = reason
        if self.breaker is not None and exc is not _CIRCUIT_OPEN:
            if no_verdict:  # the request was at fault, or the primary did its part: not an outage
                self.breaker.release()
            else:
                self.breaker.record_failure()
        if began:  # log once per outage, not once per call (nor once per thread)
            serving = "from the local fallback" if self.fallback is not None else "misses"
            log.warning("redis_semcache: backend failing, serving %s: %s", serving, reason)
        if call.method in _REMOVALS:
            if self.fallback is not None:
                getattr(self.fallback, call.method)(*call.args, **call.kwargs)
            if isinstance(exc, InvalidationError):
                raise exc
            raise InvalidationError(f"{call.method} did not complete: {exc}") from exc
        if self.strict:
            raise exc
        if self.fallback is not None and call.method != "health":  # health reports the backend itself
            result = getattr(self.fallback, call.method)(*call.args, **call.kwargs)
            return result if call.on_success is RESULT else call.on_success
        return call.fallback


def _no_verdict(exc: BaseException) -> bool:
    """No verdict on the server's health: it refused the arguments (CommandRejectedError, possibly
    inside a failed removal), or a removal is done on the primary but not yet on its replicas."""
    if isinstance(exc, ReplicationPendingError):
        return True
    return isinstance(exc, CommandRejectedError) or isinstance(exc.__cause__, CommandRejectedError)


def _reason(exc: BaseException) -> str:
    """An outage's reason: a failed removal's own cause (say, the authentication failure) when it has one."""
    cause = exc.__cause__ if isinstance(exc, InvalidationError) else None
    shown = cause if isinstance(cause, BackendError) else exc
    return f"{type(shown).__name__}: {shown}"
