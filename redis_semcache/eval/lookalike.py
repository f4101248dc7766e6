"""A lookalike stream: traffic on which near-duplicate-looking prompts are mostly different.

Built from a pairs file's own hard negatives: every non-duplicate pair whose two
prompts score at least ``min_similarity`` (0.88) with the embedder, plus a
minority of duplicate pairs above the same similarity (``duplicate_share`` of
the stream), shuffled.  Each pair's first prompt is stored and its second is
looked up, as in :func:`.online.online_replay`.  A cache whose rule was learned
on friendlier traffic (``prior_labels``: a warm start) must be driven back
within its budget by the wrong labels this stream produces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .pairs import PairSet

__all__ = ["Lookalikes", "lookalike_stream", "run_lookalikes"]


@dataclass(frozen=True)
class Lookalikes:
    pairs: PairSet
    first: np.ndarray
    second: np.ndarray
    source_index: np.ndarray  # each stream pair's index in the original file


def lookalike_stream(
    pairs: PairSet,
    first: np.ndarray,
    second: np.ndarray,
    *,
    min_similarity: float = 0.88,
    duplicate_share: float = 0.25,
    seed: int = 0,
) -> Lookalikes:
    """The non-duplicates at or above ``min_similarity`` and a ``duplicate_share`` of duplicates."""
    similarity = np.einsum("ij,ij->i", first, second)
    close = similarity >= min_similarity
    duplicate = np.asarray(pairs.duplicate, dtype=bool)
    lookalikes = np.flatnonzero(close & ~duplicate)
    rng = np.random.default_rng(seed)
    wanted = round(len(lookalikes) * duplicate_share / (1.0 - duplicate_share))
    duplicates = np.flatnonzero(close & duplicate)
    chosen = rng.choice(duplicates, size=min(wanted, len(duplicates)), replace=False)
    order = rng.permutation(np.concatenate([lookalikes, chosen]))
    subset = PairSet(
        tuple(pairs.first[i] for i in order),
        tuple(pairs.second[i] for i in order),
        duplicate[order],
        f"{pairs.source} (lookalikes >= {min_similarity})",
    )
    return Lookalikes(subset, first[order], second[order], order)


def run_lookalikes(pairs: PairSet, vectors: Any, runs: Sequence[Any], json_path: Path, png: Path) -> None:
    """``semcache eval --online --lookalikes``: the stream cold, and warm-started with the labels the
    whole-file ``runs`` gathered on every other query; a JSON report, tables and a plot."""
    from . import _cli
    from .online import format_runs, online_replay, plot_online, static_curve, summary
    from .report import write_json

    stream = lookalike_stream(pairs, vectors.first, vectors.second)
    others = np.ones(len(pairs), dtype=bool)
    others[stream.source_index] = False
    done: dict[str, list[Any]] = {"cold": [], "warm": []}
    for whole in runs:
        keep = others & ~np.isnan(whole.similarity)
        prior = list(zip(whole.similarity[keep].tolist(), whole.right[keep].tolist(), strict=True))
        done["cold"].append(online_replay(stream.pairs, stream.first, stream.second, whole.budget))
        done["warm"].append(online_replay(stream.pairs, stream.first, stream.second, whole.budget, prior_labels=prior))
    curve = static_curve(done["cold"][0])
    report = {
        "stream": {"pairs": len(stream.pairs), "duplicates": int(stream.pairs.duplicate.sum()),
                   "min_similarity": 0.88, "warm_start_labels": int((others & ~np.isnan(runs[0].similarity)).sum())},
        "cold": [summary(r, curve) for r in done["cold"]],
        "warm": [summary(r, curve) for r in done["warm"]],
        "static": curve,
    }  # fmt: skip
    path = write_json(report, json_path)
    for kind in ("cold", "warm"):
        print(f"\nlookalike stream ({len(stream.pairs)} queries), {kind} start:\n{format_runs(report[kind])}")
    print(f"\nwrote {path}")
    every = [*done["warm"], *done["cold"]]
    names = [f"budget {r.budget:.2f}, {kind} start" for kind in ("warm", "cold") for r in done[kind]]
    dashed = [False] * len(done["warm"]) + [True] * len(done["cold"])
    title = f"lookalikes: {len(stream.pairs)} queries"
    _cli.plot_if_possible(lambda: plot_online(every, png, title=title, names=names, dashed=dashed))
