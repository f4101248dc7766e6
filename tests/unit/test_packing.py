"""Packed rows: every text once, in order, rows within the token budget, and the same vectors as one text at a time."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_semcache.embeddings._packing import PACK_TOKENS, packed_feed, rows

lengths = st.lists(st.integers(min_value=1, max_value=300), max_size=60)


@given(lengths, st.integers(min_value=1, max_value=400))
def test_rows_cover_every_text_once_in_order_within_the_budget(text_lengths, budget):
    runs = rows(text_lengths, budget)
    covered = [i for run in runs for i in range(run.start, run.stop)]
    assert covered == list(range(len(text_lengths)))
    for run in runs:
        assert run.stop > run.start
        size = sum(text_lengths[run])
        assert size <= budget or run.stop - run.start == 1  # only a text longer than the budget goes over
    for before, after in itertools.pairwise(runs):
        # Greedy: a row ends only when the next text would not fit in it.
        assert sum(text_lengths[before]) + text_lengths[after.start] > budget


@given(st.lists(st.lists(st.integers(min_value=0, max_value=30_000), min_size=1, max_size=40), min_size=1, max_size=12))
def test_a_packed_feed_restarts_positions_and_names_each_tokens_text(token_ids):
    feed = packed_feed(token_ids)
    assert feed["input_ids"].tolist() == [[t for ids in token_ids for t in ids]]
    assert feed["position_ids"].tolist() == [[p for ids in token_ids for p in range(len(ids))]]
    assert feed["segment_ids"].tolist() == [i for i, ids in enumerate(token_ids) for _ in ids]
    assert feed["token_counts"].tolist() == [float(len(ids)) for ids in token_ids]
    assert {k: v.dtype for k, v in feed.items()} == {
        "input_ids": np.int64,
        "position_ids": np.int64,
        "segment_ids": np.int64,
        "token_counts": np.float32,
    }


@pytest.mark.model
def test_texts_packed_together_get_the_vectors_they_get_alone(builtin_embedder):
    # Lengths from 3 tokens to past the row budget, so some rows hold many texts and one holds a text alone.
    texts = ["a", "How do I reset my password?", "word " * 150, "Why is the sky blue at noon but red at dusk?"]
    texts += [f"question number {i} about caching answers of language models" for i in range(12)]
    impl = builtin_embedder._impl
    token_counts = impl.count_tokens(texts)
    assert max(token_counts) > PACK_TOKENS and len(rows(token_counts)) < len(texts)
    together = builtin_embedder(texts)
    alone = np.stack([builtin_embedder([t])[0] for t in texts])
    assert float(np.min(np.sum(together * alone, axis=1))) >= 0.99999


@pytest.mark.model
def test_a_fresh_export_keeps_texts_apart_and_one_that_loses_their_boundaries_is_refused(tmp_path, monkeypatch):
    from redis_semcache import EmbeddingError
    from redis_semcache.embeddings import OnnxEmbedder, _export
    from redis_semcache.embeddings.sentence_transformer import DEFAULT_MODEL, bundled_model_path

    fresh = OnnxEmbedder(bundled_model_path(), DEFAULT_MODEL, cache_dir=tmp_path / "good")
    fresh.warmup()
    assert _export.exported(fresh.export_dir) and fresh.export_dir.name.endswith("-ort-fp32-packed")
    texts = ["a", "How do I reset my password?", "Why is the sky blue?"]
    together, alone = fresh(texts), np.stack([fresh([t])[0] for t in texts])
    assert float(np.min(np.sum(together * alone, axis=1))) >= 0.99999

    packed = _export._Packed

    def mixing(model):
        graph = packed(model)
        forward = graph.forward
        # Every token in segment 0: the texts attend to each other and pool together.
        graph.forward = lambda ids, positions, segments, counts: forward(ids, positions, segments * 0, counts)
        return graph

    monkeypatch.setattr(_export, "_Packed", mixing)
    broken = OnnxEmbedder(bundled_model_path(), DEFAULT_MODEL, cache_dir=tmp_path / "bad")
    with pytest.raises(EmbeddingError, match="disagrees with torch"):
        broken.warmup()
    assert not _export.exported(broken.export_dir)
