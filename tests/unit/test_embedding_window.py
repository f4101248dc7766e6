"""fits_window against a stand-in tokenizer, and the embedding_threads setting; no model loaded."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redis_semcache import ConfigurationError, InvalidInputError
from redis_semcache.embeddings import BuiltinEmbedder
from redis_semcache.embeddings._threads import THREADS_ENV, embedding_threads
from redis_semcache.embeddings._window import _SEPARATOR, _cut, fits_window

# Like BERT's pre-tokeniser: words, single punctuation marks and CJK ideographs; words over 10 characters are one token.
_PIECE = re.compile(r"[\u4e00-\u9fff]|[!-/:-@\[-`{-~]|[^\s!-/:-@\[-`{-~\u4e00-\u9fff]+")


def pieces(text: str) -> int:
    return sum(1 if len(p) > 10 else max(1, len(p) // 3) for p in _PIECE.findall(text))


class Spy:
    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, text: str) -> int:
        self.seen.append(len(text))
        return pieces(text)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab cdé\t\n.,!中-xyz")), max_size=400),
    window=st.integers(min_value=3, max_value=60),
    chunk=st.integers(min_value=2, max_value=40),
)
def test_chunked_counting_decides_exactly_as_counting_the_whole_text(text, window, chunk):
    assert fits_window(text, window, pieces, chunk=chunk) == (pieces(text) + 2 <= window)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("abcdefgh xy.中é")), min_size=1, max_size=300),
    start_at=st.floats(min_value=0, max_value=0.99),
    chunk=st.integers(min_value=2, max_value=40),
)
def test_chunks_end_right_after_a_separator_or_at_the_end(text, start_at, chunk):
    start = int(start_at * len(text))
    end = _cut(text, start, chunk)
    assert start < end <= len(text)
    assert end == len(text) or _SEPARATOR.fullmatch(text[end - 1])


def test_a_short_ascii_text_fits_without_tokenising():
    spy = Spy()
    assert fits_window("x" * 254, 256, spy)
    assert spy.seen == []
    assert fits_window("é" * 10, 256, spy) and spy.seen == [10]  # not ASCII: counted


def test_a_long_text_is_read_only_until_it_is_known_to_be_too_long():
    spy = Spy()
    assert not fits_window("many small words here. " * 50_000, 256, spy, chunk=2048)
    assert len(spy.seen) == 1 and spy.seen[0] <= 2048


def test_a_long_word_without_separators_is_read_to_its_end():
    spy = Spy()
    assert fits_window("y" * 100_000, 256, spy, chunk=2048)  # one "[UNK]": it fits
    assert sum(spy.seen) == 100_000


def test_embedding_threads_defaults_to_one_and_reads_the_environment(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert embedding_threads() == 1 and BuiltinEmbedder().threads == 1
    monkeypatch.setenv(THREADS_ENV, "3")
    assert embedding_threads() == 3 and BuiltinEmbedder().threads == 3
    assert BuiltinEmbedder(embedding_threads=2).threads == 2  # the argument wins
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(THREADS_ENV, bad)
        with pytest.raises(ConfigurationError, match=THREADS_ENV):
            embedding_threads()
    for bad_arg in (0, True, 1.5):
        with pytest.raises(InvalidInputError):
            embedding_threads(bad_arg)


def test_factories_give_the_builtin_model_its_own_thread_count():
    from redis_semcache import create_in_memory_cache_manager
    from redis_semcache.embeddings import default_embedder

    cache = create_in_memory_cache_manager(enable_semantic=True, embedding_threads=2)
    embedder = cache.engine.embeddings.embedder
    assert isinstance(embedder, BuiltinEmbedder) and embedder.threads == 2 and embedder is not default_embedder()
    assert create_in_memory_cache_manager(enable_semantic=True).engine.embeddings.embedder is default_embedder()
    with pytest.raises(ConfigurationError, match="embedding_threads"):
        create_in_memory_cache_manager(enable_semantic=True, embedder=lambda texts: [[1.0]], embedding_threads=2)
