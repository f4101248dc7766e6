"""Embedding an evaluation's texts once, with an on-disk cache.

Embedding the 24k texts of a 12k-pair file takes minutes on a laptop CPU, and
a threshold sweep or a guard comparison needs them again and again.  Vectors
are cached as ``.npy`` files keyed by the embedder's id and a hash of the
texts, in ``$REDIS_SEMCACHE_EVAL_CACHE`` or ``~/.cache/redis_semcache_eval``.
Embedders without a stable ``embedder_id`` are never cached on disk.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..embeddings import Embedder, check_embedder_output

__all__ = ["default_cache_dir", "embed_texts"]

_BATCH = 256


def default_cache_dir() -> Path:
    env = os.environ.get("REDIS_SEMCACHE_EVAL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "redis_semcache_eval"


def _stable_id(embedder: object) -> str | None:
    name = getattr(embedder, "embedder_id", None)
    return name if isinstance(name, str) and name else None


def _cache_file(cache_dir: Path, model_id: str, texts: Sequence[str]) -> Path:
    h = hashlib.sha256(model_id.encode())
    for t in texts:
        h.update(b"\x00" + t.encode())
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_id)[-60:]
    return cache_dir / f"{safe}-{h.hexdigest()[:24]}.npy"


def embed_texts(
    texts: Sequence[str],
    embedder: Embedder,
    *,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """Unit float32 vectors for ``texts``, shape (len(texts), d).

    Each distinct text is embedded once, in batches.  With ``use_cache`` the
    result is read from / written to ``cache_dir`` (default
    :func:`default_cache_dir`) when the embedder has an ``embedder_id``.
    """
    unique = list(dict.fromkeys(texts))
    model_id = _stable_id(embedder)
    path = None
    if use_cache and model_id is not None:
        path = _cache_file(cache_dir or default_cache_dir(), model_id, unique)
        if path.exists():
            cached = np.load(path)
            if cached.ndim == 2 and cached.shape[0] == len(unique):
                return _expand(unique, cached, texts)
    matrix = _embed_batches(unique, embedder, progress)
    if path is not None:
        _save_atomically(path, matrix)
    return _expand(unique, matrix, texts)


def _embed_batches(unique: list[str], embedder: Embedder, progress: bool) -> np.ndarray:
    chunks: list[np.ndarray] = []
    dim: int | None = None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(unique), desc="embedding", unit="text")
    try:
        for start in range(0, len(unique), _BATCH):
            batch = unique[start : start + _BATCH]
            vectors = check_embedder_output(embedder(batch), batch, dim)
            dim = vectors.shape[1]
            chunks.append(vectors)
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    if not chunks:
        return np.empty((0, 0), dtype=np.float32)
    return np.concatenate(chunks)


def _expand(unique: list[str], matrix: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    row = {t: i for i, t in enumerate(unique)}
    return matrix[[row[t] for t in texts]] if texts else matrix[:0]


def _save_atomically(path: Path, matrix: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npy")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, matrix)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
