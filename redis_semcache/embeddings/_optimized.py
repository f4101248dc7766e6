"""An ONNX Runtime session whose graph optimisation is done once and kept beside the export.

Creating a session first rewrites the graph (fusing attention, layer norms,
GELU): about a third of the session's creation time, and the largest single
step from a fresh process to its first embedding (docs/embeddings.md, "Cold
start").  The first load saves the rewritten graph next to ``model.onnx``;
later loads read it with optimisation off.  Saved at ORT_ENABLE_EXTENDED:
fusions only, none of ORT_ENABLE_ALL's layout passes, which onnxruntime warns
may be tied to the CPU that ran them (and which change nothing for this
model: they rearrange convolutions).  The file is named by the onnxruntime
version that wrote it, since its fused operators are that version's; one that
does not load (damaged, or from a build that cannot read it) is made again.
Written aside then renamed into place, like the export, so a concurrent
process reads a whole file or none.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

__all__ = ["create_session", "optimized_path"]

log = logging.getLogger("redis_semcache.embeddings")
PROVIDERS = ["CPUExecutionProvider"]


def optimized_path(model: Path, ort_version: str) -> Path:
    """Where the optimised graph of ``model`` made by onnxruntime ``ort_version`` is kept."""
    safe = re.sub(r"[^A-Za-z0-9.]+", "_", ort_version)
    return model.with_name(f"{model.stem}.optimized-ort{safe}{model.suffix}")


def create_session(ort: Any, model: Path, threads: int) -> Any:
    """An InferenceSession on ``model`` with ``threads`` intra-op threads, from the saved optimised graph if any."""

    def options(level: Any) -> Any:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = level
        return opts

    saved = optimized_path(model, ort.__version__)
    if saved.is_file():
        try:
            return ort.InferenceSession(
                str(saved), options(ort.GraphOptimizationLevel.ORT_DISABLE_ALL), providers=PROVIDERS
            )
        except Exception as exc:  # onnxruntime raises its own types for a file it cannot read
            log.info("redis_semcache: optimising the ONNX graph again, %s did not load: %s", saved, exc)
    opts = options(ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)
    partial = saved.with_name(f".{saved.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")
    opts.optimized_model_filepath = str(partial)
    try:
        session = ort.InferenceSession(str(model), opts, providers=PROVIDERS)
        with contextlib.suppress(OSError):  # a read-only cache still embeds, only without the saving
            os.replace(partial, saved)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    return session
