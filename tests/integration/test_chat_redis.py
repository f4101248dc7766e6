"""Chat requests and long prompts on Redis across processes' views: the counter is shared."""

from __future__ import annotations

from redis_semcache import LLMCachingManager, RedisCacheBackend

from ..chat_contract import WindowedEmbedder, chat


def test_semantic_skipped_long_is_shared_by_every_instance(redis_url, cache_names):
    name = cache_names.new("long")
    one, two = (
        LLMCachingManager(
            RedisCacheBackend(url=redis_url, name=name), enable_semantic=True, embedder=WindowedEmbedder(), strict=True
        )
        for _ in range(2)
    )
    try:
        long = "shared context " * 10 + "question"
        one.set(long, "answer")
        assert two.get(long) == "answer"  # exact hit from the other instance
        assert two.get(long + " other") is None  # too long to compare: exact-only
        assert one.get(messages=chat("a short question")) is None  # fits: compared, a normal miss
        for cache in (one, two):
            stats = cache.get_statistics()
            assert (stats["semantic_skipped_long"], stats["misses"], stats["exact_hits"]) == (1, 2, 1)
        one.reset_statistics()
        assert two.get_statistics()["semantic_skipped_long"] == 0
    finally:
        one.close()
        two.close()


def test_the_chat_replay_gives_the_same_counts_on_redis(redis_url, cache_names):
    from redis_semcache.eval.chat import chat_replay

    from ..unit.test_eval_chat import PAIRS, WideWindow

    on_redis = chat_replay(
        PAIRS,
        WideWindow(),
        threshold=0.9,
        # FLOAT32 like the in-memory reference: FLOAT16 rounding may order the near-ties of the
        # truncated variant's candidates differently (what is compared is the chat handling).
        new_backend=lambda: RedisCacheBackend(
            url=redis_url, name=cache_names.new("chat"), max_size=None, vector_dtype="FLOAT32"
        ),
    )
    assert on_redis == chat_replay(PAIRS, WideWindow(), threshold=0.9)
    assert [row["variant"] for row in on_redis][:3] == ["plain", "chat", "chat+preamble"]
