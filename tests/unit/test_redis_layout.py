"""Key layout, index names and the index decision - no server needed."""

from __future__ import annotations

import pytest
from redis import exceptions as rx

from redis_semcache import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    SearchModuleMissingError,
    make_cache_key,
)
from redis_semcache.backends.redis.errors import IndexMissingError, classify
from redis_semcache.backends.redis.index import plan_index
from redis_semcache.backends.redis.layout import IndexName, KeyLayout


def test_keys_share_one_hash_tag_per_partition():
    layout = KeyLayout("llmcache")
    key = make_cache_key("hi")
    index = layout.index(0, IndexName(1, 8, "FLAT"))
    names = [layout.entry_prefix(0) + key, *layout.partition_keys(0, "lru"), layout.lock(0, key), index]
    assert all(n.startswith("semcache:{llmcache:0}:") for n in names)
    assert layout.entry_prefix(0) + key == f"semcache:{{llmcache:0}}:e:{key}"
    assert layout.index(0, IndexName(1, 384, "HNSW")) == "semcache:{llmcache:0}:idx:s1:d384:hnsw"
    assert layout.index(0, IndexName(1, 0)) == "semcache:{llmcache:0}:idx:s1:d0"


def test_partition_comes_from_the_scope_id():
    layout = KeyLayout("c", partitions=4)
    key = make_cache_key("hi", model="m")
    assert layout.partition_of(key) == layout.partition_of(key[:16]) == int(key[:16], 16) % 4
    assert KeyLayout("c").partition_of(key) == 0


def test_index_names_parse_back():
    layout = KeyLayout("c")
    for name in (IndexName(1, 0), IndexName(2, 384, "FLAT"), IndexName(1, 16, "HNSW")):
        assert layout.parse_index(0, layout.index(0, name)) == name
    assert layout.parse_index(0, "semcache:{other:0}:idx:s1:d8:flat") is None
    assert layout.parse_index(0, "semcache:{c:0}:idx:garbage") is None


@pytest.mark.parametrize("name", ["", "a:b", "a{b", "a}b", "a b", "a*", "x" * 65, "é", None])
def test_cache_names_are_plain(name):
    with pytest.raises(ConfigurationError):
        KeyLayout(name)


def plan(existing, **kw):
    kw.setdefault("cache", "c")
    kw.setdefault("schema", 1)
    kw.setdefault("algorithm", "FLAT")
    kw.setdefault("dimension", None)
    return plan_index(existing, **kw)


def test_plan_creates_a_plain_index_until_a_dimension_is_known():
    p = plan([])
    assert (p.use, p.create, p.drop) == (IndexName(1, 0), True, ())
    p = plan([IndexName(1, 0)])
    assert (p.use, p.create, p.wait) == (IndexName(1, 0), False, False)


def test_plan_upgrades_the_plain_index_on_the_first_vector():
    p = plan([IndexName(1, 0)], vector_dim=8)
    assert (p.use, p.create, p.drop, p.wait) == (IndexName(1, 8, "FLAT", "FLOAT16"), True, (IndexName(1, 0),), True)
    p = plan([], dimension=384, algorithm="HNSW")
    assert p.use == IndexName(1, 384, "HNSW", "FLOAT16") and p.create
    assert plan([], dimension=384, dtype="FLOAT32").use == IndexName(1, 384, "FLAT", "FLOAT32")


def test_an_existing_cache_keeps_its_vector_type_unless_one_is_asked_for():
    fp32 = IndexName(1, 8, "FLAT", "FLOAT32")  # a cache made before FLOAT16 was the default
    assert plan([fp32]).use == fp32 and not plan([fp32]).create
    assert plan([fp32], dtype="FLOAT32").use == fp32
    with pytest.raises(ConfigurationError, match=r"stores FLOAT32 vectors.*vector_dtype='FLOAT16'"):
        plan([fp32], dtype="FLOAT16")
    fp16 = IndexName(1, 8, "FLAT", "FLOAT16")
    with pytest.raises(ConfigurationError, match="stores FLOAT16 vectors"):
        plan([fp16], dtype="FLOAT32")


def test_index_names_carry_the_vector_type_and_old_names_read_as_float32():
    layout = KeyLayout("c")
    assert layout.index(0, IndexName(1, 8, "FLAT", "FLOAT32")) == "semcache:{c:0}:idx:s1:d8:flat"
    assert layout.index(0, IndexName(1, 8, "HNSW", "FLOAT16")) == "semcache:{c:0}:idx:s1:d8:hnsw:f16"
    assert layout.parse_index(0, "semcache:{c:0}:idx:s1:d8:flat") == IndexName(1, 8, "FLAT", "FLOAT32")
    assert layout.parse_index(0, "semcache:{c:0}:idx:s1:d8:hnsw:f16") == IndexName(1, 8, "HNSW", "FLOAT16")
    assert layout.index(0, IndexName(1, 8, "FLAT", "BFLOAT16")) == "semcache:{c:0}:idx:s1:d8:flat:bf16"
    assert layout.parse_index(0, "semcache:{c:0}:idx:s1:d8:flat:bf16") == IndexName(1, 8, "FLAT", "BFLOAT16")
    assert layout.parse_index(0, "semcache:{c:0}:idx:s1:d8:flat:f8") is None


def test_plan_finishes_someone_elses_upgrade():
    p = plan([IndexName(1, 0), IndexName(1, 8, "FLAT")])
    assert (p.use, p.create, p.drop) == (IndexName(1, 8, "FLAT"), False, (IndexName(1, 0),))


def test_plan_upgrades_an_index_of_an_older_schema_in_place():
    p = plan([IndexName(1, 8, "FLAT")], schema=2)
    assert (p.use, p.create, p.drop, p.wait) == (IndexName(2, 8, "FLAT"), True, (IndexName(1, 8, "FLAT"),), True)
    p = plan([IndexName(1, 0)], schema=2)
    assert (p.use, p.create, p.drop) == (IndexName(2, 0), True, (IndexName(1, 0),))
    p = plan([IndexName(1, 0), IndexName(1, 8, "FLAT")], schema=2)  # an old cache caught mid-upgrade
    assert (p.use, p.create, p.drop) == (IndexName(2, 8, "FLAT"), True, (IndexName(1, 0), IndexName(1, 8, "FLAT")))
    p = plan([IndexName(1, 8, "FLAT"), IndexName(2, 8, "FLAT")], schema=2)  # another process created it already
    assert (p.use, p.create, p.drop) == (IndexName(2, 8, "FLAT"), False, (IndexName(1, 8, "FLAT"),))
    with pytest.raises(ConfigurationError, match="dimension=16"):  # an old index is held to the same rules
        plan([IndexName(1, 8, "FLAT")], schema=2, dimension=16)


def test_plan_refuses_incompatible_indexes():
    with pytest.raises(ConfigurationError, match="schema version 2"):
        plan([IndexName(2, 8, "FLAT")])
    with pytest.raises(ConfigurationError, match="dimension=16"):
        plan([IndexName(1, 8, "FLAT")], dimension=16)
    assert plan([IndexName(1, 8, "FLAT")], vector_dim=16).use.dim == 8  # the caller refuses the vector
    with pytest.raises(ConfigurationError, match="HNSW"):
        plan([IndexName(1, 8, "HNSW")])
    with pytest.raises(ConfigurationError, match="conflicting"):
        plan([IndexName(1, 8, "FLAT"), IndexName(1, 16, "FLAT")])


def test_error_classification_and_redaction():
    where = "h:1/0"
    assert isinstance(classify(rx.ConnectionError("refused"), where), BackendUnavailableError)
    assert isinstance(classify(rx.TimeoutError("slow"), where), BackendUnavailableError)
    missing = classify(rx.ResponseError("unknown command 'FT._LIST', with args beginning with: "), where)
    assert isinstance(missing, SearchModuleMissingError) and "RediSearch" in str(missing)
    assert isinstance(classify(rx.ResponseError("idx: no such index"), where), IndexMissingError)
    other = classify(rx.ResponseError("WRONGPASS s3cret is wrong"), where, secrets=("s3cret",))
    assert type(other) is BackendError and "s3cret" not in str(other) and "***" in str(other)


def test_layout_and_settings_errors_say_what_is_wrong():
    from redis_semcache import InvalidInputError
    from redis_semcache.backends.redis import RedisCacheBackend

    with pytest.raises(ConfigurationError, match=r"^partitions must be at least 1, got 0$"):
        KeyLayout("x", 0)
    with pytest.raises(ConfigurationError, match=r"^cache name must be 1-64 characters from A-Z a-z 0-9 _ . -, got "):
        KeyLayout("not a name")
    with pytest.raises(ValueError, match=r"^unknown zset 'nope'$"):
        KeyLayout("x").zset(0, "nope")
    assert IndexName(1, 1, "FLAT").suffix() == "s1:d1:flat" and IndexName(1, 0, "FLAT").suffix() == "s1:d0"
    backend = RedisCacheBackend(url="redis://127.0.0.1:1/0", name="x")  # never contacted
    backend.configure(max_size=1, eviction_strategy="lru", sliding_ttl=False)
    assert backend.partition.max_size == 1
    for bad in (0, 2.5, "5", True):
        with pytest.raises(InvalidInputError, match=f"^max_size must be a positive int or None, got {bad!r}$"):
            backend.partition.configure(max_size=bad, eviction_strategy="lru", sliding_ttl=False)
