"""get_or_compute, aget_or_compute and @cached understand the keywords get and set do (issue 25, item 4)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from redis_semcache import InMemoryCacheBackend, InvalidInputError, LLMCachingManager

SKY = [1.0, 0.0, 0.0, 0.0]
SEA = [0.0, 1.0, 0.0, 0.0]
VECTORS = {"list": lambda v: list(v), "numpy": lambda v: np.asarray(v, dtype=np.float32)}


def make_cache() -> LLMCachingManager:
    # no embedder: the only vectors are the caller's, so a semantic hit proves embedding= was used
    return LLMCachingManager(InMemoryCacheBackend(), enable_semantic=True, embedder=None)


class Compute:
    def __init__(self, value: str) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> str:
        self.calls += 1
        return self.value


@pytest.mark.parametrize("kind", list(VECTORS))
def test_get_or_compute_looks_up_and_stores_with_the_callers_embedding(kind):
    cache, vector = make_cache(), VECTORS[kind]
    cache.set("why is the sky blue", "scattering", embedding=vector(SKY))
    compute = Compute("fresh")
    assert cache.get_or_compute("what makes the sky look blue", compute, embedding=vector(SKY)) == "scattering"
    assert compute.calls == 0  # the semantic hit get would have served
    assert cache.get_or_compute("why is the sea salty", compute, embedding=vector(SEA)) == "fresh"
    assert compute.calls == 1
    # the computed value was stored with that vector: another wording with it is a hit
    assert cache.get("what makes seawater salty", embedding=vector(SEA)) == "fresh"
    assert cache.get_statistics()["semantic_hits"] == 2


@pytest.mark.parametrize("kind", list(VECTORS))
def test_aget_or_compute_uses_the_callers_embedding(kind):
    cache, vector = make_cache(), VECTORS[kind]

    async def scenario() -> None:
        await cache.aset("why is the sky blue", "scattering", embedding=vector(SKY))

        async def compute() -> str:
            raise AssertionError("computed although get would hit")

        got = await cache.aget_or_compute("what makes the sky look blue", compute, embedding=vector(SKY))
        assert got == "scattering"
        assert await cache.aget_or_compute("why is the sea salty", lambda: "fresh", embedding=vector(SEA)) == "fresh"
        assert await cache.aget("what makes seawater salty", embedding=vector(SEA)) == "fresh"

    asyncio.run(scenario())


def test_get_or_compute_reads_and_writes_the_version_it_is_given():
    cache = LLMCachingManager(InMemoryCacheBackend(), embedder=None)
    cache.set("q", "old answer", version="v1")
    compute = Compute("new answer")
    assert cache.get_or_compute("q", compute, version="v1") == "old answer" and compute.calls == 0
    assert cache.get_or_compute("q", compute, version="v2") == "new answer" and compute.calls == 1
    assert cache.get("q", version="v2") == "new answer"
    assert cache.get_or_compute("q", compute, version="v2") == "new answer" and compute.calls == 1
    assert cache.get("q", version="v1") is None  # one entry per request: the v2 answer replaced it


def test_cached_takes_embedding_and_embed_text_as_callables_of_the_request():
    cache = make_cache()
    vectors = {"why is the sky blue": SKY, "what makes the sky look blue": SKY, "why is the sea salty": SEA}
    calls: list[str] = []

    @cache.cached(model="m", embedding=lambda prompt: np.asarray(vectors[prompt]), version="v7", tags=["t"])
    def answer(prompt: str) -> str:
        calls.append(prompt)
        return f"answer to {prompt}"

    assert answer("why is the sky blue") == "answer to why is the sky blue"
    assert answer("what makes the sky look blue") == "answer to why is the sky blue"  # semantic hit
    assert answer("why is the sea salty") == "answer to why is the sea salty"
    assert calls == ["why is the sky blue", "why is the sea salty"]
    assert cache.get("why is the sky blue", model="m", version="v7") == "answer to why is the sky blue"
    assert cache.invalidate(tags=["t"]) == 2

    @cache.cached(embed_text=lambda prompt: prompt.split(": ", 1)[1])
    async def ask(prompt: str) -> str:
        calls.append(prompt)
        return "ok"

    asyncio.run(ask("Context A: same question"))
    asyncio.run(ask("Context A: same question"))
    assert calls[-1] == "Context A: same question" and len(calls) == 3


def test_cached_refuses_keywords_that_cannot_apply_to_every_call():
    cache = make_cache()
    with pytest.raises(InvalidInputError, match="callable of the first argument"):
        cache.cached(embedding=SKY)
    with pytest.raises(InvalidInputError, match="messages"):
        cache.cached(messages=[{"role": "user", "content": "q"}])


def test_get_or_compute_under_an_error_budget_explores_with_the_callers_embedding():
    """Under an error budget get_or_compute takes the quality path: its lookup must use the
    caller's vector too, or no candidate is found, nothing is labelled and the budget never opens."""
    from redis_semcache.quality import ErrorBudget

    cache = LLMCachingManager(InMemoryCacheBackend(), enable_semantic=True, embedder=None, guards=None,
                              error_budget=ErrorBudget(0.2, refresh_seconds=0), explore=1.0)  # fmt: skip
    cache.set("why is the sky blue", "scattering", embedding=SKY)
    assert cache.lookup("sky, asked once more", embedding=SKY).threshold is None  # no labels yet: exact only
    compute = Compute("scattering")
    for i in range(40):  # each explored call labels its candidate right (the same answer)
        assert cache.get_or_compute(f"sky question {i}", compute, embedding=SKY) == "scattering"
    assert compute.calls == 40
    found = cache.lookup("sky, asked once more", embedding=SKY)
    assert found.kind == "semantic" and found.response == "scattering"  # the labels opened the budget
