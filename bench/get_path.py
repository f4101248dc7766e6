"""The path of one ``get`` through the library's modules: exact hit and semantic hit.

Runs a real ``get`` on a local Redis (started here, or ``--redis-url``) and on
the in-memory backend, records every call into ``redis_semcache`` with
``sys.setprofile``, and prints:

* ``calls``: functions of the library entered (a generator resumed is not a new call);
* ``hops``: the calls whose caller is in another module of the library - how
  often a reader following the code has to open another file;
* ``modules``: the distinct modules the ``get`` passes through;
* the call tree, cut to the calls that change module (``--tree``).

The exact hit is read by a second manager (a fresh embedding cache, as in
another process), so it takes the exact check first, then nothing else; the
semantic hit misses that check, embeds, and searches.  A bag-of-words
embedder stands in for the model: the path does not depend on which one.

    python bench/get_path.py            # the numbers, both backends
    python bench/get_path.py --tree     # and the call trees (docs/design.md, "Life of a get")

Writes nothing.  Counts are of the code as it is: they change when the code does.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

import redis_semcache
from bench.speed.server import redis_server
from redis_semcache import LLMCachingManager, create_in_memory_cache_manager, create_redis_cache_manager

PACKAGE = Path(redis_semcache.__file__).resolve().parent
STORED, SAME, PARAPHRASE = "What is Redis used for?", "What is  Redis used for?", "What is Redis used for, mostly?"


def bag_of_words(texts: list[str]) -> np.ndarray:
    """64-d word-hash counts: prompts sharing most words are close."""
    out = np.zeros((len(texts), 64))
    for row, text in enumerate(texts):
        for word in text.lower().replace(",", " ").replace("?", " ").split():
            out[row, hashlib.blake2b(word.encode(), digest_size=1).digest()[0] % 64] += 1.0
    return out


def module_of(frame: FrameType) -> str | None:
    path = Path(frame.f_code.co_filename)
    if not path.is_relative_to(PACKAGE):
        return None
    return str(path.relative_to(PACKAGE))


class Recorder:
    """Every first entry of a library function, with the nearest library caller's module."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, str, str | None]] = []  # (depth, module, function, caller module)
        self._seen: list[FrameType] = []  # kept alive, so a resumed generator's frame is known by identity

    def __call__(self, frame: FrameType, event: str, _: Any) -> None:
        if event != "call" or any(frame is seen for seen in self._seen):  # a generator resumed: not a new call
            return
        self._seen.append(frame)
        module = module_of(frame)
        if module is None:
            return
        depth, caller, back = 0, None, frame.f_back
        while back is not None:
            outer = module_of(back)
            if outer is not None:
                depth += 1
                caller = caller or outer
            back = back.f_back
        self.calls.append((depth, module, getattr(frame.f_code, "co_qualname", frame.f_code.co_name), caller))

    def hops(self) -> int:
        return sum(1 for _, module, _, caller in self.calls if caller is not None and caller != module)

    def modules(self) -> list[str]:
        return sorted({module for _, module, _, _ in self.calls})

    def tree(self) -> Iterator[str]:
        for depth, module, function, caller in self.calls:
            if caller != module:
                where = f"   <- {caller}" if caller else ""
                yield f"{'  ' * depth}{module}: {function}{where}"


@contextmanager
def recording() -> Iterator[Recorder]:
    recorder = Recorder()
    sys.setprofile(recorder)
    try:
        yield recorder
    finally:
        sys.setprofile(None)


def trace(writer: LLMCachingManager, reader: LLMCachingManager, tree: bool) -> dict[str, dict[str, int]]:
    numbers = {}
    with writer, reader:
        writer.set(STORED, "an in-memory data store")
        reader.get("a first lookup, so that one-off set-up (finding the index) is not traced")
        for name, prompt in (("exact hit", SAME), ("semantic hit", PARAPHRASE)):
            with recording() as rec:
                response = reader.get(prompt)
            assert response == "an in-memory data store", (name, response)
            numbers[name] = {"calls": len(rec.calls), "hops": rec.hops(), "modules": len(rec.modules())}
            print(f"  {name:<13} calls {len(rec.calls):>4}  hops {rec.hops():>3}  modules {len(rec.modules()):>3}")
            if tree:
                print("\n".join(f"      {line}" for line in rec.tree()))
        stats = reader.get_statistics()
        assert (stats["exact_hits"], stats["semantic_hits"], stats["misses"]) == (1, 1, 1), stats
    return numbers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--redis-url", default=None, help="an existing Redis with RediSearch (default: start one)")
    parser.add_argument("--tree", action="store_true", help="print the call trees, cut to the calls that change module")
    args = parser.parse_args(argv)
    options: dict[str, Any] = {"embedder": bag_of_words, "enable_semantic": True, "semantic_threshold": 0.8}
    print("memory backend")
    shared = create_in_memory_cache_manager(**options)
    trace(shared, LLMCachingManager(shared.backend, **options), args.tree)
    with redis_server(args.redis_url) as server:
        print(f"redis backend ({server.redis_version}, search {server.modules.get('search', '?')})")
        name = f"get-path-{np.random.default_rng().integers(1 << 30)}"

        def manager() -> LLMCachingManager:
            return create_redis_cache_manager(url=server.url, backend_kwargs={"name": name}, **options)

        trace(manager(), manager(), args.tree)
        with manager() as cleanup:
            cleanup.backend.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
