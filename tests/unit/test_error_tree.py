"""The error tree is readable in one file: every exception class lives in redis_semcache/_errors.py."""

from __future__ import annotations

import ast
import builtins
import importlib
from pathlib import Path

import pytest

import redis_semcache
from redis_semcache import _errors

PACKAGE = Path(redis_semcache.__file__).parent
BUILTIN_EXCEPTIONS = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}


def class_defs() -> list[tuple[Path, ast.ClassDef]]:
    return [
        (path, node)
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
    ]


def exception_classes() -> list[tuple[Path, str]]:
    """Classes deriving (by name, through any chain of the package's own classes) from a built-in exception."""
    defs = class_defs()
    known = set(BUILTIN_EXCEPTIONS) | {"RedisError"}
    grew = True
    while grew:
        before = len(known)
        for _, node in defs:
            if any(ast.unparse(b).rsplit(".", 1)[-1] in known for b in node.bases):
                known.add(node.name)
        grew = len(known) > before
    return [(path, node.name) for path, node in defs if node.name in known]


def test_the_scan_sees_the_tree():
    found = {name for path, name in exception_classes() if path.name == "_errors.py"}
    assert {"SemanticCacheError", "InvalidationError", "PromptTooLongError", "Uncacheable"} <= found


def test_no_exception_class_outside_errors_module():
    found = exception_classes()
    outside = [f"{path.relative_to(PACKAGE)}: {name}" for path, name in found if path.name != "_errors.py"]
    assert outside == [], "define exception classes in redis_semcache/_errors.py (re-export where they were)"


def test_every_error_is_named_in_the_tree_drawing():
    doc = _errors.__doc__ or ""
    for name in _errors.__all__:
        assert f" {name}" in doc, f"{name} is missing from the tree in _errors.py's docstring"


# Where each moved class used to be defined: the old import keeps working and names the same class.
OLD_HOMES = [
    ("redis_semcache", "PromptTooLongError"),
    ("redis_semcache", "InvalidMessagesError"),
    ("redis_semcache", "ForeignResultError"),
    ("redis_semcache.request", "PromptTooLongError"),
    ("redis_semcache.request", "InvalidMessagesError"),
    ("redis_semcache.quality", "ForeignResultError"),
    ("redis_semcache.quality.result", "ForeignResultError"),
    ("redis_semcache.eval", "PairFileError"),
    ("redis_semcache.eval.pairs", "PairFileError"),
    ("redis_semcache.eval", "DerivationMismatch"),
    ("redis_semcache.eval.run", "DerivationMismatch"),
    ("redis_semcache.backends.redis.codec", "MalformedEntryError"),
    ("redis_semcache.backends.redis.errors", "IndexMissingError"),
    ("redis_semcache.backends.redis.errors", "IndexExistsError"),
    ("redis_semcache.backends.redis.errors", "OutOfMemoryError"),
    ("redis_semcache.backends.redis.errors", "ScriptMissingError"),
    ("redis_semcache.ops_cli", "Refused"),
]


@pytest.mark.parametrize(("module", "name"), OLD_HOMES)
def test_old_imports_still_work(module, name):
    assert getattr(importlib.import_module(module), name) is getattr(_errors, name)
