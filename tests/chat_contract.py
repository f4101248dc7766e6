"""Chat requests, ``embed_text`` and long prompts, on every backend.

Joined like :class:`tests.contract.CacheContract`: subclass it in a module that
provides the ``make_cache`` fixture.
"""

from __future__ import annotations

import pytest

from redis_semcache import InvalidInputError, InvalidMessagesError, PromptTooLongError, make_cache_key

from .fakes import CountingEmbedder

SYSTEM = {"role": "system", "content": "You are a geography tutor."}


def chat(question: str, system: dict | None = SYSTEM, *earlier: dict) -> list[dict]:
    return [m for m in (system, *earlier) if m is not None] + [{"role": "user", "content": question}]


class WindowedEmbedder(CountingEmbedder):
    """The bag-of-words embedder with a window: a token is a word, plus two special tokens."""

    max_tokens = 12

    def __init__(self) -> None:
        super().__init__()
        self.counted: list[str] = []

    def count_tokens(self, texts: list[str]) -> list[int]:
        self.counted.extend(texts)
        return [len(t.split()) + 2 for t in texts]


class ChatContract:
    # -- exact key: the whole canonical request -----------------------------

    def test_canonical_messages_share_one_entry(self, make_cache):
        cache = make_cache()
        cache.set(messages=chat("What is the capital of France?"), response="Paris")
        same = [
            {"content": "  You are a geography\ttutor. ", "role": "system"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "What is the capital"}, {"type": "text", "text": "of France?"}],
            },
        ]
        assert cache.get(messages=same) == "Paris"
        assert cache.get(messages=chat("what is the capital of France?")) is None  # case is kept
        assert cache.get("What is the capital of France?") is None  # a bare prompt is another request

    def test_every_part_of_the_context_scopes_the_entry(self, make_cache):
        cache = make_cache(enable_semantic=True, embedder=CountingEmbedder(), semantic_threshold=0.9)
        asked = chat("What is the capital of France?")
        cache.set(messages=asked, response="Paris", model="gpt-4o")
        # The same last user message (similarity 1.0), other context: never served.
        other_system = chat("What is the capital of France?", {"role": "system", "content": "Answer in French."})
        no_system = chat("What is the capital of France?", None)
        earlier = chat(
            "What is the capital of France?",
            SYSTEM,
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
        )
        for messages in (other_system, no_system, earlier):
            assert cache.get(messages=messages, model="gpt-4o") is None
        assert cache.get(messages=asked, model="gpt-4o", temperature=0.2) is None
        assert cache.get(messages=asked, model="gpt-4o-mini") is None
        assert cache.get(messages=asked, model="gpt-4o") == "Paris"

    def test_semantic_match_compares_the_last_user_message(self, make_cache):
        embedder = CountingEmbedder()
        cache = make_cache(enable_semantic=True, embedder=embedder, semantic_threshold=0.9)
        cache.set(messages=chat("capital of France please"), response="Paris")
        assert cache.get(messages=chat("please capital of France")) == "Paris"  # same words: similarity 1.0
        assert cache.get(messages=chat("capital of Germany please")) is None
        stats = cache.get_statistics()
        assert (stats["semantic_hits"], stats["misses"]) == (1, 1)

    def test_messages_through_every_entry_point(self, make_cache):
        cache = make_cache()
        asked = chat("What is the capital of Peru?")
        calls: list[str] = []

        def compute() -> str:
            calls.append("x")
            return "Lima"

        assert cache.get_or_compute(messages=asked, compute=compute) == "Lima"
        assert cache.get_or_compute(messages=asked, compute=compute) == "Lima"
        assert calls == ["x"]
        assert cache.set_many([(chat("Capital of Chile?"), "Santiago"), ("plain prompt", "plain")]) == 2
        assert cache.get_many([chat("Capital of Chile?"), asked, "plain prompt", chat("nope")]) == [
            "Santiago",
            "Lima",
            "plain",
            None,
        ]
        key = make_cache_key(messages=asked)
        assert cache.invalidate(keys=[key]) == 1
        assert cache.get(messages=asked) is None

    # -- bad input --------------------------------------------------------

    @pytest.mark.parametrize(
        ("kwargs", "error", "says"),
        [
            ({"messages": []}, InvalidMessagesError, "empty"),
            ({"messages": [SYSTEM]}, InvalidMessagesError, "no user message"),
            ({"messages": [{"role": "wizard", "content": "hi"}]}, InvalidMessagesError, "unknown role"),
            ({"messages": [{"role": "user", "content": "   "}]}, InvalidMessagesError, "no text"),
            (
                {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
                InvalidMessagesError,
                "only text parts",
            ),
            ({"messages": "hello"}, InvalidMessagesError, "list of dicts"),
            ({"messages": ["hello"]}, InvalidMessagesError, "must be a dict"),
            ({"prompt": "hi", "messages": chat("hi")}, InvalidInputError, "not both"),
            ({}, InvalidInputError, "prompt or messages"),
            ({"prompt": "what is Redis", "embed_text": "what is Memcached"}, InvalidInputError, "part of the prompt"),
        ],
    )
    def test_bad_requests_are_typed_errors(self, make_cache, kwargs, error, says):
        cache = make_cache()
        for call in (lambda: cache.get(**kwargs), lambda: cache.set(response="r", **kwargs)):
            with pytest.raises(error, match=says):
                call()
        assert cache.get_statistics()["sets"] == 0

    # -- embed_text and long prompts ----------------------------------------

    def test_embed_text_compares_the_question_within_its_context(self, make_cache):
        cache = make_cache(enable_semantic=True, embedder=CountingEmbedder(), semantic_threshold=0.9)
        context = "Context: refunds take 5 days. Shipping is free. "
        cache.set(context + "how long do refunds take", "5 days", embed_text="how long do refunds take")
        # the question reworded (same words), same context: a semantic hit
        assert cache.get(context + "do refunds take how long", embed_text="do refunds take how long") == "5 days"
        # the same question over another context: never
        other = "Context: refunds take 30 days. Shipping is free. "
        assert cache.get(other + "how long do refunds take", embed_text="how long do refunds take") is None
        # the full prompt is the exact key, with or without embed_text
        assert cache.get(context + "how long do refunds take", embed_text="how long do refunds take") == "5 days"

    def test_long_text_is_exact_only_and_counted(self, make_cache):
        embedder = WindowedEmbedder()
        cache = make_cache(enable_semantic=True, embedder=embedder, semantic_threshold=0.5)
        preamble = "shared context " * 10  # 20 words: beyond the 12-token window
        cache.set(preamble + "how do I cancel", "Settings > Billing")
        assert embedder.texts_embedded == 0  # never embedded, never truncated
        assert cache.get(preamble + "is my battery covered") is None
        assert cache.get(preamble + "how do I cancel") == "Settings > Billing"  # exact still hits
        stats = cache.get_statistics()
        assert (stats["semantic_skipped_long"], stats["misses"], stats["exact_hits"]) == (1, 1, 1)
        # the question alone fits: compared within the preamble's scope
        cache.set(preamble + "how do I cancel", "Settings > Billing", embed_text="how do I cancel")
        assert cache.get(preamble + "cancel how do I", embed_text="cancel how do I") == "Settings > Billing"
        assert cache.get_statistics()["semantic_hits"] == 1

    def test_get_or_compute_on_a_long_text_counts_one_miss(self, make_cache):
        cache = make_cache(enable_semantic=True, embedder=WindowedEmbedder())
        long = "shared context " * 10 + "question"
        assert cache.get_or_compute(long, lambda: "computed") == "computed"
        assert cache.get_or_compute(long, lambda: "again") == "computed"
        stats = cache.get_statistics()
        # the lookup skipped the semantic step; get_or_compute's own outcome is the one miss
        assert (stats["semantic_skipped_long"], stats["misses"], stats["exact_hits"]) == (1, 1, 1)

    def test_long_prompts_error_raises(self, make_cache):
        cache = make_cache(enable_semantic=True, embedder=WindowedEmbedder(), long_prompts="error")
        with pytest.raises(PromptTooLongError, match="window"):
            cache.get("word " * 20)
        with pytest.raises(PromptTooLongError):
            cache.set("word " * 20, "r")
        assert cache.set("short prompt", "r")
