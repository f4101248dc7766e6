"""The Responses API through cached_openai on Redis (tests/responses_contract.py)."""

from __future__ import annotations

import pytest

from ..redis_caches import client_contract_caches
from ..responses_contract import ResponsesContract


@pytest.fixture
def new_cache(redis_url, cache_names):
    yield from client_contract_caches(redis_url, cache_names, "responses")


class TestResponsesOnRedis(ResponsesContract):
    pass
