"""The opt-in bfloat16 path: OpenVINO on the built-in model's export, its vectors, threads and fallbacks."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from redis_semcache import ConfigurationError, InvalidInputError
from redis_semcache.embeddings import (
    BuiltinEmbedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    _export,
    openvino_runtime,
)
from redis_semcache.embeddings._precision import PRECISION_ENV, embedding_precision
from redis_semcache.embeddings._threads import usable_cores
from redis_semcache.embeddings.openvino_runtime import OpenVinoEmbedder
from redis_semcache.embeddings.sentence_transformer import DEFAULT_MODEL, bundled_model_path

from .test_onnx_runtime import run_fresh, varied_texts

pytestmark = pytest.mark.model

openvino = pytest.importorskip("openvino")
if "BF16" not in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
    pytest.skip("this CPU computes no bfloat16 natively", allow_module_level=True)


@pytest.fixture(scope="module")
def bf16(builtin_embedder) -> OpenVinoEmbedder:  # builtin_embedder: the export exists, made offline
    embedder = OpenVinoEmbedder(bundled_model_path(), DEFAULT_MODEL, precision="bfloat16")
    embedder.warmup()
    return embedder


def test_precision_comes_from_the_argument_then_the_environment_then_float32(monkeypatch):
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    assert embedding_precision() == "float32" and BuiltinEmbedder().precision == "float32"
    monkeypatch.setenv(PRECISION_ENV, " BFloat16 ")
    assert embedding_precision() == "bfloat16" and BuiltinEmbedder().precision == "bfloat16"
    assert BuiltinEmbedder(precision="float32").precision == "float32"  # the argument wins
    monkeypatch.setenv(PRECISION_ENV, "fp16")
    with pytest.raises(ConfigurationError, match=PRECISION_ENV):
        BuiltinEmbedder()
    with pytest.raises(InvalidInputError, match="precision"):
        BuiltinEmbedder(precision="bf16")
    with pytest.raises(InvalidInputError, match="precision"):
        OpenVinoEmbedder(bundled_model_path(), DEFAULT_MODEL, precision="int8")


def test_bfloat16_vectors_stay_within_cosine_0_9999_of_sentence_transformers_on_200_texts(bf16):
    texts = varied_texts()
    reference = SentenceTransformerEmbedder()(texts)
    cosines = np.sum(bf16(texts) * reference, axis=1)
    assert float(cosines.min()) >= 0.9999, np.argsort(cosines)[:5]
    assert bf16.probe_cosine is not None and bf16.probe_cosine >= openvino_runtime.MIN_BF16_COSINE


def test_it_really_computes_in_bfloat16_not_float32(bf16, builtin_embedder):
    """The point of the path: vectors close to float32's, yet not float32's own (that would be fp32 at fp32's cost)."""
    texts = varied_texts(40)
    cosines = np.sum(bf16(texts) * builtin_embedder(texts), axis=1)
    assert float(cosines.min()) < 0.999999


def test_the_load_check_measures_bfloat16_against_float32_not_against_itself(bf16, builtin_embedder):
    probes = list(_export.PROBES)
    against_fp32 = float(np.min(np.sum(bf16(probes) * builtin_embedder(probes), axis=1)))
    assert bf16.probe_cosine == pytest.approx(against_fp32, abs=2e-6)
    assert bf16.probe_cosine < 0.999999  # a reference compiled in bfloat16 too would agree to ~1.0


def test_float32_on_openvino_gives_onnx_runtimes_vectors(builtin_embedder):
    f32 = OpenVinoEmbedder(bundled_model_path(), DEFAULT_MODEL, precision="float32")
    texts = varied_texts(40)
    cosines = np.sum(f32(texts) * builtin_embedder(texts), axis=1)
    assert float(cosines.min()) >= 0.99999


def test_one_stream_per_usable_core_each_with_the_embedding_threads(bf16):
    """With one stream OpenVINO ran the batcher's concurrent batches one after the other (session 7)."""
    compiled = bf16._loaded[0]._compiled
    assert int(compiled.get_property("NUM_STREAMS")) == usable_cores()
    assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == usable_cores() * bf16.threads
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == openvino.Type.bf16


def test_threads_calling_at_once_each_get_the_vectors_of_their_own_texts(bf16):
    """One compiled model, one infer request per concurrent caller, outputs copied out of the request."""
    texts = varied_texts(96)
    batches = [texts[i : i + 3 + i % 5] for i in range(0, len(texts), 8)]
    expected = [bf16(batch) for batch in batches]  # one at a time
    start = threading.Barrier(4)
    got: dict[int, list[np.ndarray]] = {}

    def worker(k: int) -> None:
        start.wait()
        got[k] = [bf16(batch) for batch in batches[k::4] * 3]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for k in range(4):
        assert len(got[k]) == 3 * len(batches[k::4])
        for vectors, want in zip(got[k], expected[k::4] * 3, strict=True):
            np.testing.assert_allclose(vectors, want, atol=1e-6)


def test_the_builtin_runs_on_openvino_when_asked_for_bfloat16(builtin_embedder, monkeypatch):
    monkeypatch.setenv(PRECISION_ENV, "bfloat16")
    embedder = BuiltinEmbedder()
    vectors = embedder(["How do I reset my password?", "a"])
    assert embedder.runtime == "openvino" and embedder.fallback_reason is None
    assert embedder.embedder_id == builtin_embedder.embedder_id  # the same model's vectors, to cosine 0.9999
    assert float(np.min(np.sum(vectors * builtin_embedder(["How do I reset my password?", "a"]), axis=1))) >= 0.9999


def test_vectors_drifting_on_the_probes_fall_back_to_float32_with_the_reason(builtin_embedder, monkeypatch):
    monkeypatch.setattr(openvino_runtime, "MIN_BF16_COSINE", 1.5)  # no cosine reaches it: as a drifting CPU would
    embedder = BuiltinEmbedder(precision="bfloat16")
    embedder(["warm"])
    assert embedder.runtime == "onnxruntime"
    assert "drift" in embedder.fallback_reason and "min cosine" in embedder.fallback_reason
    assert isinstance(embedder._impl, OnnxEmbedder) and not isinstance(embedder._impl, OpenVinoEmbedder)


def test_without_openvino_bfloat16_falls_back_to_onnxruntime_and_one_log_line_says_why(builtin_embedder):
    out = run_fresh(
        "import logging, sys\n"
        "sys.modules['openvino'] = None  # as if not installed\n"
        "logging.basicConfig(format='LOG %(message)s')\n"
        "from redis_semcache.embeddings import default_embedder\n"
        "e = default_embedder(); v = e(['How do I reset my password?'])\n"
        "print(e.runtime, e.precision, repr(v[0, :4].tolist()))\n",
        **{PRECISION_ENV: "bfloat16"},
    )
    assert out.returncode == 0, out.stderr
    log_lines = [line for line in out.stderr.splitlines() if line.startswith("LOG ")]
    assert len(log_lines) == 1 and "openvino" in log_lines[0] and "float32" in log_lines[0], out.stderr
    runtime, precision, head = out.stdout.strip().splitlines()[-1].split(" ", 2)
    assert (runtime, precision) == ("onnxruntime", "bfloat16")
    np.testing.assert_allclose(eval(head), builtin_embedder(["How do I reset my password?"])[0, :4], atol=1e-5)
