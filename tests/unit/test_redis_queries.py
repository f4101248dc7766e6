"""RediSearch query building, escaping and glob mapping - no server needed."""

from __future__ import annotations

import fnmatch
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redis_semcache.backends.redis import queries as q
from redis_semcache.backends.redis.queries import (
    PATTERN_KEY_CHARS,
    KnnQuery,
    PageQuery,
    digest,
    escape_tag,
    glob_filters,
    pattern_key,
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


def _wildcard(filter_text: str) -> str:
    return re.search(r"w'([^']*)'", filter_text).group(1)


def test_glob_filters_shapes():
    short, long = glob_filters("user_*")
    assert short == f"@plen:[0 {PATTERN_KEY_CHARS}] @pk:{{w'user_*'}}"
    assert long == f"@plen:[({PATTERN_KEY_CHARS} +inf] @pk:{{w'user_*'}}"
    assert _wildcard(glob_filters("[[]user]")[0]) == "?user_"
    assert _wildcard(glob_filters("a**b")[0]) == "a*b"
    assert _wildcard(glob_filters("[abc")[0]) == "_abc"  # unclosed bracket is a literal
    assert _wildcard(glob_filters("*end")[1]) == "*"  # no literal prefix: every long prompt is a candidate
    assert _wildcard(glob_filters("[!]]x")[0]) == "?x"


def _superset_holds(prompt: str, pattern: str) -> bool:
    """fnmatch(prompt, pattern) implies the mapped prompt matches the server-side query."""
    if not fnmatch.fnmatchcase(prompt, pattern):
        return True
    short, long = glob_filters(pattern)
    key = pattern_key(prompt)
    if len(prompt) <= PATTERN_KEY_CHARS:
        # the mapped values only contain [A-Za-z0-9_*?], where fnmatch == RediSearch wildcard matching
        return fnmatch.fnmatchcase(key, _wildcard(short))
    return fnmatch.fnmatchcase(key, _wildcard(long))


GLOB_ALPHABET = "ab_A*?[]!-xé日 |{}"


@settings(max_examples=600)
@given(
    st.text(alphabet="abAé日 _-|{}[]*?x!", min_size=1, max_size=12),
    st.text(alphabet=GLOB_ALPHABET, min_size=1, max_size=8),
)
def test_glob_query_is_a_superset_of_fnmatch(prompt, pattern):
    assert _superset_holds(prompt, pattern)


@settings(max_examples=200)
@given(st.text(alphabet="ab*?[]", min_size=1, max_size=6), st.text(alphabet="ab", min_size=0, max_size=40))
def test_glob_superset_holds_for_long_prompts(pattern, tail):
    prompt = "a" * PATTERN_KEY_CHARS + tail
    assert _superset_holds(prompt, pattern)


def test_knn_query_args_are_complete_and_ordered():
    vec = np.arange(4, dtype="<f4").tobytes()
    knn = KnnQuery(vector=vec, scope="0123456789abcdef", model="gpt-4|x", version="v 1", k=3)
    args = knn.args()
    text = args[0]
    assert text.startswith("(@scope:{0123456789abcdef} @model_h:{" + digest("gpt-4|x") + "}")
    assert "@version_h:{" + digest("v 1") + "}" in text
    assert text.endswith("=>[KNN $k @embedding $vec AS dist]")
    assert args[args.index("RETURN") : args.index("RETURN") + 5] == ["RETURN", 3, "dist", "fmt", "seq"]
    assert args[args.index("SORTBY") + 1] == "dist"
    assert args[args.index("LIMIT") : args.index("LIMIT") + 3] == ["LIMIT", 0, 3]
    assert args[args.index("DIALECT") + 1] == 2
    params = args[args.index("PARAMS") :]
    assert params == ["PARAMS", 4, "vec", vec, "k", 3]


def test_knn_query_without_version_and_with_hnsw_ef():
    knn = KnnQuery(vector=b"\x00" * 16, scope="ab", model="m", ef_runtime=50)
    args = knn.args()
    assert "version_h" not in args[0]
    assert "EF_RUNTIME $ef" in args[0]
    assert args[-2:] == ["ef", 50]


@pytest.mark.parametrize("kwargs", [{"k": 0}, {"k": True}, {"scope": "not hex!"}])
def test_knn_query_checks_its_arguments(kwargs):
    base = {"vector": b"", "scope": "ab", "model": "m"}
    with pytest.raises(ValueError):
        KnnQuery(**{**base, **kwargs})


def test_page_query_keyset_pagination():
    first = PageQuery("@tag_h:{abc}", batch=100).args()
    assert first[0] == "@tag_h:{abc} @seq:[-inf +inf]"
    assert first[first.index("SORTBY") : first.index("SORTBY") + 3] == ["SORTBY", "seq", "ASC"]
    assert first[first.index("LIMIT") : first.index("LIMIT") + 3] == ["LIMIT", 0, 100]
    later = PageQuery("@tag_h:{abc}", after=41, upto=99, with_prompt=True).args()
    assert later[0] == "@tag_h:{abc} @seq:[(41 99]"
    assert later[later.index("RETURN") : later.index("RETURN") + 4] == ["RETURN", 2, "seq", "prompt"]
    assert PageQuery(q.MATCH_ALL, after=5).args()[0] == "@seq:[(5 +inf]"
