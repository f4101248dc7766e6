"""A bounded soak (about 30 s): 8 threads here and a second process, one Redis.

The workload and its checks live in bench/soak.py (``python -m bench.soak``
runs the same for longer and prints the throughput).  Here the invariants
are asserted; the throughput is not.
"""

from __future__ import annotations

from bench.soak import SIZE_SLACK, SoakConfig, run_soak


def test_soak_two_processes_mixed_get_set_invalidate(redis_url, cache_names):
    config = SoakConfig(url=redis_url, name=cache_names.new("soak"), seconds=30.0, threads=8, child_threads=4)
    report = run_soak(config)
    # Both processes worked, at every kind of operation.
    assert report.ops_by_process["parent"] > 0 and report.ops_by_process["child"] > 0, report.ops_by_process
    assert all(report.ops.get(kind, 0) > 0 for kind in ("get", "set", "invalidate")), report.ops
    # No exception reached a caller (the managers are strict: a backend error would have).
    assert report.exceptions == []
    # Every lookup issued, in either process, was counted once by the server: as a hit or a miss.
    assert report.server_hits + report.server_misses == report.lookups_issued
    assert report.server_hits == report.hits_seen
    # No entry outlived its TTL: not as a lookup's answer, not as a live key the sampler saw.
    assert report.ttl_violations == [] and report.expiry_violations == []
    # The entry count never exceeded max_size (+ the documented slack) in any sample ...
    assert report.samples >= 50
    assert report.size_violations == []
    assert report.max_tracked_entries <= config.max_size + SIZE_SLACK
    # ... and the run did reach it, and saw entries expire: the limits were exercised.
    assert report.server_counters["evictions"] > 0 and report.server_counters["expirations"] > 0, report
