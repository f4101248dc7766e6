"""Extract the ```python blocks of README.md, in order."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def python_blocks() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


def needs_redis(block: str) -> bool:
    return "create_redis_cache_manager(" in block and "REDIS_URL" in block
