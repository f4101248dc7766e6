"""Every in-memory code example in the README runs as written.

The Redis example runs in tests/integration/test_readme_redis.py.  The async
example calls ``openai.AsyncOpenAI``; a stub module stands in for it here.
"""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pytest

from ..readme_examples import needs_redis, python_blocks, run_blocks

BLOCKS = [b for b in python_blocks() if not needs_redis(b)]


class StubCompletions:
    calls = 0

    async def create(self, *, model, messages, temperature):
        StubCompletions.calls += 1
        text = f"{model} says: {messages[-1]['content']}"
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=text))])


@pytest.fixture
def stub_openai(monkeypatch):
    module = types.ModuleType("openai")
    module.AsyncOpenAI = lambda: SimpleNamespace(chat=SimpleNamespace(completions=StubCompletions()))
    monkeypatch.setitem(sys.modules, "openai", module)
    StubCompletions.calls = 0
    return StubCompletions


def test_readme_has_examples():
    assert len(BLOCKS) >= 5
    assert any(needs_redis(b) for b in python_blocks())  # run by tests/integration/test_readme_redis.py


@pytest.mark.parametrize("block", python_blocks(), ids=lambda b: b.strip().splitlines()[-1][:40])
def test_every_readme_example_asserts_its_results(block):
    """A block that only prints would pass however wrong its answers: state them with assert."""
    assert "assert " in block, block


@pytest.mark.model
def test_readme_examples_run_in_order(tmp_path, monkeypatch, stub_openai):
    monkeypatch.chdir(tmp_path)
    namespace = run_blocks(BLOCKS)
    assert namespace["answers"] == ["gpt-4o-mini says: What is Redis?"] * 50
    assert stub_openai.calls == 1
