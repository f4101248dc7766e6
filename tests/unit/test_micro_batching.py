"""MicroBatcher and EmbeddingService under concurrency: coalescing, pairing, errors, cancellation.

Coalescing is forced with events, never with time: the first batch blocks in a
gated embedder until the test has seen the other callers queue up behind it.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redis_semcache import EmbeddingError, InMemoryCacheBackend, LLMCachingManager
from redis_semcache.embeddings import EmbeddingService
from redis_semcache.embeddings.batcher import MicroBatcher, _Request

WAIT = 60.0  # seconds: only a hung test ever waits this long


def vector_of(text: str, dim: int = 8) -> np.ndarray:
    digest = hashlib.blake2b(text.encode(), digest_size=dim).digest()
    return np.frombuffer(digest, dtype=np.uint8).astype(np.float32) + 1.0


class Gated:
    """An embedder whose first call blocks until ``gate`` is set; records every batch."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batches: list[list[str]] = []
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            self.batches.append(list(texts))
        self.entered.set()
        assert self.gate.wait(WAIT)
        if self.fail_on is not None and self.fail_on in texts:
            raise ValueError(f"cannot embed {self.fail_on!r}")
        return np.stack([vector_of(t) for t in texts])


def start(target, *args) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = target(*args)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def blocked_then_queued(batcher: MicroBatcher, embedder: Gated, first: list[str], others: list[list[str]]):
    """Start ``first`` (it runs alone and blocks), queue ``others`` behind it, then open the gate."""
    lead = start(batcher.embed, first)
    assert embedder.entered.wait(WAIT)
    rest = [start(batcher.embed, texts) for texts in others]
    assert batcher.wait_for_waiting(len(others), WAIT)
    embedder.gate.set()
    for thread, _ in [lead, *rest]:
        thread.join(WAIT)
    return lead[1], [box for _, box in rest]


def test_callers_queued_behind_a_running_batch_share_the_next_one():
    embedder = Gated()
    batcher = MicroBatcher(embedder, max_batch=32, max_wait=3600)
    others = [["b"], ["c", "d"], ["e"]]
    first, rest = blocked_then_queued(batcher, embedder, ["a"], others)
    assert embedder.batches[0] == ["a"]
    assert sorted(embedder.batches[1]) == ["b", "c", "d", "e"] and len(embedder.batches) == 2
    np.testing.assert_array_equal(first["value"], [vector_of("a")])
    for texts, box in zip(others, rest, strict=True):
        np.testing.assert_array_equal(box["value"], np.stack([vector_of(t) for t in texts]))


def test_batches_are_bounded_by_max_batch_texts():
    embedder = Gated()
    batcher = MicroBatcher(embedder, max_batch=3, max_wait=3600)
    others = [["b", "c"], ["d"], ["e", "f"], ["g", "h", "i", "j"]]
    _, rest = blocked_then_queued(batcher, embedder, ["a"], others)
    assert all(len(batch) <= 3 for batch in embedder.batches[1:-1])
    assert sorted(t for batch in embedder.batches for t in batch) == list("abcdefghij")
    assert all("value" in box for box in rest)
    assert ["g", "h", "i", "j"] in embedder.batches  # a request larger than max_batch runs alone, whole
    assert batcher.batch_sizes == Counter(len(batch) for batch in embedder.batches)  # what benchmarks log


def test_a_lone_caller_runs_at_once_even_with_an_hour_of_max_wait():
    embedder = Gated()
    embedder.gate.set()
    batcher = MicroBatcher(embedder, max_batch=32, max_wait=3600)
    for text in ("a", "b", "c"):  # would hang for an hour each if a lone caller waited for company
        np.testing.assert_array_equal(batcher.embed([text]), [vector_of(text)])
    assert embedder.batches == [["a"], ["b"], ["c"]]


def test_after_a_shared_batch_a_caller_waits_for_as_many_callers_as_shared_it():
    embedder = Gated()
    batcher = MicroBatcher(embedder, max_batch=32, max_wait=3600, linger=3600)
    blocked_then_queued(batcher, embedder, ["a"], [["b"], ["c"], ["d"]])
    assert len(embedder.batches) == 2  # ["a"], then b, c, d together: callers are arriving together
    first = start(batcher.embed, ["e"])  # waits for company: the last batch had 3 callers
    assert batcher.wait_for_waiting(1, WAIT)
    second = start(batcher.embed, ["f"])
    third = start(batcher.embed, ["g"])
    for thread, _ in (first, second, third):
        thread.join(WAIT)
    assert sorted(embedder.batches[2]) == ["e", "f", "g"] and len(embedder.batches) == 3
    np.testing.assert_array_equal(second[1]["value"], [vector_of("f")])


def test_a_failing_batch_fails_each_of_its_callers_and_the_next_batch_works():
    embedder = Gated(fail_on="boom")
    batcher = MicroBatcher(embedder, max_batch=32, max_wait=3600, linger=-1)  # never waits for company
    first, rest = blocked_then_queued(batcher, embedder, ["a"], [["boom"], ["x"], ["y", "z"]])
    assert "value" in first  # the batch before was fine
    errors = [box["error"] for box in rest]
    assert all(isinstance(e, ValueError) and "boom" in str(e) for e in errors)
    assert len({id(e) for e in errors}) == 3  # each caller raises its own copy
    np.testing.assert_array_equal(batcher.embed(["x"]), [vector_of("x")])


def test_the_service_wraps_a_batch_failure_as_embedding_error_for_every_caller():
    embedder = Gated(fail_on="boom")
    service = EmbeddingService(embedder, cache_size=0, concurrency=1)
    lead = start(service.embed_one, "a")
    assert embedder.entered.wait(WAIT)
    rest = [start(service.embed_one, t) for t in ("boom", "fine")]
    assert service.batcher.wait_for_waiting(2, WAIT)
    embedder.gate.set()
    for thread, _ in [lead, *rest]:
        thread.join(WAIT)
    assert all(isinstance(box["error"], EmbeddingError) for _, box in rest)
    assert embedder.batches[1] in (["boom", "fine"], ["fine", "boom"])


def test_concurrent_service_calls_are_not_serialised_one_text_at_a_time():
    embedder = Gated()
    service = EmbeddingService(embedder, concurrency=1)
    lead = start(service.embed_one, "first")
    assert embedder.entered.wait(WAIT)
    rest = [start(service.embed_one, f"prompt {i}") for i in range(7)]
    assert service.batcher.wait_for_waiting(7, WAIT)
    embedder.gate.set()
    for thread, _ in [lead, *rest]:
        thread.join(WAIT)
    assert service.calls == 2 and service.texts_embedded == 8
    for i, (_, box) in enumerate(rest):
        expected = vector_of(f"prompt {i}")
        np.testing.assert_allclose(box["value"], expected / np.linalg.norm(expected), rtol=1e-6)


def test_with_concurrency_two_a_second_batch_runs_beside_the_first():
    embedder = Gated()
    batcher = MicroBatcher(embedder, max_batch=32, max_wait=0, concurrency=2)  # no waiting for company
    first = start(batcher.embed, ["a"])
    assert embedder.entered.wait(WAIT)
    embedder.entered.clear()
    second = start(batcher.embed, ["b"])
    assert embedder.entered.wait(WAIT)  # entered while "a" is still blocked: not serialised
    third = start(batcher.embed, ["c"])
    assert batcher.wait_for_waiting(1, WAIT)  # both slots busy: "c" queues
    embedder.gate.set()
    for thread, _ in (first, second, third):
        thread.join(WAIT)
    assert sorted(map(tuple, embedder.batches)) == [("a",), ("b",), ("c",)]
    np.testing.assert_array_equal(third[1]["value"], [vector_of("c")])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    requests=st.lists(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4), min_size=1, max_size=12),
    max_batch=st.integers(min_value=1, max_value=10),
)
def test_every_caller_gets_the_vectors_of_its_own_texts(requests, max_batch):
    embedder = Gated()
    batcher = MicroBatcher(embedder, max_batch=max_batch, max_wait=3600)
    first, rest = blocked_then_queued(batcher, embedder, ["lead"], requests)
    np.testing.assert_array_equal(first["value"], [vector_of("lead")])
    for texts, box in zip(requests, rest, strict=True):
        np.testing.assert_array_equal(box["value"], np.stack([vector_of(t) for t in texts]))


def test_a_cancelled_async_lookup_does_not_disturb_the_others_in_its_batch():
    embedder = Gated()
    cache = LLMCachingManager(InMemoryCacheBackend(), enable_semantic=True, embedder=embedder)
    service = cache.engine.embeddings
    assert service is not None
    service.batcher.concurrency = 1  # so that the two later lookups queue behind the first

    async def scenario() -> None:
        first = asyncio.create_task(cache.aget("first prompt"))
        assert await asyncio.to_thread(embedder.entered.wait, WAIT)
        doomed = asyncio.create_task(cache.aget("doomed prompt"))
        kept = asyncio.create_task(cache.aget("kept prompt"))
        assert await asyncio.to_thread(service.batcher.wait_for_waiting, 2, WAIT)
        doomed.cancel()
        embedder.gate.set()
        assert await first is None and await kept is None  # misses, but each embedded and looked up
        with pytest.raises(asyncio.CancelledError):
            await doomed

    asyncio.run(scenario())
    assert sorted(embedder.batches[1]) == ["doomed prompt", "kept prompt"]
    kept_vector = service.cached("kept prompt")
    assert kept_vector is not None
    expected = vector_of("kept prompt")
    np.testing.assert_allclose(kept_vector, expected / np.linalg.norm(expected), rtol=1e-6)
    assert cache.get_statistics()["misses"] == 2


def test_a_leader_with_a_free_second_slot_takes_its_share_of_the_queue_rounded_up():
    # Three callers queued, two slots free: the leader takes two of them and leaves one to the
    # other slot. Its share rounded down (one) would run three batches where two do.
    batcher = MicroBatcher(Gated(), max_batch=32, max_wait=3600, concurrency=2)
    with batcher._cond:
        batcher._queue = [_Request([t], found_idle=False) for t in ("a", "b", "c")]
        batcher._running = 1  # this leader's slot; the second slot is free
        batch = batcher._take()
    assert [r.texts for r in batch] == [["a"], ["b"]]
    assert [r.texts for r in batcher._queue] == [["c"]]
    assert all(r.taken for r in batch)


def test_after_a_lone_batch_beside_a_shared_one_a_caller_still_waits_for_company():
    # Two slots: one ran a batch of three callers, the other then a batch of one. Callers are still
    # arriving together; judging by the last batch alone, every later leader would run alone
    # (with 8 threads on 2 slots, bench_embedder.py saw a quarter of the lookups in batches of one).
    embedder = Gated()
    embedder.gate.set()
    batcher = MicroBatcher(embedder, max_batch=32, max_wait=3600, linger=3600, concurrency=2)
    with batcher._cond:
        batcher._recent_callers = [3, 1]
        batcher._last_end = time.monotonic()
    callers = [start(batcher.embed, [text]) for text in ("e", "f", "g")]
    for thread, _ in callers:
        thread.join(WAIT)
    assert [sorted(batch) for batch in embedder.batches] == [["e", "f", "g"]]
    for text, (_, box) in zip("efg", callers, strict=True):
        np.testing.assert_array_equal(box["value"], [vector_of(text)])


def test_a_caller_finding_a_batch_running_and_a_slot_free_waits_for_one_more_caller():
    # No history of shared batches, but a batch is running: callers are arriving together, and a
    # second batch of one would cost a forward pass for one text.
    embedder = Gated()
    batcher = MicroBatcher(embedder, max_batch=32, max_wait=3600, linger=3600, concurrency=2)
    first = start(batcher.embed, ["a"])
    assert embedder.entered.wait(WAIT)
    embedder.entered.clear()
    second = start(batcher.embed, ["b"])
    assert batcher.wait_for_waiting(1, WAIT)  # "b" leads the free slot, waiting for company
    third = start(batcher.embed, ["c"])
    assert embedder.entered.wait(WAIT)
    assert sorted(embedder.batches[1]) == ["b", "c"]
    embedder.gate.set()
    for thread, _ in (first, second, third):
        thread.join(WAIT)
    assert len(embedder.batches) == 2
    np.testing.assert_array_equal(third[1]["value"], [vector_of("c")])


def test_by_default_two_batches_per_usable_core_run_at_once():
    # A caller spends part of each lookup outside its batch, so one slot per core left cores idle.
    from redis_semcache.embeddings._threads import usable_cores

    embedder = Gated()
    service = EmbeddingService(embedder, cache_size=0)
    slots = 2 * usable_cores()
    assert service.batcher.concurrency == slots
    service.batcher.max_wait = 0  # no waiting for company: each caller leads its own batch
    callers = []
    for i in range(slots):
        embedder.entered.clear()
        callers.append(start(service.embed, [f"text {i}"]))
        assert embedder.entered.wait(WAIT)  # entered while every earlier batch is still blocked
    late = start(service.embed, ["one too many"])
    assert service.batcher.wait_for_waiting(1, WAIT)  # every slot busy: the next caller queues
    embedder.gate.set()
    for thread, box in [*callers, late]:
        thread.join(WAIT)
        assert "error" not in box
    assert len(embedder.batches) == slots + 1


def test_an_embedder_with_more_intra_op_threads_gets_fewer_default_slots():
    from redis_semcache.embeddings._threads import usable_cores

    embedder = Gated()
    embedder.threads = 2  # as BuiltinEmbedder(embedding_threads=2): each batch keeps two threads busy
    assert EmbeddingService(embedder).batcher.concurrency == max(1, usable_cores())
    embedder.threads = 64
    assert EmbeddingService(embedder).batcher.concurrency == 1
