"""RediSearch query building, escaping and glob mapping - no server needed."""

from __future__ import annotations

import fnmatch
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redis_semcache.backends.redis import queries as q
from redis_semcache.backends.redis.queries import (
    PATTERN_KEY_CHARS,
    SMALL_SCOPE_DIVISOR,
    SweepQuery,
    VectorSearch,
    digest,
    escape_tag,
    glob_filters,
    pattern_key,
    search_texts,
    tag_filter,
)

HOSTILE = ",.<>{}[]\"':;!@#$%^&*()-+=~|/\\ \t\x00\x7féü日\u202e\u0301_aZ9"


def test_escape_tag_escapes_everything_but_word_characters():
    assert escape_tag("abc_XYZ_019") == "abc_XYZ_019"
    assert escape_tag("a|b") == "a\\|b"
    assert escape_tag("user:1}") == "user\\:1\\}"
    assert escape_tag("*") == "\\*"
    assert escape_tag("a b-c") == "a\\ b\\-c"


@given(st.text(alphabet=HOSTILE, max_size=30))
def test_escaped_values_have_no_bare_specials(value):
    escaped = escape_tag(value)
    # every non-word character is preceded by a backslash
    i = 0
    while i < len(escaped):
        if not re.fullmatch(r"[A-Za-z0-9_]", escaped[i]):
            assert escaped[i] == "\\", escaped
            i += 1
        i += 1


def test_digests_are_hex_and_distinguish_near_values():
    values = ["a|b", "a", "b", "*", "user:1}", " x", "x", "x ", "e\u0301", "\u00e9", "", "\x00"]
    digests = [digest(v) for v in values]
    assert len(set(digests)) == len(values)
    assert all(re.fullmatch(r"[0-9a-f]{32}", d) for d in digests)
    assert escape_tag(digests[0]) == digests[0]


def test_tag_filter_names_digests_only():
    text = tag_filter("tag_h", ["a|b", "*", "user:1}"])
    assert text == "@tag_h:{" + " | ".join(digest(v) for v in ["a|b", "*", "user:1}"]) + "}"
    assert "|b" not in text and "*" not in text and "user" not in text
    with pytest.raises(ValueError):
        tag_filter("tag_h", [])


def test_pattern_key_maps_to_word_characters_and_truncates():
    assert pattern_key("user_1 profile?") == "user_1_profile_"
    assert pattern_key("café 日本") == "caf____"
    long = "x" * (PATTERN_KEY_CHARS + 50)
    assert pattern_key(long) == "x" * PATTERN_KEY_CHARS


def evaluate(expression: str | None, pk: str) -> bool:
    """Evaluate a generated FILTER expression the way RediSearch does (for the functions we emit)."""
    if expression is None:
        return True

    def substr(s: str, offset: int, count: int) -> str:
        return s[offset : offset + count] if offset >= 0 else ""

    def contains(s: str, sub: str) -> int:
        return s.count(sub)

    py = expression.replace("@pk", "pk").replace("&&", "and")
    return bool(eval(py, {"substr": substr, "contains": contains, "strlen": len}, {"pk": pk}))  # test-only


def test_glob_filter_shapes():
    f = glob_filters("user_*")
    assert f.short == "strlen(@pk) >= 5 && substr(@pk, 0, 5) == 'user_'"
    assert f.long == "substr(@pk, 0, 5) == 'user_'" and f.long_possible
    f = glob_filters("a?c")
    assert f.short == "strlen(@pk) == 3 && substr(@pk, 0, 1) == 'a' && substr(@pk, 2, 1) == 'c'"
    assert not f.long_possible  # a 3-character glob cannot match a long prompt
    f = glob_filters("*mid*end")
    assert "contains(@pk, 'mid') > 0" in f.short and "substr(@pk, strlen(@pk) - 3, 3) == 'end'" in f.short
    assert f.long is None  # no literal prefix: every long prompt is a candidate
    assert glob_filters("[[]user]").short == "strlen(@pk) == 6 && substr(@pk, 1, 5) == 'user_'"
    assert glob_filters("[abc").short == "strlen(@pk) == 4 && substr(@pk, 0, 4) == '_abc'"  # unclosed: literal


def _superset_holds(prompt: str, pattern: str) -> bool:
    """fnmatch(prompt, pattern) implies the server-side filter keeps the prompt."""
    if not fnmatch.fnmatchcase(prompt, pattern):
        return True
    f = glob_filters(pattern)
    if len(prompt) <= PATTERN_KEY_CHARS:
        return evaluate(f.short, pattern_key(prompt))
    return f.long_possible and evaluate(f.long, pattern_key(prompt))


GLOB_ALPHABET = "ab_A*?[]!-xé日 |{}"


@settings(max_examples=800)
@given(
    st.text(alphabet="abAé日 _-|{}[]*?x!", min_size=1, max_size=12),
    st.text(alphabet=GLOB_ALPHABET, min_size=1, max_size=8),
)
def test_glob_filter_is_a_superset_of_fnmatch(prompt, pattern):
    assert _superset_holds(prompt, pattern)


@settings(max_examples=300)
@given(st.text(alphabet="ab*?[]", min_size=1, max_size=6), st.text(alphabet="ab", min_size=0, max_size=40))
def test_glob_superset_holds_for_long_prompts(pattern, tail):
    prompt = "a" * PATTERN_KEY_CHARS + tail
    assert _superset_holds(prompt, pattern)


def test_glob_filter_narrows():
    f = glob_filters("user_*")
    assert evaluate(f.short, "user_1") and not evaluate(f.short, "admin_1") and not evaluate(f.short, "user")


def test_vector_search_on_flat_ranges_a_large_scope_and_scans_a_small_one():
    search = VectorSearch(scope="0123456789abcdef", algorithm="FLAT", max_distance=0.08, version="v 1", k=3)
    large, small, whole = search.texts()
    where = "@scope:{0123456789abcdef} @version_h:{" + digest("v 1") + "}"
    assert large == where + " @embedding:[VECTOR_RANGE 0.08 $vec]=>{$YIELD_DISTANCE_AS: dist}"
    assert small == "(" + where + ")=>[KNN 3 @embedding $vec HYBRID_POLICY ADHOC_BF AS dist]"
    assert whole == ""  # a version filter is needed even when the scope holds every entry
    assert search.small_scope_divisor == SMALL_SCOPE_DIVISOR["FLAT"]


def test_vector_search_drops_the_scope_filter_for_a_scope_holding_every_entry():
    flat = VectorSearch(scope="ab", algorithm="FLAT", max_distance=0.08).texts()
    assert flat[2] == "@embedding:[VECTOR_RANGE 0.08 $vec]=>{$YIELD_DISTANCE_AS: dist}"
    hnsw = VectorSearch(scope="ab", algorithm="HNSW", max_distance=0.1, k=2).texts()
    assert hnsw[2] == "*=>[KNN 2 @embedding $vec EF_RUNTIME $ef AS dist]"


def test_vector_search_on_hnsw_walks_the_graph_with_ef_runtime_for_a_large_scope():
    search = VectorSearch(scope="ab", algorithm="HNSW", max_distance=0.1)
    large, small, _ = search.texts()
    assert "version_h" not in large
    assert large == "(@scope:{ab})=>[KNN 4 @embedding $vec EF_RUNTIME $ef HYBRID_POLICY BATCHES AS dist]"
    assert small == "(@scope:{ab})=>[KNN 4 @embedding $vec HYBRID_POLICY ADHOC_BF AS dist]"  # no EF: exact
    assert SMALL_SCOPE_DIVISOR["HNSW"] > SMALL_SCOPE_DIVISOR["FLAT"]


def test_search_texts_are_built_once_per_scope():
    search_texts.cache_clear()
    first = search_texts("ab", "FLAT", 0.1, None, 4)
    again = search_texts("ab", "FLAT", 0.1, None, 4)
    assert again is first and search_texts.cache_info().hits == 1
    assert first == VectorSearch("ab", "FLAT", 0.1).texts()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"k": 0},
        {"k": True},
        {"scope": "not hex!"},
        {"algorithm": "IVF"},
        {"max_distance": -0.1},
        {"max_distance": 2.5},
    ],
)
def test_vector_search_checks_its_arguments(kwargs):
    base = {"scope": "ab", "algorithm": "FLAT", "max_distance": 0.1}
    with pytest.raises(ValueError):
        VectorSearch(**{**base, **kwargs})


def test_sweep_query_args():
    plain = SweepQuery("@tag_h:{abc}", batch=100).args()
    assert plain == ["@tag_h:{abc} @seq:[-inf +inf]", "LOAD", 2, "@__key", "@seq",
                     "SORTBY", 2, "@seq", "ASC", "MAX", 100, "TIMEOUT", 0, "DIALECT", 2]  # fmt: skip
    pattern = SweepQuery(q.SHORT_PROMPTS, "strlen(@pk) >= 1", with_prompt=True).args()
    assert pattern[:9] == [f"@plen:[0 {PATTERN_KEY_CHARS}] @seq:[-inf +inf]", "LOAD", 3, "@__key", "@seq", "@pk",
                           "FILTER", "exists(@pk) && (strlen(@pk) >= 1)", "LOAD"]  # fmt: skip
    assert pattern[9:11] == [1, "@prompt"]  # the prompt is loaded only for rows that passed the filter
    assert SweepQuery(q.MATCH_ALL).args()[0] == "@seq:[-inf +inf]"
    # the next page starts after the last seq seen and stops at the snapshot
    assert SweepQuery(q.MATCH_ALL).args(after=41, upto=900)[0] == "@seq:[(41 900]"
