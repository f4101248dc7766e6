"""ONNX (and int8) copies of a sentence-transformers model, exported once and cached on disk.

sentence-transformers' ``backend="onnx"`` loads ``onnx/model.onnx`` from the
model directory, or exports it (through Optimum) on every load when the file is
missing.  The bundled model ships no ONNX file and lives in site-packages, which
we never write to; so the first load exports into a cache directory and later
loads, in this process or another, read the file from there.  Nothing here uses
the network.

Cache layout: ``<cache root>/<model name>-<digest>-<variant>/`` holds a complete
sentence-transformers model directory (configs, tokenizer, ``onnx/*.onnx``).
The digest covers the source path and its files' sizes and mtimes, so a
reinstalled or changed model is exported again.  A directory appears whole
(written aside, then renamed) so concurrent processes never see half of one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .._errors import EmbeddingError, EmbeddingUnavailableError

__all__ = ["INT8_CONFIGS", "ONNX_INSTALL_HINT", "default_cache_root", "int8_config_for_this_cpu", "onnx_model_dir"]

ONNX_INSTALL_HINT = 'pip install "redis-semcache[onnx]"'
# Optimum's dynamic-quantisation presets, named after the CPU instructions they target.
INT8_CONFIGS = ("arm64", "avx2", "avx512", "avx512_vnni")
ONNX_FILE = "onnx/model.onnx"


def default_cache_root() -> Path:
    """``$REDIS_SEMCACHE_CACHE_DIR/onnx``, else ``$XDG_CACHE_HOME/redis_semcache/onnx``, else ``~/.cache/...``."""
    explicit = os.environ.get("REDIS_SEMCACHE_CACHE_DIR")
    if explicit:
        return Path(explicit) / "onnx"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "redis_semcache" / "onnx"


def int8_config_for_this_cpu(cpu_flags: set[str] | None = None, machine: str | None = None) -> str:
    """The best of INT8_CONFIGS for this CPU (from /proc/cpuinfo flags on Linux)."""
    machine = (machine or platform.machine()).lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    flags = _cpu_flags() if cpu_flags is None else cpu_flags
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2"


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    match = re.search(r"^flags\s*:(.*)$", text, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def require_onnx_runtime() -> None:
    """Raise EmbeddingUnavailableError naming the pip command when Optimum or ONNX Runtime is missing."""
    for module in ("onnxruntime", "optimum.onnxruntime"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:  # a missing parent package
            found = False
        if not found:
            raise EmbeddingUnavailableError(
                f"the ONNX backend needs Optimum and ONNX Runtime ({module} is missing); run: {ONNX_INSTALL_HINT}"
            )


def onnx_file_in(model_dir: Path, int8: str | None) -> str | None:
    """The relative path of the wanted ONNX file in ``model_dir``, if it is there."""
    if int8 is None:
        return ONNX_FILE if (model_dir / ONNX_FILE).is_file() else None
    found = sorted(model_dir.glob(f"onnx/model_*_{int8}.onnx"))
    return found[0].relative_to(model_dir).as_posix() if found else None


def _digest(source: str) -> str:
    h = hashlib.sha256(os.path.realpath(source).encode())
    path = Path(source)
    if path.is_dir():
        for item in sorted(path.rglob("*")):
            if item.is_file():
                stat = item.stat()
                h.update(f"{item.relative_to(path)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def onnx_model_dir(
    sentence_transformer: Any, source: str, name: str, int8: str | None, cache_root: Path
) -> tuple[Path, str]:
    """A model directory holding the wanted ONNX file, and that file's relative path.

    Uses ``source`` itself when it already has the file; otherwise the cache
    directory for (source, variant), exporting into it first if needed.
    ``sentence_transformer`` is the SentenceTransformer class.
    """
    source_dir = Path(source)
    if source_dir.is_dir():
        file_name = onnx_file_in(source_dir, int8)
        if file_name is not None:
            return source_dir, file_name
    variant = "onnx" if int8 is None else f"onnx-int8-{int8}"
    safe_name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"
    target = cache_root / f"{safe_name}-{_digest(source)}-{variant}"
    file_name = onnx_file_in(target, int8)
    if file_name is None:
        _export(sentence_transformer, source, int8, target)
        file_name = onnx_file_in(target, int8)
        if file_name is None:
            raise EmbeddingError(f"exporting {name!r} to ONNX left no ONNX file in {target}")
    return target, file_name


def _export(sentence_transformer: Any, source: str, int8: str | None, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        # Without an ONNX file sentence-transformers exports the model while loading it.
        model = sentence_transformer(source, backend="onnx", device="cpu", local_files_only=True)
        model.save_pretrained(str(staging))
        if int8 is not None:
            from sentence_transformers.backend import export_dynamic_quantized_onnx_model

            export_dynamic_quantized_onnx_model(model, int8, str(staging))
        try:
            staging.rename(target)
        except OSError:
            if onnx_file_in(target, int8) is None:  # not just another process winning the race
                raise
    except (OSError, ValueError, RuntimeError) as exc:
        raise EmbeddingError(f"could not export {source!r} to ONNX in {target}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
