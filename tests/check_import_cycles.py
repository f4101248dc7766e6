"""Fail when modules of a package import each other in a circle (``make lint``).

Every import counts, lazy ones inside functions included: a circle hidden in a
function is still a circle a reader has to untangle.
Usage: python tests/check_import_cycles.py [package_dir]   (default: redis_semcache)
"""

from __future__ import annotations

import ast
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str, modules: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            stem = ".".join(p for p in (base, node.module or "") if p)
            # ``from pkg import submodule`` depends on the submodule; ``from pkg import name`` on pkg.
            subs = [f"{stem}.{alias.name}" for alias in node.names]
            targets = [s if s in modules else stem for s in subs]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def main(root: Path) -> int:
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    graph = {name: imports_of(path, name, set(files)) for name, path in files.items()}
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        print("import cycle: " + " -> ".join(exc.args[1]), file=sys.stderr)
        return 1
    print(f"no import cycle among {len(graph)} modules of {root.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "redis_semcache").resolve()))
