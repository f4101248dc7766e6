"""One evaluation: pairwise scores, cache replays per guard set, and their comparison.

Everything here takes the vectors or the embedder as an argument, so tests
run it with a deterministic fake embedder and the CLI with the real model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import DerivationMismatch
from ..embeddings import Embedder, embedder_id
from ..guards import combine, guard_names, resolve_guards
from ..quality.bounds import clopper_pearson_upper
from . import metrics
from .pairs import PairSet
from .replay import ManagerFactory, ReplayRun, entry_numbers, record_candidates, replay
from .vectors import embed_texts

__all__ = [
    "DerivationMismatch",
    "EvalVectors",
    "calibrate",
    "embed_pairs",
    "evaluate",
    "pairwise_points",
    "replay_points",
]

MODES = ("pairwise", "replay", "both")


@dataclass(frozen=True)
class EvalVectors:
    """Unit vectors of every pair's first and second prompt, row-aligned with the pairs."""

    first: np.ndarray
    second: np.ndarray
    embedder: str

    @property
    def pair_similarity(self) -> np.ndarray:
        return np.einsum("ij,ij->i", self.first.astype(np.float64), self.second.astype(np.float64))


def embed_pairs(pairs: PairSet, embedder: Embedder, **cache_options: Any) -> EvalVectors:
    """Embed both sides of every pair once (see :func:`.vectors.embed_texts` for caching)."""
    matrix = embed_texts([*pairs.first, *pairs.second], embedder, **cache_options)
    n = len(pairs)
    return EvalVectors(matrix[:n], matrix[n:], embedder_id(embedder))


def pairwise_points(
    pairs: PairSet, vectors: EvalVectors, thresholds: Sequence[float], guards: Any = None
) -> list[metrics.PairwisePoint]:
    """Precision/recall of each pair's own similarity; with guards, a pair they reject is "different"."""
    sim = vectors.pair_similarity
    accept = combine(resolve_guards(guards))
    accepted = None
    if accept is not None:
        accepted = np.array([accept(b, a, float(s)) for a, b, s in zip(pairs.first, pairs.second, sim, strict=True)])
    return metrics.pairwise_curve(sim, pairs.duplicate, thresholds, accepted)


def replay_points(run: ReplayRun, thresholds: Sequence[float]) -> list[metrics.ReplayPoint]:
    """Counts at every threshold >= the run's own, derived from its per-query results."""
    low = [t for t in thresholds if t < run.threshold - 1e-12]
    if low:
        raise ValueError(f"cannot derive thresholds {low} from a replay at {run.threshold}")
    return metrics.replay_curve(run.found, run.similarity, run.own, run.duplicate, thresholds)


def check_derivation(run: ReplayRun, literal: ReplayRun) -> dict[str, Any]:
    """Compare a literal replay at one threshold with what ``run`` derives for it; raise on any difference."""
    derived_found = metrics.found_at(run.found, run.similarity, literal.threshold)
    derived = metrics.replay_point(run.found, run.similarity, run.own, run.duplicate, literal.threshold)
    direct = metrics.replay_point(literal.found, literal.similarity, literal.own, literal.duplicate, literal.threshold)
    differing = int(np.sum(derived_found != literal.found))
    if differing or derived != direct:
        raise DerivationMismatch(
            f"at threshold {literal.threshold}: derived {derived.to_dict()} but cache.get gave {direct.to_dict()} "
            f"({differing} queries differ)"
        )
    return {"threshold": literal.threshold, "derived": derived.to_dict(), "literal": direct.to_dict(), "equal": True}


def _spec_name(spec: Any) -> str:
    guards = resolve_guards(spec)
    return "+".join(guard_names(guards)) if guards else "none"


def evaluate(
    pairs: PairSet,
    vectors: EvalVectors,
    *,
    thresholds: Sequence[float],
    mode: str = "both",
    guard_specs: Sequence[Any] = ("none",),
    manager_factory: ManagerFactory | None = None,
    check_threshold: float | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the evaluation and return a JSON-ready report.

    ``guard_specs`` are ``guards=`` values to compare; no guards is always
    included as the baseline.  Replay looks every query up once, at the
    lowest threshold, logging the candidates the backend offers, and derives
    every guard set and threshold from that log (see :mod:`.replay`).  With
    ``check_threshold`` the raw cache and the last guard set are also replayed
    literally through ``cache.get`` at that threshold and must give the same
    per-query results (DerivationMismatch otherwise).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    ts = sorted(thresholds)
    specs: dict[str, Any] = {"none": None}
    for spec in guard_specs:
        specs.setdefault(_spec_name(spec), spec)
    report: dict[str, Any] = {
        "dataset": {
            "source": pairs.source,
            "pairs": len(pairs),
            "duplicates": pairs.positives,
            "sha256": pairs.digest(),
        },
        "embedder": vectors.embedder,
        "thresholds": ts,
        "guard_sets": list(specs),
    }
    if mode in ("pairwise", "both"):
        report["pairwise"] = {
            name: [p.to_dict() for p in pairwise_points(pairs, vectors, ts, spec)] for name, spec in specs.items()
        }
    if mode in ("replay", "both"):
        log = record_candidates(
            pairs, vectors.first, vectors.second, threshold=ts[0], manager_factory=manager_factory, progress=progress
        )
        runs = {name: log.run(pairs.second, spec) for name, spec in specs.items()}
        raw = runs["none"]
        curves = {name: replay_points(run, ts) for name, run in runs.items()}
        report["replay"] = {
            name: {
                "lookup_threshold": run.threshold,
                "entries": run.entries,
                "cache": run.info,
                "points": [p.to_dict() for p in curves[name]],
            }
            for name, run in runs.items()
        }
        report["identical_text_hits"] = _identical_hits(pairs, raw)
        report["trade_off"] = _trade_off(curves)
        report["equal_right_hits"] = {
            name: [
                metrics.equal_right_hits(point, raw.found, raw.similarity, raw.own, raw.duplicate).to_dict()
                for point in curve
            ]
            for name, curve in curves.items()
            if name != "none"
        }
        if check_threshold is not None:
            checks = []
            for name in dict.fromkeys(["none", list(specs)[-1]]):
                literal = replay(
                    pairs,
                    vectors.first,
                    vectors.second,
                    threshold=check_threshold,
                    guards=specs[name],
                    manager_factory=manager_factory,
                    progress=progress,
                )
                checks.append({"guards": name, **check_derivation(runs[name], literal)})
            report["derivation_checks"] = checks
    return report


def _identical_hits(pairs: PairSet, run: ReplayRun) -> dict[str, Any]:
    """Wrong hits on an entry whose prompt is the query itself (exact repeats of another pair's question).

    The reference definition counts them as wrong; no threshold or guard can avoid them.
    """
    texts, _ = entry_numbers(pairs)
    identical = np.array([f >= 0 and texts[f] == q for f, q in zip(run.found, pairs.second, strict=True)])
    right = (run.found >= 0) & run.duplicate & (run.found == run.own)
    return {"wrong": int(np.sum(identical & ~right)), "right": int(np.sum(identical & right))}


def _trade_off(curves: dict[str, list[metrics.ReplayPoint]]) -> list[dict[str, Any]]:
    """Per guard set and threshold: wrong hits removed and right hits lost against no guards."""
    raw = {p.threshold: p for p in curves["none"]}
    rows = []
    for name, curve in curves.items():
        if name == "none":
            continue
        for p in curve:
            base = raw[p.threshold]
            rows.append(
                {
                    "guards": name,
                    "threshold": p.threshold,
                    "right": p.right,
                    "wrong": p.wrong,
                    "wrong_removed": base.wrong - p.wrong,
                    "right_lost": base.right - p.right,
                    "wrong_removed_share": (base.wrong - p.wrong) / base.wrong if base.wrong else None,
                }
            )
    return rows


def calibrate(
    pairs: PairSet,
    vectors: EvalVectors,
    *,
    target_precision: float | None = None,
    max_error: float | None = None,
    thresholds: Sequence[float],
    metric: str = "replay",
    guards: Any = None,
    manager_factory: ManagerFactory | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Recommend a threshold for ``target_precision`` (see :func:`.metrics.recommend` for the rule).

    Returns the recommended point (or None) and the whole curve it was read from.
    With ``max_error`` instead: the lowest threshold whose one-sided 95% Clopper-Pearson
    upper bound on the error among served hits is within it (:func:`.metrics.recommend_bounded`).
    """
    if metric not in ("replay", "pairwise"):
        raise ValueError(f"metric must be 'replay' or 'pairwise', got {metric!r}")
    if (target_precision is None) == (max_error is None):
        raise ValueError("give exactly one of target_precision and max_error")
    point_bounds: dict[float, float | None] = {}
    ts = sorted(thresholds)
    points: Sequence[metrics.PairwisePoint] | Sequence[metrics.ReplayPoint]
    if metric == "pairwise":
        points = pairwise_points(pairs, vectors, ts, guards)
    else:
        log = record_candidates(
            pairs, vectors.first, vectors.second, threshold=ts[0], manager_factory=manager_factory, progress=progress
        )
        points = replay_points(log.run(pairs.second, guards), ts)
    if max_error is not None:  # a bound, not a point estimate: Clopper-Pearson, one-sided 95%
        best = metrics.recommend_bounded(points, max_error)
        for point in points:
            wrong, served = metrics.served_counts(point)
            point_bounds[point.threshold] = clopper_pearson_upper(wrong, served) if served else None
    else:
        best = metrics.recommend(points, 0.0 if target_precision is None else target_precision)
    curve = [p.to_dict() for p in points]
    for row in curve:
        if max_error is not None:
            row["error_upper_bound"] = point_bounds[row["threshold"]]
    return {
        "metric": metric,
        "guards": _spec_name(guards),
        "target_precision": target_precision,
        "max_error": max_error,
        "recommended": None if best is None else next(r for r in curve if r["threshold"] == best.threshold),
        "curve": curve,
    }
