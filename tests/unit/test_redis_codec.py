"""Entry hash encoding, record decoding and reply parsing - no server needed."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from redis_semcache import CacheEntry, InvalidInputError, make_cache_key
from redis_semcache.backends.redis import fields as F
from redis_semcache.backends.redis.codec import (
    MalformedEntryError,
    decode_record,
    encode_entry,
    lfu_hits,
    parse_info,
)
from redis_semcache.backends.redis.queries import digest
from redis_semcache.backends.redis.scripts import NAMES, READERS, source

LIB = Path(__file__).resolve().parents[2] / "redis_semcache" / "backends" / "redis" / "scripts" / "_lib.lua"


def entry(**overrides):
    base = {
        "key": make_cache_key("hello there", model="gpt-4"),
        "prompt": "hello there",
        "response": {"a": [1, 2]},
        "model": "gpt-4",
        "scope": make_cache_key("hello there", model="gpt-4")[:16],
        "namespace": "ns",
        "tags": ("a|b", "user:1}"),
        "version": "v2",
    }
    base.update(overrides)
    return CacheEntry(**base)


def as_record(e: CacheEntry, fields: dict[str, bytes], seq: int = 7, lru=b"1000.5", lfu=b"3.0001", exp=b"2000.0"):
    values = [fields.get(name, str(seq).encode() if name == F.SEQ else None) for name in F.ENTRY_FIELDS]
    return [e.key.encode(), *values, lru, lfu, exp]


def test_encode_then_decode_round_trips():
    e = entry(embedding=np.ones(4, dtype=np.float32) / 2)
    fields = encode_entry(e, now=1000.25, ttl=60.0)
    assert fields[F.MODEL_H] == digest("gpt-4").encode()
    assert fields[F.TAG_H] == f"{digest('a|b')},{digest('user:1}')}".encode()
    assert fields[F.PATTERN_KEY] == b"hello_there" and fields[F.PROMPT_LEN] == b"11"
    assert np.frombuffer(fields[F.EMBEDDING], dtype="<f4").tolist() == [0.5] * 4
    back = decode_record(as_record(e, fields))
    assert (back.key, back.prompt, back.response) == (e.key, e.prompt, e.response)
    assert (back.model, back.namespace, back.tags, back.version) == ("gpt-4", "ns", ("a|b", "user:1}"), "v2")
    assert (back.created_at, back.last_access, back.access_count) == (1000.25, 1000.5, 3)
    assert (back.expires_at, back.ttl) == (2000.0, 60.0)


@pytest.mark.parametrize(("dtype", "numpy_type"), [("FLOAT32", "<f4"), ("FLOAT16", "<f2")])
def test_the_embedding_is_stored_little_endian_in_the_index_vector_type(dtype, numpy_type):
    v = np.array([0.5, -0.25, 1 / 3, 0.75], dtype=np.float32)
    stored = encode_entry(entry(embedding=v), now=1.0, ttl=None, dtype=dtype)[F.EMBEDDING]
    assert stored == v.astype(numpy_type).tobytes() and len(stored) == 4 * np.dtype(numpy_type).itemsize


def test_a_bfloat16_embedding_is_the_top_half_of_each_float32_rounded_to_nearest_even():
    v = np.array([0.5, -0.25, 1 / 3, 1.0 + 2**-8 + 2**-9, 1.0 + 2**-8, 1.0 + 2**-7 + 2**-8], dtype=np.float32)
    stored = encode_entry(entry(embedding=v), now=1.0, ttl=None, dtype="BFLOAT16")[F.EMBEDDING]
    halves = np.frombuffer(stored, dtype="<u2")
    back = (halves.astype("<u4") << 16).view("<f4")
    # exact halves stay; 1/3 rounds to its nearest bfloat16; ties go to the even mantissa
    assert back.tolist() == [0.5, -0.25, 0.333984375, 1.0 + 2**-7, 1.0, 1.0 + 2**-6]
    assert len(stored) == 2 * len(v)


def test_default_values_are_not_written_and_read_back_as_defaults():
    e = entry(response="plain", model="default", namespace="", tags=(), embedding=None)
    fields = encode_entry(e, now=5.0, ttl=None)
    assert not {F.KIND, F.MODEL, F.NAMESPACE, F.TAGS, F.TAG_H, F.TTL, F.EMBEDDING} & set(fields)
    back = decode_record(as_record(e, fields))
    assert (back.response, back.model, back.namespace, back.tags, back.ttl) == ("plain", "default", "", (), None)
    # an entry written before schema 2 holds the defaults as values
    old = {**fields, F.KIND: b"str", F.MODEL: b"default", F.NAMESPACE: b"", F.TAGS: b"[]", F.TTL: b""}
    assert decode_record(as_record(e, old)) == back


def test_decode_accepts_str_replies_and_missing_scores():
    e = entry(response="plain text")
    fields = encode_entry(e, now=5.0, ttl=None)
    record = [v.decode() if isinstance(v, bytes) else v for v in as_record(e, fields, lru=None, lfu=None, exp=None)]
    back = decode_record(record)
    assert back.response == "plain text" and back.ttl is None and back.expires_at is None and back.access_count == 0


@pytest.mark.parametrize(
    "damage",
    [
        {F.FMT: b"2"},
        {F.KIND: b"pickle"},
        {F.KIND: b"json", F.RESPONSE: b"{not json"},
        {F.TAGS: b'"a string"'},
        {F.CREATED_AT: b"yesterday"},
        {F.PROMPT: None},
        {F.RESPONSE: b"\xff\xfe"},
    ],
)
def test_malformed_records_raise_malformed_entry_error(damage):
    e = entry()
    fields = {**encode_entry(e, now=1.0, ttl=None), **damage}
    with pytest.raises(MalformedEntryError):
        decode_record(as_record(e, fields))


def test_wrong_length_record_is_malformed():
    with pytest.raises(MalformedEntryError):
        decode_record([b"id", b"1"])


def test_lone_surrogates_are_input_errors():
    with pytest.raises(InvalidInputError):
        encode_entry(entry(response="bad \ud800"), now=1.0, ttl=None)


def test_lfu_hits_is_the_integer_part():
    assert lfu_hits(0.000123) == 0 and lfu_hits(7.99) == 7 and lfu_hits(1_000_000.5) == 1_000_000


def test_lua_entry_fields_and_constants_match_python():
    lib = LIB.read_text(encoding="utf-8")
    names = re.search(r"local ENTRY_FIELDS = \{(.*?)\}", lib, re.S).group(1)
    assert tuple(re.findall(r"'([a-z_]+)'", names)) == F.ENTRY_FIELDS
    positions = re.search(r"local I_VERSION, I_TTL, I_SEQ = (\d+), (\d+), (\d+)", lib).groups()
    assert [int(p) for p in positions] == [F.ENTRY_FIELDS.index(n) + 1 for n in (F.VERSION, F.TTL, F.SEQ)]
    assert f"local I_CREATED_AT = {F.ENTRY_FIELDS.index(F.CREATED_AT) + 1}" in lib
    optional = re.search(r"local OPTIONAL_FIELDS = \{(.*?)\}", lib).group(1)
    assert set(re.findall(r"'([a-z_]+)'", optional)) == {*F.DEFAULTS, F.TAG_H, F.EMBEDDING}
    assert f"local FORMAT = '{F.FORMAT}'" in lib
    assert "local LFU_TIME_SCALE = 1e10" in lib and F.LFU_TIME_SCALE == 1e10
    # hit_record spells out v[1] .. v[n]: every entry field, in order, then the three access values
    built = re.search(r"local function hit_record\(.*?\n  return \{(.*?)\}\n", lib, re.S).group(1)
    assert re.findall(r"v\[(\d+)\]", built) == [str(i) for i in range(1, len(F.ENTRY_FIELDS) + 1)]
    assert [p.strip() for p in built.split(",")][-3:] == ["lru", "lfu", "exp"]


def test_only_the_scripts_that_read_entries_get_the_readers_helpers():
    part = re.search(r"^-- >>> readers.*?^-- <<< readers$", LIB.read_text(encoding="utf-8"), re.S | re.M).group(0)
    helpers = set(re.findall(r"^local function (\w+)\(", part, re.M))
    assert {"read", "record", "touch_if_possible"} <= helpers
    for name in NAMES:
        own = source(name).split(f"-- ===== {name}.lua =====\n", 1)[1]
        calls = {h for h in helpers if re.search(rf"\b{h}\(", own)}
        assert bool(calls) == (name in READERS), (name, calls)
        assert ("local function read(" in source(name)) == (name in READERS), name


def test_with_embedding_is_replace_with_a_vector():
    e = entry(created_at=5.0, ttl=3.0, access_count=2)
    v = np.ones(4, dtype=np.float32)
    with_v = e.with_embedding(v)
    assert with_v == e and with_v is not e and with_v.embedding is v and e.embedding is None
    assert vars(with_v) == {**vars(e), "embedding": v}


def test_every_script_has_a_contract_header():
    for name in NAMES:
        text = source(name).split(f"-- ===== {name}.lua =====\n", 1)[1]
        header = text.split("\n\n", 1)[0]
        assert header.startswith(f"-- {name}:"), name
        assert "KEYS[1..7]" in header and "ARGV[1..2]" in header and "Returns" in header, name


def test_parse_info_flat_and_map():
    assert parse_info([b"num_docs", b"3", b"indexing", 0]) == {"num_docs": b"3", "indexing": 0}
    assert parse_info({b"num_docs": 3}) == {"num_docs": 3}


# -- decode_record reads fields by position: every optional field, present or absent --------------

OPTIONAL_CASES = {
    "all defaults": {"response": "plain", "model": "default", "namespace": "", "tags": ()},
    "json response": {"response": [1, {"b": None}], "model": "default", "namespace": "", "tags": ()},
    "model and namespace": {"response": "r", "model": "gpt-4", "namespace": "team a", "tags": ()},
    "one tag": {"response": "r", "model": "default", "namespace": "", "tags": ("only",)},
    "tags that look like JSON": {"response": "r", "model": "m", "namespace": "n", "tags": ("[]", '"x"', "é")},
}


@pytest.mark.parametrize("ttl", [None, 60.0, 0.5])
@pytest.mark.parametrize("case", OPTIONAL_CASES)
def test_decode_gives_back_every_field_with_and_without_optional_fields(case, ttl):
    e = entry(**OPTIONAL_CASES[case])
    fields = encode_entry(e, now=1234.5, ttl=ttl)
    back = decode_record(as_record(e, fields, lru=b"1300.25", lfu=b"7.5", exp=b"inf"))
    assert back == CacheEntry(**{**e.__dict__, "created_at": 1234.5, "last_access": 1300.25, "access_count": 7,
                                 "expires_at": float("inf"), "ttl": ttl})  # fmt: skip
    assert back.tags == e.tags and back.response == e.response


def test_decode_takes_str_and_int_replies_as_bytes_ones():
    """RESP3 or decode_responses=True gives str; Lua numbers arrive as integers."""
    e = entry(response="r", tags=("t",))
    fields = encode_entry(e, now=10.0, ttl=30.0)
    as_bytes = decode_record(as_record(e, fields, lru=b"11.0", lfu=b"3", exp=b"40.0"))
    as_str = [v.decode() if isinstance(v, bytes) else v for v in as_record(e, fields, lru=b"11.0", lfu=3, exp=b"40.0")]
    assert decode_record(as_str) == as_bytes and as_bytes.access_count == 3


@pytest.mark.parametrize("name", [n for n in F.ENTRY_FIELDS if n not in F.DEFAULTS])
def test_a_missing_required_field_is_named(name):
    e = entry()
    fields = {**encode_entry(e, now=1.0, ttl=None), name: None}
    with pytest.raises(MalformedEntryError, match=f"missing fields \\['{name}'\\]"):
        decode_record(as_record(e, fields))


@pytest.mark.parametrize(
    "damage",
    [
        {F.TAGS: b"[1]"},
        {F.TAGS: b"[]x"},
        {F.TTL: b"soon"},
        {F.TTL: b"nan"},
        {F.CREATED_AT: b"inf"},
        {F.KIND: b"\xff"},
        {F.FMT: None},
        {F.PROMPT: [b"a nested reply"]},
        {F.MODEL: [b"a nested reply"]},
    ],
)
def test_more_malformed_optional_and_numeric_fields(damage):
    e = entry()
    fields = {**encode_entry(e, now=1.0, ttl=None), **damage}
    with pytest.raises(MalformedEntryError):
        decode_record(as_record(e, fields))


@pytest.mark.parametrize("lru, lfu", [(b"never", b"1"), (b"1.0", b"many"), (b"nan", b"1")])
def test_malformed_access_scores_raise_malformed_entry_error(lru, lfu):
    e = entry()
    with pytest.raises(MalformedEntryError):
        decode_record(as_record(e, encode_entry(e, now=1.0, ttl=None), lru=lru, lfu=lfu))
