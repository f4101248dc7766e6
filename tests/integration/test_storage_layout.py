"""How the Redis backend stores entries: one order zset per strategy, hit counts
outside the indexed hash, in-place overwrites, and the upgrade of caches written
with index schema 1 (before those changes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import redis

from redis_semcache import CacheEntry, CacheStrategy, make_cache_key
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.backends.redis import fields as F
from redis_semcache.backends.redis.codec import encode_entry
from redis_semcache.backends.redis.layout import ORDER_OF, ORDERS, IndexName, KeyLayout
from redis_semcache.backends.redis.schema import VectorConfig, parse_schema

from ..fakes import near, unit
from ..redis_caches import backend, manager
from ..redis_server import LocalRedis


def order_zsets(client, name):
    layout = KeyLayout(name)
    return {order for order in ORDERS if client.exists(layout.zset(0, order))}


# -- one order zset ----------------------------------------------------------------


@pytest.mark.parametrize("strategy", list(CacheStrategy))
def test_only_the_strategys_order_zset_is_kept(redis_url, cache_names, redis_client, clock, strategy):
    b = backend(redis_url, cache_names, max_size=5, eviction_strategy=strategy, clock=clock)
    cache = manager(b, default_ttl=None)
    for i in range(8):
        cache.set(f"p{i}", i, ttl=100 if i < 4 else None)  # the ttl strategy evicts p0..p2 as well
        clock.advance(1)
    for p in ("p5", "p6", "p6"):
        assert cache.get(p) is not None
        clock.advance(1)
    assert cache.get_statistics()["cache_size"] == 5
    layout = KeyLayout(b.name)
    assert order_zsets(redis_client, b.name) == {ORDER_OF[strategy.value]}
    assert redis_client.zcard(layout.zset(0, ORDER_OF[strategy.value])) == 5
    assert set(redis_client.hkeys(layout.access(0))) == {make_cache_key(p).encode() for p in ("p5", "p6")}
    top = cache.get_top_entries(limit=2, sort_by="access_count")  # read from acc whatever the order
    assert [(e["prompt"], e["access_count"]) for e in top] == [("p6", 2), ("p5", 1)]
    assert [e["prompt"] for e in cache.get_top_entries(limit=2, sort_by="last_access")] == ["p6", "p5"]
    assert [e["prompt"] for e in cache.get_top_entries(limit=2, sort_by="created_at")] == ["p7", "p6"]


@pytest.mark.parametrize("strategy", ["lru", "lfu", "fifo"])
def test_top_entries_skip_an_entry_gone_behind_the_librarys_back(redis_url, cache_names, redis_client, strategy):
    b = backend(redis_url, cache_names, eviction_strategy=strategy)
    cache = manager(b)
    cache.set("gone", 1)
    cache.set("kept", 2)
    assert cache.get("gone") == 1 and cache.get("kept") == 2  # both in acc
    redis_client.delete(KeyLayout(b.name).entry_prefix(0) + make_cache_key("gone"))  # e.g. a maxmemory policy
    for sort_by in ("access_count", "last_access", "created_at"):
        assert [e["prompt"] for e in cache.get_top_entries(limit=5, sort_by=sort_by)] == ["kept"], sort_by


def test_a_strategy_change_rebuilds_the_order(redis_url, cache_names, redis_client, clock):
    b = backend(redis_url, cache_names, max_size=3, eviction_strategy="lru", clock=clock)
    cache = manager(b, default_ttl=None)
    for p in "abc":
        cache.set(p, p)
        clock.advance(1)
    for p in "aaabc":  # hits a:3 b:1 c:1; least recently used: a
        cache.get(p)
        clock.advance(1)
    manager(b, eviction_strategy="lfu", default_ttl=None)  # the manager applies it to the shared backend
    cache.set("d", "d")  # LFU: b and c have one hit each, b is older -> b goes (LRU would evict a)
    assert cache.get("b") is None and cache.get("a") == "a" and cache.get("c") == "c"
    assert order_zsets(redis_client, b.name) == {"lfu"}
    assert {e["prompt"]: e["access_count"] for e in cache.get_top_entries(limit=3)} == {"a": 4, "c": 2, "d": 0}
    clock.advance(1)
    manager(b, eviction_strategy="fifo", default_ttl=None)
    cache.set("e", "e")  # FIFO: a is the oldest write, however often it was read
    assert cache.get("a") is None and cache.get("c") == "c" and cache.get("d") == "d"
    assert order_zsets(redis_client, b.name) == {"fifo"}
    assert cache.get_statistics()["cache_size"] == 3 and cache.get_statistics()["evictions"] == 2


def test_another_process_with_another_strategy_does_not_split_the_count(redis_url, cache_names, redis_client):
    name = cache_names.new()
    lru = manager(backend(redis_url, cache_names, name=name, max_size=4, eviction_strategy="lru"))
    fifo = manager(backend(redis_url, cache_names, name=name, max_size=4, eviction_strategy="fifo"))
    for i in range(6):
        (lru if i % 2 else fifo).set(f"p{i}", i)
    assert lru.get_statistics()["cache_size"] == 4 and fifo.get_statistics()["cache_size"] == 4
    assert len(order_zsets(redis_client, name)) == 1


# -- hits and writes -------------------------------------------------------------


def test_hits_never_write_the_entry_hash():
    with LocalRedis() as server:  # its own server: the test turns on keyspace events
        check_hits_never_write_the_entry_hash(server.url, redis.Redis.from_url(server.url))


def check_hits_never_write_the_entry_hash(url, redis_client):
    b = RedisCacheBackend(url=url, name="hits", eviction_strategy="lfu", sliding_ttl=True)
    cache = manager(b, enable_semantic=True, sliding_ttl=True)
    rng = np.random.default_rng(3)
    v = unit(rng, 8)
    cache.set("q", "a", embedding=v, ttl=100)
    key = KeyLayout(b.name).entry_prefix(0) + make_cache_key("q")
    redis_client.config_set("notify-keyspace-events", "Kh")  # hash commands on the entry key
    events = redis_client.pubsub()
    events.subscribe(f"__keyspace@0__:{key}")
    events.get_message(timeout=1)  # the subscribe confirmation
    try:
        assert cache.get("q") == "a" and cache.get("other words", embedding=near(v, 0.99, rng)) == "a"
        assert events.get_message(timeout=0.2) is None
        cache.set("q", "b", embedding=v, ttl=100)  # a write does show up: the listener works
        assert events.get_message(timeout=1)["data"] == b"hset"
    finally:
        events.close()
    assert cache.get_top_entries(limit=1)[0]["access_count"] == 0  # the rewrite reset its hits
    b.close()
    redis_client.close()


def test_a_replaced_entry_keeps_no_field_of_the_old_one(redis_url, cache_names, redis_client):
    b = backend(redis_url, cache_names)
    cache = manager(b, enable_semantic=True, default_ttl=None)
    rng = np.random.default_rng(4)
    v = unit(rng, 8)
    cache.set("q", {"json": [1]}, tags=["t"], ttl=100, embedding=v, model="m", namespace="ns")
    key = KeyLayout(b.name).entry_prefix(0) + make_cache_key("q", model="m", namespace="ns")
    assert {F.KIND, F.TAGS, F.TAG_H, F.TTL, F.EMBEDDING} <= {k.decode() for k in redis_client.hkeys(key)}
    cache.set("q", "plain", model="m", namespace="ns")  # no tags, no TTL, no vector, a str
    stored = {k.decode() for k in redis_client.hkeys(key)}
    assert not stored & {F.KIND, F.TAGS, F.TAG_H, F.TTL, F.EMBEDDING}
    assert redis_client.pttl(key) == -1
    assert cache.invalidate(tags=["t"]) == 0
    assert cache.get("other words", embedding=v, model="m", namespace="ns") is None  # out of the vector index
    assert cache.get("q", model="m", namespace="ns") == "plain"
    assert cache.get_statistics()["cache_size"] == 1


def test_a_replacement_with_a_ttl_drops_the_optional_fields_it_lacks(redis_url, cache_names, redis_client):
    """Replaced in place (no TTL to drop): the old entry's extra fields are deleted, the rest overwritten."""
    b = backend(redis_url, cache_names)
    cache = manager(b, enable_semantic=True, default_ttl=None)
    v = unit(np.random.default_rng(5), 8)
    cache.set("q", {"json": [1]}, tags=["t"], ttl=100, embedding=v, model="m", namespace="ns")
    key = KeyLayout(b.name).entry_prefix(0) + make_cache_key("q", model="m", namespace="ns")
    cache.set("q", "plain", ttl=50, model="m", namespace="ns")  # still a TTL; no tags, no vector, a str
    stored = {k.decode() for k in redis_client.hkeys(key)}
    assert not stored & {F.KIND, F.TAGS, F.TAG_H, F.EMBEDDING} and {F.TTL, F.MODEL, F.NAMESPACE} <= stored
    assert 0 < redis_client.pttl(key) <= 50_000
    assert cache.invalidate(tags=["t"]) == 0
    assert cache.get("other words", embedding=v, model="m", namespace="ns") is None
    assert cache.get("q", model="m", namespace="ns") == "plain"
    assert cache.get_statistics()["cache_size"] == 1 and cache.get_statistics()["sets"] == 2


@pytest.mark.parametrize("foreign", ["hash", "string"])
def test_a_foreign_key_at_an_entrys_place_is_replaced_whole(redis_url, cache_names, redis_client, foreign):
    b = backend(redis_url, cache_names)
    cache = manager(b, default_ttl=None)
    key = KeyLayout(b.name).entry_prefix(0) + make_cache_key("q")
    if foreign == "hash":  # not written by us: no format marker
        redis_client.hset(key, mapping={"prompt": "q", "owner": "someone else", F.TAGS: "[]"})
    else:
        redis_client.set(key, "just a string")
    cache.set("q", "ours", ttl=100)
    assert redis_client.type(key) == b"hash"
    assert b"owner" not in redis_client.hkeys(key)
    assert cache.get("q") == "ours" and cache.get_statistics()["cache_size"] == 1


def test_a_write_without_ttl_forgets_the_expiry_of_an_entry_gone_behind_our_back(redis_url, cache_names, redis_client):
    """The key vanished (a maxmemory policy, a DEL) before its expiry was settled: a new
    write without a TTL must not inherit that expiry."""
    b = backend(redis_url, cache_names, eviction_strategy="ttl", max_size=2)
    cache = manager(b, default_ttl=None)
    layout = KeyLayout(b.name)
    cache.set("q", "old", ttl=100)
    redis_client.delete(layout.entry_prefix(0) + make_cache_key("q"))
    cache.set("q", "new")  # no TTL
    assert redis_client.zscore(layout.zset(0, "exp"), make_cache_key("q")) is None
    [entry] = cache.get_top_entries(limit=5)
    assert entry["prompt"] == "q" and entry["expires_at"] is None
    cache.set("r", "r", ttl=100)
    cache.set("s", "s")  # over max_size: the ttl strategy evicts what expires first - r, not q
    assert cache.get("q") == "new" and cache.get("r") is None


# -- upgrade from schema 1 -------------------------------------------------------

# The index of schema 1, as the library created it before schema 2.
SCHEMA_1 = {
    "schema_version": 1,
    "fields": [
        {"name": "scope", "type": "TAG", "case_sensitive": True},
        {"name": "model_h", "type": "TAG", "case_sensitive": True},
        {"name": "version_h", "type": "TAG", "case_sensitive": True},
        {"name": "tag_h", "type": "TAG", "case_sensitive": True, "separator": ","},
        {"name": "pk", "type": "TAG", "case_sensitive": True},
        {"name": "plen", "type": "NUMERIC"},
        {"name": "seq", "type": "NUMERIC", "sortable": True},
        {"name": "created_at", "type": "NUMERIC", "sortable": True},
        {"name": "embedding", "type": "VECTOR", "data_type": "FLOAT32", "distance_metric": "COSINE"},
    ],
}


def write_schema_1_cache(client, name, rows, now):
    """Write a cache as schema 1 did: every field of every entry (defaults as values),
    and four zsets fifo / lru / lfu / exp with every entry in the first three."""
    layout = KeyLayout(name)
    dim = len(rows[0][3])
    index = layout.index(0, IndexName(1, dim, "FLAT"))
    client.execute_command(
        "FT.CREATE", *parse_schema(SCHEMA_1).create_args(index, layout.entry_prefix(0), VectorConfig(dim=dim))
    )
    for seq, (prompt, response, tags, vector, hits) in enumerate(rows, 1):
        key = make_cache_key(prompt)
        entry = CacheEntry(key=key, prompt=prompt, response=response, model="default", scope=key[:16],
                           namespace="", tags=tuple(tags), version="v1", embedding=vector)  # fmt: skip
        fields = {**encode_entry(entry, now=now, ttl=None), F.SEQ: str(seq).encode()}
        for name_, default in F.DEFAULTS.items():
            fields.setdefault(name_, default.encode())
        fields.setdefault(F.TAG_H, b"")
        fields[F.TAGS] = json.dumps(list(tags)).encode()
        client.hset(layout.entry_prefix(0) + key, mapping=fields)
        client.zadd(layout.zset(0, "fifo"), {key: now})
        client.zadd(layout.zset(0, "lru"), {key: now + hits})
        client.zadd(layout.zset(0, "lfu"), {key: hits + (now + hits) / 1e10})
        client.hincrby(layout.scopes(0), key[:16], 1)
    client.set(layout.seq(0), len(rows))
    return index


def test_a_schema_1_cache_is_upgraded_in_place(redis_url, cache_names, redis_client, clock):
    name = cache_names.new()
    rng = np.random.default_rng(6)
    vectors = [unit(rng, 8) for _ in range(3)]
    rows = [("alpha question", "A", ["t"], vectors[0], 3), ("beta question", {"b": 2}, [], vectors[1], 0),
            ("gamma question", "C", ["t", "u"], vectors[2], 1)]  # fmt: skip
    old_index = write_schema_1_cache(redis_client, name, rows, clock())
    b = backend(redis_url, cache_names, name=name, clock=clock)
    cache = manager(b, enable_semantic=True)
    assert cache.get("alpha question") == "A"  # found exactly, through the new index
    assert b.index_name.endswith(":idx:s2:d8:flat")
    assert [n.decode() for n in redis_client.execute_command("FT._LIST") if name in n.decode()] == [b.index_name]
    assert old_index != b.index_name
    assert cache.get("a beta query", embedding=near(vectors[1], 0.98, rng)) == {"b": 2}
    assert order_zsets(redis_client, name) == {"lru"}
    hits = {e["prompt"]: e["access_count"] for e in cache.get_top_entries(limit=3)}
    assert hits == {"alpha question": 4, "beta question": 1, "gamma question": 1}  # old hits kept, new ones added
    assert cache.get_statistics()["cache_size"] == 3
    assert cache.invalidate(pattern="gamma*") == 1  # a pattern sweep reads the old pk field
    assert cache.invalidate(tags=["t"]) == 1
    cache.set("beta question", "new")  # replacing an old entry drops the fields it no longer needs
    stored = {k.decode() for k in redis_client.hkeys(KeyLayout(name).entry_prefix(0) + make_cache_key("beta question"))}
    assert not stored & {F.KIND, F.TAGS, F.TAG_H, F.NAMESPACE, F.MODEL}
    assert cache.get("beta question") == "new" and cache.get_statistics()["cache_size"] == 1
