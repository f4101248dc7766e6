"""A judge for the grey zone: near misses vetted off the request path (compare Krites,
arXiv 2602.13165).

``judge(query, candidate_prompt, candidate_response) -> bool`` (sync, or async:
then run on the worker's own event loop) is asked about candidates in a band
below the threshold.  A lookup only offers the candidate to a bounded queue and
returns: it never waits for the judge, and when the queue is full the offer is
dropped (counted in ``dropped``).  One daemon thread works the queue: it fetches
the candidate's response, asks the judge, records the verdict as a label, and on
approval stores that response under the query's own exact key, so the next
identical request is an exact hit.

The worker uses the manager's sync methods, so the backend needs a blocking
client (a Redis backend given only ``async_client=`` cannot be judged).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .._errors import InvalidInputError
from .result import LookupResult

if TYPE_CHECKING:
    from .._plan import Plan

T = TypeVar("T")


class _EntryReader(Protocol):
    """What the judge reads of the backend (quality/ imports nothing of the backends)."""

    def flight_status(self, key: str, version: str | None) -> tuple[Any, bool]: ...


class JudgedCache(Protocol):
    """What the judge uses of the cache (the manager), named here so this module
    needs no import of the manager."""

    @property
    def backend(self) -> _EntryReader: ...

    def feedback(self, result: LookupResult, correct: bool) -> bool: ...

    def _set_plan(
        self, prompt: Any, response: Any, model: Any, ttl: Any, embedding: Any, tags: Any, version: Any,
        namespace: str | None, params: Mapping[str, Any],
    ) -> Plan[bool]: ...  # fmt: skip

    def _run(self, plan: Plan[T]) -> T: ...


__all__ = ["Case", "GreyZoneJudge", "Judge"]

log = logging.getLogger("redis_semcache")

Judge = Callable[[str, str, Any], Any]  # -> bool, or an awaitable of bool


@dataclass(frozen=True)
class Case:
    result: LookupResult
    query: str
    request: Any
    model: str
    namespace: str | None
    params: Mapping[str, Any]
    version: str | None


class GreyZoneJudge:
    """Asks ``judge`` about candidates with similarity in [threshold - band, threshold)."""

    def __init__(self, judge: Judge, *, band: float = 0.05, max_queue: int = 100) -> None:
        if not callable(judge):
            raise InvalidInputError("judge must be a callable (query, candidate_prompt, candidate_response) -> bool")
        if isinstance(band, bool) or not isinstance(band, (int, float)) or not 0.0 < float(band) < 1.0:
            raise InvalidInputError(f"judge_band must be a number in (0, 1), got {band!r}")
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise InvalidInputError(f"judge_queue must be a positive int, got {max_queue!r}")
        self.judge = judge
        self.band = float(band)
        self.dropped = 0
        self.judged = 0
        self._queue: queue.Queue[tuple[JudgedCache, Case]] = queue.Queue(maxsize=max_queue)
        self._worker: threading.Thread | None = None
        self._start = threading.Lock()

    def in_band(self, result: LookupResult) -> bool:
        rule, similarity = result.threshold, result.similarity
        if result.hit or result.candidate_key is None or similarity is None:
            return False
        low = (1.0 if rule is None else rule) - self.band  # exact only: the band below 1.0
        return similarity >= low

    def offer(self, cache: JudgedCache, case: Case) -> bool:
        """Queue ``case`` for the judge without waiting; False when the queue is full."""
        try:
            self._queue.put_nowait((cache, case))
        except queue.Full:
            self.dropped += 1
            return False
        with self._start:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="semcache-judge", daemon=True)
                self._worker.start()
        return True

    def wait(self) -> None:
        """Block until every queued case is judged (tests, shutdown)."""
        self._queue.join()

    def _work(self) -> None:
        loop: asyncio.AbstractEventLoop | None = None
        while True:
            cache, case = self._queue.get()
            try:
                loop = self._judge(cache, case, loop)
            except Exception:  # a failing judge or backend loses one verdict, never the worker
                log.exception("redis_semcache: the grey-zone judge failed on one candidate")
            finally:
                self._queue.task_done()

    def _judge(
        self, cache: JudgedCache, case: Case, loop: asyncio.AbstractEventLoop | None
    ) -> asyncio.AbstractEventLoop | None:
        key = case.result.candidate_key
        entry, _ = cache.backend.flight_status(key, case.version) if key else (None, False)
        if entry is None:  # deleted meanwhile: nothing to judge
            return loop
        verdict = self.judge(case.query, entry.prompt, entry.response)
        if inspect.isawaitable(verdict):
            loop = loop or asyncio.new_event_loop()
            verdict = loop.run_until_complete(verdict)
        self.judged += 1
        cache.feedback(case.result, bool(verdict))
        if verdict:
            store = cache._set_plan(
                case.request, entry.response, case.model, None, None, None, None, case.namespace, case.params
            )
            cache._run(store)
        return loop
