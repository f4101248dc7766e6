"""A Redis with RediSearch for the integration tests, and per-test cache names.

The server is resolved once per session, in this order:

1. ``REDIS_URL`` when set (the caller's server; nothing is started or stopped);
2. a testcontainers ``redis/redis-stack-server`` when a Docker daemon answers;
3. otherwise a local redis-server from the PyPI wheels (tests/redis_server.py).

Every test gets unique cache names and drops what it created, so tests never
see each other's entries, even on a shared server.  Tests that break
connections or the server itself take ``server`` (a private local redis-server)
and ``proxy`` (a fault proxy in front of it) instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from redis_semcache.backends.redis import RedisCacheBackend

from ..fakes import FakeClock
from ..fault_proxy import FaultProxy
from ..redis_server import LocalRedis, docker_available

# Pinned so a test run means the same thing tomorrow (Redis 7.4 + RediSearch 2.10).
STACK_IMAGE = "redis/redis-stack-server:7.4.0-v3"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark integration tests, and deselect the combinations a module declares not applicable.

    A test module may define ``not_applicable(item) -> bool`` (e.g. an exact
    max_size test on a partitioned cluster, whose budgets are per partition).
    Those are deselected rather than skipped: CI treats any skip as a failure.
    """
    here = os.path.dirname(__file__)
    kept, dropped = [], []
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.integration)
        rule = getattr(getattr(item, "module", None), "not_applicable", None)
        (dropped if rule is not None and rule(item) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    if docker_available():
        from testcontainers.community.redis import RedisContainer

        with RedisContainer(STACK_IMAGE) as container:
            yield f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}/0"
        return
    with LocalRedis() as server:
        yield server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


class CacheNames:
    """Unique cache names for one test; ``drop_all`` removes every key and index they made."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.names: list[str] = []

    def new(self, stem: str = "t") -> str:
        name = f"{stem}-{uuid.uuid4().hex[:12]}"
        self.names.append(name)
        return name

    def patterns(self) -> list[str]:
        return [f"semcache:{{{name}:*" for name in self.names]

    def drop_all(self) -> None:
        for name in self.names:
            backend = RedisCacheBackend(url=self.url, name=name)
            try:
                backend.drop()
            finally:
                backend.close()


@pytest.fixture
def cache_names(redis_url: str) -> Iterator[CacheNames]:
    names = CacheNames(redis_url)
    yield names
    names.drop_all()


class RedisClock(FakeClock):
    """A fake clock for the backend that also moves Redis's TTLs.

    ``advance(s)`` moves the backend's clock by ``s`` and moves every key
    expiry of this test's caches ``s`` seconds closer (PEXPIREAT), so the
    server itself expires what is due - no sleeping, and nothing faked on
    the server side.
    """

    def __init__(self, client: redis.Redis, names: CacheNames) -> None:
        super().__init__()
        self.client = client
        self.names = names

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        shift = round(seconds * 1000)
        for pattern in self.names.patterns():
            for key in self.client.scan_iter(match=pattern, count=1000):
                expires = self.client.pexpiretime(key)
                if expires > 0:
                    self.client.pexpireat(key, expires - shift)


@pytest.fixture
def clock(redis_client: redis.Redis, cache_names: CacheNames) -> RedisClock:
    return RedisClock(redis_client, cache_names)


@pytest.fixture
def server() -> Iterator[LocalRedis]:
    """A private redis-server with RediSearch, for tests that fault or reconfigure it."""
    with LocalRedis() as s:
        yield s


@pytest.fixture
def proxy(server: LocalRedis) -> Iterator[FaultProxy]:
    """A fault proxy (tests/fault_proxy.py) in front of ``server``."""
    with FaultProxy(server.port) as p:
        yield p
