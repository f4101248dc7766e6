"""``semcache eval``: hit quality of semantic lookups on labelled pairs.

Writes ``quality_<pairs file stem>.json`` to ``--out`` (with a ``_redis``
suffix for the Redis backend) and prints the key rows as Markdown tables; then,
when matplotlib is installed (the ``cli`` extra), the ``.png`` plot.  Results
come first so that a missing plotting library never loses a long run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import _cli, chat, online

DEFAULT_GUARD_SETS = ("numbers", "negation", "entities", "antonyms", "recommended", "all")


def configure(parser: argparse.ArgumentParser) -> None:
    _cli.add_common(parser, thresholds="0.70:0.99:0.01")
    parser.add_argument("--mode", choices=("pairwise", "replay", "both"), default="both")
    parser.add_argument(
        "--guards",
        nargs="+",
        default=list(DEFAULT_GUARD_SETS),
        metavar="SPEC",
        help="guard sets to compare with no guards: a guard name, a comma list (numbers,negation), "
        f"'recommended' or 'all' (default: {' '.join(DEFAULT_GUARD_SETS)})",
    )
    parser.add_argument(
        "--check-threshold",
        type=float,
        default=0.9,
        help="also replay literally through cache.get at this threshold and check the derived numbers (default 0.9)",
    )
    parser.add_argument("--no-check", action="store_true", help="skip the literal replay")
    parser.add_argument("--out", type=Path, required=True, help="directory for the JSON report and the PNG plot")
    chat.add_arguments(parser)
    online.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.chat:
        return chat.run(args)
    if args.online:
        return online.run(args)
    from .metrics import parse_thresholds
    from .report import format_tables, plot, write_json
    from .run import DerivationMismatch, evaluate

    try:
        thresholds = parse_thresholds(args.thresholds)
        pairs, vectors, factory = _cli.load(args)
        report = evaluate(
            pairs,
            vectors,
            thresholds=thresholds,
            mode=args.mode,
            guard_specs=args.guards,
            manager_factory=factory,
            check_threshold=None if args.no_check or args.mode == "pairwise" else args.check_threshold,
            progress=not args.quiet,
        )
    except DerivationMismatch as exc:
        print(f"semcache eval: derived numbers disagree with the literal replay: {exc}", file=sys.stderr)
        return 1
    except _cli.ERRORS as exc:
        return _cli.fail("eval", exc)
    report["backend"] = args.backend
    report["machine"] = _cli.machine()
    stem = Path(args.pairs).stem + ("" if args.backend == "memory" else f"_{args.backend}")
    json_path = write_json(report, args.out / f"quality_{stem}.json")
    print(format_tables(report))
    print(f"\nwrote {json_path}")
    _cli.plot_if_possible(lambda: plot(report, args.out / f"quality_{stem}.png", title=f"{stem}: {report['embedder']}"))
    return 0
