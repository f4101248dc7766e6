"""Every in-memory code example in the README runs as written.

The Redis example runs in tests/integration/test_readme_redis.py.  The OpenAI and
Anthropic examples call the real ``openai`` and ``anthropic`` clients, pointed by
OPENAI_BASE_URL and ANTHROPIC_BASE_URL at a local server with both APIs
(tests/llm_api_server.py).
"""

from __future__ import annotations

import pytest
from langchain_core.globals import set_llm_cache

from ..llm_api_server import LLMAPIServer
from ..readme_examples import needs_redis, python_blocks, run_blocks

BLOCKS = [b for b in python_blocks() if not needs_redis(b)]


@pytest.fixture
def openai_server(monkeypatch):
    with LLMAPIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        yield server
    set_llm_cache(None)  # the LangChain example installs a global cache


def test_readme_has_examples():
    assert len(BLOCKS) >= 5
    assert any(needs_redis(b) for b in python_blocks())  # run by tests/integration/test_readme_redis.py


@pytest.mark.parametrize("block", python_blocks(), ids=lambda b: b.strip().splitlines()[-1][:40])
def test_every_readme_example_asserts_its_results(block):
    """A block that only prints would pass however wrong its answers: state them with assert."""
    assert "assert " in block, block


@pytest.mark.model
def test_readme_examples_run_in_order(tmp_path, monkeypatch, openai_server):
    monkeypatch.chdir(tmp_path)
    namespace = run_blocks(BLOCKS)
    assert namespace["answers"] == ["answer to: What is Redis?"] * 50
    # once each: the async example, the chat completions example, the Responses API example, the Anthropic one
    assert openai_server.calls == 4
    paths = [r.get("model") for r in openai_server.requests]
    assert paths == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o-mini", "claude-sonnet-4-5"]
