"""The Lua scripts, read from the package's ``.lua`` files.

Each script's text is ``_lib.lua`` followed by its own file; every file starts
with a comment stating its KEYS, ARGV and reply.  ``source(name)`` is the one
copy of a script's text: the sync backend registers it here with
``register_script`` (called by SHA, reloaded by redis-py on NoScriptError),
and async code can register the same text with an async client.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

__all__ = ["NAMES", "ScriptSet", "source"]

NAMES = (
    "lookup_exact",
    "lookup_semantic",
    "touch",
    "store",
    "trim",
    "delete",
    "report",
    "top",
    "flight_status",
    "release_lock",
)


def _read(filename: str) -> str:
    return resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")


@cache
def source(name: str) -> str:
    """The full text of script ``name`` (shared helpers included)."""
    if name not in NAMES:
        raise KeyError(f"no script named {name!r}")
    return f"{_read('_lib.lua')}\n-- ===== {name}.lua =====\n{_read(name + '.lua')}"


class ScriptSet:
    """Every script registered on one client: ``scripts["store"](keys, args)``."""

    def __init__(self, client: Any) -> None:
        self._scripts = {name: client.register_script(source(name)) for name in NAMES}

    def __getitem__(self, name: str) -> Any:
        return self._scripts[name]

    def sha(self, name: str) -> str:
        return str(self._scripts[name].sha)

    def load_all(self, client: Any) -> None:
        """Load every script into the server's cache in one round trip (pipelined)."""
        pipe = client.pipeline(transaction=False)
        for name in NAMES:
            pipe.script_load(source(name))
        pipe.execute()
