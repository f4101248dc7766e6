"""``semcache eval --chat``: the same pairs replayed as real apps send them.

Each variant stores every distinct first prompt (its entry number as the
response) and looks every second prompt up, through ``set``/``get`` with the
embedder inside the cache, so what is embedded is what the library chooses:

* ``plain``: the prompts as they are;
* ``chat``: each prompt as ``[system, user]`` messages;
* ``chat+preamble``: the same with a long system prompt shared by every request;
* ``json`` and ``json+preamble``: the chat request serialised into one string
  and passed as the prompt - what an adapter that ignores ``messages`` does.
  The long ``json+preamble`` prompts exceed the model's window, so they are
  looked up by exact match only; ``json+preamble/truncated`` hides the window
  from the cache, so they are embedded truncated, as before ``long_prompts``.

Right and wrong hits are counted as in the replay (see docs/quality.md).
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import ConfigurationError
from ..backends.base import CacheBackend
from ..backends.memory import InMemoryCacheBackend
from ..embeddings import Embedder
from ..engine import DEFAULT_THRESHOLD
from ..manager import LLMCachingManager
from .pairs import PairSet
from .replay import _dispose, entry_numbers

__all__ = ["PREAMBLE", "SYSTEM", "VARIANTS", "add_arguments", "chat_replay", "run"]

SYSTEM = "You are a helpful assistant. Answer the user's question accurately and briefly."
# A shared long context (about 4.7 KB), far beyond all-MiniLM-L6-v2's 256 tokens.
PREAMBLE = (
    SYSTEM
    + " "
    + " ".join(
        f"Policy {i}: answers must be polite, factual and cite no personal data; orders, returns, billing, "
        "warranties and subscriptions are handled by the support team, not by this assistant."
        for i in range(24)
    )
)

Request = Callable[[str], dict[str, Any]]  # a prompt -> keywords of cache.get/set


def _messages(system: str) -> Request:
    return lambda text: {"messages": [{"role": "system", "content": system}, {"role": "user", "content": text}]}


def _json(system: str) -> Request:
    return lambda text: {"prompt": json.dumps(_messages(system)(text)["messages"])}


VARIANTS: dict[str, Request] = {
    "plain": lambda text: {"prompt": text},
    "chat": _messages(SYSTEM),
    "chat+preamble": _messages(PREAMBLE),
    "json": _json(SYSTEM),
    "json+preamble": _json(PREAMBLE),
    "json+preamble/truncated": _json(PREAMBLE),
}


class _Memo:
    """The embedder, remembering vectors across variants; ``window=False`` hides its window."""

    def __init__(self, embedder: Any, window: bool = True) -> None:
        self.embedder = embedder
        self.embedder_id = getattr(embedder, "embedder_id", "eval")
        self.vectors: dict[str, np.ndarray] = {}
        if window and hasattr(embedder, "max_tokens"):
            self.max_tokens = embedder.max_tokens
            self.count_tokens = embedder.count_tokens

    def __call__(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if todo:
            self.vectors.update(zip(todo, np.asarray(self.embedder(todo)), strict=True))
        return np.stack([self.vectors[t] for t in texts])


def chat_replay(
    pairs: PairSet,
    embedder: Embedder,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    new_backend: Callable[[], CacheBackend] = lambda: InMemoryCacheBackend(max_size=None),
) -> list[dict[str, Any]]:
    """Right and wrong hits of every variant at ``threshold`` (default guards), each on a new backend."""
    texts, own = entry_numbers(pairs)
    dup = np.asarray(pairs.duplicate, dtype=bool)
    memo = _Memo(embedder)
    blind = _Memo(embedder, window=False)
    rows = []
    for name, request in VARIANTS.items():
        cache = LLMCachingManager(
            new_backend(),
            enable_semantic=True,
            semantic_threshold=threshold,
            embedder=blind if name.endswith("/truncated") else memo,
            default_ttl=None,
            strict=True,
        )
        try:
            cache.set_many([(_item(request(t)), n) for n, t in enumerate(texts)])
            answers = cache.get_many([_item(request(q)) for q in pairs.second])
            stats = cache.get_statistics()
        finally:
            _dispose(cache)
        found = np.array([-1 if r is None else int(r) for r in answers])
        hit = found >= 0
        right = hit & dup & (found == own)
        rows.append(
            {
                "variant": name,
                "threshold": threshold,
                "lookups": len(found),
                "right": int(right.sum()),
                "wrong": int(np.sum(hit & ~right)),
                "semantic_skipped_long": stats["semantic_skipped_long"],
            }
        )
    return rows


def _item(request: dict[str, Any]) -> Any:
    """What get_many/set_many take: a prompt, or a messages list."""
    return request.get("prompt", request.get("messages"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chat",
        action="store_true",
        help="instead: replay the pairs as plain prompts, chat messages and with a shared long preamble "
        "(through set/get with the embedder) and print right and wrong hits per variant",
    )
    parser.add_argument("--chat-pairs", type=int, default=300, help="pairs for --chat: the first N (default 300)")
    parser.add_argument(
        "--chat-threshold", type=float, default=DEFAULT_THRESHOLD, help="threshold for --chat (default: the default)"
    )


def run(args: argparse.Namespace) -> int:
    from . import _cli
    from .pairs import load_pairs

    try:
        pairs = load_pairs(args.pairs)
        n = args.chat_pairs
        subset = PairSet(pairs.first[:n], pairs.second[:n], pairs.duplicate[:n], source=pairs.source)
        rows = chat_replay(
            subset, _cli.make_embedder(args.model), threshold=args.chat_threshold, new_backend=_backends(args)
        )
    except _cli.ERRORS as exc:
        return _cli.fail("eval", exc)
    plain = rows[0]
    report = {"pairs": len(subset), "source": str(args.pairs), "backend": args.backend, "variants": rows}
    report["machine"] = _cli.machine()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"chat_{Path(args.pairs).stem}{'' if args.backend == 'memory' else '_' + args.backend}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"{len(subset)} pairs of {args.pairs}, threshold {args.chat_threshold}, {args.backend} backend\n")
    print("| variant | right hits | wrong hits | right vs plain | wrong vs plain | skipped (too long) |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['variant']} | {row['right']} | {row['wrong']} | {_ratio(row['right'], plain['right'])} "
            f"| {_ratio(row['wrong'], plain['wrong'])} | {row['semantic_skipped_long']} |"
        )
    print(f"\nwrote {path}")
    return 0


def _backends(args: argparse.Namespace) -> Callable[[], CacheBackend]:
    if args.backend == "memory":
        return lambda: InMemoryCacheBackend(max_size=None)
    if not args.redis_url:
        raise ConfigurationError("the redis backend needs a redis URL (--redis-url)")
    from ..backends.redis import RedisCacheBackend

    return lambda: RedisCacheBackend(url=args.redis_url, name=f"semcache-chat-{uuid.uuid4().hex[:8]}", max_size=None)


def _ratio(value: int, base: int) -> str:
    return f"{value / base:.2f}x" if base else ("=" if value == base else "n/a")
