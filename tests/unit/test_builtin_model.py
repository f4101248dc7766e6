"""The real all-MiniLM-L6-v2 model, loaded once per session by the ``builtin_embedder`` fixture."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from redis_semcache import InMemoryCacheBackend, LLMCachingManager
from redis_semcache.embeddings import default_embedder

pytestmark = pytest.mark.model

PASSWORD = "How do I reset my password?"
PARAPHRASE = "I forgot my password, how can I change it?"
UNRELATED = "What is the capital of France?"
# all-MiniLM-L6-v2 scores PASSWORD against PARAPHRASE at 0.894 and against
# UNRELATED at 0.075; the demo and docs use 0.85.
THRESHOLD = 0.85


GUARDED_LOAD = """
import socket
attempts = []
def refuse(self, address):
    attempts.append(address)
    raise OSError("network disabled")
socket.socket.connect = refuse
from redis_semcache.embeddings import SentenceTransformerEmbedder
e = SentenceTransformerEmbedder()
print(e(["hello"]).shape, attempts)
"""


def test_model_loaded_without_the_network(builtin_embedder):
    assert builtin_embedder.loaded
    if builtin_embedder.loaded_under_guard:
        assert builtin_embedder.network_attempts == []
    else:  # another test loaded the shared model first: check a guarded load in a fresh process
        out = subprocess.run([sys.executable, "-c", GUARDED_LOAD], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().splitlines()[-1] == "(1, 384) []"


def test_vectors_are_384_dimensional_unit_float32(builtin_embedder):
    vectors = builtin_embedder([PASSWORD, PARAPHRASE, UNRELATED])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert builtin_embedder.dimension == 384


def test_deterministic_and_batch_agrees_with_single(builtin_embedder):
    texts = [PASSWORD, "a much longer text " * 20, UNRELATED]
    batched = builtin_embedder(texts)
    singles = np.stack([builtin_embedder([t])[0] for t in texts])
    np.testing.assert_array_equal(builtin_embedder(texts), batched)
    assert np.min(np.sum(batched * singles, axis=1)) > 0.9999  # padding barely moves the vectors


def test_cosines_of_the_demo_sentences(builtin_embedder):
    password, paraphrase, unrelated = builtin_embedder([PASSWORD, PARAPHRASE, UNRELATED])
    assert float(password @ paraphrase) == pytest.approx(0.894, abs=0.01)
    assert float(password @ unrelated) < 0.2


def test_paraphrase_hits_and_unrelated_misses(builtin_embedder):
    cache = LLMCachingManager(enable_semantic=True, semantic_threshold=THRESHOLD)
    assert cache.engine.embeddings is not None
    assert cache.engine.embeddings.embedder is builtin_embedder  # shared: no second load
    cache.set(PASSWORD, "Settings > Security > Reset password.", model="gpt-4")
    assert cache.get(PARAPHRASE, model="gpt-4") == "Settings > Security > Reset password."
    assert cache.get(UNRELATED, model="gpt-4") is None
    assert cache.get(PARAPHRASE, model="gpt-3.5") is None  # semantic matches stay in their scope
    stats = cache.get_statistics()
    assert (stats["semantic_hits"], stats["misses"], stats["exact_hits"]) == (1, 2, 0)


def test_batch_apis_with_the_real_model(builtin_embedder):
    cache = LLMCachingManager(InMemoryCacheBackend(), enable_semantic=True, semantic_threshold=THRESHOLD)
    faq = {
        PASSWORD: "reset link",
        "What are your opening hours?": "9 to 5",
        "How do I cancel my subscription?": "Account > Billing > Cancel",
    }
    assert cache.warm(faq.items(), progress=False) == 3
    got = cache.get_many([PARAPHRASE, "When are you open?", "I want to cancel my subscription", UNRELATED, PASSWORD])
    # "When are you open?" scores only 0.73 against the opening-hours question: a miss at 0.85.
    assert got == ["reset link", None, "Account > Billing > Cancel", None, "reset link"]


def test_threads_share_the_model_safely(builtin_embedder):
    texts = [f"question number {i} about passwords and accounts" for i in range(16)]
    expected = builtin_embedder(texts)
    results: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        barrier.wait()
        results[i] = builtin_embedder(texts[2 * i : 2 * i + 2])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = np.concatenate([results[i] for i in range(8)])
    assert np.min(np.sum(got * expected, axis=1)) > 0.9999
    assert default_embedder() is builtin_embedder
