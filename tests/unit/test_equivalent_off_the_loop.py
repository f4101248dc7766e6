"""aget_or_compute labels an explored candidate without blocking its event loop.

default_equivalent embeds both answers with the built-in model (a forward pass; on first
use the model's load): the async path must do that in a thread, as it embeds prompts.
The tests hold the answers' embedding on an event the loop side releases, so they wait
on states, never on time.
"""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

import pytest

from redis_semcache import LLMCachingManager
from redis_semcache.embeddings import builtin

QUESTION = "How do I reset my password?"
PARAPHRASE = "I forgot my password, how can I reset it?"
ASKED = "Click 'Forgot password' on the sign-in page and follow the link in the email we send you."
REWORDED = "On the sign-in page, choose 'Forgot password', then open the link we email you."


class HeldModel:
    """The real built-in model, held on a call that embeds ``hold_on`` until ``release``."""

    def __init__(self, real: Any, hold_on: str, loop_thread: int) -> None:
        self.real, self.hold_on, self.loop_thread = real, hold_on, loop_thread
        self.entered, self.release, self.finished = threading.Event(), threading.Event(), threading.Event()

    def __call__(self, texts: list[str]) -> Any:
        held = self.hold_on in texts
        if held:
            self.entered.set()
            if threading.get_ident() != self.loop_thread:  # on the loop nothing could release it: fail, not hang
                self.release.wait()
        try:
            return self.real(texts)
        finally:
            if held:
                self.finished.set()


def labels(cache: LLMCachingManager) -> tuple[int, int]:
    counts, _ = cache.backend.label_counts(cache.lookup(QUESTION).scope)
    return int(counts.right.sum()), int(counts.wrong.sum())


def explorer_cache(embedder: Any, **kwargs: Any) -> LLMCachingManager:
    return LLMCachingManager(
        enable_semantic=True, explore=1.0, explore_rng=random.Random(0), guards=None, embedder=embedder, **kwargs
    )


@pytest.mark.model
@pytest.mark.asyncio
async def test_the_answers_are_embedded_off_the_loop(builtin_embedder, monkeypatch):
    cache = explorer_cache(builtin_embedder)
    await cache.aset(QUESTION, ASKED)
    model = HeldModel(builtin_embedder, hold_on=REWORDED, loop_thread=threading.get_ident())
    fetched_on: list[int] = []  # the threads that fetched (on first use: loaded) the answers' model

    def default_embedder() -> HeldModel:
        fetched_on.append(threading.get_ident())
        return model

    monkeypatch.setattr(builtin, "default_embedder", default_embedder)
    call = asyncio.create_task(cache.aget_or_compute(PARAPHRASE, lambda: REWORDED))
    await asyncio.to_thread(model.entered.wait)
    loop_ran_while_held = not model.finished.is_set()  # this coroutine ran during the embedding
    model.release.set()
    assert await call == REWORDED
    assert loop_ran_while_held
    assert fetched_on and threading.get_ident() not in fetched_on  # the model's load, too, off the loop
    assert labels(cache) == (1, 0)  # the real model calls the rewording the same answer


@pytest.mark.model
@pytest.mark.asyncio
async def test_aget_or_compute_labels_with_the_real_model(builtin_embedder):
    cache = explorer_cache(builtin_embedder)
    await cache.aset(QUESTION, ASKED)
    assert await cache.aget_or_compute(PARAPHRASE, lambda: REWORDED) == REWORDED
    assert await cache.aget_or_compute("How do I reset my password, please?", lambda: "Call us.") == "Call us."
    assert labels(cache) == (1, 1)


@pytest.mark.model
@pytest.mark.asyncio
async def test_an_async_equivalent_is_awaited(builtin_embedder):
    asked: list[tuple[Any, Any]] = []

    async def never_the_same(a: Any, b: Any) -> bool:
        asked.append((a, b))
        return False

    cache = explorer_cache(builtin_embedder, equivalent=never_the_same)
    await cache.aset(QUESTION, ASKED)
    assert await cache.aget_or_compute(PARAPHRASE, lambda: REWORDED) == REWORDED
    assert asked == [(ASKED, REWORDED)]
    assert labels(cache) == (0, 1)  # a coroutine object is truthy: not awaited, it labelled "right"


@pytest.mark.model
def test_a_sync_equivalent_is_called_in_the_sync_path(builtin_embedder):
    cache = explorer_cache(builtin_embedder, equivalent=lambda a, b: a == ASKED and b == REWORDED)
    cache.set(QUESTION, ASKED)
    assert cache.get_or_compute(PARAPHRASE, lambda: REWORDED) == REWORDED
    assert labels(cache) == (1, 0)


@pytest.mark.model
@pytest.mark.asyncio
@pytest.mark.parametrize("driver", ["sync", "async"])
@pytest.mark.parametrize(
    ("cached", "computed", "label"),
    [
        ("Delivery takes 2 days.", "Delivery takes 10 days.", (0, 1)),  # numbers contradict: the model blurs them
        ("Delivery takes 2 days.", "  delivery TAKES 2 days. ", (1, 0)),  # equal up to case and spacing
        ({"answer": 1}, {"answer": 2}, (0, 1)),  # not text: compared with ==, never embedded
        ({"answer": 1}, {"answer": 1}, (1, 0)),
    ],
)
async def test_both_drivers_label_by_the_whole_rule(builtin_embedder, driver, cached, computed, label):
    cache = explorer_cache(builtin_embedder)
    if driver == "sync":
        cache.set(QUESTION, cached)
        assert cache.get_or_compute(PARAPHRASE, lambda: computed) == computed
    else:
        await cache.aset(QUESTION, cached)
        assert await cache.aget_or_compute(PARAPHRASE, lambda: computed) == computed
    assert labels(cache) == label
