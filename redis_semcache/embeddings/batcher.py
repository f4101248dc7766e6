"""Micro-batching: concurrent embedding requests in one process share one embedder call.

One forward pass over 8 short texts costs far less than 8 passes over one, so
callers that arrive while a batch runs queue up, and the next batch takes them
all (up to ``max_batch`` texts).  No thread of ours runs the batches: the first
queued caller leads the next one, runs it in its own thread, and hands each
caller its rows.  A caller that finds the embedder idle runs at once: it waits
for company (at most ``max_wait`` seconds, until as many callers are queued as
shared the largest of the last ``concurrency`` batches) only when that batch
was shared and the previous one ended less than ``linger`` seconds ago, i.e.
while callers are arriving together, or when another batch is running (then
for one more caller at least).  (Looking at the last batch alone, one
lone batch in one slot made every later leader run alone too: with 8 threads on
2 slots, a quarter of the lookups ran in batches of one, bench_embedder.py.)
Callers that queued behind a running batch have waited already and never wait
for company.

A failing batch fails each of its callers with (a copy of) the error; a caller
that stops waiting (an asyncio task cancelled while its worker thread waits
here) leaves the batch and the other callers as they were.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter
from collections.abc import Callable

import numpy as np

__all__ = ["MicroBatcher"]

Run = Callable[[list[str]], np.ndarray]


class _Request:
    __slots__ = ("error", "finished", "found_idle", "result", "taken", "texts")

    def __init__(self, texts: list[str], found_idle: bool) -> None:
        self.texts = texts
        self.found_idle = found_idle  # no batch was running when it arrived: it has not waited yet
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.taken = False  # in a batch that is running


class MicroBatcher:
    """Call ``run(texts) -> (len(texts), d) array`` for concurrent callers in shared batches."""

    def __init__(
        self, run: Run, *, max_batch: int = 32, max_wait: float = 0.002, linger: float = 0.05, concurrency: int = 1
    ) -> None:
        self.run = run
        self.concurrency = concurrency  # batches that may run at once
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.linger = linger
        self._cond = threading.Condition()
        self._queue: list[_Request] = []
        self._running = 0  # leaders collecting or running a batch
        self._gathering = 0  # leaders waiting for company (_gather_company)
        self._recent_callers: list[int] = []  # requests in each of the last few batches, newest last
        self._last_end = float("-inf")
        self.batches = 0  # batches run (for tests and benchmarks)
        self.batch_sizes: Counter[int] = Counter()  # texts per batch -> batches run (benchmarks log it)

    @property
    def waiting(self) -> int:
        """Requests queued and not yet taken into a batch."""
        with self._cond:
            return len(self._queue)

    def wait_for_waiting(self, n: int, timeout: float | None = None) -> bool:
        """Block until at least ``n`` requests are queued (tests use it to force coalescing)."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._queue) >= n, timeout)

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._cond:
            request = _Request(list(texts), found_idle=self._running < self.concurrency)
            self._queue.append(request)
            self._cond.notify_all()
        while True:
            with self._cond:
                while not request.finished and (request.taken or self._running >= self.concurrency):
                    request.found_idle = False
                    self._cond.wait()
                if request.finished:
                    return _outcome(request)
                self._running += 1
                if request.found_idle:
                    request.found_idle = False
                    self._gather_company(request)
                    if request.taken:  # another leader took it while this one waited for company
                        self._running -= 1
                        self._cond.notify_all()
                        continue
                batch = self._take()
            self._run_batch(batch)
            if request.finished:
                return _outcome(request, leader=request in batch)

    def _gather_company(self, request: _Request) -> None:
        """While callers arrive together, wait (bounded) for as many as shared a recent batch; stop
        as soon as another leader takes ``request`` into its batch (nothing left to gather for)."""
        expected = max(self._recent_callers[-max(1, self.concurrency) :], default=0)
        if self._running > 1:
            # Another batch is running, so this caller is not alone: wait for one more at least
            # (bench_embedder.py: 8 threads starting together otherwise ran two batches of one).
            expected = max(expected, 2)
        elif expected < 2 or time.monotonic() - self._last_end > self.linger:
            return
        deadline = time.monotonic() + self.max_wait
        self._gathering += 1
        try:
            self._wait_for_company(request, expected, deadline)
        finally:
            self._gathering -= 1

    def _wait_for_company(self, request: _Request, expected: int, deadline: float) -> None:
        while (
            not request.taken
            and len(self._queue) < expected
            and sum(len(r.texts) for r in self._queue) < self.max_batch
        ):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._cond.wait(remaining)

    def _take(self) -> list[_Request]:
        """The next batch, oldest first: up to max_batch texts, and no more than its share of
        the queue when other batch slots are free (they take the rest, in parallel)."""
        free = self.concurrency - self._running + 1  # this leader's slot included
        queued = sum(len(r.texts) for r in self._queue)
        limit = min(self.max_batch, -(-queued // free))
        batch = [self._queue[0]]
        size = len(batch[0].texts)
        for request in self._queue[1:]:
            if size + len(request.texts) > limit:
                break
            batch.append(request)
            size += len(request.texts)
        del self._queue[: len(batch)]
        for request in batch:
            request.taken = True
        if self._queue or self._gathering:
            # A free slot may lead the rest now; a leader gathering company for a request this
            # batch took lets its slot go.
            self._cond.notify_all()
        return batch

    def _run_batch(self, batch: list[_Request]) -> None:
        texts = [t for r in batch for t in r.texts]
        error: BaseException | None = None
        matrix: np.ndarray | None = None
        try:
            matrix = self.run(texts)
        except BaseException as exc:  # handed to every caller; KeyboardInterrupt too, so none hangs
            error = exc
        with self._cond:
            start = 0
            for request in batch:
                if error is not None:
                    request.error = error
                else:
                    assert matrix is not None
                    request.result = matrix[start : start + len(request.texts)]
                start += len(request.texts)
                request.finished = True
            self.batches += 1
            self.batch_sizes[len(texts)] += 1
            self._recent_callers = [*self._recent_callers[-7:], len(batch)]
            self._last_end = time.monotonic()
            self._running -= 1
            self._cond.notify_all()


def _outcome(request: _Request, leader: bool = False) -> np.ndarray:
    if request.error is not None:
        # The leader raises the error itself; the others a copy each (one object raised in several
        # threads would collect every thread's traceback).
        if leader:
            raise request.error
        raise _copy_error(request.error) from request.error
    assert request.result is not None
    return request.result


def _copy_error(error: BaseException) -> BaseException:
    try:
        return copy.copy(error)
    except Exception:
        return error
