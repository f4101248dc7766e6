"""The Lua scripts, read from the package's ``.lua`` files.

Each script's text is ``_lib.lua`` followed by its own file; every file starts
with a comment stating its KEYS, ARGV and reply.  ``source(name)`` is the one
copy of a script's text: each driver (wire.py) registers it with its client's
``register_script`` - a Script on a blocking client, an AsyncScript on a
``redis.asyncio`` one - and calls it by that Script's SHA, loading its text
again on NoScriptError.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["NAMES", "ScriptSet", "sha", "source"]

NAMES = (
    "lookup",
    "touch",
    "store",
    "trim",
    "delete",
    "report",
    "top",
    "flight_status",
    "release_lock",
)
# The scripts that read entries back get the part of _lib.lua between its
# ">>> readers" and "<<< readers" lines (read, record, touch ...); the others do
# not: Redis builds every function a script defines again on each call, a few
# microseconds for that part, and store.lua is on the hot path.
READERS = frozenset({"lookup", "touch", "top", "flight_status"})
_READERS_PART = re.compile(r"^-- >>> readers.*?^-- <<< readers\n", re.S | re.M)


def _read(filename: str) -> str:
    return resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")


@cache
def source(name: str) -> str:
    """The full text of script ``name`` (shared helpers included)."""
    if name not in NAMES:
        raise KeyError(f"no script named {name!r}")
    lib = _read("_lib.lua")
    if name not in READERS:
        lib = _READERS_PART.sub("", lib)
    return f"{lib}\n-- ===== {name}.lua =====\n{_read(name + '.lua')}"


@cache
def sha(name: str) -> str:
    """The SHA1 that EVALSHA calls script ``name`` by (as redis-py's Script computes it)."""
    return hashlib.sha1(source(name).encode("utf-8")).hexdigest()


class ScriptSet:
    """Every script registered on one client: ``scripts["store"].sha``, ``.script`` (its text)."""

    def __init__(self, client: Any) -> None:
        self._scripts = {name: client.register_script(source(name)) for name in NAMES}

    def __getitem__(self, name: str) -> Any:
        return self._scripts[name]
