"""Embedder output checks, exact-first lookups, the embedding cache and batching.

All with deterministic fake embedders: nothing here loads a model.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from redis_semcache import (
    DimensionMismatchError,
    EmbeddingError,
    InMemoryCacheBackend,
    InvalidInputError,
    LLMCachingManager,
)
from redis_semcache.embeddings import EmbeddingService, check_embedder_output, embedder_id

from ..fakes import CountingEmbedder, unit


def make_cache(embedder, **kwargs):
    kwargs.setdefault("semantic_threshold", 0.8)
    return LLMCachingManager(InMemoryCacheBackend(), enable_semantic=True, embedder=embedder, **kwargs)


class BatchedEmbedder(CountingEmbedder):
    """A CountingEmbedder that declares its batch size, as the Embedder protocol allows."""

    def __init__(self, batch_size: int, dim: int = 64) -> None:
        super().__init__(dim)
        self.batch_size = batch_size
        self.batches: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return super().__call__(texts)


# -- output checks ---------------------------------------------------------


def test_output_is_l2_normalised_float32():
    raw = np.array([[3.0, 4.0], [0.0, -2.0]], dtype=np.float64)
    out = check_embedder_output(raw, ["a", "b"], None)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, -1.0]], rtol=1e-6)


def test_service_returns_unit_float32_rows_from_any_numeric_output():
    service = EmbeddingService(lambda texts: [[2.0 * (i + 1), 0.0, 1.0] for i in range(len(texts))])
    out = service.embed(["a", "b", "c"])
    assert out.dtype == np.float32 and out.shape == (3, 3)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda texts: np.ones(8), "shape"),  # 1-d
        (lambda texts: np.ones((len(texts) + 1, 8)), "shape"),  # one row too many
        (lambda texts: np.ones((len(texts), 2, 4)), "shape"),  # 3-d
        (lambda texts: np.ones((len(texts), 0)), "shape"),  # zero-width
        (lambda texts: np.full((len(texts), 8), np.nan), "NaN"),
        (lambda texts: np.full((len(texts), 8), np.inf), "infinite"),
        (lambda texts: np.zeros((len(texts), 8)), "all-zero"),
        (lambda texts: [["x"] * 8 for _ in texts], "numeric"),
        (lambda texts: None, "shape"),
    ],
)
def test_bad_user_embedder_output_is_an_embedding_error(bad, message):
    cache = make_cache(bad)
    with pytest.raises(EmbeddingError, match=message):
        cache.get("a prompt that misses")
    with pytest.raises(EmbeddingError, match=message):
        cache.set("a prompt", "response")
    with pytest.raises(EmbeddingError, match=message):
        cache.set_many([("p1", "r1"), ("p2", "r2")])
    assert cache.get_statistics()["cache_size"] == 0


def test_embedder_that_changes_dimension_is_an_embedding_error():
    dims = iter([8, 8, 16])

    def drifting(texts):
        return np.ones((len(texts), next(dims)))

    cache = make_cache(drifting)
    cache.set("first", "1")
    cache.set("second", "2")
    with pytest.raises(EmbeddingError, match="changed dimension: returned 16, earlier 8"):
        cache.get("third")


def test_embedder_exception_is_wrapped_with_its_cause():
    def broken(texts):
        raise ConnectionError("embedding API down")

    cache = make_cache(broken)
    with pytest.raises(EmbeddingError, match="embedding API down") as info:
        cache.get("anything")
    assert isinstance(info.value.__cause__, ConnectionError)


def test_user_embedder_dimension_checked_against_stored_vectors():
    rng = np.random.default_rng(0)
    cache = make_cache(CountingEmbedder(dim=64))
    cache.set("stored with its own vector", "A", embedding=unit(rng, 32))
    with pytest.raises(DimensionMismatchError) as info:
        cache.get("needs the embedder")
    assert (info.value.expected, info.value.got) == (32, 64)
    with pytest.raises(DimensionMismatchError):
        cache.set("another", "B")
    with pytest.raises(DimensionMismatchError):
        cache.set_many([("x", 1), ("y", 2)])
    with pytest.raises(DimensionMismatchError):
        cache.get_many(["u", "v"])
    assert cache.get("stored with its own vector") == "A"  # exact hits still work


def test_plain_function_is_an_embedder():
    def my_embed(texts: list[str]) -> list[list[float]]:
        return [[float(len(t)), 1.0] for t in texts]

    cache = make_cache(my_embed, semantic_threshold=0.999)
    cache.set("abcd", "four letters")
    assert cache.get("wxyz") == "four letters"  # same length, same direction
    assert cache.get("a much longer prompt") is None
    assert embedder_id(my_embed).endswith(f"@{id(my_embed):x}")
    assert embedder_id(CountingEmbedder()) == "fake-bow-64"


# -- exact first and the embedding cache --------------------------------------


def test_exact_hit_never_embeds():
    embedder = CountingEmbedder()
    cache = make_cache(embedder, embedding_cache_size=0)  # no embedding cache to hide behind
    cache.set("What is machine learning?", "ML is ...")
    assert embedder.texts_embedded == 1
    for _ in range(3):
        assert cache.get("What is machine learning?") == "ML is ..."
    assert cache.get_many(["What is machine learning?", "  What is   machine learning?"]) == ["ML is ..."] * 2
    assert embedder.texts_embedded == 1
    assert cache.get_statistics()["exact_hits"] == 5
    cache.get("What is deep learning?")  # an exact miss does embed
    assert embedder.texts_embedded == 2


def test_get_miss_then_set_embeds_once():
    embedder = CountingEmbedder()
    cache = make_cache(embedder)
    assert cache.get("How do I bake bread?") is None
    cache.set("How do I bake bread?", "Knead, rise, bake.")
    assert embedder.texts_embedded == 1
    assert cache.get("How do I bake bread?") == "Knead, rise, bake."
    assert embedder.texts_embedded == 1


def test_repeated_misses_embed_once():
    embedder = CountingEmbedder()
    cache = make_cache(embedder)
    for prompt in ["unknown question", "unknown question", "  unknown\tquestion ", "unknown question"]:
        assert cache.get(prompt) is None
    assert embedder.texts_embedded == 1
    assert cache.get_statistics()["misses"] == 4


def test_without_the_embedding_cache_each_miss_embeds():
    embedder = CountingEmbedder()
    cache = make_cache(embedder, embedding_cache_size=0)
    cache.get("q")
    cache.get("q")
    cache.set("q", "a")
    assert embedder.texts_embedded == 3


def test_embedding_cache_is_lru_bounded():
    embedder = CountingEmbedder()
    service = EmbeddingService(embedder, cache_size=2)
    service.embed(["a", "b"])
    service.embed(["a"])  # a is now most recent
    service.embed(["c"])  # evicts b
    assert embedder.texts_embedded == 3
    service.embed(["a", "c"])
    assert embedder.texts_embedded == 3
    service.embed(["b"])
    assert embedder.texts_embedded == 4


# -- batching and progress ---------------------------------------------------------


def test_set_many_embeds_one_call_per_batch():
    embedder = BatchedEmbedder(batch_size=4)
    cache = make_cache(embedder)
    assert cache.set_many([(f"question number {i}", i) for i in range(10)]) == 10
    assert [len(b) for b in embedder.batches] == [4, 4, 2]
    assert cache.get("question number 7") == 7


def test_get_many_embeds_only_exact_misses_in_batches():
    embedder = BatchedEmbedder(batch_size=3)
    cache = make_cache(embedder, semantic_threshold=0.99)
    cache.set_many([("alpha beta", "AB"), ("gamma delta", "GD")])
    embedder.batches.clear()
    prompts = ["alpha beta", "gamma delta"] + [f"new prompt {i}" for i in range(7)] + ["beta alpha"]
    results = cache.get_many(prompts)
    assert results[:2] == ["AB", "GD"]  # exact hits, not embedded
    assert results[-1] == "AB"  # same bag of words: semantic hit
    assert results[2:9] == [None] * 7
    assert [len(b) for b in embedder.batches] == [3, 3, 2]
    assert "alpha beta" not in {t for b in embedder.batches for t in b}


def test_warm_embeds_in_batches_and_dedupes():
    embedder = BatchedEmbedder(batch_size=5)
    cache = make_cache(embedder)
    pairs = [(f"faq {i % 6}", f"answer {i % 6}") for i in range(12)]  # 6 distinct prompts
    assert cache.warm(pairs, progress=False) == 12
    assert [len(b) for b in embedder.batches] == [5, 1]
    assert cache.get_statistics()["cache_size"] == 6


def test_service_batch_size_argument_overrides_the_embedder():
    embedder = BatchedEmbedder(batch_size=5)
    service = EmbeddingService(embedder, batch_size=2)
    service.embed([f"t{i}" for i in range(5)])
    assert [len(b) for b in embedder.batches] == [2, 2, 1]
    assert EmbeddingService(CountingEmbedder()).batch_size == 64
    with pytest.raises(InvalidInputError):
        EmbeddingService(embedder, batch_size=0)


def test_warm_shows_a_progress_bar_that_can_be_switched_off(capsys):
    cache = make_cache(BatchedEmbedder(batch_size=4))
    cache.warm([(f"prompt {i}", i) for i in range(10)])
    err = capsys.readouterr().err
    assert "embedding" in err and "10/10" in err

    cache = make_cache(BatchedEmbedder(batch_size=4))
    cache.warm([(f"prompt {i}", i) for i in range(10)], progress=False)
    cache.get_many([f"other {i}" for i in range(10)])
    assert capsys.readouterr().err == ""

    cache.get_many([f"more {i}" for i in range(10)], progress=True)
    assert "embedding" in capsys.readouterr().err


def test_empty_batches():
    embedder = CountingEmbedder()
    cache = make_cache(embedder)
    assert cache.get_many([]) == []
    assert cache.set_many([]) == 0
    assert embedder.calls == 0


# -- threads -------------------------------------------------------------------


def test_service_is_consistent_under_threads():
    embedder = CountingEmbedder()
    service = EmbeddingService(embedder, batch_size=3)
    texts = [f"text {i}" for i in range(20)]
    expected = check_embedder_output(CountingEmbedder()(texts), texts, None)
    barrier = threading.Barrier(8)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        barrier.wait()
        try:
            order = texts[offset:] + texts[:offset]
            results.append(np.roll(service.embed(order), offset, axis=0))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for result in results:
        np.testing.assert_array_equal(result, expected)
    assert service.dimension == 64
    assert service.texts_embedded == embedder.texts_embedded >= 20
