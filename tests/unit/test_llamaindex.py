"""CachedLLM on the in-memory backend (tests/llamaindex_contract.py)."""

from __future__ import annotations

import pytest

from redis_semcache import LLMCachingManager

from ..fakes import CountingEmbedder
from ..llamaindex_contract import LlamaIndexContract


@pytest.fixture
def new_cache():
    return lambda: LLMCachingManager(enable_semantic=True, embedder=CountingEmbedder(), semantic_threshold=0.95)


class TestLlamaIndexOnMemory(LlamaIndexContract):
    pass
