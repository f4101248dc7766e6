"""Hostile-input differential testing, shared by every backend.

``check_against_oracle(cache, ops)`` replays a sequence of operations on a real
cache and on a tiny dict model of the documented semantics (exact matching,
tags, versions, glob patterns, keys), and asserts both give the same answers.
Backends join by calling it from a hypothesis test with their own cache.
"""

from __future__ import annotations

import fnmatch
import string
from typing import Any

from hypothesis import strategies as st

from redis_semcache import make_cache_key, normalize_prompt

# Every RediSearch special character, plus space.
SPECIALS = ",.<>{}[]\"':;!@#$%^&*()-+=~|/\\ "
RTL_AND_COMBINING = "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 e\u0301 a\u0308 \u202e\u200f"

hostile_text = st.text(
    alphabet=st.sampled_from(
        SPECIALS + RTL_AND_COMBINING + string.ascii_letters[:6] + string.digits[:3] + "\x00\x7f\ufffd"
    ),
    min_size=1,
    max_size=12,
)
labels = hostile_text.filter(lambda s: s != "")
prompts = hostile_text.filter(lambda s: s.strip() != "")
patterns = st.one_of(labels, st.sampled_from(["*", "?", "[a-c]*", "*|*", "{*}", "[!a]*", "\\*"]))
param_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), hostile_text)

operation = st.one_of(
    st.tuples(
        st.just("set"),
        prompts,
        st.sampled_from(["m", "m|x", "{m}"]),
        st.lists(labels, max_size=3),
        labels,
        st.dictionaries(st.sampled_from(["temperature", "sys tem", "a|b"]), param_values, max_size=2),
    ),
    st.tuples(
        st.just("get"),
        prompts,
        st.sampled_from(["m", "m|x", "{m}"]),
        st.dictionaries(st.sampled_from(["temperature", "sys tem", "a|b"]), param_values, max_size=2),
    ),
    st.tuples(st.just("tags"), st.lists(labels, min_size=1, max_size=3)),
    st.tuples(st.just("version"), labels),
    st.tuples(st.just("pattern"), patterns),
    st.tuples(st.just("key"), prompts, st.sampled_from(["m", "m|x", "{m}"])),
)


class Oracle:
    """The documented semantics, for exact lookups, as a dict."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    def set(self, prompt, model, tags, version, params, response):
        key = make_cache_key(prompt, model, **params)
        self.entries[key] = {
            "prompt": normalize_prompt(prompt),
            "tags": set(tags),
            "version": version,
            "response": response,
        }

    def get(self, prompt, model, params):
        entry = self.entries.get(make_cache_key(prompt, model, **params))
        return None if entry is None else entry["response"]

    def _drop(self, pred) -> int:
        doomed = [k for k, e in self.entries.items() if pred(k, e)]
        for k in doomed:
            del self.entries[k]
        return len(doomed)

    def invalidate_tags(self, tags):
        return self._drop(lambda k, e: bool(e["tags"] & set(tags)))

    def invalidate_version(self, version):
        return self._drop(lambda k, e: e["version"] == version)

    def invalidate_pattern(self, pattern):
        return self._drop(lambda k, e: fnmatch.fnmatchcase(e["prompt"], pattern))

    def invalidate_keys(self, keys):
        return self._drop(lambda k, e: k in keys)


def check_against_oracle(cache, ops) -> None:
    oracle = Oracle()
    for n, op in enumerate(ops):
        kind = op[0]
        if kind == "set":
            _, prompt, model, tags, version, params = op
            response = f"response {n}: {prompt}"
            assert cache.set(prompt, response, model=model, tags=tags, version=version, **params) is True
            oracle.set(prompt, model, tags, version, params, response)
        elif kind == "get":
            _, prompt, model, params = op
            assert cache.get(prompt, model=model, **params) == oracle.get(prompt, model, params), op
        elif kind == "tags":
            assert cache.invalidate(tags=op[1]) == oracle.invalidate_tags(op[1]), op
        elif kind == "version":
            assert cache.invalidate(version=op[1]) == oracle.invalidate_version(op[1]), op
        elif kind == "pattern":
            assert cache.invalidate(pattern=op[1]) == oracle.invalidate_pattern(op[1]), op
        else:
            key = make_cache_key(op[1], op[2])
            assert cache.invalidate(keys=[key]) == oracle.invalidate_keys({key}), op
    assert cache.get_statistics()["cache_size"] == len(oracle.entries)
