"""Arguments and set-up shared by ``semcache eval`` and ``semcache calibrate``."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._errors import SemanticCacheError


def add_common(parser: argparse.ArgumentParser, *, thresholds: str) -> None:
    parser.add_argument(
        "--pairs",
        required=True,
        type=Path,
        help="labelled pairs: CSV with question1,question2,is_duplicate or JSON [{origin, similar}, ...]",
    )
    parser.add_argument(
        "--thresholds",
        default=thresholds,
        help=f"start:stop:step (stop included) or a comma list (default {thresholds})",
    )
    parser.add_argument("--backend", choices=("memory", "redis"), default="memory", help="cache backend for replay")
    parser.add_argument("--redis-url", help="Redis Stack URL for --backend redis")
    parser.add_argument("--model", default=None, help="sentence-transformers model name or path (default: built-in)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="where computed embeddings are kept")
    parser.add_argument("--no-cache", action="store_true", help="always embed, never read or write the cache")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--limit", type=_positive, default=None, metavar="N", help="use only the first N pairs")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def make_embedder(model: str | None) -> Any:
    from ..embeddings import SentenceTransformerEmbedder
    from ..embeddings.builtin import default_embedder

    return default_embedder() if model is None else SentenceTransformerEmbedder(model)


def load(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(pairs, vectors, manager factory) from the common arguments."""
    from .pairs import load_pairs
    from .replay import make_manager
    from .run import embed_pairs

    pairs = load_pairs(args.pairs)
    if args.limit is not None:
        pairs = pairs.head(args.limit)
    factory = make_manager(args.backend, redis_url=args.redis_url)
    vectors = embed_pairs(
        pairs, make_embedder(args.model), cache_dir=args.cache_dir, use_cache=not args.no_cache, progress=not args.quiet
    )
    return pairs, vectors, factory


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def plot_if_possible(draw: Callable[[], Path]) -> None:
    """Draw a plot and say where it went; without matplotlib (the ``cli`` extra) say so
    in one line: the results are written before this, so they are never lost to it."""
    try:
        path = draw()
    except ModuleNotFoundError:
        print("no plot: matplotlib is not installed (pip install 'redis-semcache[cli]')")
    else:
        print(f"wrote {path}")


def fail(command: str, exc: BaseException) -> int:
    print(f"semcache {command}: error: {exc}", file=sys.stderr)
    return 2


ERRORS: tuple[type[BaseException], ...] = (SemanticCacheError, OSError)
