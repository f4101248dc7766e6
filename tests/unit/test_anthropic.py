"""cached_anthropic on the in-memory backend (the contract: tests/anthropic_contract.py)."""

from __future__ import annotations

import pytest

from redis_semcache import LLMCachingManager

from ..anthropic_contract import AnthropicContract
from ..fakes import CountingEmbedder


@pytest.fixture
def new_cache():
    return lambda: LLMCachingManager(enable_semantic=True, embedder=CountingEmbedder(), semantic_threshold=0.95)


class TestAnthropicOnMemory(AnthropicContract):
    pass
