"""The one way a ``semcache`` subcommand is registered (redis_semcache/cli.py).

A :class:`Subcommand` is a help line, ``configure(parser)`` (add the arguments)
and ``run(args) -> exit code``.  A subcommand that has a module of its own
(``demo``, ``eval``, ``calibrate``) is :func:`in_module`; the operator commands
of ops_cli.py are built in place.  Modules import their heavy dependencies
inside ``run``, so ``semcache --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Subcommand", "in_module"]


@dataclass(frozen=True)
class Subcommand:
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def in_module(module_name: str, help_text: str) -> Subcommand:
    """The subcommand of a module that defines ``configure(parser)`` and ``run(args)``."""

    def configure(parser: argparse.ArgumentParser) -> None:
        importlib.import_module(module_name).configure(parser)

    def run(args: argparse.Namespace) -> int:
        return int(importlib.import_module(module_name).run(args))

    return Subcommand(help_text, configure, run)
