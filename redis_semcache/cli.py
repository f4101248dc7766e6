"""The ``semcache`` command (also ``python -m redis_semcache``).

Each subcommand lives in its own module exposing ``configure(parser)`` and
``run(args) -> int``; those modules import their heavy dependencies inside
``run`` so that ``semcache --help`` stays fast.  The commands that operate a
running cache (stats, top, health, invalidate, clear, drop) live together in
:mod:`redis_semcache.ops_cli`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "demo": ("redis_semcache.demo", "show exact hits, semantic hits, invalidation and stats"),
    "eval": ("redis_semcache.eval.cmd_eval", "measure right and wrong semantic hits on labelled prompt pairs"),
    "calibrate": ("redis_semcache.eval.cmd_calibrate", "recommend the threshold that reaches a target precision"),
    "serve": ("redis_semcache.gateway.serve", "run the OpenAI-compatible caching gateway (docs/operations.md)"),
}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .ops_cli import COMMANDS

    parser = argparse.ArgumentParser(prog="semcache", description="redis_semcache: a semantic cache for LLM responses")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module.configure(sub)
        sub.set_defaults(_run=module.run)
    for name, command in COMMANDS.items():
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
