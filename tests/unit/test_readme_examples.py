"""Every in-memory code example in the README runs as written.

The Redis example runs in tests/integration/test_readme_redis.py.
"""

from __future__ import annotations

import pytest

from ..readme_examples import needs_redis, python_blocks

BLOCKS = [b for b in python_blocks() if not needs_redis(b)]


def test_readme_has_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.model
def test_readme_examples_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in BLOCKS:
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["cache"].health_check()["status"] == "healthy"
