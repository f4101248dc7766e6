"""``import redis_semcache`` is cheap: public names load on first use (PEP 562).

Each check runs in a fresh interpreter, since this test process has long since
imported everything.  What must stay out of a bare import is what made the
first embedding of a fresh process slow (docs/embeddings.md, "Cold start").
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import redis_semcache

ROOT = Path(__file__).resolve().parents[2]
# Modules a bare import, or the embedder's path to a first vector, has no use for.
HEAVY = (
    "numpy",
    "redis",
    "redis_semcache.manager",
    "redis_semcache.factories",
    "redis_semcache.backends.redis",
    "redis_semcache.quality",
    "redis_semcache.integrations",
    "redis_semcache.gateway",
    "redis_semcache.metrics",
    "redis_semcache.otel",
    "scipy",
    "torch",
)


def imported_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_a_bare_import_loads_none_of_the_heavy_modules():
    loaded = imported_after("import redis_semcache")
    assert "redis_semcache._errors" in loaded  # the probe does see the package's own modules
    assert sorted(m for m in HEAVY if m in loaded) == []


def test_the_embedders_path_skips_the_cache_and_redis():
    loaded = imported_after("from redis_semcache.embeddings import default_embedder")
    assert "redis_semcache.embeddings.builtin" in loaded
    assert sorted(m for m in HEAVY if m in loaded and m not in ("numpy",)) == []


def test_an_in_memory_cache_does_not_load_redis_py():
    loaded = imported_after(
        "from redis_semcache import create_in_memory_cache_manager\n"
        "c = create_in_memory_cache_manager(embedder=None); c.set('p', 'r'); assert c.get('p') is not None"
    )
    assert "redis_semcache.manager" in loaded
    assert [m for m in ("redis", "redis_semcache.backends.redis", "redis_semcache.gateway") if m in loaded] == []


def test_star_import_and_dir_give_every_public_name_in_a_fresh_process():
    loaded = imported_after(
        "import redis_semcache\n"
        "assert set(redis_semcache.__all__) <= set(dir(redis_semcache)), 'dir misses names'\n"
        "from redis_semcache import *\n"
        "missing = [n for n in redis_semcache.__all__ if n not in globals()]\n"
        "assert not missing, missing"
    )
    assert "redis_semcache.manager" in loaded


def _type_checking_imports() -> dict[str, str]:
    """name -> module of each ``from .x import name`` under ``if TYPE_CHECKING:`` in __init__.py."""
    tree = ast.parse(Path(redis_semcache.__file__).read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                found.update({a.name: "." * stmt.level + (stmt.module or "") for a in stmt.names})
    return found


def test_lazy_names_match_what_type_checkers_see():
    # mypy reads the TYPE_CHECKING block; the runtime reads _LAZY: they must name the same objects.
    assert _type_checking_imports() == redis_semcache._LAZY


@pytest.mark.parametrize("name", sorted(redis_semcache.__all__))
def test_every_public_name_resolves_to_its_home_modules_object(name):
    value = getattr(redis_semcache, name)
    home = redis_semcache._LAZY.get(name)
    if home is not None:
        assert value is getattr(importlib.import_module(home, "redis_semcache"), name)
    assert getattr(value, "__name__", name) == name


def test_an_unknown_name_still_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        _ = redis_semcache.NoSuchThing
    assert not hasattr(redis_semcache, "create_cache_manager")
