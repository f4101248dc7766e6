"""The built-in model's ONNX export on OpenVINO, in bfloat16 on CPUs that compute it natively (opt-in).

On a CPU with AMX or AVX-512 BF16, OpenVINO runs the matrix products in
bfloat16 and costs about half of ONNX Runtime's fp32 CPU per text at batches
of 4-16 (bench/runtime_cost.py, docs/benchmarks.md "Session 7: threads").  The
vectors are close to sentence-transformers' but not the same: min cosine
0.99994 over 3,050 Quora questions and long texts, and similarities between two
prompts move by up to 1.4e-3 (FLOAT16 storage: 1.3e-4).  So it is opt-in
(``precision="bfloat16"`` or $SEMCACHE_EMBEDDING_PRECISION, see ``_precision``),
and every load checks it: the bfloat16 vectors of the export's probe texts
must agree with an fp32 compile of the same file to ``MIN_BF16_COSINE``, or the
load fails (and BuiltinEmbedder falls back to ONNX Runtime fp32).  OpenVINO
with fp32 forced gives fp32 vectors but was no cheaper than ONNX Runtime here,
so nothing picks it by default.

Tokenising, the export and the on-disk cache are OnnxEmbedder's; only the
session differs.  One compiled model, with one stream per usable core, serves
every thread: each concurrent caller takes its own infer request from a pool
(an infer request is not thread-safe; the compiled model is).
"""

from __future__ import annotations

import queue
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import EmbeddingError, EmbeddingUnavailableError, InvalidInputError
from . import _export
from ._precision import PRECISIONS
from ._threads import usable_cores
from .onnx_runtime import OnnxEmbedder

__all__ = ["MIN_BF16_COSINE", "OpenVinoEmbedder"]

# The project's bar for "the same vectors" (min cosine against sentence-transformers), checked on
# the probe texts at every load, against fp32.
MIN_BF16_COSINE = 0.9999
_OV_PRECISION = {"float32": "f32", "bfloat16": "bf16"}


class OpenVinoEmbedder(OnnxEmbedder):
    """OnnxEmbedder's export and tokenizer, run by OpenVINO's CPU plugin at ``precision``.

    ``precision="bfloat16"`` (the default here) needs a CPU with native bfloat16
    (OpenVINO's ``OPTIMIZATION_CAPABILITIES`` lists ``BF16``); elsewhere loading
    raises EmbeddingUnavailableError rather than run an emulation slower than fp32.
    """

    runtime_name = "openvino"

    def __init__(self, source: str | Path, name: str, *, precision: str = "bfloat16", **kwargs: Any) -> None:
        if precision not in PRECISIONS:
            raise InvalidInputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        super().__init__(source, name, **kwargs)
        self.precision = precision
        self.probe_cosine: float | None = None  # bfloat16 against fp32 on the probes, once loaded

    def __repr__(self) -> str:
        state = "loaded" if self.loaded else "not loaded"
        return f"OpenVinoEmbedder({self.embedder_id!r}, {self.precision}, threads={self.threads}, {state})"

    def _import_runtime(self) -> Any:
        import openvino

        return openvino

    def _open_session(self, openvino: Any, model_file: Path) -> Any:
        core = openvino.Core()
        if self.precision == "bfloat16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            raise EmbeddingUnavailableError("this CPU has no native bfloat16 (OpenVINO's CPU plugin lists no BF16)")
        model = core.read_model(str(model_file))
        session = _OpenVinoSession(self._compile(core, model, self.precision))
        if self.precision != "float32":
            self.probe_cosine = _probe_cosine(session, _OpenVinoSession(self._compile(core, model, "float32")), self)
            if not self.probe_cosine >= MIN_BF16_COSINE:
                raise EmbeddingError(
                    f"OpenVINO {self.precision} vectors drift from fp32 on this CPU "
                    f"(min cosine {self.probe_cosine:.6f} < {MIN_BF16_COSINE})"
                )
        return session

    def _compile(self, core: Any, model: Any, precision: str) -> Any:
        # One stream per usable core, each with ``threads`` threads: with a single stream OpenVINO ran
        # concurrent infer requests one after the other (2 threads: wall = CPU; 2 streams: 0.57x the
        # wall, docs/benchmarks.md session 7).  The micro-batcher's second batch per core queues on
        # them (8 threads: 3.4-3.5x RedisVL's lookups/s with 2 or 4 batch slots alike, session 8).
        streams = usable_cores()
        config = {
            "INFERENCE_PRECISION_HINT": _OV_PRECISION[precision],
            "NUM_STREAMS": streams,
            "INFERENCE_NUM_THREADS": self.threads * streams,
        }
        return core.compile_model(model, "CPU", config)


class _OpenVinoSession:
    """ONNX Runtime's ``run(None, feed) -> [vectors]`` over an OpenVINO compiled model."""

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled
        self._inputs = [port.get_any_name() for port in compiled.inputs]
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()  # infer requests no thread is using

    def run(self, _output_names: Any, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        try:
            request = self._idle.get_nowait()
        except queue.Empty:
            request = self._compiled.create_infer_request()
        try:
            request.infer({name: feed[name] for name in self._inputs})
            # The output tensor is the request's own buffer, rewritten by its next run: copy it out.
            return [np.array(request.get_output_tensor(0).data, dtype=np.float32)]
        finally:
            self._idle.put(request)


def _probe_cosine(session: _OpenVinoSession, reference: _OpenVinoSession, embedder: OpenVinoEmbedder) -> float:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(embedder.export_dir / _export.TOKENIZER_FILE))
    tokenizer.enable_truncation(_export.read_window(embedder.source))
    tokenizer.no_padding()
    probes = list(_export.PROBES)
    got = OnnxEmbedder._run(session, tokenizer, probes)
    expected = OnnxEmbedder._run(reference, tokenizer, probes)
    return float(np.min(np.sum(got * expected, axis=1)))
