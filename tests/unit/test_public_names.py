"""Public names: SemanticCacheEngine's deprecation path, one way to register a subcommand, and the
documented pairs of names that look alike (docs/semantics.md, "Names that look alike")."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pytest

import redis_semcache
from redis_semcache import LLMCachingManager, cli, engine, ops_cli
from redis_semcache._subcommand import Subcommand

SEMANTICS = Path(__file__).resolve().parents[2] / "docs" / "semantics.md"


def test_semantic_cache_engine_is_internal_with_a_deprecated_alias():
    assert "SemanticCacheEngine" not in redis_semcache.__all__
    with pytest.warns(DeprecationWarning, match="SemanticCacheEngine is internal"):
        alias = redis_semcache.SemanticCacheEngine
    assert alias is engine.SemanticCacheEngine
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from redis_semcache.engine import SemanticCacheEngine  # the module itself does not warn

        assert SemanticCacheEngine is alias


def test_every_subcommand_is_registered_one_way():
    tables = {**cli.SUBCOMMANDS, **ops_cli.COMMANDS}
    assert not set(cli.SUBCOMMANDS) & set(ops_cli.COMMANDS)
    assert all(isinstance(command, Subcommand) for command in tables.values())
    parser = cli.build_parser()
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(subparsers.choices) == list(tables)
    for name, command in tables.items():
        assert subparsers.choices[name].get_default("_run") is command.run
        assert subparsers.choices[name].description == command.help


@pytest.mark.parametrize(("one", "other"), [("warm", "warmup"), ("get_statistics", "statistics")])
def test_names_that_look_alike_are_documented_with_their_async_twins(one, other):
    section = SEMANTICS.read_text(encoding="utf-8").split("## Names that look alike", 1)[1].split("\n## ", 1)[0]
    for name in (one, other):
        assert callable(getattr(LLMCachingManager, name)) and callable(getattr(LLMCachingManager, "a" + name))
        assert f"`{name}(" in section and f"`a{name}`" in section
