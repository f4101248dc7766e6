"""Export a mean-pooled sentence-transformers model to one ONNX file, once, with torch.

The graph is the transformer plus the model's own pooling: mean over each text's
tokens, then L2 normalisation, so ONNX Runtime returns the sentence vectors
directly.  It takes texts packed end to end in one row, without padding
(:mod:`._packing`): each token attends to its own text only.  It is exported
with ``torch.onnx.export`` (the TorchScript exporter: no Optimum, and so none of
its pins on transformers) from the local weights, checked against torch (the
padded batch sentence-transformers runs) before it is kept, and written aside
then renamed into place (like :mod:`._onnx`), so concurrent processes never see
half of it.  Only this module imports torch; loading an existing export does not.

Export directory: ``<cache root>/<model name>-<digest of the source files>-ort-fp32-packed/``
with ``model.onnx``, ``tokenizer.json`` and ``export.json`` (the window and versions).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from .._errors import EmbeddingError, EmbeddingUnavailableError
from ._onnx import _digest
from ._packing import packed_feed
from .sentence_transformer import _no_load_progress_bars

__all__ = ["EXPORT_FILES", "export_dir_for", "export_model", "exported", "read_window"]

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
INFO_FILE = "export.json"
EXPORT_FILES = (MODEL_FILE, TOKENIZER_FILE, INFO_FILE)
# The export is kept only when its vectors agree with torch's this closely on PROBES.
MIN_EXPORT_COSINE = 0.99999
PROBES = (
    "How do I reset my password?",
    "a",
    "The quick brown fox jumps over the lazy dog, then sleeps in the afternoon sun for a while.",
    "Ünïcödé, 中文 and 한국어 in one sentence",
)


def export_dir_for(source: str, name: str, cache_root: Path) -> Path:
    safe_name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"
    return cache_root / f"{safe_name}-{_digest(source)}-ort-fp32-packed"


def exported(target: Path) -> bool:
    return all((target / f).is_file() for f in EXPORT_FILES)


def read_window(source: Path) -> int:
    """The model's window in tokens: sentence-transformers' max_seq_length, else the position embeddings."""
    for file_name, key in (("sentence_bert_config.json", "max_seq_length"), ("config.json", "max_position_embeddings")):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return int(json.loads((source / file_name).read_text())[key])
    raise EmbeddingUnavailableError(f"{source} names no window (sentence_bert_config.json max_seq_length)")


def check_mean_pooled(source: Path) -> None:
    """Raise EmbeddingUnavailableError unless the model pools by plain mean (what the export computes)."""
    try:
        pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise EmbeddingUnavailableError(f"{source} has no readable 1_Pooling/config.json: {exc}") from exc
    others = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v and k != "pooling_mode_mean_tokens"]
    if not pooling.get("pooling_mode_mean_tokens") or others:
        raise EmbeddingUnavailableError(f"{source} does not pool by mean alone ({pooling})")
    if not (source / TOKENIZER_FILE).is_file():
        raise EmbeddingUnavailableError(f"{source} has no fast tokenizer file ({TOKENIZER_FILE})")


def export_model(source: Path, target: Path) -> None:
    """Export ``source`` into ``target`` unless a complete export is already there."""
    if exported(target):
        return
    check_mean_pooled(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        info = _export_into(source, staging)
        shutil.copyfile(source / TOKENIZER_FILE, staging / TOKENIZER_FILE)
        (staging / INFO_FILE).write_text(json.dumps(info, indent=1))
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the export from other users of a shared cache
        try:
            staging.rename(target)
        except OSError:
            if not exported(target):  # not just another process winning the race
                raise
    except ImportError as exc:
        raise EmbeddingUnavailableError(f"exporting to ONNX needs torch, transformers and onnx ({exc})") from exc
    except (OSError, ValueError, RuntimeError) as exc:
        raise EmbeddingError(f"could not export {source} to ONNX in {target}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _export_into(source: Path, staging: Path) -> dict[str, Any]:
    import numpy as np
    import onnxruntime
    import torch
    import transformers
    from tokenizers import Tokenizer

    with _no_load_progress_bars():  # transformers is imported above, so the bar is found
        model = transformers.AutoModel.from_pretrained(str(source), local_files_only=True).eval()
    window = read_window(source)
    tokenizer = Tokenizer.from_file(str(source / TOKENIZER_FILE))
    tokenizer.enable_truncation(window)
    tokenizer.no_padding()
    encoded = tokenizer.encode_batch(list(PROBES))
    feed = packed_feed([e.ids for e in encoded])
    example = packed_feed([e.ids for e in encoded[:2]])
    row = {"input_ids": {1: "tokens"}, "position_ids": {1: "tokens"}, "segment_ids": {0: "tokens"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python branches
        torch.onnx.export(
            _Packed(model),
            tuple(torch.from_numpy(v) for v in example.values()),
            str(staging / MODEL_FILE),
            input_names=list(feed),
            output_names=["sentence_embedding"],
            dynamic_axes={**row, "token_counts": {0: "texts"}, "sentence_embedding": {0: "texts"}},
            opset_version=17,
            dynamo=False,
        )
        expected = _padded_reference(model, encoded)
    session = onnxruntime.InferenceSession(str(staging / MODEL_FILE), providers=["CPUExecutionProvider"])
    got = session.run(None, feed)[0]
    cosine = float(np.min(np.sum(got * expected, axis=1)))
    if not cosine >= MIN_EXPORT_COSINE:
        raise EmbeddingError(f"the ONNX export of {source} disagrees with torch (min cosine {cosine:.6f})")
    return {"window": window, "torch": torch.__version__, "transformers": transformers.__version__, "cosine": cosine}


def _padded_reference(model: Any, encoded: list[Any]) -> Any:
    """Torch's vectors for ``encoded`` as sentence-transformers computes them: a padded batch, masked mean."""
    import torch

    width = max(len(e.ids) for e in encoded)
    ids = torch.tensor([e.ids + [0] * (width - len(e.ids)) for e in encoded])
    mask = torch.tensor([[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in encoded])
    return _MeanPooled(model)(ids, mask, torch.zeros_like(ids)).numpy()


class _MeanPooled:
    """The transformer over a padded batch, then a masked mean over its tokens, then L2 normalisation
    (all-MiniLM-L6-v2's modules): the reference the packed export is checked against."""

    def __new__(cls, model: Any) -> Any:
        import torch

        class MeanPooled(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                hidden = self.model(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                ).last_hidden_state
                weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(mean, p=2.0, dim=1)

        return MeanPooled().eval()


class _Packed:
    """The transformer over one packed row (``_packing.packed_feed``), then each text's mean, L2-normalised."""

    def __new__(cls, model: Any) -> Any:
        import torch

        class Packed(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids: Any, position_ids: Any, segment_ids: Any, token_counts: Any) -> Any:
                hidden = self.model.embeddings(
                    input_ids=input_ids, position_ids=position_ids, token_type_ids=torch.zeros_like(input_ids)
                )
                # An additive mask: a token sees the tokens of its own text and nothing else.
                same_text = segment_ids.unsqueeze(0) == segment_ids.unsqueeze(1)
                mask = torch.where(same_text, 0.0, torch.finfo(hidden.dtype).min).to(hidden.dtype)
                hidden = self.model.encoder(hidden, attention_mask=mask[None, None]).last_hidden_state[0]
                texts = torch.arange(token_counts.shape[0]).unsqueeze(1) == segment_ids.unsqueeze(0)
                mean = (texts.to(hidden.dtype) @ hidden) / token_counts.unsqueeze(1)
                return torch.nn.functional.normalize(mean, p=2.0, dim=1)

        return Packed().eval()
