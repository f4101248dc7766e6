"""Manager behaviour beyond the backend contract: config, fail-open, threads, exports."""

from __future__ import annotations

import json
import logging
import threading

import numpy as np
import pytest

import redis_semcache
from redis_semcache import (
    BackendUnavailableError,
    ConfigurationError,
    InMemoryCacheBackend,
    InvalidationError,
    InvalidInputError,
    LLMCachingManager,
    create_in_memory_cache_manager,
    from_env,
)

from ..fakes import FakeClock


def test_all_is_complete_and_importable():
    # every class or function the package namespace re-exports is listed in __all__
    exported = {
        name
        for name, obj in vars(redis_semcache).items()
        if not name.startswith("_") and callable(obj) and getattr(obj, "__module__", "").startswith("redis_semcache")
    }
    assert exported - set(redis_semcache.__all__) == set()
    assert "RedisCacheBackend" in redis_semcache.__all__
    for name in redis_semcache.__all__:
        assert getattr(redis_semcache, name) is not None


@pytest.mark.parametrize("threshold", [0, -0.1, 1.01, float("nan"), "0.9", True])
def test_bad_threshold(threshold):
    with pytest.raises(InvalidInputError):
        LLMCachingManager(semantic_threshold=threshold, embedder=None)


def test_bad_labels():
    cache = create_in_memory_cache_manager(embedder=None)
    with pytest.raises(InvalidInputError):
        cache.set("p", "r", tags=["ok", ""])
    with pytest.raises(InvalidInputError):
        cache.set("p", "r", tags=[1])
    with pytest.raises(InvalidInputError):
        cache.set("p", "r", version="")
    with pytest.raises(InvalidInputError):
        cache.get("p", model="")
    with pytest.raises(InvalidInputError):
        cache.get_top_entries(limit=-1)
    assert cache.get_statistics()["sets"] == 0


def test_from_env_builds_memory_cache_and_names_bad_variables():
    cache = from_env(
        {"CACHE_MAX_SIZE": "7", "CACHE_TTL": "12.5", "CACHE_EVICTION_STRATEGY": "LFU", "SEMANTIC_THRESHOLD": "0.8"},
        embedder=None,
    )
    assert cache.backend.max_size == 7 and cache.default_ttl == 12.5
    assert cache.backend.eviction_strategy.value == "lfu" and cache.semantic_threshold == 0.8
    for name, value in [
        ("CACHE_MAX_SIZE", "ten"),
        ("CACHE_MAX_SIZE", "0"),
        ("CACHE_TTL", "-5"),
        ("CACHE_EVICTION_STRATEGY", "random"),
        ("ENABLE_SEMANTIC_CACHE", "maybe"),
        ("SEMANTIC_THRESHOLD", "1.5"),
        ("REDIS_PORT", "99999"),
    ]:
        with pytest.raises(ConfigurationError, match=name):
            from_env({name: value}, embedder=None)


def test_from_env_passes_redis_timeouts_to_the_client():
    cache = from_env(
        {"REDIS_URL": "redis://127.0.0.1:1/0", "REDIS_SOCKET_TIMEOUT": "0.25", "REDIS_CONNECT_TIMEOUT": "0.5"},
        embedder=None,
    )
    settings = cache.backend._client.connection_pool.connection_kwargs  # no I/O: connections are lazy
    assert (settings["socket_timeout"], settings["socket_connect_timeout"]) == (0.25, 0.5)
    for name in ("REDIS_SOCKET_TIMEOUT", "REDIS_CONNECT_TIMEOUT"):
        with pytest.raises(ConfigurationError, match=name):
            from_env({"REDIS_URL": "redis://x", name: "0"}, embedder=None)
    cache.close()


def test_from_env_hides_password_in_errors():
    with pytest.raises(ConfigurationError) as info:
        from_env({"REDIS_URL": "redis://x", "REDIS_PORT": "nope", "REDIS_PASSWORD": "hunter2"}, embedder=None)
    assert "hunter2" not in str(info.value)


class _DownBackend(InMemoryCacheBackend):
    """An in-memory backend whose server has gone away."""

    down = True

    def _fail(self, *args, **kwargs):
        if self.down:
            raise BackendUnavailableError("connection refused")

    def lookup_exact(self, key, **kw):
        self._fail()
        return super().lookup_exact(key, **kw)

    def store(self, entry, ttl):
        self._fail()
        return super().store(entry, ttl)

    def delete_tags(self, tags):
        self._fail()
        return super().delete_tags(tags)

    def counters(self):
        self._fail()
        return super().counters()

    def size(self):
        self._fail()
        return super().size()


def test_fail_open_counts_errors_and_logs_once(caplog):
    backend = _DownBackend()
    cache = LLMCachingManager(backend, embedder=None)
    with caplog.at_level(logging.WARNING, logger="redis_semcache"):
        for _ in range(5):
            assert cache.get("q") is None
            assert cache.set("q", "r") is False
        with pytest.raises(InvalidationError):  # never a count for work that was not done
            cache.invalidate(tags=["t"])
    assert len([r for r in caplog.records if "failing" in r.message]) == 1
    stats = cache.get_statistics()
    assert stats["errors"] == 13 and "connection refused" in stats["backend_error"]
    backend.down = False
    assert cache.set("q", "r") is True and cache.get("q") == "r"
    assert any("recovered" in r.message for r in caplog.records)


def test_strict_mode_raises():
    cache = LLMCachingManager(_DownBackend(), embedder=None, strict=True)
    with pytest.raises(BackendUnavailableError):
        cache.get("q")


def test_health_check_reports_failure_reason():
    class Broken(InMemoryCacheBackend):
        def health(self):
            raise BackendUnavailableError("no route to host")

    report = LLMCachingManager(Broken(), embedder=None).health_check()
    assert report["status"] == "unhealthy" and "no route to host" in report["reason"]


def test_export_stats_is_atomic_on_failure(tmp_path, monkeypatch):
    cache = create_in_memory_cache_manager(embedder=None)
    target = tmp_path / "stats.json"
    target.write_text('{"old": true}')
    monkeypatch.setattr(json, "dump", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(RuntimeError):
        cache.export_stats(target)
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]


def test_many_threads_keep_counts_exact_and_size_bounded():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((200, 16))
    cache = LLMCachingManager(
        InMemoryCacheBackend(max_size=150), enable_semantic=True, semantic_threshold=0.999, embedder=None
    )
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        local = np.random.default_rng(seed)
        try:
            for _ in range(300):
                i = int(local.integers(200))
                if local.random() < 0.5:
                    cache.set(f"prompt {i}", i, embedding=vectors[i])
                else:
                    got = cache.get(f"other {i}", embedding=vectors[i])
                    assert got in (None, i)
                    cache.get(f"prompt {i}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stats = cache.get_statistics()
    lookups = stats["exact_hits"] + stats["semantic_hits"] + stats["misses"]
    assert lookups == stats["total_requests"]
    gets = 8 * 300 * 2 - 2 * stats["sets"]  # every get-iteration issues two lookups
    assert stats["total_requests"] == gets
    assert stats["cache_size"] <= 150


def test_injected_clock_drives_sliding_ttl():
    clock = FakeClock()
    cache = LLMCachingManager(InMemoryCacheBackend(clock=clock), embedder=None, sliding_ttl=True)
    cache.set("q", "r", ttl=10)
    for _ in range(5):
        clock.advance(8)
        assert cache.get("q") == "r"  # each hit restarts the 10 s
    clock.advance(11)
    assert cache.get("q") is None
    assert cache.get_statistics()["expirations"] == 1


def test_semantic_lookup_considers_only_the_k_nearest():
    """As the Redis KNN does: a veto on the k nearest is a miss, even if a farther one would pass."""
    from redis_semcache.engine import SemanticCacheEngine

    vetoed: list[str] = []

    def veto_near(query, candidate, similarity):
        vetoed.append(candidate)
        return candidate == "far"

    cache = LLMCachingManager(
        InMemoryCacheBackend(), enable_semantic=True, semantic_threshold=0.5, embedder=None, verifier=veto_near
    )
    assert isinstance(cache.engine, SemanticCacheEngine) and cache.engine.candidates == 4
    base = np.eye(8)[0]
    for i in range(4):
        cache.set(f"near {i}", i, embedding=base + 0.01 * (i + 1) * np.eye(8)[1])
    cache.set("far", "far", embedding=base + 0.5 * np.eye(8)[1])
    assert cache.get("query", embedding=base) is None
    assert sorted(vetoed) == [f"near {i}" for i in range(4)]
