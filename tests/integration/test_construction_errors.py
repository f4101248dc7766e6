"""Mistakes a new user makes, said when the cache is built rather than at the first call (issue 25, item 5)."""

from __future__ import annotations

import pytest
import redis

from redis_semcache import ConfigurationError, SearchModuleMissingError, create_redis_cache_manager
from redis_semcache.backends.redis import RedisCacheBackend

from ..redis_server import LocalRedis, free_port

pytestmark = pytest.mark.integration


def test_a_reachable_redis_without_search_is_refused_when_the_cache_is_built():
    with LocalRedis(search=False) as plain:
        with pytest.raises(SearchModuleMissingError, match="no RediSearch: use Redis Stack or Redis 8"):
            create_redis_cache_manager(port=plain.port)
        with pytest.raises(SearchModuleMissingError):
            RedisCacheBackend(url=plain.url)
        client = redis.Redis(port=plain.port)
        with pytest.raises(SearchModuleMissingError):
            RedisCacheBackend(client=client)
        assert client.ping()  # a client the caller gave is left open
        client.close()


def test_a_redis_with_search_builds_and_serves(redis_url, cache_names):
    cache = create_redis_cache_manager(url=redis_url, backend_kwargs={"name": cache_names.new()}, embedder=None)
    assert cache.set("q", "a") and cache.get("q") == "a"
    cache.close()


def test_an_unreachable_server_still_fails_open():
    cache = create_redis_cache_manager(port=free_port(), embedder=None)  # nothing listens there
    assert cache.set("q", "a") is False and cache.get("q") is None
    assert cache.health_check()["status"] == "unhealthy"
    cache.close()


@pytest.mark.parametrize(
    "settings",
    [{"port": "abc"}, {"port": 0}, {"port": 70000}, {"port": True}, {"host": ""}, {"host": 6379}, {"db": "x"}],
)
def test_a_malformed_address_is_a_configuration_error_at_once(settings):
    with pytest.raises(ConfigurationError, match=next(iter(settings))):
        create_redis_cache_manager(**settings)
