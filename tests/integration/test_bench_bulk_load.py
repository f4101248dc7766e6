"""bench/bulk_load.py on a small load: every system stores every entry in its own cache, in both modes.

The script FLUSHALLs its server, so it gets a Redis of its own here (not the
session's).  What is asserted is what the figures rest on: each row counts the
whole load of one system, the turns add up, and the index check passes; the
speed is not asserted.
"""

from __future__ import annotations

import json
import time

import pytest
import redis
import redisvl  # noqa: F401  (the peer the bench loads: a dev dependency, so missing it fails here)

from bench.bulk_load import OURS, PEER, SET_LOOP, Loader, main

from ..redis_server import LocalRedis


@pytest.fixture(scope="module")
def own_redis():
    server = LocalRedis().start()
    try:
        yield server.url
    finally:
        server.close()


@pytest.mark.parametrize("interleave", [0, 7])
def test_each_system_loads_every_entry_into_its_own_cache(own_redis, tmp_path, interleave):
    out = tmp_path / "bulk.json"
    argv = ["--sizes", "30", "--algorithms", "FLAT", "--rounds", "2", "--set-loop", "--interleave", str(interleave)]
    assert main([*argv, "--redis-url", own_redis, "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    rows = record["rounds"]
    assert sorted((r["round"], r["system"]) for r in rows) == sorted(
        (r, w) for r in range(2) for w in (OURS, PEER, SET_LOOP)
    )
    for row in rows:
        assert row["interleave"] == interleave
        assert row["entries"] == 30 and row["seconds"] > 0 and row["client_cpu_s"] > 0
        assert row["entries_per_s"] > 0 and row["cpu_entries_per_s"] > 0
    (summary,) = record["summary"]
    assert summary[PEER]["entries_per_s"]["ratio_to_redisvl_by_round"] == [1.0, 1.0]


def test_a_loaders_times_add_up_over_its_turns(own_redis):
    def store(lo: int, hi: int) -> int:
        start = time.thread_time()
        while time.thread_time() - start < 0.02:  # 20 ms of this thread's CPU per turn
            pass
        return hi - lo

    loader = Loader("probe", store, lambda: None)
    client = redis.Redis.from_url(own_redis)
    for lo in range(0, 30, 10):
        loader.timed(client, lo, lo + 10)
    client.close()
    assert loader.stored == 30
    assert loader.client_cpu >= 0.06 and loader.seconds >= loader.client_cpu * 0.99
    assert loader.server_cpu >= 0
