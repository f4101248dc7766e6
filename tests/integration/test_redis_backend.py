"""Redis-specific behaviour beyond the shared contract."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import redis

from redis_semcache import (
    CacheEntry,
    CacheStrategy,
    ConfigurationError,
    DimensionMismatchError,
    LLMCachingManager,
    make_cache_key,
)
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.backends.redis.layout import KeyLayout

from ..fakes import near, unit
from ..redis_caches import backend, manager

# -- clients and ownership -------------------------------------------------------


def test_a_callers_client_is_never_closed(redis_url, cache_names):
    client = redis.Redis.from_url(redis_url)
    b = RedisCacheBackend(client=client, name=cache_names.new())
    cache = manager(b)
    cache.set("q", "a")
    cache.close()
    b.close()
    assert any(c._sock is not None for c in client.connection_pool._available_connections)
    assert client.ping() is True
    client.close()


def test_an_owned_client_is_closed(redis_url, cache_names):
    b = backend(redis_url, cache_names)
    manager(b).set("q", "a")
    pool = b._client.connection_pool
    assert any(c._sock is not None for c in pool._available_connections)
    b.close()
    assert all(c._sock is None for c in pool._available_connections) and not pool._in_use_connections


@pytest.mark.parametrize("client_kwargs", [{"protocol": 2}, {"protocol": 3}, {"decode_responses": True}])
def test_works_with_resp2_resp3_and_decoded_clients(redis_url, cache_names, client_kwargs):
    client = redis.Redis.from_url(redis_url, **client_kwargs)
    cache = manager(RedisCacheBackend(client=client, name=cache_names.new()), enable_semantic=True)
    rng = np.random.default_rng(3)
    v = unit(rng, 8)
    assert cache.set("hello", {"json": ["é", 1]}, embedding=v, tags=["a|b"], ttl=100)
    assert cache.get("hello") == {"json": ["é", 1]}
    assert cache.get("hi", embedding=near(v, 0.95, rng)) == {"json": ["é", 1]}
    assert cache.get_top_entries(1)[0]["access_count"] == 2
    assert cache.invalidate(pattern="hel*") == 1
    stats = cache.get_statistics()
    assert (stats["exact_hits"], stats["semantic_hits"], stats["invalidations"], stats["cache_size"]) == (1, 1, 1, 0)
    assert cache.health_check()["status"] == "healthy"
    client.close()


def test_constructor_checks_its_settings(redis_url):
    bad_settings = [
        {"name": "a:b"},
        {"index_algorithm": "IVF"},
        {"dimension": 0},
        {"hnsw_m": 0},
        {"hnsw_ef_runtime": 0},
        {"vector_dtype": "FLOAT64"},
        {"vector_dtype": 16},
        {"socket_timeout": -1},
        {"url": "redis://x", "client": redis.Redis()},
        {"ssl_ca_certs": "/ca.pem"},
    ]
    for bad in bad_settings:
        with pytest.raises(ConfigurationError):
            RedisCacheBackend(**bad)


def test_messages_never_show_the_password(cache_names):
    b = RedisCacheBackend(host="127.0.0.1", port=1, password="hunter2-secret", name=cache_names.new(),
                          socket_connect_timeout=0.2)  # fmt: skip
    assert "hunter2" not in repr(b)
    cache = LLMCachingManager(b, embedder=None)
    assert cache.get("q") is None and cache.set("q", "a") is False
    health = cache.health_check()
    assert health["status"] == "unhealthy" and "hunter2" not in str(health)
    assert "hunter2" not in str(cache.get_statistics())


# -- data model ------------------------------------------------------------------


def test_entry_hash_is_written_once_and_hits_touch_only_zsets(redis_url, cache_names, redis_client):
    b = backend(redis_url, cache_names)
    cache = manager(b)
    cache.set("q", "a", ttl=100)
    key = KeyLayout(b.name).entry_prefix(0) + make_cache_key("q")
    before = redis_client.hgetall(key)
    max_doc_id = int(redis_client.ft(b.index_name).info()["max_doc_id"])
    for _ in range(5):
        assert cache.get("q") == "a"
    assert redis_client.hgetall(key) == before  # nothing rewritten ...
    assert int(redis_client.ft(b.index_name).info()["max_doc_id"]) == max_doc_id  # ... so nothing re-indexed
    assert cache.get_top_entries(1)[0]["access_count"] == 5
    assert 99_000 < redis_client.pttl(key) <= 100_000  # native TTL, set atomically with the hash


def test_sliding_ttl_restarts_on_hits(redis_url, cache_names, clock):
    sliding = manager(backend(redis_url, cache_names, clock=clock), sliding_ttl=True)
    absolute = manager(backend(redis_url, cache_names, clock=clock))
    for cache in (sliding, absolute):
        cache.set("q", "a", ttl=10)
    clock.advance(6)
    assert sliding.get("q") == "a" and absolute.get("q") == "a"
    clock.advance(6)  # 12 s after the write, 6 s after the hit
    assert sliding.get("q") == "a"
    assert absolute.get("q") is None
    clock.advance(11)
    assert sliding.get("q") is None
    assert sliding.get_statistics()["expirations"] == 1 and absolute.get_statistics()["expirations"] == 1


def test_expired_entries_leave_no_members_behind(redis_url, cache_names, clock, redis_client):
    b = backend(redis_url, cache_names, clock=clock)
    cache = manager(b)
    for i in range(20):
        cache.set(f"p{i}", i, ttl=5 if i % 2 else 500)
    clock.advance(10)
    assert cache.get_statistics()["cache_size"] == 10
    layout = KeyLayout(b.name)
    assert redis_client.zcard(layout.zset(0, "lru")) == 10  # the order zset of the default strategy
    assert redis_client.zcard(layout.zset(0, "exp")) == 10
    assert cache.get_statistics()["expirations"] == 10


def test_eviction_holds_across_instances(redis_url, cache_names):
    name = cache_names.new()
    a = manager(backend(redis_url, cache_names, name=name, max_size=5, eviction_strategy=CacheStrategy.FIFO))
    b = manager(backend(redis_url, cache_names, name=name, max_size=5, eviction_strategy=CacheStrategy.FIFO))
    for i in range(20):
        (a if i % 2 else b).set(f"p{i}", i)
        assert a.get_statistics()["cache_size"] <= 5
    assert [a.get(f"p{i}") for i in range(15, 20)] == list(range(15, 20))
    assert b.get_statistics()["evictions"] == 15


def test_lowering_max_size_trims(redis_url, cache_names):
    b = backend(redis_url, cache_names, max_size=100)
    cache = manager(b)
    for i in range(50):
        cache.set(f"p{i}", i)
    manager(b, max_cache_size=10)
    assert cache.get_statistics()["cache_size"] == 10
    assert cache.get("p49") == 49 and cache.get("p0") is None


# -- index and dimension ---------------------------------------------------------


def test_the_first_vector_upgrades_a_plain_index(redis_url, cache_names, redis_client):
    b = backend(redis_url, cache_names)
    cache = manager(b, enable_semantic=True)
    cache.set("no vector", "a", tags=["t"])
    assert b.index_name.endswith(":idx:s2:d0") and b.dimension is None
    rng = np.random.default_rng(5)
    v = unit(rng, 12)
    cache.set("with vector", "b", embedding=v)
    assert b.index_name.endswith(":idx:s2:d12:flat:f16") and b.dimension == 12
    names = [n.decode() for n in redis_client.execute_command("FT._LIST")]
    assert b.index_name in names and not any(n.startswith(f"semcache:{{{b.name}:0}}:idx:s2:d0") for n in names)
    assert cache.invalidate(tags=["t"]) == 1  # entries from before the upgrade are in the new index
    assert cache.get("close", embedding=near(v, 0.97, rng)) == "b"


def test_dimension_mismatch_is_detected_across_instances(redis_url, cache_names):
    name = cache_names.new()
    first = manager(backend(redis_url, cache_names, name=name), enable_semantic=True)
    first.set("a", "A", embedding=np.ones(8))
    with pytest.raises(ConfigurationError, match="8-dimensional"):
        manager(backend(redis_url, cache_names, name=name, dimension=16)).get("a")
    other = backend(redis_url, cache_names, name=name)
    wrong = CacheEntry(key=make_cache_key("b"), prompt="b", response="B", model="default",
                       scope=make_cache_key("b")[:16], embedding=np.ones(16, dtype=np.float32) / 4)  # fmt: skip
    with pytest.raises(DimensionMismatchError):
        other.store(wrong, None)
    assert other.dimension == 8
    with pytest.raises(DimensionMismatchError):
        manager(other, enable_semantic=True).set("c", "C", embedding=np.ones(16))


def test_algorithm_and_schema_mismatches_are_refused(redis_url, cache_names, redis_client):
    name = cache_names.new()
    manager(backend(redis_url, cache_names, name=name, dimension=4)).set("a", "A", embedding=np.ones(4))
    with pytest.raises(ConfigurationError, match="FLAT vector index"):
        manager(backend(redis_url, cache_names, name=name, index_algorithm="HNSW")).get("a")
    other = cache_names.new()
    layout = KeyLayout(other)
    redis_client.execute_command("FT.CREATE", f"{layout.index_prefix(0)}s999:d0", "ON", "HASH", "PREFIX", 1,
                                 layout.entry_prefix(0), "SCHEMA", "x", "TAG")  # fmt: skip
    with pytest.raises(ConfigurationError, match="schema version 999"):
        manager(backend(redis_url, cache_names, name=other)).get("a")


def test_hnsw_index_serves_lookups(redis_url, cache_names, redis_client):
    b = backend(redis_url, cache_names, index_algorithm="HNSW", hnsw_m=8, hnsw_ef_construction=50,
                hnsw_ef_runtime=20, dimension=16)  # fmt: skip
    cache = manager(b, enable_semantic=True, semantic_threshold=0.9)
    rng = np.random.default_rng(9)
    vectors = [unit(rng, 16) for _ in range(50)]
    for i, v in enumerate(vectors):
        cache.set(f"p{i}", i, embedding=v)
    assert b.index_name.endswith(":d16:hnsw:f16")
    attrs = str(redis_client.ft(b.index_name).info()["attributes"])
    assert "HNSW" in attrs and "16" in attrs
    assert [cache.get(f"q{i}", embedding=near(v, 0.97, rng)) for i, v in enumerate(vectors)] == list(range(50))
    b.hnsw_ef_runtime = None  # the default: EF_RUNTIME scaled with the entry count, in the script
    assert [cache.get(f"r{i}", embedding=near(v, 0.97, rng)) for i, v in enumerate(vectors)] == list(range(50))
    with pytest.raises(ConfigurationError):
        b.hnsw_ef_runtime = 0


def test_a_dropped_index_means_misses_then_recreation(redis_url, cache_names, redis_client):
    b = backend(redis_url, cache_names)
    cache = manager(b, enable_semantic=True)
    rng = np.random.default_rng(2)
    v = unit(rng, 8)
    cache.set("a", "A", embedding=v, tags=["t"])
    redis_client.execute_command("FT.DROPINDEX", b.index_name)
    assert cache.get("b", embedding=near(v, 0.99, rng)) is None  # a miss, not a crash
    assert cache.get("b", embedding=near(v, 0.99, rng)) == "A"  # index recreated over the existing hashes
    redis_client.execute_command("FT.DROPINDEX", b.index_name)
    assert cache.invalidate(tags=["t"]) == 1  # invalidation recreates the index and retries


def test_scripts_survive_script_flush(redis_url, cache_names, redis_client):
    cache = manager(backend(redis_url, cache_names))
    cache.set("a", "A", tags=["t"])
    redis_client.script_flush()
    assert cache.get("a") == "A"
    cache.set("b", "B", tags=["t"])
    redis_client.script_flush()
    assert cache.invalidate(tags=["t"]) == 2  # the pipelined delete reloads too


# -- foreign data ----------------------------------------------------------------


def test_malformed_foreign_hashes_are_skipped_with_a_warning(redis_url, cache_names, redis_client, caplog):
    b = backend(redis_url, cache_names)
    cache = manager(b, enable_semantic=True, semantic_threshold=0.5)
    v = np.ones(8, dtype=np.float32) / np.sqrt(8)
    cache.set("real", "R", embedding=v, tags=["t"])
    layout = KeyLayout(b.name)
    scope = make_cache_key("x")[:16]
    no_marker = make_cache_key("no marker")
    bad_json = make_cache_key("bad json")
    not_a_hash = make_cache_key("not a hash")
    prefix = layout.entry_prefix(0)
    redis_client.hset(prefix + no_marker, mapping={"prompt": "no marker", "response": "x", "scope": scope,
                                                   "embedding": v.tobytes(), "seq": 1})  # fmt: skip
    real_fields = redis_client.hgetall(prefix + make_cache_key("real"))
    farther = np.array([1, 1, 1, 1, 1, 1, 1, -1], dtype=np.float32) / np.sqrt(8)  # cosine 0.75 to v
    bad_fields = {b"kind": b"json", b"response": b"{nope", b"prompt": b"bad json", b"embedding": farther.tobytes()}
    redis_client.hset(prefix + bad_json, mapping={**real_fields, **bad_fields})
    redis_client.set(prefix + not_a_hash, "just a string")
    with caplog.at_level(logging.WARNING, logger="redis_semcache.redis"):
        assert cache.get("no marker") is None
        assert cache.get("not a hash") is None
        assert cache.get("bad json") is None
        assert cache.get("query", embedding=v) == "R"  # the nearest of ours; the unmarked twin is skipped
        assert [e["prompt"] for e in cache.get_top_entries(10)] == ["real"]
    assert sum("skipping" in r.message for r in caplog.records) >= 3
    assert cache.get("real") == "R"


def test_semantic_candidates_of_another_model_are_never_returned(redis_url, cache_names, redis_client):
    """The KNN pre-filter is the scope (which hashes the model); the script re-checks the model."""
    from redis_semcache.backends.redis.queries import digest

    b = backend(redis_url, cache_names)
    cache = manager(b, enable_semantic=True, semantic_threshold=0.5)
    v = np.ones(8) / np.sqrt(8)
    cache.set("stored", "S", embedding=v, model="m")
    assert cache.get("query", embedding=v, model="m") == "S"
    key = KeyLayout(b.name).entry_prefix(0) + make_cache_key("stored", model="m")
    redis_client.hset(key, "model_h", digest("forged"))  # as if another model's entry shared the scope id
    assert cache.get("query 2", embedding=v, model="m") is None


def test_clear_leaves_everything_else_alone(redis_url, cache_names, redis_client):
    mine, theirs = cache_names.new(), cache_names.new()
    cache = manager(backend(redis_url, cache_names, name=mine))
    other = manager(backend(redis_url, cache_names, name=theirs))
    for i in range(30):
        cache.set(f"p{i}", i)
        other.set(f"p{i}", -i)
    redis_client.set(f"{mine}-unrelated", "keep")
    redis_client.set("semcache:unrelated", "keep")
    try:
        assert cache.clear() is True
        assert cache.get_statistics()["cache_size"] == 0
        assert all(cache.get(f"p{i}") is None for i in range(30))
        assert other.get_statistics()["cache_size"] == 30 and other.get("p7") == -7
        assert redis_client.get(f"{mine}-unrelated") == b"keep" and redis_client.get("semcache:unrelated") == b"keep"
        layout = KeyLayout(mine)
        assert all(redis_client.zcard(layout.zset(0, z)) == 0 for z in ("fifo", "lru", "lfu", "exp"))
    finally:
        redis_client.delete(f"{mine}-unrelated", "semcache:unrelated")


def test_health_reports_server_index_and_latency(redis_url, cache_names):
    cache = manager(backend(redis_url, cache_names))
    cache.set("q", "a")
    health = cache.health_check()
    assert health["status"] == "healthy"
    assert health["redis_version"] and health["search_version"]
    assert health["index_state"]["num_docs"] == 1 and health["index_state"]["indexing"] is False
    assert health["entries"] == 1 and health["latency_ms"] > 0
    assert "password" not in str(health).lower()
