"""A mean-pooled sentence-transformers model on ONNX Runtime: the fast path of the built-in model.

Loading imports onnxruntime, tokenizers and numpy only, never torch: the model
runs from an ONNX file exported once by :mod:`._export` (which does need torch)
into the on-disk cache.  Tokenising uses the model's own fast tokenizer file
(WordPiece, lower case, truncated at the model's window); the texts of a call
run packed end to end in rows, without padding (:mod:`._packing`), and the graph
itself mean-pools and normalises, so the vectors are sentence-transformers' own
(min cosine 0.99999 on 200 Quora questions, docs/embeddings.md).

Both the ONNX Runtime session and the tokenizer (configured once, then only
read) may be called from several threads at once: no lock around an embedding.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import EmbeddingError, EmbeddingUnavailableError, InvalidInputError
from . import _export, _onnx
from ._packing import run_rows
from ._threads import embedding_threads as resolve_threads
from ._window import fits_window

__all__ = ["OnnxEmbedder"]


class OnnxEmbedder:
    """Embed with ONNX Runtime, using ``embedding_threads`` intra-op threads (default 1, see ``_threads``).

    ``source`` is a local sentence-transformers model directory (mean pooling),
    ``name`` names it in the cache directory and in ``embedder_id``.  The first
    load exports the model unless ``cache_dir`` (default
    :func:`_onnx.default_cache_root`) already holds the export.
    """

    def __init__(
        self,
        source: str | Path,
        name: str,
        *,
        embedding_threads: int | None = None,
        batch_size: int = 32,
        cache_dir: str | Path | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}")
        self.source = Path(source)
        self.model_name = name
        self.batch_size = batch_size
        self.threads = resolve_threads(embedding_threads)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else _onnx.default_cache_root()
        # The same id as SentenceTransformerEmbedder's: the id names the vectors, and they are the same.
        self.embedder_id = f"sentence-transformers:{name}"
        self._loaded: tuple[Any, Any, int] | None = None  # session, tokenizer, window
        self._counter: Any = None  # a second tokenizer that never truncates, made on first need
        self._load_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"OnnxEmbedder({self.embedder_id!r}, threads={self.threads}, {'loaded' if self.loaded else 'not loaded'})"
        )

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    @property
    def export_dir(self) -> Path:
        return _export.export_dir_for(str(self.source), self.model_name, self.cache_dir)

    @property
    def max_tokens(self) -> int:
        return self._load()[2]

    @property
    def dimension(self) -> int:
        return int(self(["dimension probe"]).shape[1])

    def warmup(self) -> None:
        """Load (exporting first if needed) and run one embedding."""
        self(["warmup"])

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens per text, special tokens included, without truncation."""
        return [len(e.ids) for e in self._counting_tokenizer().encode_batch(list(texts))]

    def fits(self, texts: list[str]) -> list[bool]:
        """Whether each text fits the window, tokenising only as much of it as that takes (``_window``)."""
        window = self._load()[2]
        counter = self._counting_tokenizer()

        def count(piece: str) -> int:
            return len(counter.encode(piece, add_special_tokens=False).ids)

        return [fits_window(t, window, count) for t in texts]

    def __call__(self, texts: list[str]) -> np.ndarray:
        session, tokenizer, _ = self._load()
        texts = list(texts)
        if not texts:
            return np.empty((0, 0), dtype=np.float32)
        out = [
            self._run(session, tokenizer, texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)
        ]
        return out[0] if len(out) == 1 else np.concatenate(out)

    @staticmethod
    def _run(session: Any, tokenizer: Any, texts: list[str]) -> np.ndarray:
        ids = [e.ids for e in tokenizer.encode_batch(texts)]
        return run_rows(lambda feed: session.run(None, feed)[0], ids)

    def _counting_tokenizer(self) -> Any:
        counter = self._counter
        if counter is not None:
            return counter
        tokenizer = self._load()[1]
        with self._load_lock:
            if self._counter is None:
                from tokenizers import Tokenizer

                counter = Tokenizer.from_str(tokenizer.to_str())
                counter.no_truncation()
                counter.no_padding()
                self._counter = counter
            return self._counter

    def _load(self) -> tuple[Any, Any, int]:
        loaded = self._loaded
        if loaded is not None:
            return loaded
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._construct()
            return self._loaded

    def _construct(self) -> tuple[Any, Any, int]:
        try:
            runtime = self._import_runtime()
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbeddingUnavailableError(
                f"the {self.runtime_name} path needs {self.runtime_name} and tokenizers ({exc})"
            ) from exc
        target = self.export_dir
        if not _export.exported(target):
            _export.export_model(self.source, target)
        window = _export.read_window(self.source)
        try:
            session = self._open_session(runtime, target / _export.MODEL_FILE)
            tokenizer = Tokenizer.from_file(str(target / _export.TOKENIZER_FILE))
        except EmbeddingError:
            raise
        except Exception as exc:  # the runtimes raise their own types for a damaged file
            raise EmbeddingError(f"could not load the ONNX export in {target}: {exc}") from exc
        # The tokenizer file ships fixed padding and truncation at 128; sentence-transformers
        # truncates at the window, and so do we; packed rows need no padding.
        tokenizer.enable_truncation(window)
        tokenizer.no_padding()
        return session, tokenizer, window

    # The two hooks a runtime other than ONNX Runtime replaces (openvino_runtime.py).
    runtime_name = "onnxruntime"

    def _import_runtime(self) -> Any:
        import onnxruntime

        return onnxruntime

    def _open_session(self, onnxruntime: Any, model_file: Path) -> Any:
        """Something with ONNX Runtime's ``run(None, feed) -> [vectors]``, safe to call from several threads."""
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        return onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
