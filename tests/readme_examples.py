"""Extract the ```python blocks of README.md, in order.

Every block runs in the suite, in README order: blocks that mention REDIS_URL
against the test Redis (tests/integration/test_readme_redis.py), the others in
process (tests/unit/test_readme_examples.py).  Each block states its results
with ``assert``, so a block that runs but answers wrongly fails the suite; a new
block is picked up by one of the two tests without any change here.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
_CACHE_NAME = re.compile(r"""["']name["']\s*:\s*["']([A-Za-z0-9_.-]+)["']""")


def python_blocks() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


def needs_redis(block: str) -> bool:
    """A block that connects to Redis reads its address from REDIS_URL (the tests point it at theirs)."""
    return "REDIS_URL" in block


def cache_names(block: str) -> list[str]:
    """Cache names a block passes as ``"name": ...`` (to drop them after the test)."""
    return _CACHE_NAME.findall(block)


def run_blocks(blocks: list[str], namespace: dict | None = None) -> dict:
    """Run ``blocks`` in order in one namespace, as a reader pasting them one after another would."""
    namespace = {} if namespace is None else namespace
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    return namespace
