"""Invalidation racing writers, threads sharing one backend, and two OS processes."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from redis_semcache import CacheEntry, LLMCachingManager, SearchModuleMissingError, make_cache_key
from redis_semcache._keys import entry_id, scope_id
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.backends.redis.layout import KeyLayout

from ..redis_server import LocalRedis


def manager(url, name, **kwargs):
    return LLMCachingManager(RedisCacheBackend(url=url, name=name), embedder=None, strict=True, **kwargs)


def consistent(client, name):
    """Every entry hash has its bookkeeping and no bookkeeping outlives its entry."""
    layout = KeyLayout(name)
    entries = {k.decode()[len(layout.entry_prefix(0)) :] for k in client.scan_iter(match=layout.entry_prefix(0) + "*")}
    members = {m.decode() for m in client.zrange(layout.zset(0, "lru"), 0, -1)}  # the default strategy's order
    assert members == entries
    assert not client.exists(layout.zset(0, "fifo"), layout.zset(0, "lfu"))
    assert {k.decode() for k in client.hkeys(layout.access(0))} <= entries
    per_scope: dict[str, int] = {}
    for entry in entries:
        per_scope[entry[:16]] = per_scope.get(entry[:16], 0) + 1
    assert {k.decode(): int(v) for k, v in client.hgetall(layout.scopes(0)).items()} == per_scope
    return entries


def signal_snapshot(backend: RedisCacheBackend) -> threading.Event:
    """An event set once an invalidation sweep has read its seq snapshot (its first page)."""
    taken = threading.Event()
    page = backend.partition._page

    def page_then_signal(*args, **kwargs):
        result = yield from page(*args, **kwargs)
        taken.set()
        return result

    backend.partition._page = page_then_signal  # type: ignore[method-assign]
    return taken


def test_invalidation_never_deletes_what_was_written_after_it_began(redis_url, cache_names, redis_client):
    name = cache_names.new()
    backend = RedisCacheBackend(url=redis_url, name=name, max_size=None)
    snapshot_taken = signal_snapshot(backend)
    backend.partition.PAGE = 50  # many pages, so writers interleave with the sweep
    sweeper = LLMCachingManager(backend, embedder=None, strict=True)
    writer = manager(redis_url, name, max_cache_size=None)
    old = [f"old {i}" for i in range(2000)]
    for prompt in old:
        writer.set(prompt, "v1", tags=["t"], ttl=600)

    rewritten: list[str] = []
    fresh: list[str] = []
    errors: list[BaseException] = []

    def write_during_sweep():
        try:
            if not snapshot_taken.wait(30):
                raise AssertionError("the sweep never took its seq snapshot")
            for i in range(300):
                writer.set(old[i * 5], "v2", tags=["t"])  # rewrite a pre-existing entry
                rewritten.append(old[i * 5])
                writer.set(f"new {i}", "v2", tags=["t"])  # a new entry with the same tag
                fresh.append(f"new {i}")
        except BaseException as exc:  # re-raised in the test's own thread below
            errors.append(exc)

    thread = threading.Thread(target=write_during_sweep)
    thread.start()
    deleted = sweeper.invalidate(tags=["t"])
    thread.join()
    if errors:
        raise errors[0]
    assert len(rewritten) == len(fresh) == 300

    # Everything written after the sweep began survives, with its new value ...
    assert all(writer.get(p) == "v2" for p in rewritten + fresh)
    # ... and every entry that existed before and was not rewritten is gone.
    untouched = set(old) - set(rewritten)
    assert all(writer.get(p) is None for p in untouched)
    assert len(untouched) <= deleted <= len(old)
    entries = consistent(redis_client, name)  # nothing half-deleted
    assert entries == {make_cache_key(p) for p in rewritten + fresh}
    assert writer.get_statistics()["invalidations"] == deleted


def test_threads_share_one_backend(redis_url, cache_names):
    cache = manager(redis_url, cache_names.new(), max_cache_size=100)

    def work(t):
        for i in range(200):
            cache.set(f"t{t} p{i}", i, tags=[f"t{t}"])
            assert cache.get(f"t{t} p{i}") == i
        return cache.invalidate(tags=[f"t{t}"])

    with ThreadPoolExecutor(8) as pool:
        removed = list(pool.map(work, range(8)))
    stats = cache.get_statistics()
    assert stats["sets"] == 1600 and stats["exact_hits"] == 1600
    assert stats["evictions"] + sum(removed) == 1600 and stats["cache_size"] == 0


def _child(url, name, queue):
    """Runs in another OS process: sees the parent's entries, writes its own, invalidates."""
    try:
        cache = manager(url, name)
        seen = cache.get("from parent")
        for i in range(10):
            cache.set(f"from child {i}", i, tags=["child"])
        removed = cache.invalidate(tags=["parent"])
        queue.put(("ok", seen, removed, cache.get_statistics()["exact_hits"]))
    except Exception as exc:  # report instead of dying silently
        queue.put(("error", repr(exc), None, None))


def test_two_processes_share_entries_invalidations_and_stats(redis_url, cache_names):
    name = cache_names.new()
    parent = manager(redis_url, name)
    parent.set("from parent", "hello", tags=["parent"])
    parent.set("parent 2", "x", tags=["parent"])
    assert parent.get("from parent") == "hello"  # one exact hit here

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(redis_url, name, queue))
    child.start()
    status, seen, removed, child_hits = queue.get(timeout=60)
    child.join(timeout=30)
    assert status == "ok", seen
    assert seen == "hello" and removed == 2 and child_hits == 2  # the child sees the parent's hit too
    assert parent.get("from parent") is None  # the child's invalidation reached the parent
    assert [parent.get(f"from child {i}") for i in range(10)] == list(range(10))
    stats = parent.get_statistics()
    assert (stats["sets"], stats["invalidations"], stats["exact_hits"], stats["cache_size"]) == (12, 2, 12, 10)


def bulk_entry(prompt, response, tags):
    scope = scope_id("default")
    return CacheEntry(key=entry_id(scope, prompt), prompt=prompt, response=response, model="default", scope=scope,
                      tags=tuple(tags))  # fmt: skip


def test_invalidating_fifty_thousand_entries_deletes_them_all(redis_url, cache_names, redis_client):
    name = cache_names.new()
    backend = RedisCacheBackend(url=redis_url, name=name, max_size=None)
    cache = LLMCachingManager(backend, embedder=None, strict=True)
    n = 50_000
    items = [(bulk_entry(f"entry {i}", i, ["bulk"] if i % 10 else ["bulk", "tenth"]), 3600.0) for i in range(n)]
    assert backend.store_many(items) == n  # pipelined: 250 round trips instead of 50,000
    assert cache.get_statistics()["cache_size"] == n and cache.get("entry 12345") == 12345
    assert cache.invalidate(tags=["tenth"]) == n // 10
    assert cache.invalidate(pattern="entry 1*") == sum(1 for i in range(n) if str(i).startswith("1") and i % 10)
    remaining = cache.get_statistics()["cache_size"]
    assert cache.invalidate(tags=["bulk"]) == remaining
    assert cache.get_statistics()["cache_size"] == 0
    assert consistent(redis_client, name) == set()
    assert cache.get_statistics()["invalidations"] == n


def test_a_redis_without_search_says_so(cache_names):
    """Built with a blocking client, the backend refuses at once (test_construction_errors.py);
    with only an async client it can only tell at the first call, and fails open unless strict."""
    import asyncio

    import redis.asyncio

    with LocalRedis(search=False) as plain:

        async def scenario() -> None:
            client = redis.asyncio.Redis.from_url(plain.url)
            backend = RedisCacheBackend(async_client=client, name=cache_names.new())
            with pytest.raises(SearchModuleMissingError, match="no RediSearch: use Redis Stack or Redis 8"):
                await backend.asize()
            strict = LLMCachingManager(backend, embedder=None, strict=True)
            with pytest.raises(SearchModuleMissingError):
                await strict.aset("q", "a")
            lenient = LLMCachingManager(backend, embedder=None)
            assert await lenient.aset("q", "a") is False and await lenient.aget("q") is None
            assert "RediSearch" in (await lenient.aget_statistics())["backend_error"]
            assert (await lenient.ahealth_check())["status"] == "unhealthy"
            await client.aclose()

        asyncio.run(scenario())
        cache_names.names.pop()  # nothing was created on the plain server or on the shared one
