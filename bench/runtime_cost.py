"""CPU time per embedded text of the built-in model on each runtime and option set (#23, session 7).

    PYTHONPATH=$PWD .venv/bin/python bench/runtime_cost.py [--rounds 5] [--configs ort,ov-f32]

One intra-op thread, this process's CPU time (``time.process_time``: all its threads) per text, at
batch sizes 1, 4, 8, 16 and 32 of short prompts (Quora questions, as bench_embedder.py looks up); the
configurations take turns batch by batch, so load on a shared machine falls on all of them alike.
Each configuration's vectors are checked against sentence-transformers (torch) on 200 texts
(min cosine).  ``ort`` is what the built-in model runs: texts packed in rows without padding
(session 8, ``_packing``); ``ort-padded`` is the same model exported as before, one padded run per
batch.  Every other configuration runs the packed export.  ``tokenize`` is the tokenizer call plus
the numpy conversions alone (the Python around ``Session.run``).  Results in
bench/results/runtime_cost.json (``--out``); nothing asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import numpy as np  # noqa: E402
from bench_embedder import questions  # noqa: E402
from bench_embeddings import DEFAULT_DATA, machine  # noqa: E402

from redis_semcache.embeddings import OnnxEmbedder, SentenceTransformerEmbedder  # noqa: E402
from redis_semcache.embeddings._export import _MeanPooled  # noqa: E402
from redis_semcache.embeddings._packing import run_rows  # noqa: E402
from redis_semcache.embeddings.sentence_transformer import bundled_model_path  # noqa: E402

DEFAULT_OUT = ROOT / "bench" / "results" / "runtime_cost.json"
BATCHES = (1, 4, 8, 16, 32)
KNOWN = (
    "ort",
    "ort-padded",
    "ort-basic",
    "ort-extended",
    "ort-no-opt",
    "ort-no-spin",
    "ort-no-arena",
    "ort-iobinding",
    "ov-f32",
    "ov-f32-throughput",
    "ov-bf16",
    "ov-default",
    "tokenize",
)
DEFAULT_CONFIGS = (
    "ort",
    "ort-padded",
    "ort-extended",
    "ort-no-spin",
    "ort-no-arena",
    "ort-iobinding",
    "ov-f32",
    "ov-bf16",
    "tokenize",
)
Embed = Callable[[list[str]], np.ndarray]


def _packed(run_row: Callable[[dict[str, np.ndarray]], np.ndarray], tokenizer: Any, texts: list[str]) -> np.ndarray:
    """The texts in packed rows, as OnnxEmbedder runs them, each row through ``run_row(feed)``."""
    return run_rows(run_row, [e.ids for e in tokenizer.encode_batch(texts)])


def _padded_feed(tokenizer: Any, texts: list[str]) -> dict[str, np.ndarray]:
    encoded = tokenizer.encode_batch(texts)
    return {
        "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
    }


def _session(model_file: Path, **settings: Any) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    if "level" in settings:
        options.graph_optimization_level = settings["level"]
    for key, value in settings.get("entries", {}).items():
        options.add_session_config_entry(key, value)
    for key, value in settings.get("attrs", {}).items():
        setattr(options, key, value)
    return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])


def ort_config(base: OnnxEmbedder, **settings: Any) -> Embed:
    """ONNX Runtime on the project's (packed) export, one thread, with ``settings`` (level=, entries=, attrs=)."""
    _, tokenizer, _ = base._load()
    session = _session(base.export_dir / "model.onnx", **settings)
    if settings.get("iobinding"):
        return lambda texts: _packed(lambda feed: _ort_bound(session, feed), tokenizer, texts)
    return lambda texts: _packed(lambda feed: session.run(None, feed)[0], tokenizer, texts)


def ort_padded(base: OnnxEmbedder, workdir: Path) -> Embed:
    """Before session 8: the same model exported for padded batches (a masked mean), one padded run per batch."""
    import torch
    import transformers
    from tokenizers import Tokenizer

    model = transformers.AutoModel.from_pretrained(str(base.source), local_files_only=True).eval()
    model_file = workdir / "padded.onnx"
    example = tuple(torch.ones(2, 8, dtype=torch.int64) for _ in range(3))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _MeanPooled(model),  # the export's own torch reference: a padded batch, masked mean
            example,
            str(model_file),
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "sentence_embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    tokenizer = Tokenizer.from_str(base._load()[1].to_str())
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0)
    session = _session(model_file)
    return lambda texts: np.asarray(session.run(None, _padded_feed(tokenizer, texts))[0], dtype=np.float32)


def _ort_bound(session: Any, feed: dict[str, np.ndarray]) -> np.ndarray:
    binding = session.io_binding()
    for name, value in feed.items():
        binding.bind_cpu_input(name, value)
    binding.bind_output("sentence_embedding")
    session.run_with_iobinding(binding)
    return np.asarray(binding.copy_outputs_to_cpu()[0], dtype=np.float32)


def ov_config(base: OnnxEmbedder, precision: str | None, hint: str | None = "LATENCY") -> Embed:
    """OpenVINO's CPU plugin on the same ONNX file, one thread, ``precision`` forced (None: its default)."""
    import openvino as ov

    _, tokenizer, _ = base._load()
    core = ov.Core()
    config: dict[str, Any] = {"INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1}
    if hint:
        config["PERFORMANCE_HINT"] = hint
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = core.compile_model(core.read_model(str(base.export_dir / "model.onnx")), "CPU", config)
    request = compiled.create_infer_request()
    names = [i.get_any_name() for i in compiled.inputs]

    def run_row(feed: dict[str, np.ndarray]) -> np.ndarray:
        request.infer({n: feed[n] for n in names})
        return np.array(request.get_output_tensor(0).data, dtype=np.float32)

    return lambda texts: _packed(run_row, tokenizer, texts)


def tokenize_only(base: OnnxEmbedder) -> Embed:
    _, tokenizer, _ = base._load()
    return lambda texts: _packed(lambda feed: np.zeros((len(feed["token_counts"]), 384)), tokenizer, texts)


def configs(names: list[str], workdir: Path) -> dict[str, Embed]:
    import onnxruntime as ort

    base = OnnxEmbedder(bundled_model_path(), "all-MiniLM-L6-v2", embedding_threads=1)
    base.warmup()
    level = ort.GraphOptimizationLevel
    known: dict[str, Callable[[], Embed]] = {
        "ort": lambda: ort_config(base),
        "ort-padded": lambda: ort_padded(base, workdir),
        "ort-basic": lambda: ort_config(base, level=level.ORT_ENABLE_BASIC),
        "ort-extended": lambda: ort_config(base, level=level.ORT_ENABLE_EXTENDED),
        "ort-no-opt": lambda: ort_config(base, level=level.ORT_DISABLE_ALL),
        "ort-no-spin": lambda: ort_config(base, entries={"session.intra_op.allow_spinning": "0"}),
        "ort-no-arena": lambda: ort_config(base, attrs={"enable_cpu_mem_arena": False, "enable_mem_pattern": False}),
        "ort-iobinding": lambda: ort_config(base, iobinding=True),
        "ov-f32": lambda: ov_config(base, "f32"),
        "ov-f32-throughput": lambda: ov_config(base, "f32", hint="THROUGHPUT"),
        "ov-bf16": lambda: ov_config(base, "bf16"),
        "ov-default": lambda: ov_config(base, None),  # OpenVINO's own choice: bf16 on this CPU
        "tokenize": lambda: tokenize_only(base),
    }
    return {name: known[name]() for name in names}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help="comma-separated, from: " + ", ".join(KNOWN))
    p.add_argument("--rounds", type=int, default=5, help="turns per configuration and batch size")
    p.add_argument("--texts-per-turn", type=int, default=48, help="texts embedded per configuration per turn")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    pool = questions(args.data)
    probe = [next(pool) for _ in range(200)]
    with tempfile.TemporaryDirectory(prefix="runtime_cost.") as workdir:
        embed = configs(args.configs.split(","), Path(workdir))
    reference = SentenceTransformerEmbedder(embedding_threads=1)(probe)
    cosine = {
        name: float(np.min(np.sum(f(probe) * reference, axis=1))) for name, f in embed.items() if name != "tokenize"
    }
    cpu: dict[str, dict[int, float]] = {name: dict.fromkeys(BATCHES, 0.0) for name in embed}
    counted = dict.fromkeys(BATCHES, 0)
    load = [os.getloadavg()[0]]
    for r in range(args.rounds):
        for b in BATCHES:
            texts = [next(pool) for _ in range(args.texts_per_turn)]
            batches = [texts[i : i + b] for i in range(0, len(texts), b)]
            order = list(embed) if r % 2 == 0 else list(reversed(embed))
            for name in order:
                c = time.process_time()
                for batch in batches:
                    embed[name](batch)
                cpu[name][b] += time.process_time() - c
            counted[b] += len(texts)
        load.append(os.getloadavg()[0])
    per_text = {name: {str(b): round(1000 * c[b] / counted[b], 3) for b in BATCHES} for name, c in cpu.items()}
    base = per_text.get("ort")
    results = {
        "command": "bench/runtime_cost.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "load_average_1min": [round(x, 2) for x in load],
        "cpu_ms_per_text": per_text,
        "over_ort": {
            name: {b: round(v / base[b], 3) for b, v in row.items()} for name, row in per_text.items() if base
        },
        "min_cosine_vs_sentence_transformers": cosine,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
