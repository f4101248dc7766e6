"""quality/ is maths and policy: nothing in it imports the layers that use it (#28).

Every import counts, lazy and ``TYPE_CHECKING`` ones included: a plan or a mixin
that reaches back into the manager belongs beside operations.py, not in quality/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import redis_semcache

PACKAGE = Path(redis_semcache.__file__).resolve().parent
# The layers above quality/: the manager, its core, the plans and mixin built on it, the storage.
ABOVE = ("manager", "operations", "quality_api", "quality_plans", "backends")


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the redis_semcache modules ``path`` (under quality/) imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # quality/x.py: level 1 is redis_semcache.quality, level 2 redis_semcache.
            base = {0: "", 1: "redis_semcache.quality", 2: "redis_semcache"}[node.level]
            stem = ".".join(p for p in (base, node.module or "") if p)
            names.add(stem)
            names.update(f"{stem}.{alias.name}" for alias in node.names)
    return {n for n in names if n.startswith("redis_semcache")}


def forbidden(name: str) -> bool:
    parts = name.split(".")
    return len(parts) > 1 and parts[1] in ABOVE


def test_nothing_under_quality_imports_the_manager_operations_or_backends() -> None:
    files = sorted((PACKAGE / "quality").rglob("*.py"))
    assert files, "quality/ not found"
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(n for n in imported_modules(path) if forbidden(n)) for path in files
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_scan_sees_relative_absolute_and_lazy_imports(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text(
        "from ..operations import CacheOperations\n"
        "from .. import quality_plans\n"
        "import redis_semcache.backends.base\n"
        "def f():\n    from ..manager import LLMCachingManager\n"
        "from .labels import LabelCounts\n"
    )
    found = {n for n in imported_modules(sample) if forbidden(n)}
    assert {"redis_semcache.operations", "redis_semcache.quality_plans", "redis_semcache.backends.base"} <= found
    assert "redis_semcache.manager" in found
    assert not forbidden("redis_semcache.quality.labels")
