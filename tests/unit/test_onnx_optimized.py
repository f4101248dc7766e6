"""The ONNX graph is optimised once, kept beside the export, and read back with optimisation off (_optimized.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from redis_semcache.embeddings import OnnxEmbedder, _export
from redis_semcache.embeddings._optimized import optimized_path
from redis_semcache.embeddings.sentence_transformer import DEFAULT_MODEL, bundled_model_path

ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.model

TEXTS = ["How do I reset my password?", "a", "Ünïcödé, 中文 and 한국어 in one sentence", "word " * 300]


@pytest.fixture
def cache_dir(builtin_embedder, tmp_path: Path) -> Path:
    """A cache holding the built-in model's export (linked, not copied) and nothing else."""
    builtin_embedder.warmup()
    real = builtin_embedder._impl.export_dir
    mine = _export.export_dir_for(str(bundled_model_path()), DEFAULT_MODEL, tmp_path)
    mine.mkdir(parents=True)
    for name in _export.EXPORT_FILES:
        os.symlink(real / name, mine / name)
    return tmp_path


def load(cache_dir: Path) -> OnnxEmbedder:
    embedder = OnnxEmbedder(bundled_model_path(), DEFAULT_MODEL, cache_dir=cache_dir)
    embedder.warmup()
    return embedder


def level(embedder: OnnxEmbedder) -> object:
    return embedder._loaded[0].get_session_options().graph_optimization_level


def test_the_first_load_saves_the_optimised_graph_and_the_next_reads_it_unoptimised(builtin_embedder, cache_dir):
    first = load(cache_dir)
    saved = optimized_path(first.export_dir / _export.MODEL_FILE, ort.__version__)
    assert saved.is_file() and ort.__version__ in saved.name
    assert level(first) == ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # portable fusions only
    second = load(cache_dir)
    assert level(second) == ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    assert sorted(p.name for p in first.export_dir.iterdir()) == sorted([*_export.EXPORT_FILES, saved.name])
    expected = builtin_embedder(TEXTS)
    for embedder in (first, second):
        assert np.abs(embedder(TEXTS) - expected).max() <= 1e-5


def test_a_damaged_saved_graph_is_made_again(builtin_embedder, cache_dir):
    saved = optimized_path(load(cache_dir).export_dir / _export.MODEL_FILE, ort.__version__)
    whole = saved.stat().st_size
    saved.write_bytes(b"not an onnx file")
    again = load(cache_dir)
    assert level(again) == ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    assert saved.stat().st_size == whole
    assert np.abs(again(TEXTS) - builtin_embedder(TEXTS)).max() <= 1e-5
    assert level(load(cache_dir)) == ort.GraphOptimizationLevel.ORT_DISABLE_ALL


def test_when_the_graph_cannot_be_saved_the_model_still_loads_and_leaves_no_partial_file(builtin_embedder, cache_dir):
    export = load(cache_dir).export_dir
    saved = optimized_path(export / _export.MODEL_FILE, ort.__version__)
    saved.unlink()
    saved.mkdir()  # the rename into place fails, as on a read-only cache (which root would not see)
    embedder = load(cache_dir)
    assert saved.is_dir() and [p.name for p in export.iterdir() if p.name.endswith(".partial")] == []
    assert np.abs(embedder(TEXTS) - builtin_embedder(TEXTS)).max() <= 1e-5


def test_the_saved_name_is_per_onnxruntime_version():
    model = Path("/cache/x/model.onnx")
    assert optimized_path(model, "1.32.0") == Path("/cache/x/model.optimized-ort1.32.0.onnx")
    assert optimized_path(model, "1.33.0+cpu") != optimized_path(model, "1.32.0")
    assert optimized_path(model, "1.33.0+cpu").parent == model.parent
