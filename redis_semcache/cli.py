"""The ``semcache`` command (also ``python -m redis_semcache``).

Every subcommand is a :class:`~redis_semcache._subcommand.Subcommand` (help,
``configure(parser)``, ``run(args) -> int``), registered in one table:
``SUBCOMMANDS`` below, plus the commands that operate a running cache (stats,
top, health, invalidate, clear, drop), which live together in
:mod:`redis_semcache.ops_cli` (its ``COMMANDS``).  To add one with a module of
its own, add a line ``"name": in_module("redis_semcache.<module>", "help")``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._subcommand import Subcommand, in_module

SUBCOMMANDS: dict[str, Subcommand] = {
    "demo": in_module("redis_semcache.demo", "show exact hits, semantic hits, invalidation and stats"),
    "eval": in_module("redis_semcache.eval.cmd_eval", "measure right and wrong semantic hits on labelled prompt pairs"),
    "calibrate": in_module(
        "redis_semcache.eval.cmd_calibrate", "recommend the threshold that reaches a target precision"
    ),
    "serve": in_module(
        "redis_semcache.gateway.serve", "run the OpenAI-compatible caching gateway (docs/operations.md)"
    ),
}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .ops_cli import COMMANDS

    parser = argparse.ArgumentParser(prog="semcache", description="redis_semcache: a semantic cache for LLM responses")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in {**SUBCOMMANDS, **COMMANDS}.items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list:
        args_list = ["demo"]  # `python -m redis_semcache` runs the demo
    parser = build_parser()
    args = parser.parse_args(args_list)
    return int(args._run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
