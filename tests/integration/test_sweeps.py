"""Invalidation sweeps: what they delete, what they must leave alone.

A sweep reads FT.AGGREGATE pages; the index's pattern filter is a superset of
a glob's matches, so every row is confirmed on the full prompt; rows without
a ``seq`` are not ours; entries written after the sweep began survive it.
The writes "during" a sweep are made deterministic by a connection class
that runs them just before the sweep's first cursor read goes out.
"""

from __future__ import annotations

import numpy as np
import pytest
import redis

from redis_semcache import LLMCachingManager, make_cache_key
from redis_semcache.backends.base import COUNTERS
from redis_semcache.backends.redis import RedisCacheBackend

from ..entries import bulk


def manager(backend: RedisCacheBackend) -> LLMCachingManager:
    return LLMCachingManager(backend, embedder=None, strict=True)


@pytest.fixture
def cache(redis_url, cache_names) -> LLMCachingManager:
    return manager(RedisCacheBackend(url=redis_url, name=cache_names.new(), max_size=None))


def test_a_glob_deletes_only_prompts_it_matches_in_full(cache):
    # The pattern key maps every non-alphanumeric character to "_" and a FILTER cannot check the
    # order of two inner runs: each of these passes the index's filter for its glob, but not the glob.
    prompts = ["acbd", "a b c d", "user_1", "user 1", "user-1", "abcd"]
    for p in prompts:
        cache.set(p, p)
    assert cache.invalidate(pattern="a*b*c*d") == 2  # "a b c d" and "abcd"; never "acbd"
    assert cache.invalidate(pattern="user 1") == 1  # not "user_1" nor "user-1"
    assert [p for p in prompts if cache.get(p) is not None] == ["acbd", "user_1", "user-1"]


def test_a_glob_sweep_recreating_a_dropped_index_still_confirms_each_prompt(cache, redis_client):
    for p in ("user 1", "user_1"):
        cache.set(p, p)
    redis_client.execute_command("FT.DROPINDEX", cache.backend.index_name)
    assert cache.invalidate(pattern="user 1") == 1
    assert cache.get("user_1") == "user_1" and cache.get("user 1") is None


def test_long_prompts_are_swept_by_pattern(cache):
    long_prompt = "long " + "x" * 2000 + " end"
    cache.set(long_prompt, "L")
    cache.set("long but short end", "S")
    cache.set("long " + "y" * 2000 + " other", "kept")
    assert cache.invalidate(pattern="long *end") == 2
    assert cache.get(long_prompt) is None and cache.get("long " + "y" * 2000 + " other") == "kept"


def test_a_hash_without_seq_under_the_prefix_is_not_ours(cache, redis_client):
    """Someone wrote a hash where entries live, carrying our tag digest but no seq: sweeps skip it
    and go on with the rest of the page."""
    from redis_semcache.backends.redis.queries import digest

    cache.set("first", 1)
    foreign = f"semcache:{{{cache.backend.name}:0}}:e:{make_cache_key('foreign')}"
    redis_client.hset(foreign, mapping={"tag_h": digest("t"), "scope": make_cache_key("x")[:16]})
    for i in range(20):
        cache.set(f"entry {i}", i, tags=["t"])
    assert cache.invalidate(tags=["t"]) == 20
    assert redis_client.exists(foreign) == 1
    assert cache.get("first") == 1 and cache.get("entry 19") is None


def test_invalidating_keeps_counts_and_clear_counts_no_invalidations(cache, redis_client):
    cache.backend.store_many(bulk(30, tags=["a"]) + bulk(20, stem="b", tags=["b"]))
    assert cache.invalidate(tags=["a"], version="nope", keys=[make_cache_key("b 0")]) == 31  # summed
    assert cache.backend.counters()["invalidations"] == 31
    assert cache.clear() is True
    counters = cache.backend.counters()
    assert counters["invalidations"] == 31 and cache.backend.size() == 0  # clear is not an invalidation
    stats_key = f"semcache:{{{cache.backend.name}:0}}:stats"
    assert {k.decode() for k in redis_client.hkeys(stats_key)} <= set(COUNTERS)  # nor counted anywhere else


def test_single_ids_and_no_ids(cache):
    cache.set("q", "a")
    assert cache.invalidate(keys=["not an id", "neither"]) == 0
    assert cache.backend.delete_keys([]) == 0 and cache.backend.delete_tags([]) == 0
    assert cache.invalidate(keys=make_cache_key("q")) == 1  # one id as a plain string
    assert cache.get("q") is None


def test_store_many_keeps_each_entrys_ttl(cache, redis_client):
    cache.backend.store_many(bulk(3, ttl=120.0) + bulk(2, stem="forever", ttl=None))
    ttls = [redis_client.pttl(f"semcache:{{{cache.backend.name}:0}}:e:{make_cache_key(p)}")
            for p in ("bulk 0", "bulk 2", "forever 0")]  # fmt: skip
    assert all(0 < t <= 120_000 for t in ttls[:2]) and ttls[2] == -1


def test_store_many_past_its_eviction_limit_trims_to_size(redis_url, cache_names):
    """Another instance (unbounded) filled 1,200 entries; a bulk write through one with max_size 10
    evicts down to 10, past the 64 a single store may evict."""
    name = cache_names.new()
    RedisCacheBackend(url=redis_url, name=name, max_size=None).store_many(bulk(1200))
    bounded = RedisCacheBackend(url=redis_url, name=name, max_size=10, eviction_strategy="fifo")
    assert bounded.store_many(bulk(5, stem="new")) == 5
    assert bounded.size() == 10
    cache = manager(bounded)
    assert [cache.get(f"new {i}") for i in range(5)] == list(range(5))


class PageHook:
    """A connection class whose ``before_second_page`` runs once, just before the sweep's
    second page read (FT.AGGREGATE) is sent: after the first page fixed the seq snapshot."""

    def __init__(self, before_second_page) -> None:
        self.before_second_page = before_second_page
        self.reads = 0
        hook = self

        class Connection(redis.Connection):
            def send_packed_command(self, command, check_health=True):
                chunks = command if isinstance(command, list) else [command]
                if any(b"FT.AGGREGATE" in bytes(c) for c in chunks):
                    hook.reads += 1
                    if hook.reads == 2 and hook.before_second_page is not None:
                        run, hook.before_second_page = hook.before_second_page, None
                        run()
                return super().send_packed_command(command, check_health)

        self.connection_class = Connection


def test_entries_written_while_a_sweep_runs_survive_it(redis_url, cache_names, redis_client):
    name = cache_names.new()
    writer = manager(RedisCacheBackend(url=redis_url, name=name, max_size=None))
    writer.backend.store_many(bulk(1200, tags=["t"]))
    rewritten = [f"bulk {i}" for i in range(0, 1200, 12)]  # 100 of them, spread over every page
    fresh = [f"fresh {i}" for i in range(300)]

    def write() -> None:  # after the first page was read (the seq snapshot taken), before the second
        for p in rewritten + fresh:
            writer.set(p, "new", tags=["t"])

    hook = PageHook(write)
    pool = redis.ConnectionPool(connection_class=hook.connection_class, **redis.connection.parse_url(redis_url))
    sweeper = manager(RedisCacheBackend(client=redis.Redis(connection_pool=pool), name=name, max_size=None))
    assert sweeper.invalidate(tags=["t"]) == 1100
    assert hook.before_second_page is None  # the writes did run mid-sweep
    assert all(writer.get(p) == "new" for p in rewritten + fresh)
    assert writer.backend.size() == 400


def test_a_sweep_deletes_the_last_entry_written_before_it(cache):
    for i in range(3):
        cache.set(f"e{i}", i, tags=["t"], embedding=None)
    assert cache.invalidate(tags=["t"]) == 3  # the newest carries the snapshot's own seq
    assert np.all([cache.get(f"e{i}") is None for i in range(3)])
