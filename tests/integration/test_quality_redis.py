"""Labels on Redis are shared by every instance of a cache, and kept apart between caches;
a backend that fails never fails a lookup or a feedback (strict=False)."""

from __future__ import annotations

import socket

import numpy as np

from redis_semcache import LLMCachingManager, RedisCacheBackend
from redis_semcache.quality import ErrorBudget

from ..fakes import near, unit

DIM = 32


def _instance(url: str, name: str, **kwargs) -> LLMCachingManager:
    budget = ErrorBudget(0.1, refresh_seconds=0)  # read the shared labels on every lookup
    return LLMCachingManager(
        RedisCacheBackend(url=url, name=name), enable_semantic=True, embedder=None, guards=None,
        error_budget=budget, strict=True, **kwargs,
    )  # fmt: skip


def test_labels_given_to_one_instance_teach_every_instance(redis_url, cache_names):
    name = cache_names.new("labels")
    one, two, other = _instance(redis_url, name), _instance(redis_url, name), _instance(redis_url, name + "-x")
    try:
        rng = np.random.default_rng(1)
        vector = unit(rng, DIM)
        for cache in (one, other):
            cache.set("what is redis", "a store", embedding=vector)
        query = near(vector, 0.97, rng)
        assert two.lookup("redis?", embedding=query).hit is False  # exact only: no labels yet
        found = one.lookup("redis?", embedding=query)
        for _ in range(22):  # 0 wrong in 22: the 90% bound is 0.098
            assert one.feedback(found, True)
        served = two.lookup("redis?", embedding=query)
        assert (served.hit, served.kind, served.response) == (True, "semantic", "a store")
        assert other.lookup("redis?", embedding=query).hit is False  # another cache: its own labels
    finally:
        for cache in (one, two, other):
            cache.close()


def test_the_label_store_stays_bounded_however_many_labels_arrive(redis_url, cache_names):
    import redis

    from redis_semcache.quality.labels import BINS, RECENT

    name = cache_names.new("bounded")
    backend = RedisCacheBackend(url=redis_url, name=name)
    client = redis.Redis.from_url(redis_url)
    try:
        rng = np.random.default_rng(4)
        for i in range(2 * RECENT + 57):  # more labels than the capped lists keep, over every bin
            backend.record_label("s", float(rng.random()), bool(i % 3))
        keys = sorted(k.decode() for k in client.scan_iter(f"*{name}*"))
        lists = [k for k in keys if client.type(k) == b"list"]
        assert len(keys) == 4 and len(lists) == 2  # two hashes and two capped lists, nothing per label
        assert all(client.llen(k) == RECENT for k in lists)
        assert all(client.hlen(k) <= 2 * BINS for k in keys if k not in lists)
        every, scope = backend.label_counts("s")
        assert every.total == scope.total == 2 * RECENT + 57
        assert every.recent is not None and every.recent.total == RECENT
        # the newest come first: the capped list keeps the last RECENT labels, not the first
        backend.record_label("s", 0.999, False)
        newest = client.lindex(next(k for k in lists if k.endswith("recent")), 0)
        assert newest == b"bad:199"
    finally:
        backend.drop()
        client.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_down_backend_fails_no_lookup_and_no_feedback():
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    backend = RedisCacheBackend(url=url, name="down", socket_connect_timeout=0.2)
    cache = LLMCachingManager(
        backend, enable_semantic=True, embedder=None, guards=None, error_budget=0.1, circuit_breaker=None
    )
    try:
        found = cache.lookup("redis?", embedding=unit(np.random.default_rng(2), DIM))
        assert (found.hit, found.response, found.threshold) == (False, None, None)
        forged = type(found)(False, None, None, 0.9, "what is redis", "k", None, found.scope, cache.quality.origin)
        assert cache.feedback(forged, True) is False  # not recorded, and no exception
        assert cache.health_check()["errors"] >= 2
    finally:
        cache.close()
