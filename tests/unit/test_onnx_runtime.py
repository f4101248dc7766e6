"""The built-in model on ONNX Runtime: same vectors as sentence-transformers, no torch on load, the fallback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from redis_semcache import LLMCachingManager
from redis_semcache.embeddings import OnnxEmbedder, SentenceTransformerEmbedder
from redis_semcache.embeddings._window import CHUNK

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[2]


def varied_texts(n: int = 200) -> list[str]:
    """n real, varied texts: lines of the project's docs, plus texts past the 256-token window and unusual scripts."""
    lines = []
    for doc in sorted((ROOT / "docs").glob("*.md")):
        lines += [line.strip() for line in doc.read_text(encoding="utf-8").splitlines() if len(line.strip()) > 3]
    paragraph = " ".join(lines[40:60])  # varied prose past 128 tokens (the tokenizer file's own truncation)
    extra = [
        paragraph[:900],
        paragraph,
        "a",
        "Ünïcödé, 中文 and 한국어 in one sentence",
        "word " * 400,  # truncated at the window by both
        "supercalifragilisticexpialidocious" * 5,
    ]
    return extra + list(dict.fromkeys(lines))[: n - len(extra)]


def run_fresh(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=environment)


def test_the_default_runs_on_onnxruntime_with_one_intra_op_thread(builtin_embedder):
    assert builtin_embedder.runtime == "onnxruntime"
    assert builtin_embedder.threads == 1
    session = builtin_embedder._impl._loaded[0]
    assert session.get_session_options().intra_op_num_threads == 1


def test_vectors_equal_sentence_transformers_on_200_texts(builtin_embedder):
    texts = varied_texts()
    assert len(texts) == 200
    ours = builtin_embedder(texts)
    reference = SentenceTransformerEmbedder()(texts)  # torch, sentence-transformers' own pipeline
    cosines = np.sum(ours * reference, axis=1)
    assert float(cosines.min()) >= 0.9999, np.argsort(cosines)[:5]


def test_loading_an_existing_export_imports_neither_torch_nor_transformers(builtin_embedder):
    out = run_fresh(
        "import sys\n"
        "from redis_semcache.embeddings import default_embedder\n"
        "e = default_embedder(); e(['hello'])\n"
        "print(e.runtime, sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "onnxruntime []"


def test_without_onnxruntime_the_model_runs_on_torch_and_one_log_line_says_why(builtin_embedder):
    out = run_fresh(
        "import logging, sys\n"
        "sys.modules['onnxruntime'] = None  # as if not installed\n"
        "logging.basicConfig(format='LOG %(message)s')\n"
        "from redis_semcache.embeddings import default_embedder\n"
        "e = default_embedder(); v = e(['How do I reset my password?'])\n"
        "print(e.runtime, repr(v[0, :4].tolist()))\n"
    )
    assert out.returncode == 0, out.stderr
    log_lines = [line for line in out.stderr.splitlines() if line.startswith("LOG ")]
    assert len(log_lines) == 1 and "torch" in log_lines[0] and "onnxruntime" in log_lines[0], out.stderr
    runtime, head = out.stdout.strip().splitlines()[-1].split(" ", 1)
    assert runtime == "torch"
    np.testing.assert_allclose(eval(head), builtin_embedder(["How do I reset my password?"])[0, :4], atol=1e-5)


def test_fits_agrees_with_counting_every_token(builtin_embedder):
    texts = [
        "short",
        "word " * 254,  # 254 + 2 = 256 tokens: fits exactly
        "word " * 255,
        "Ünïcödé " * 80,
        "x" * 5000,  # one word over 100 characters: one [UNK]
        ("x" * 5000 + " ") * 300,
        "中文" * 200,
        "A long sentence, with punctuation; " * 40 + "and more" * 500,
    ]
    counts = builtin_embedder.count_tokens(texts)
    assert builtin_embedder.fits(texts) == [n <= 256 for n in counts]
    assert counts[1] == 256 and counts[2] == 257


class CountingTokenizer:
    """Wraps a tokenizers.Tokenizer, recording the length of every text it is asked to encode."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.lengths: list[int] = []

    def encode(self, text, *args, **kwargs):
        self.lengths.append(len(text))
        return self.inner.encode(text, *args, **kwargs)

    def encode_batch(self, texts, *args, **kwargs):
        self.lengths += [len(t) for t in texts]
        return self.inner.encode_batch(texts, *args, **kwargs)


def test_a_1_mb_prompt_is_judged_too_long_from_its_first_chunk(builtin_embedder):
    impl = builtin_embedder._impl
    assert isinstance(impl, OnnxEmbedder)
    counter = impl._counting_tokenizer()
    spy = CountingTokenizer(counter)
    impl._counter = spy
    try:
        prompt = "Please summarise the following report about our quarterly numbers. " * 15_000
        assert len(prompt) > 1_000_000
        cache = LLMCachingManager(enable_semantic=True)
        assert cache.get(prompt) is None
        assert cache.get_statistics()["semantic_skipped_long"] == 1
    finally:
        impl._counter = counter
    assert spy.lengths and max(spy.lengths) <= CHUNK  # only the first chunk was ever tokenised
