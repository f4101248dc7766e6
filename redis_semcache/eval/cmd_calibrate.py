"""``semcache calibrate``: the lowest threshold that reaches a target precision on your pairs,
or (``--max-error``) whose one-sided 95% Clopper-Pearson bound on the error is within a target."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    from . import _cli

    _cli.add_common(parser, thresholds="0.50:0.99:0.005")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-precision", type=float, help="e.g. 0.9: at most 1 wrong hit in 10")
    target.add_argument(
        "--max-error",
        type=float,
        help="e.g. 0.05: the lowest threshold whose one-sided 95%% Clopper-Pearson upper bound "
        "on the share of wrong served hits is at most this",
    )
    parser.add_argument(
        "--metric",
        choices=("replay", "pairwise"),
        default="replay",
        help="replay: share of served hits that are right (what users see, the default); "
        "pairwise: precision of each pair's own similarity",
    )
    parser.add_argument("--guards", default="none", help="guards to calibrate with, as for the manager's guards=")
    parser.add_argument("--json", type=Path, default=None, help="also write the whole curve as JSON here")


def _num(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def _describe(point: dict[str, Any], metric: str) -> str:
    if metric == "pairwise":
        return f"precision {_num(point['precision'])}, recall {_num(point['recall'])}"
    return (
        f"precision {_num(point['precision'])} ({point['right']} right, {point['wrong']} wrong hits), "
        f"hit rate {_num(point['hit_rate'])}, right hits for {_num(point['recall'], '.1%')} of duplicate pairs"
    )


def run(args: argparse.Namespace) -> int:
    from . import _cli
    from .metrics import parse_thresholds
    from .report import write_json
    from .run import calibrate

    try:
        thresholds = parse_thresholds(args.thresholds)
        pairs, vectors, factory = _cli.load(args)
        result = calibrate(
            pairs,
            vectors,
            target_precision=args.target_precision,
            max_error=args.max_error,
            thresholds=thresholds,
            metric=args.metric,
            guards=args.guards,
            manager_factory=factory,
            progress=not args.quiet,
        )
    except _cli.ERRORS as exc:
        return _cli.fail("calibrate", exc)
    result["dataset"] = {"source": pairs.source, "pairs": len(pairs), "duplicates": pairs.positives}
    result["embedder"] = vectors.embedder
    if args.json is not None:
        write_json(result, args.json)
    print(f"{len(pairs)} pairs from {pairs.source}, {args.metric} precision, guards: {result['guards']}")
    best = result["recommended"]
    if best is None:
        scored = [p for p in result["curve"] if p["precision"] is not None]
        top = max(scored, key=lambda p: p["precision"], default=None)
        reach = "" if top is None else f"; the best is {top['precision']:.3f} at {top['threshold']:.3f}"
        goal = (
            f"precision {args.target_precision}"
            if args.max_error is None
            else f"an error bound (95% Clopper-Pearson) of {args.max_error}"
        )
        print(f"No threshold in {args.thresholds} reaches {goal}{reach}.")
        return 1
    print(f"Recommended semantic_threshold: {best['threshold']:.3f}")
    print(f"  at it: {_describe(best, args.metric)}")
    if args.max_error is not None:
        print(f"  error upper bound (one-sided 95% Clopper-Pearson): {best['error_upper_bound']:.4f}")
    default = _library_default()
    here = min(result["curve"], key=lambda p: abs(p["threshold"] - default))
    print(f"  for comparison, at {here['threshold']:.3f} (library default {default}): {_describe(here, args.metric)}")
    return 0


def _library_default() -> float:
    import inspect

    from ..manager import LLMCachingManager

    default = inspect.signature(LLMCachingManager.__init__).parameters["semantic_threshold"].default
    return float(default)
