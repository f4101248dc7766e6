"""The Responses API through cached_openai on the in-memory backend (tests/responses_contract.py)."""

from __future__ import annotations

import pytest

from redis_semcache import LLMCachingManager

from ..fakes import CountingEmbedder
from ..responses_contract import ResponsesContract


@pytest.fixture
def new_cache():
    return lambda: LLMCachingManager(enable_semantic=True, embedder=CountingEmbedder(), semantic_threshold=0.95)


class TestResponsesOnMemory(ResponsesContract):
    pass
