"""The cache on a 3-primary, 3-replica Redis Cluster (tests/redis_cluster.py).

The contract suite runs with 16 partitions (the default: entries spread over
every node, invalidation and stats fan out), through the sync and the async
API, and with one partition, where ``max_size`` is an exact budget.  Per-partition budgets make the
eviction-order tests inapplicable to 16 partitions (see docs/design.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import multiprocessing
import os
import time
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from redis_semcache import LLMCachingManager, make_cache_key
from redis_semcache._entry import CacheEntry
from redis_semcache._errors import ConfigurationError
from redis_semcache._keys import entry_id, scope_id
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.backends.redis.layout import KeyLayout
from redis_semcache.singleflight import FlightPolicy

from ..chat_contract import ChatContract
from ..contract import CacheContract
from ..contract_caches import contract_caches
from ..entries import bulk
from ..fakes import FakeClock
from ..quality_contract import EXACT_SIMILARITIES, QualityContract
from ..redis_cluster import LocalCluster

# Budgets of ceil(max_size / 16) per partition: exact-order eviction needs one partition.
EXACT_BUDGET_TESTS = {
    "test_lru_eviction_order",
    "test_lfu_eviction_order",
    "test_fifo_eviction_ignores_reads",
    "test_ttl_strategy_evicts_soonest_expiry",
    "test_size_never_exceeds_max",
    "test_set_many_evicts_as_one_set_per_item_would",
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    started = LocalCluster().start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def cluster_client(cluster: LocalCluster) -> Iterator[RedisCluster]:
    client = RedisCluster(host="127.0.0.1", port=cluster.ports[0])
    yield client
    client.close()


class ClusterClock(FakeClock):
    """RedisClock for a cluster: shifts the expiry of this test's keys on every primary."""

    def __init__(self, cluster: LocalCluster, names: list[str]) -> None:
        super().__init__()
        self.cluster = cluster
        self.names = names

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        shift = round(seconds * 1000)
        for port in self.cluster.primaries():
            node = redis.Redis(port=port)
            for name in self.names:
                for key in node.scan_iter(match=f"semcache:{{{name}:*", count=1000):
                    expires = node.pexpiretime(key)
                    if expires > 0:
                        node.pexpireat(key, expires - shift)
            node.close()


@pytest.fixture
def names(cluster: LocalCluster) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        backend = RedisCacheBackend(cluster_mode=True, cluster_nodes=cluster.nodes, name=name)
        backend.drop()
        backend.close()


@pytest.fixture
def clock(cluster: LocalCluster, names: list[str]) -> ClusterClock:
    return ClusterClock(cluster, names)


def not_applicable(item: pytest.Item) -> bool:
    """Exact max_size budgets need one partition (budgets are per partition, docs/design.md);
    the p16 runs of those contract tests are deselected (see conftest), and
    test_per_partition_budget_bounds_the_whole_cache covers partitioned eviction."""
    callspec = getattr(item, "callspec", None)
    return callspec is not None and item.originalname in EXACT_BUDGET_TESTS and "p16" in callspec.id


@pytest.fixture(
    params=[(16, "sync"), (1, "sync"), (16, "async"), (16, "async-client-only")],
    ids=["p16", "p1", "p16-async", "p16-async-client-only"],
)
def make_cache(request, cluster, clock, names):
    partitions, api = request.param

    def build(**settings):
        names.append(f"c-{uuid.uuid4().hex[:12]}")
        # async-client-only: no blocking client at all, so every call must be native async
        given = AsyncRedisCluster(host="127.0.0.1", port=cluster.ports[0]) if api == "async-client-only" else None
        connection: dict = (
            {"cluster_mode": True, "cluster_nodes": cluster.nodes} if given is None else {"async_client": given}
        )
        backend = RedisCacheBackend(
            **connection, partitions=partitions, name=names[-1], clock=clock, **settings,
            **getattr(request.cls, "backend_options", {}),
        )  # fmt: skip
        return backend, () if given is None else (given,)

    yield from contract_caches(api, build, strict=True)


class TestClusterContract(CacheContract):
    pass


class TestClusterChatContract(ChatContract):
    pass


class TestClusterQualityContract(QualityContract):
    backend_options = EXACT_SIMILARITIES


def test_partitions_spread_over_every_primary(cluster, cluster_client, names):
    names.append("spread")
    backend = RedisCacheBackend(client=cluster_client, name="spread")
    assert backend.partitions == 16
    manager = LLMCachingManager(backend, strict=True)
    for i in range(40):
        manager.set(f"q{i}", f"a{i}", model=f"m{i}")
    owners = {cluster_client.get_node_from_key(f"semcache:{{spread:{p}}}:seq").port for p in range(16)}
    assert len(owners) == 3
    assert backend.size() == 40
    assert manager.invalidate(pattern="q1*") == 11  # q1, q10..q19
    assert backend.size() == 29


def test_store_many_and_delete_keys_route_each_entry_to_its_partition(cluster_client, names):
    names.append("bulk")
    backend = RedisCacheBackend(client=cluster_client, name="bulk", max_size=None)
    entries = []
    for i in range(600):
        scope = scope_id(f"m{i % 40}")
        entries.append(CacheEntry(key=entry_id(scope, f"p{i}"), prompt=f"p{i}", response=i, model=f"m{i % 40}",
                                  scope=scope, tags=("even",) if i % 2 == 0 else ()))  # fmt: skip
    assert backend.store_many([(e, 3600.0) for e in entries]) == 600  # pipelined per partition
    assert backend.size() == 600
    for node in cluster_client.get_primaries():  # as on a promoted replica: no scripts loaded
        cluster_client.get_redis_connection(node).script_flush()
    assert backend.store_many([(e, 3600.0) for e in entries[:50]]) == 50  # reloaded, re-run
    assert backend.size() == 600
    assert backend.delete_keys([e.key for e in entries[:100]] + ["not an id"]) == 100
    assert backend.delete_tags(["even"]) == 250
    assert backend.size() == 250
    assert backend.counters()["invalidations"] == 350


def test_a_partition_index_lost_on_its_node_is_recreated_there(cluster, cluster_client, names):
    """As after a reshard: the slot's owner has the keys but not the index.  The next lookup recreates it."""
    names.append("moved")
    backend = RedisCacheBackend(client=cluster_client, name="moved", dimension=4)
    manager = LLMCachingManager(backend, strict=True, enable_semantic=True)
    vec = np.array([1, 0, 0, 0], dtype=np.float32)
    assert manager.set("q", "a", model="m", embedding=vec)
    part = backend._layout.partition_of(make_cache_key("q", model="m"))
    index = backend.routing.partitions[part].index_name
    node = cluster_client.get_node_from_key(backend._layout.stats(part))
    cluster_client.execute_command("FT.DROPINDEX", index, target_nodes=node)  # keys stay
    assert manager.get("other", model="m", embedding=vec) is None  # the search finds no index: a miss
    assert manager.get("again", model="m", embedding=vec) == "a"  # recreated over the existing keys
    assert index in [i.decode() for i in cluster_client.execute_command("FT._LIST", target_nodes=node)]


def test_cluster_settings_are_checked(cluster_client):
    with pytest.raises(ConfigurationError):
        RedisCacheBackend(client=cluster_client, partitions=0)
    with pytest.raises(ConfigurationError):
        RedisCacheBackend(cluster_mode=True, client=cluster_client, url="redis://127.0.0.1:1")
    backend = RedisCacheBackend(client=cluster_client, name="settings", max_size=100, partitions=8)
    assert backend.max_size == 100 and all(part.max_size == 13 for part in backend.routing.partitions)
    backend.close()
    assert cluster_client.ping()  # a caller's client stays open


def _writer(nodes, name, ready, done):  # runs in another process
    manager = LLMCachingManager(RedisCacheBackend(cluster_mode=True, cluster_nodes=nodes, name=name), strict=True)
    for i in range(20):
        manager.set(f"other {i}", f"from child {i}", model=f"m{i}", tags=["child"])
    ready.set()
    done.wait(30)
    assert manager.get("parent 3", model="m3") is None  # the parent's invalidation reached this process


def test_two_processes_see_each_others_entries_and_invalidations(cluster, names):
    names.append(f"two-{uuid.uuid4().hex[:8]}")
    ctx = multiprocessing.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_writer, args=(cluster.nodes, names[-1], ready, done))
    child.start()
    try:
        assert ready.wait(60)
        manager = LLMCachingManager(
            RedisCacheBackend(cluster_mode=True, cluster_nodes=cluster.nodes, name=names[-1]), strict=True
        )
        assert [manager.get(f"other {i}", model=f"m{i}") for i in range(20)] == [f"from child {i}" for i in range(20)]
        for i in range(5):
            manager.set(f"parent {i}", "p", model=f"m{i}")
        assert manager.invalidate(tags=["child"]) == 20
        manager.invalidate(pattern="parent 3")
        done.set()
        child.join(60)
        assert child.exitcode == 0
    finally:
        if child.is_alive():
            child.kill()


def test_failover_keeps_lookups_answering(cluster, names):
    """Kill a primary mid-workload: lookups never raise (non-strict), other partitions keep every entry.

    The dead primary's replica may not take over until a lookup has met the outage: otherwise
    whether any lookup sees it is a race between redis-py's retries (about 5 s against a dead
    node) and the failover (the 1.5 s node timeout, then an election), lost on a busy machine.
    """
    names.append("failover")
    backend = RedisCacheBackend(cluster_mode=True, cluster_nodes=cluster.nodes, name="failover", dimension=8)
    # Non-strict: backend errors come back as misses.  No circuit breaker: the default one would
    # pause every partition for its cooldown after three failures on the dead node's partitions.
    manager = LLMCachingManager(backend, enable_semantic=True, circuit_breaker=None)
    rng = np.random.default_rng(7)
    vectors = {i: rng.normal(size=8).astype(np.float32) for i in range(60)}
    for i, vec in vectors.items():
        assert manager.set(f"q{i}", f"a{i}", model=f"m{i % 12}", embedding=vec)
    client = backend._client
    owner = {i: client.get_node_from_key(backend._layout.stats(backend._layout.partition_of(_key(manager, i)))).port
             for i in vectors}  # fmt: skip
    victim = owner[0]
    standby = cluster.replicas_of(victim)
    assert standby, "the victim has no replica to fail over to"
    for replica in standby:
        cluster.allow_failover(replica, False)
    try:
        cluster.kill(victim)
        # The dead primary's partitions cannot answer, and nobody may take them over yet:
        # a lookup there is a miss (after the client's retries), never an exception.
        assert manager.get("q0", model="m0", embedding=vectors[0]) is None
    finally:
        for replica in standby:
            cluster.allow_failover(replica, True)
    # Lookups during the failover (one per node, dead or alive): misses at worst, never exceptions.
    probes = {port: i for i, port in sorted(owner.items(), reverse=True)}.values()
    deadline = time.monotonic() + 120  # bounds a failover that never happens; the loop waits on state
    while not (len(cluster.primaries()) == 3 and _cluster_ok(cluster)):
        assert time.monotonic() < deadline, "the replica never took over"
        for i in probes:
            manager.get(f"q{i}", model=f"m{i % 12}", embedding=vectors[i])
    cluster.wait_ok(timeout=60)
    answers = [manager.get(f"q{i}", model=f"m{i % 12}", embedding=vectors[i]) for i in vectors]
    for i, answer in zip(vectors, answers, strict=True):
        if owner[i] != victim:
            assert answer == f"a{i}"
    # Semantic lookups (new prompts) work again in every partition, the failed-over ones included.
    for j in range(12):
        if owner[j] != victim:
            assert manager.get(f"paraphrase {j}", model=f"m{j}", embedding=vectors[j] * 1.001) == f"a{j}"
        else:
            assert manager.set(f"after {j}", "failover", model=f"m{j}", embedding=-vectors[j])
            assert manager.get(f"other {j}", model=f"m{j}", embedding=-vectors[j] * 1.001) == "failover"


def _cluster_ok(cluster: LocalCluster) -> bool:
    try:
        cluster.wait_ok(timeout=0.2)
    except TimeoutError:
        return False
    return True


def _key(manager, i: int) -> str:
    return make_cache_key(f"q{i}", model=f"m{i % 12}")


def test_per_partition_budget_bounds_the_whole_cache(cluster_client, names):
    names.append("budget")
    backend = RedisCacheBackend(client=cluster_client, name="budget", max_size=8, partitions=4)
    manager = LLMCachingManager(backend, embedder=None, strict=True)
    for i in range(40):
        assert manager.set(f"q{i}", i, model=f"m{i}")  # 40 scopes, spread over the 4 partitions
    stats = manager.get_statistics()
    assert stats["cache_size"] <= 4 * 2  # ceil(8 / 4) per partition
    assert stats["evictions"] == 40 - stats["cache_size"]
    assert manager.get("q39", model="m39") == 39  # the newest write is never the one evicted


def test_a_single_node_client_on_a_cluster_node_says_use_cluster_mode(cluster, names):
    """Without the check, names whose slot this node serves worked and the others raised MOVED."""
    url = f"redis://127.0.0.1:{cluster.ports[0]}/0"
    for i in range(6):
        names.append(f"single-{i}")
        manager = LLMCachingManager(RedisCacheBackend(url=url, name=f"single-{i}"), embedder=None)
        with pytest.raises(ConfigurationError, match=r"Redis Cluster node: use cluster_mode=True"):
            manager.set("q", "a")  # raised even though the manager is not strict: a setup error
        manager.close()
    from redis_semcache import from_env

    names.append("llmcache")
    with from_env({"REDIS_URL": url, "REDIS_CLUSTER": "1"}) as manager:
        assert manager.set("q", "a") and manager.get("q") == "a"


def test_the_operator_cli_on_a_cluster(cluster, names, capsys):
    import json

    from redis_semcache.cli import main

    names.append("cli-cluster")
    url = f"redis://127.0.0.1:{cluster.ports[0]}/0"
    backend = RedisCacheBackend(cluster_mode=True, cluster_nodes=cluster.nodes, name="cli-cluster")
    manager = LLMCachingManager(backend, embedder=None, strict=True)
    for i in range(12):
        manager.set(f"q{i}", i, model=f"m{i}", tags=["even" if i % 2 == 0 else "odd"])
    manager.get("q3", model="m3")
    common = ["--redis-url", url, "--name", "cli-cluster", "--cluster"]
    assert main(["stats", *common, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["cache_size"], stats["exact_hits"]) == (12, 1)
    assert main(["invalidate", *common, "--tag", "odd"]) == 0
    assert capsys.readouterr().out.strip() == "deleted 6 entries"
    assert main(["health", *common]) == 0
    assert main(["stats", "--redis-url", url, "--name", "cli-cluster"]) == 1  # forgot --cluster: said so
    assert "use cluster_mode=True" in capsys.readouterr().err
    manager.close()


# -- single flight, stale routing and round trips on the cluster ---------------------------


def test_get_or_compute_on_a_cluster_computes_once_under_a_lock_on_the_entrys_node(cluster, cluster_client, names):
    names.append(f"flight-{uuid.uuid4().hex[:8]}")
    name, key = names[-1], make_cache_key("q", model="m")
    lock = f"semcache:{{{name}:{KeyLayout(name, 16).partition_of(key)}}}:lock:{key}"
    policy = FlightPolicy(lock_ttl=5, wait_timeout=30, initial_backoff=0.005, max_backoff=0.05)
    seen_ttl: list[int] = []

    async def main() -> list:
        backend = RedisCacheBackend(cluster_mode=True, cluster_nodes=cluster.nodes, name=name)
        cache = LLMCachingManager(backend, embedder=None, strict=True, flight_policy=policy)

        async def compute() -> str:
            seen_ttl.append(cluster_client.pttl(lock))
            await asyncio.sleep(0.3)  # long enough for every task to find the lock taken
            return "computed once"

        try:
            return await asyncio.gather(*(cache.aget_or_compute("q", compute, model="m") for _ in range(20)))
        finally:
            await cache.aclose()

    assert asyncio.run(main()) == ["computed once"] * 20
    assert len(seen_ttl) == 1 and 0 < seen_ttl[0] <= 5000  # one compute, under a lock with the policy's TTL
    assert cluster_client.exists(lock) == 0
    sync = LLMCachingManager(RedisCacheBackend(client=cluster_client, name=name), embedder=None, strict=True)
    assert sync.get_or_compute("q", lambda: "not called", model="m") == "computed once"


def test_a_stale_slot_map_still_reaches_each_partitions_owner(cluster_client, names):
    """As after a failover or reshard: the client believes another primary owns a partition's slot.

    Lookups, stores and a sweep still reach the real owner, and no index is created elsewhere."""
    names.append(f"stale-{uuid.uuid4().hex[:8]}")
    name = names[-1]
    backend = RedisCacheBackend(client=cluster_client, name=name, dimension=4, partitions=4)
    cache = LLMCachingManager(backend, embedder=None, strict=True, enable_semantic=True)
    v = np.array([1.0, 0, 0, 0])
    assert cache.set("q", "a", model="m", embedding=v, tags=["t"])
    part = KeyLayout(name, 4).partition_of(make_cache_key("q", model="m"))
    slot = cluster_client.keyslot(f"semcache:{{{name}:{part}}}:seq")
    owner = cluster_client.get_node_from_key(f"semcache:{{{name}:{part}}}:seq")
    elsewhere = next(n for n in cluster_client.get_primaries() if n.name != owner.name)

    def mislead() -> None:
        cluster_client.nodes_manager.slots_cache[slot] = [elsewhere]

    mislead()
    assert cache.get("paraphrase", model="m", embedding=v * 1.01) == "a"
    mislead()
    assert cache.set("q2", "b", model="m", embedding=-v, tags=["t"])
    mislead()
    assert cache.invalidate(tags=["t"]) == 2
    index = f"semcache:{{{name}:{part}}}:idx:s2:d4:flat:f16"
    lists = {n.name: [i.decode() for i in cluster_client.execute_command("FT._LIST", target_nodes=n)]
             for n in cluster_client.get_primaries()}  # fmt: skip
    assert [node for node, indexes in lists.items() if index in indexes] == [owner.name]


@pytest.fixture
def cluster_round_trips(monkeypatch):
    """Counts socket writes of every blocking redis-py connection (a pipeline to one node is one)."""
    counter = {"n": 0}
    send = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        counter["n"] += 1
        return send(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)

    def take() -> int:
        n, counter["n"] = counter["n"], 0
        return n

    return take


def test_round_trips_on_a_cluster(cluster_client, names, cluster_round_trips):
    """docs/design.md: a keyed operation costs what it costs on one Redis; fan-outs cost per partition,
    and a sweep page is not pipelined (the seq snapshot, the cursor read and the delete go separately)."""
    names.append(f"trips-{uuid.uuid4().hex[:8]}")
    name = names[-1]
    backend = RedisCacheBackend(client=cluster_client, name=name, dimension=4, partitions=4, max_size=None)
    cache = LLMCachingManager(backend, embedder=None, strict=True, enable_semantic=True, semantic_threshold=0.9)
    v = np.array([1.0, 0, 0, 0])
    for model in ("m0", "m1", "m2", "m3", "m4", "m5"):  # every partition set up and written once: not counted
        cache.set("warm up", "x", model=model, embedding=-v)
    cache.invalidate(tags=["nothing"])
    cluster_round_trips()

    assert cache.set("q", "A", model="m1", embedding=v, tags=["t"])
    assert cluster_round_trips() == 1, "store"
    assert cache.get("q", model="m1") == "A"
    assert cluster_round_trips() == 1, "exact hit"
    assert cache.get("paraphrase", model="m1", embedding=v) == "A"
    assert cluster_round_trips() == 1, "semantic hit, vector known: exact check and search on the scope's node"
    assert backend.size() == 7
    assert cluster_round_trips() == 4, "size: one report per partition"
    # A partition whose node has no replica online sends no WAIT: a failover earlier in this module
    # leaves a primary without one, so the count follows the cluster as it is now.
    replicated = [_has_a_replica_online(cluster_client, backend._layout.stats(p)) for p in range(4)]
    cluster_round_trips()  # those reads are the test's, not the cache's
    assert cache.invalidate(tags=["t"]) == 1
    # Per partition: seq snapshot, FT.INFO, INFO replication, page read; then one delete; then per
    # partition one WAIT for its node's replica.
    assert cluster_round_trips() == 4 * 4 + 1 + sum(replicated), "per partition: 4 reads; one delete; WAITs"
    entries = bulk(300)
    assert backend.store_many(entries) == 300
    assert cluster_round_trips() == 2, "one scope, one partition: pipelines of 200 and 100"
    home = backend._layout.partition_of(entries[0][0].key)
    assert backend.delete_keys([e.key for e, _ in entries]) == 300
    assert cluster_round_trips() == 2 + replicated[home], "one partition: INFO replication, 300 ids in one delete, WAIT"


def _has_a_replica_online(client: RedisCluster, key: str) -> bool:
    info = client.get_redis_connection(client.get_node_from_key(key)).info("replication")
    return any(k.startswith("slave") and k[5:].isdigit() and v.get("state") == "online" for k, v in info.items())


# A value for every keyword of RedisCacheBackend, as a single-node caller might pass it.
_SINGLE_NODE_VALUES = {
    "cluster_mode": True, "host": "127.0.0.1", "username": "default", "password": None, "db": 0,
    "ssl": False, "ssl_ca_certs": None, "ssl_certfile": None, "ssl_keyfile": None, "name": "every-keyword",
    "max_size": 50, "eviction_strategy": "lfu", "sliding_ttl": True, "index_algorithm": "HNSW", "hnsw_m": 8,
    "hnsw_ef_construction": 100, "hnsw_ef_runtime": 20, "vector_dtype": "FLOAT32", "dimension": 4,
    "socket_timeout": 2.0, "socket_connect_timeout": 2.0, "clock": time.time, "partitions": 4,
    "wait_replicas": 1, "replica_timeout": 1.0, "wait_aof": False,
}  # fmt: skip
# Keywords whose only value in a cluster is the default.
_REJECTED_IN_CLUSTER = {"db": 3}


def test_every_single_node_keyword_is_accepted_or_named_in_cluster_mode(cluster, names):
    """The single-node signature, keyword by keyword: each one works on a cluster, or a
    ConfigurationError names it (nothing is silently dropped, no TypeError)."""
    names.append("every-keyword")
    keywords = [
        p.name for p in inspect.signature(RedisCacheBackend.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]  # fmt: skip
    connection = {"client", "async_client", "cluster_nodes", "port"}
    assert set(keywords) - connection == set(_SINGLE_NODE_VALUES)  # a new keyword must be added here
    port = cluster.ports[0]
    backend = RedisCacheBackend(port=port, **_SINGLE_NODE_VALUES)  # every keyword at once
    try:
        assert backend.partitions == 4 and backend.index_algorithm == "HNSW" and backend.hnsw_ef_runtime == 20
        assert backend.max_size == 50 and backend.eviction_strategy.value == "lfu" and backend.sliding_ttl
        assert backend.dimension == 4
        manager = LLMCachingManager(backend, strict=True, enable_semantic=True)  # (applies its own settings)
        vec = np.array([1, 0, 0, 0], dtype=np.float32)
        assert manager.set("q", "a", model="m", embedding=vec)
        assert manager.get("q paraphrase", model="m", embedding=vec) == "a"
    finally:
        backend.close()
    for keyword, value in _REJECTED_IN_CLUSTER.items():
        with pytest.raises(ConfigurationError, match=keyword):
            RedisCacheBackend(cluster_mode=True, port=port, name="rejected", **{keyword: value})
    by_url = RedisCacheBackend(
        f"redis://127.0.0.1:{port}", cluster_mode=True, name="every-keyword", partitions=4, index_algorithm="HNSW"
    )
    assert by_url.size() == 1  # the entry stored above
    by_url.close()


def test_partition_on_a_cluster_is_an_error_not_partition_zero(cluster_client):
    backend = RedisCacheBackend(client=cluster_client, name="which-partition", partitions=4)
    with pytest.raises(ConfigurationError, match="4 partitions"):
        _ = backend.partition
    key = make_cache_key("q", model="m")
    assert backend.routing.partition_of(key) is backend.routing.partitions[backend._layout.partition_of(key)]
    with pytest.raises(ConfigurationError, match="cluster_mode"):
        RedisCacheBackend(cluster_mode=True, client=redis.Redis(port=1))


def _open_sockets() -> int:
    """This process's open sockets (/proc/self/fd entries that are sockets)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


def test_async_cluster_clients_of_dead_loops_are_closed(cluster, names):
    """asyncio.run() per batch on a cluster: each dead loop's cluster client (every node's
    connections, the seed nodes' too) is closed by the next loop and by close()."""
    names.append("dead-loops")
    backend = RedisCacheBackend(cluster_mode=True, cluster_nodes=cluster.nodes, name="dead-loops")
    manager = LLMCachingManager(backend)
    assert manager.set("q", "a", model="m")
    before = _open_sockets()  # the blocking client's connections are open, and stay open below

    async def batch() -> None:
        assert await asyncio.gather(*(manager.aget("q", model="m") for _ in range(8))) == ["a"] * 8

    asyncio.run(batch())
    one_loop = _open_sockets() - before  # how many one loop's client opens (it varies a little)
    for _ in range(10):
        asyncio.run(batch())
    assert _open_sockets() - before <= 2 * one_loop  # the last loop's client, not ten loops' worth
    assert backend._loop_drivers is not None
    backend._loop_drivers.close_all()  # what close() does to the async clients
    assert _open_sockets() <= before
    manager.close()
