"""The hazards of issue 14 with the real all-MiniLM-L6-v2 model: chat context and long prompts."""

from __future__ import annotations

import pytest

from redis_semcache import LLMCachingManager

pytestmark = pytest.mark.model

SYSTEM = {"role": "system", "content": "You are a helpful assistant. Answer briefly."}
POLICY = " ".join(
    f"Section {i}: customers may contact support about orders, returns, warranties and billing at any time."
    for i in range(40)
)  # about 4 KB of shared context, far beyond the model's 256-token window


def chat(question: str) -> list[dict]:
    return [SYSTEM, {"role": "user", "content": question}]


def test_the_builtin_model_reports_its_window(builtin_embedder):
    assert builtin_embedder.max_tokens == 256
    short, long = builtin_embedder.count_tokens(["What is Redis?", POLICY])
    assert short == 7  # [CLS] what is red ##is ? [SEP]
    assert long > 256


def test_chat_requests_compare_questions_not_their_wrapping(builtin_embedder):
    cache = LLMCachingManager(enable_semantic=True)
    cache.set(messages=chat("What is the capital of France?"), response="Paris", model="m")
    assert cache.get(messages=chat("What is the capital of Germany?"), model="m") is None
    assert cache.get(messages=chat("What's the capital city of France?"), model="m") == "Paris"


def test_a_long_shared_context_never_serves_another_question(builtin_embedder):
    cache = LLMCachingManager(enable_semantic=True)
    cache.set(POLICY + " Question: how do I cancel my subscription?", "Settings > Billing", model="m")
    assert cache.get(POLICY + " Question: is my battery covered by the warranty?", model="m") is None
    assert cache.get_statistics()["semantic_skipped_long"] == 1
    # With the question named, paraphrases hit within the same context.
    question = "How do I cancel my subscription?"
    cache.set(POLICY + " " + question, "Settings > Billing", model="m", embed_text=question)
    paraphrase = "How can I cancel my subscription?"
    assert cache.get(POLICY + " " + paraphrase, model="m", embed_text=paraphrase) == "Settings > Billing"
    battery = "Is my battery covered by the warranty?"
    assert cache.get(POLICY + " " + battery, model="m", embed_text=battery) is None
