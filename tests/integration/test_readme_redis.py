"""The README's Redis examples (blocks that mention REDIS_URL), run against the test Redis.

They run in README order in one namespace, with REDIS_URL pointing at the
session's server; the cache names they use are dropped afterwards.
"""

from __future__ import annotations

from ..readme_examples import cache_names as names_used
from ..readme_examples import needs_redis, python_blocks, run_blocks

BLOCKS = [b for b in python_blocks() if needs_redis(b)]


def test_the_readme_has_a_redis_example():
    assert BLOCKS


def test_readme_redis_examples_run_against_the_test_redis(redis_url, monkeypatch, tmp_path, cache_names):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.chdir(tmp_path)
    for block in BLOCKS:
        cache_names.names.extend(names_used(block))
    namespace = run_blocks(BLOCKS)
    health = namespace["cache"].health_check()
    assert health["status"] == "healthy" and health["backend"] == "redis"  # it talked to the test Redis
