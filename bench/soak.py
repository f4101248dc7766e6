"""Soak: threads in two processes hammer one Redis-backed cache with mixed
get / set / invalidate, while a sampler watches the server.

    python -m bench.soak                          # 5 minutes, 8 threads + a second process of 8 threads
    python -m bench.soak --seconds 60 --redis-url redis://localhost:6379/0

Without ``--redis-url`` it starts its own throwaway server (tests/redis_server.py).
The workload is shared with tests/integration/test_soak.py, which runs it for
about 30 s and asserts the invariants; this script runs it longer and prints
the throughput reached.  The invariants it checks (see docs/operations.md):

- no exception reaches a caller (managers run strict, so a backend error would);
- hits + misses counted by the server == lookups issued, across both processes;
- no entry outlives its TTL: a lookup never returns an entry more than TTL_SLACK
  after the set() that wrote it returned (exactly checked for writes of the same
  process; writes of the other process are checked against the time their
  set() began, with CROSS_PROCESS_SLACK), and every live entry the sampler sees
  has an expiry no later than its TTL after its creation;
- the number of live entries never exceeds max_size + SIZE_SLACK.

Writes bench/results/soak.json.  Prints numbers; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import redis

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.backends.redis.layout import KeyLayout

__all__ = ["SoakConfig", "SoakReport", "run_soak"]

TTL_SLACK = 0.005  # s: Redis keeps TTLs in whole milliseconds (PEXPIRE rounds the TTL)
CROSS_PROCESS_SLACK = 1.0  # s: covers the time between a set() beginning and its script running
SIZE_SLACK = 0  # eviction runs inside the store script, atomically with the write


@dataclass(frozen=True)
class SoakConfig:
    url: str
    name: str
    seconds: float = 30.0
    threads: int = 8  # in this process
    child_threads: int = 4  # in the second process (0: no second process)
    max_size: int = 300
    keys: int = 600  # distinct prompts: twice max_size, so eviction never rests
    ttl: tuple[float, float] = (0.5, 8.0)  # seconds, drawn per write: entries expire during the run
    dim: int = 16
    semantic_share: float = 0.3  # of lookups, with a vector near the prompt's own
    sample_every: float = 0.1


@dataclass
class Tally:
    """What one process's threads did and saw."""

    ops: Counter[str] = field(default_factory=Counter)
    lookups: int = 0
    hits: int = 0
    exceptions: list[str] = field(default_factory=list)
    ttl_violations: list[str] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        self.ops.update(other.ops)
        self.lookups += other.lookups
        self.hits += other.hits
        self.exceptions += other.exceptions
        self.ttl_violations += other.ttl_violations


@dataclass
class SoakReport:
    seconds: float
    ops: dict[str, int]
    ops_by_process: dict[str, int]
    ops_per_second: float
    lookups_issued: int
    hits_seen: int
    server_hits: int
    server_misses: int
    server_counters: dict[str, int]
    exceptions: list[str]
    ttl_violations: list[str]
    max_live_entries: int
    max_tracked_entries: int
    samples: int
    size_violations: list[str]
    expiry_violations: list[str]


def _manager(config: SoakConfig) -> LLMCachingManager:
    backend = RedisCacheBackend(url=config.url, name=config.name, max_size=config.max_size, dimension=config.dim)
    # strict: a backend error must reach the workload (and be counted as an exception), not pass as a miss
    return LLMCachingManager(backend, embedder=None, strict=True, enable_semantic=True, semantic_threshold=0.9)


def _vectors(config: SoakConfig) -> np.ndarray:
    table = np.random.default_rng(0).standard_normal((config.keys, config.dim))
    return table / np.linalg.norm(table, axis=1, keepdims=True)


def _work(cache: LLMCachingManager, config: SoakConfig, worker: str, deadline: float, tally: Tally,
          returned: dict[tuple[str, int], float]) -> None:  # fmt: skip
    """One thread: a mix of lookups (exact and semantic), writes and invalidations."""
    rng = random.Random(worker)
    noise = np.random.default_rng(rng.randrange(2**32))
    vectors = _vectors(config)
    serial = 0
    while time.monotonic() < deadline:
        i = rng.randrange(config.keys)
        prompt = f"prompt {i}"
        roll = rng.random()
        try:
            if roll < 0.55:
                semantic = rng.random() < config.semantic_share
                query = vectors[i] + (0.01 * noise.standard_normal(config.dim) if semantic else 0)
                asked = time.time()
                value = cache.get(f"query {i}" if semantic else prompt, embedding=query)
                tally.lookups += 1
                tally.ops["get"] += 1
                if value is not None:
                    tally.hits += 1
                    _check_ttl(value, asked, returned, tally)
            elif roll < 0.98:
                serial += 1
                ttl = rng.uniform(*config.ttl)
                value = {"w": worker, "n": serial, "began": time.time(), "ttl": ttl, "i": i}
                cache.set(prompt, value, ttl=ttl, embedding=vectors[i], tags=[f"group {i % 10}"])
                returned[(worker, serial)] = time.time()
                tally.ops["set"] += 1
            else:
                which = rng.randrange(3)
                if which == 0:
                    cache.invalidate(tags=[f"group {rng.randrange(10)}"])
                elif which == 1:
                    cache.invalidate(pattern=f"prompt {rng.randrange(10)}*")
                else:
                    cache.invalidate(keys=[e["key"] for e in cache.get_top_entries(3, "created_at")])
                tally.ops["invalidate"] += 1
        except Exception as exc:  # the invariant: none at all
            tally.exceptions.append(f"{worker}: {type(exc).__name__}: {exc}")


def _check_ttl(value: Any, asked: float, returned: dict[tuple[str, int], float], tally: Tally) -> None:
    written = returned.get((value["w"], value["n"]))
    if written is not None:  # written by this process: we know when set() returned
        late = asked - (written + value["ttl"])
        if late > TTL_SLACK:
            tally.ttl_violations.append(f"served {late:.3f} s after its TTL ran out (set returned): {value}")
    elif asked - (value["began"] + value["ttl"]) > CROSS_PROCESS_SLACK:  # the other process's write
        tally.ttl_violations.append(f"served {asked - value['began'] - value['ttl']:.3f} s after its TTL: {value}")


def _run_threads(config: SoakConfig, prefix: str, count: int, until: float) -> Tally:
    """Run ``count`` threads until wall-clock time ``until``, sharing one manager."""
    cache = _manager(config)
    returned: dict[tuple[str, int], float] = {}  # (writer, serial) -> when its set() returned
    tallies = [Tally() for _ in range(count)]
    deadline = time.monotonic() + (until - time.time())
    threads = [
        threading.Thread(target=_work, args=(cache, config, f"{prefix}{t}", deadline, tallies[t], returned))
        for t in range(count)
    ]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        threads[0].join(timeout=1.0)
        forget = time.time() - config.ttl[1] - 2 * CROSS_PROCESS_SLACK  # long expired: no longer needed
        try:
            stale = [key for key, at in list(returned.items()) if at < forget]
        except RuntimeError:  # a worker added an entry mid-copy (a GC pause can switch threads): next time
            stale = []
        for key in stale:
            returned.pop(key, None)
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    if cache.get_statistics()["errors"]:
        total.exceptions.append(f"{prefix}: manager counted {cache.get_statistics()['errors']} backend errors")
    cache.close()
    return total


def _child(config: SoakConfig, until: float, queue: Any) -> None:
    """The second process: its own threads, its own manager, the same cache."""
    try:
        queue.put(("ok", _run_threads(config, "child-", config.child_threads, until)))
    except BaseException as exc:  # report rather than die silently
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


class Sampler:
    """Watches the server: live entries never above max_size, no live entry beyond its TTL."""

    def __init__(self, config: SoakConfig) -> None:
        self.config = config
        self.client = redis.Redis.from_url(config.url)
        self.layout = KeyLayout(config.name)
        self.stop = threading.Event()
        self.max_live = self.max_tracked = self.samples = 0
        self.size_violations: list[str] = []
        self.expiry_violations: list[str] = []
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self.stop.wait(self.config.sample_every):
            self.sample()

    def sample(self) -> None:
        prefix = self.layout.entry_prefix(0)
        keys = list(self.client.scan_iter(match=prefix + "*", count=1000))
        pipe = self.client.pipeline(transaction=True)  # MULTI: no write lands between a key's reads
        for key in keys:
            pipe.hmget(key, "created_at", "ttl")
            pipe.pttl(key)
        pipe.zcard(self.layout.partition_keys(0, "lru")[0])  # the backend's default strategy
        replies = pipe.execute()
        now = time.time()
        tracked = int(replies[-1])
        live = 0
        for key, (created, ttl), pttl in zip(keys, replies[0:-1:2], replies[1:-1:2], strict=True):
            if pttl == -2 or created is None:  # expired or deleted since the SCAN
                continue
            live += 1
            if pttl == -1 or ttl in (None, b""):
                self.expiry_violations.append(f"{key!r} has no expiry")
            elif now - float(created) > float(ttl) + CROSS_PROCESS_SLACK or pttl > float(ttl) * 1000 + 1:
                self.expiry_violations.append(
                    f"{key!r}: created {now - float(created):.3f} s ago, ttl {ttl!r}, pttl {pttl}"
                )
        limit = self.config.max_size + SIZE_SLACK
        if live > limit or tracked > limit:
            self.size_violations.append(f"{live} live entries, {tracked} tracked, max_size {self.config.max_size}")
        self.max_live = max(self.max_live, live)
        self.max_tracked = max(self.max_tracked, tracked)
        self.samples += 1

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.client.close()


def run_soak(config: SoakConfig) -> SoakReport:
    """Run the workload in this process and (``child_threads`` > 0) a second one; check as it goes."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    until = time.time() + config.seconds
    child = None
    if config.child_threads:  # it starts late (spawn, imports) and stops when this process does
        child = ctx.Process(target=_child, args=(config, until, queue))
        child.start()
    started = time.monotonic()
    with Sampler(config) as sampler:
        tally = _run_threads(config, "parent-", config.threads, until)
        by_process = {"parent": sum(tally.ops.values())}
        if child is not None:
            status, result = queue.get(timeout=config.seconds + 120)
            child.join(timeout=60)
            if status == "ok":
                by_process["child"] = sum(result.ops.values())
                tally.merge(result)
            else:
                tally.exceptions.append(f"second process: {result}")
    elapsed = time.monotonic() - started
    stats_manager = _manager(config)
    counters = stats_manager.backend.counters()
    stats_manager.close()
    return SoakReport(
        seconds=round(elapsed, 2),
        ops=dict(tally.ops),
        ops_by_process=by_process,
        ops_per_second=round(sum(tally.ops.values()) / elapsed, 1),
        lookups_issued=tally.lookups,
        hits_seen=tally.hits,
        server_hits=counters["exact_hits"] + counters["semantic_hits"],
        server_misses=counters["misses"],
        server_counters=counters,
        exceptions=tally.exceptions,
        ttl_violations=tally.ttl_violations,
        max_live_entries=sampler.max_live,
        max_tracked_entries=sampler.max_tracked,
        samples=sampler.samples,
        size_violations=sampler.size_violations,
        expiry_violations=sampler.expiry_violations,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--child-threads", type=int, default=8)
    parser.add_argument("--max-size", type=int, default=300)
    parser.add_argument("--redis-url", help="a Redis with RediSearch (default: start a throwaway one)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "soak.json"))
    args = parser.parse_args(argv)

    from tests.redis_server import LocalRedis

    server = None if args.redis_url else LocalRedis().start()
    url = args.redis_url or server.url  # type: ignore[union-attr]
    try:
        config = SoakConfig(url=url, name=f"soak-{os.getpid()}", seconds=args.seconds, threads=args.threads,
                            child_threads=args.child_threads, max_size=args.max_size)  # fmt: skip
        report = run_soak(config)
        RedisCacheBackend(url=url, name=config.name).drop()
    finally:
        if server is not None:
            server.close()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    result = {
        "command": "python -m bench.soak " + " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": commit.stdout.strip() or None,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
        "config": {k: v for k, v in asdict(config).items() if k != "url"},
        "report": asdict(report),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in asdict(report).items() if not isinstance(v, list) or v}, indent=2))
    ok = not (report.exceptions or report.ttl_violations or report.size_violations or report.expiry_violations)
    ok = ok and report.server_hits + report.server_misses == report.lookups_issued
    print(f"{report.ops_per_second:.0f} ops/s over {report.seconds:.0f} s; invariants {'held' if ok else 'BROKEN'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
