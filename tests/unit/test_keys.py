from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_semcache import InvalidInputError, make_cache_key, normalize_prompt
from redis_semcache._keys import scope_id, split_key


def test_normalisation_nfc_and_whitespace():
    assert normalize_prompt("  Hello \t\n  world  ") == "Hello world"
    assert normalize_prompt("cafe\u0301") == normalize_prompt("café") == "café"
    assert normalize_prompt("a\u00a0\u2003b") == "a b"  # Unicode spaces collapse too
    assert normalize_prompt("Case") != normalize_prompt("case")


@given(st.text(min_size=1).filter(lambda s: s.strip()))
def test_normalisation_is_idempotent(text):
    once = normalize_prompt(text)
    assert normalize_prompt(once) == once
    assert once == once.strip() and "  " not in once


def test_keys_depend_on_model_namespace_params_not_param_order():
    base = make_cache_key("q", model="gpt-4", temperature=0.0, top_p=1)
    assert base == make_cache_key("  q ", model="gpt-4", top_p=1, temperature=0.0)
    assert base != make_cache_key("q", model="gpt-3.5", temperature=0.0, top_p=1)
    assert base != make_cache_key("q", model="gpt-4", temperature=0.5, top_p=1)
    assert base != make_cache_key("q", model="gpt-4", namespace="t1", temperature=0.0, top_p=1)
    assert base != make_cache_key("Q", model="gpt-4", temperature=0.0, top_p=1)


def test_key_shape_carries_scope():
    key = make_cache_key("hello", model="m", temperature=1)
    assert split_key(key) == (scope_id("m", "", {"temperature": 1}), key.split("-")[1])
    for not_a_key in ("key1", "", "zz" * 8 + "-" + "0" * 24, None, 42):
        assert split_key(not_a_key) is None


@pytest.mark.parametrize("bad", [{"t": float("nan")}, {"t": object()}, {"t": {1, 2}}])
def test_bad_params_rejected(bad):
    with pytest.raises(InvalidInputError):
        make_cache_key("q", **bad)


def test_nested_params_are_canonical():
    assert make_cache_key("q", tools=[{"type": "function", "name": "x"}]) == make_cache_key(
        "q", tools=[{"name": "x", "type": "function"}]
    )


def test_numbers_in_the_scope_are_canonical():
    assert make_cache_key("q", temperature=0) == make_cache_key("q", temperature=0.0)
    assert make_cache_key("q", top_p=1, stop=[2.0]) == make_cache_key("q", top_p=1.0, stop=[2])
    assert make_cache_key("q", temperature=0.5) != make_cache_key("q", temperature=0.25)
    assert make_cache_key("q", logprobs=True) != make_cache_key("q", logprobs=1)  # JSON true is not 1
    assert make_cache_key("q", logprobs=False) != make_cache_key("q", logprobs=0)


def test_make_cache_key_takes_embed_text_like_set_does():
    """The key ``get_top_entries`` reports for an entry stored with ``embed_text`` is the one
    ``make_cache_key`` computes with it, so ``invalidate(keys=...)`` can reach that entry."""
    from redis_semcache import LLMCachingManager

    cache = LLMCachingManager(embedder=None)
    prompt = "Context: the sky at noon. Question: why is it blue?"
    cache.set(prompt, "scattering", embed_text="Question: why is it blue?", model="m")
    (stored,) = cache.get_top_entries()
    assert make_cache_key(prompt, model="m", embed_text="Question: why is it blue?") == stored["key"]
    assert make_cache_key(prompt, model="m") != stored["key"]
    assert cache.invalidate(keys=[make_cache_key(prompt, model="m", embed_text="Question: why is it blue?")]) == 1
