"""Ours against RedisVL's ``SemanticCache``: one process, one Redis, the same data, in alternating turns.

For each index algorithm both systems live side by side in one Redis (their
keys and indexes do not overlap), each with its defaults: ours as
``systems.ours_redis`` builds it (no size limit, the library's index settings),
RedisVL's ``SemanticCache`` with only the algorithm changed, both at the same
cosine threshold.  At each size:

1. both are bulk-loaded with the same entries, each load between two settled
   readings of INFO ``used_memory`` (bytes per entry);
2. every operation (exact hit, semantic hit, miss, set) is timed with
   ``runner.alternate``: a turn of ``batch`` calls of ours, then the same calls
   of RedisVL's, the first mover rotating;
3. the response each lookup returned is checked against brute force (numpy,
   fp32) over everything stored: recall@1 of exact and semantic hits.

``run`` returns the results dict that ``headtohead_report`` renders.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np
import redis

from . import memory, runner, systems
from .record import log
from .runner import Budget, Turns
from .stats import ratio, summarize
from .workload import Queries, Workload

__all__ = ["OPS", "Settings", "expected_seconds", "run", "sets_needed"]

OPS = ("exact", "semantic", "miss", "set")
OURS, PEER = "ours", "RedisVL"

# Seconds per entry and system of a bulk load of 10k entries, measured on the project's
# shared 2-core machine at load 4-7 (FLAT 1.5-2 s, HNSW 9-13 s).  An HNSW insert costs
# more as the graph grows: 100k entries took 329 s (3.7 ms each), hence the exponent.
_LOAD_S = {"FLAT": 2.0e-4, "HNSW": 1.2e-3}
_HNSW_GROWTH = 0.48  # per-entry HNSW cost ~ entries ** 0.48 (1.2 ms at 10k, 3.6 ms at 100k)


def _load_seconds(algorithm: str, entries: int) -> float:
    per_entry = _LOAD_S[algorithm]
    if algorithm == "HNSW":
        per_entry *= max(1.0, entries / 10_000) ** _HNSW_GROWTH
    return entries * per_entry


@dataclass(frozen=True)
class Settings:
    sizes: list[int]
    algorithms: list[str]
    samples: int  # timed calls per operation and system
    seconds: float  # cap on one operation's alternating run (both systems together)
    batch: int  # calls per turn
    threshold: float  # cosine similarity
    ours_options: dict[str, Any] = field(default_factory=dict)  # extra RedisCacheBackend arguments
    peer_hnsw: dict[str, float] = field(default_factory=dict)  # RedisVL HNSW attributes changed from its defaults
    progress: bool = True

    def set_samples(self, entries: int) -> int:
        """Sets insert new entries: at most a fifth of the cache, so its size stays near ``entries``."""
        return max(self.batch, min(self.samples, entries // 5))


def sets_needed(s: Settings) -> int:
    """Fresh set items one algorithm uses over all sizes (each algorithm starts on an empty Redis)."""
    return sum(s.batch + s.set_samples(n) for n in s.sizes)


def expected_seconds(s: Settings) -> dict[str, float]:
    """A rough budget: loading both systems, plus the measuring caps (an upper bound)."""
    load = sum(2 * _load_seconds(a.upper(), max(s.sizes)) for a in s.algorithms)
    measure = len(s.algorithms) * len(s.sizes) * len(OPS) * s.seconds
    return {"loading": round(load), "measuring_at_most": round(measure)}


# -- what each lookup should have returned ---------------------------------------------


def nearest_responses(queries: np.ndarray, stored: np.ndarray, responses: Sequence[str]) -> list[str]:
    """The response of each query's nearest stored vector by cosine (rows are unit vectors), by brute force."""
    out: list[str] = []
    for lo in range(0, len(queries), 256):
        best = np.argmax(queries[lo : lo + 256] @ stored.T, axis=1)
        out.extend(responses[int(j)] for j in best)
    return out


@dataclass
class Stored:
    """What both systems hold: bulk-loaded entries and the sets measured so far, in insertion order."""

    work: Workload
    loaded: int = 0
    sets_used: int = 0

    def vectors(self) -> np.ndarray:
        return np.concatenate([self.work.entries.vectors[: self.loaded], self.work.sets.vectors[: self.sets_used]])

    def responses(self) -> list[str]:
        return self.work.responses[: self.loaded] + ["response"] * self.sets_used  # what the systems' set() stores


# -- one operation, both systems -------------------------------------------------------


def _summary(turn: Turns, reads: bool, expected: list[str] | None) -> dict[str, Any]:
    row: dict[str, Any] = summarize(turn.seconds).to_dict()
    results = turn.results
    if reads and results:
        row["hit_rate"] = round(sum(r is not None for r in results) / len(results), 4)
    if expected is not None and results:
        right = sum(1 for r, i in zip(results, turn.items, strict=True) if r == expected[i])
        row["recall_at_1"] = round(right / len(results), 4)
    if turn.error:
        row["error"] = turn.error
    row["raw_us"] = [round(t * 1e6, 1) for t in turn.seconds]
    return row


def measure(
    op: str,
    calls: Mapping[str, Callable[[int], Any]],
    items: int,
    budget: Budget,
    batch: int,
    *,
    start: int | None = None,
    expected: list[str] | None = None,
) -> tuple[dict[str, dict[str, Any]], int]:
    """Alternate ``calls`` (system name -> call on item i); return a summary per system and the items used."""
    names = list(calls)
    turns = runner.alternate([calls[n] for n in names], items, budget, batch, start=start)
    rows = {n: _summary(t, start is None, expected) for n, t in zip(names, turns, strict=True)}
    used = budget.warmup + max(len(t.seconds) for t in turns)
    for n in names:
        r = rows[n]
        note = f"hit {r['hit_rate']}" if "hit_rate" in r else ""
        note += f" recall@1 {r['recall_at_1']}" if "recall_at_1" in r else ""
        log(f"  {op:<8} {n:<8} p50 {r['p50_us']:>9,.1f} us  p99 {r['p99_us']:>9,.1f} us  n={r['samples']} "
            f"{note} {r.get('error', '')}")  # fmt: skip
    log(f"  {op:<8} p50 ratio ours/RedisVL {ratio(rows[OURS]['p50_us'], rows[PEER]['p50_us']) or float('nan'):.2f}")
    return rows, used


# -- one algorithm, all sizes -----------------------------------------------------------


def _build(url: str, algorithm: str, work: Workload, s: Settings) -> dict[str, Any]:
    threshold = systems.Threshold(s.threshold)
    # A long socket timeout: the library's 1 s default can expire during the 4-thread bulk
    # load into HNSW on a busy machine; it changes nothing else (no timeout fires in a good run).
    options = {"socket_timeout": 60.0, **s.ours_options}
    ours = systems.ours_redis(url, algorithm, threshold=threshold, options=options)
    try:
        # RedisVL's HNSW attributes at its defaults (M 16, EF_CONSTRUCTION 200, EF_RUNTIME 10) unless set
        peer = systems.RedisVLSystem(url, algorithm, dim=work.dim, threshold=threshold, hnsw=dict(s.peer_hnsw))
    except BaseException:
        ours.close()
        raise
    return {OURS: ours, PEER: peer}


def _index_settings(client: redis.Redis) -> dict[str, Any]:
    """Each index's vector field as FT.INFO reports it (algorithm, data type, M, EF_CONSTRUCTION), for the record."""
    out = {}
    for name in client.execute_command("FT._LIST"):
        text = memory.text(name)
        fields = []
        for attr in memory.ft_info(client, text).get("attributes", []):
            if not isinstance(attr, dict):  # RESP2 without redis-py's parsing: a flat list of pairs
                attr = dict(zip(attr[::2], attr[1::2], strict=False))
            plain = {memory.text(k): (memory.text(v) if isinstance(v, bytes) else v) for k, v in attr.items()}
            if plain.get("type") == "VECTOR":
                fields.append({k: v for k, v in plain.items() if k != "flags"})
        out[text] = fields
    return out


def _load_both(
    client: redis.Redis,
    pair: dict[str, Any],
    work: Workload,
    lo: int,
    hi: int,
    per_entry: dict[str, list[int]],
    progress: bool,
) -> list[dict[str, Any]]:
    """Bulk-load entries ``lo:hi`` into each system in turn, each between two settled memory readings."""
    rows = []
    for name, sys_ in pair.items():
        load = partial(sys_.load, work.entries.prompts[lo:hi], work.entries.vectors[lo:hi], work.responses[lo:hi],
                       progress=progress)  # fmt: skip
        d = memory.load_delta(client, load)
        acc = per_entry[name]
        acc[0] += d["bytes"]
        acc[1] += hi - lo
        rows.append({"system": name, "loaded": hi - lo, **d, "bytes_so_far": acc[0],
                     "entries_loaded_so_far": acc[1], "bytes_per_entry": round(acc[0] / acc[1], 1)})  # fmt: skip
        log(f"  {name}: loaded {hi - lo:,} in {d['load_s']:.1f}s (+{d['indexing_wait_s']:.1f}s settling), "
            f"{acc[0] / acc[1]:,.0f} bytes/entry so far")  # fmt: skip
    return rows


def _describe(sys_: Any) -> dict[str, Any]:
    """The adapter's own description, plus our backend's query-time EF_RUNTIME (FT.INFO does not show it)."""
    info = dict(sys_.info)
    backend = getattr(getattr(sys_, "manager", None), "backend", None)
    if backend is not None and hasattr(backend, "hnsw_ef_runtime"):
        info["hnsw_ef_runtime"] = backend.hnsw_ef_runtime
    return info


def run_algorithm(client: redis.Redis, url: str, algorithm: str, work: Workload, s: Settings) -> dict[str, Any]:
    """Every size for one index algorithm, on an emptied Redis; return latency, memory and settings rows."""
    client.flushall()
    pair = _build(url, algorithm, work, s)
    out: dict[str, Any] = {"latency": [], "memory": [], "ping": [], "indexes": {}, "systems": {}}
    stored = Stored(work)
    per_entry = {name: [0, 0] for name in pair}  # bytes, entries over this algorithm's loads
    try:
        for n in s.sizes:
            t_size = time.perf_counter()
            target = max(stored.loaded, n - stored.sets_used)
            log(f"{algorithm} {n:,} entries: load average {os.getloadavg()[0]:.2f}")
            if target > stored.loaded:
                out["memory"] += _load_both(client, pair, work, stored.loaded, target, per_entry, s.progress)
                for row in out["memory"][-len(pair) :]:
                    row.update(algorithm=algorithm, entries=n)
                stored.loaded = target
            if not out["indexes"]:
                out["indexes"] = _index_settings(client)
                out["systems"] = {name: _describe(sys_) for name, sys_ in pair.items()}
            ping = runner.latency(lambda _i: client.ping(), 1, Budget(samples=300, seconds=1.0))
            out["ping"].append({"algorithm": algorithm, "entries": n, "p50_us": ping["p50_us"],
                                "p99_us": ping["p99_us"]})  # fmt: skip
            load_avg = os.getloadavg()
            reads: dict[str, Queries] = {
                "exact": work.exact(stored.loaded),
                "semantic": work.semantic(stored.loaded),
                "miss": work.miss,
            }
            budget = Budget(samples=s.samples, seconds=s.seconds, warmup=s.batch)
            for op, q in reads.items():
                expected = None
                if op != "miss":
                    expected = nearest_responses(q.vectors, stored.vectors(), stored.responses())
                calls = {name: partial(sys_.fetch, q) for name, sys_ in pair.items()}
                rows, _used = measure(op, calls, len(q), budget, s.batch, expected=expected)
                _add(out["latency"], algorithm, n, op, rows, load_avg)
            set_budget = Budget(samples=s.set_samples(n), seconds=s.seconds, warmup=s.batch)
            calls = {name: partial(sys_.set, work.sets) for name, sys_ in pair.items()}
            rows, used = measure("set", calls, len(work.sets), set_budget, s.batch, start=stored.sets_used)
            stored.sets_used += used
            _add(out["latency"], algorithm, n, "set", rows, load_avg)
            log(f"{algorithm} {n:,}: done in {time.perf_counter() - t_size:.0f}s")
    finally:
        for sys_ in pair.values():
            sys_.close()
        client.flushall()
    out["bytes_per_entry"] = {name: round(b / e, 1) for name, (b, e) in per_entry.items() if e}
    return out


def _add(
    rows: list[dict[str, Any]], algorithm: str, n: int, op: str, by: dict[str, dict[str, Any]], load: Sequence[float]
) -> None:
    for name, r in by.items():
        rows.append({"algorithm": algorithm, "entries": n, "op": op, "system": name,
                     "load_average_1m": round(load[0], 2), **r})  # fmt: skip


def ratios(latency: list[dict[str, Any]], batch: int) -> list[dict[str, Any]]:
    """Ratios ours / RedisVL per algorithm, size and operation: of the p50s, of the p99s, and turn by turn.

    ``turn_ratio`` is the median over rounds of (ours' median in its turn / RedisVL's
    median in its turn of the same round): a check on the p50 ratio that a change
    of load between rounds cannot move, since both turns of a round see about the same.
    """
    by = {(r["algorithm"], r["entries"], r["op"], r["system"]): r for r in latency}
    out = []
    for a, n, op in dict.fromkeys((r["algorithm"], r["entries"], r["op"]) for r in latency):
        ours, peer = by.get((a, n, op, OURS), {}), by.get((a, n, op, PEER), {})
        out.append({"algorithm": a, "entries": n, "op": op,
                    "p50_ratio": _round(ratio(ours.get("p50_us"), peer.get("p50_us"))),
                    "p99_ratio": _round(ratio(ours.get("p99_us"), peer.get("p99_us"))),
                    "turn_ratio": _round(turn_ratio(ours.get("raw_us", []), peer.get("raw_us", []), batch)),
                    })  # fmt: skip
    return out


def turn_ratio(ours: Sequence[float], peer: Sequence[float], batch: int) -> float | None:
    """Median over rounds of median(ours' turn) / median(peer's turn); None without a complete pair."""
    per_round = []
    for lo in range(0, min(len(ours), len(peer)), batch):
        a, b = ours[lo : lo + batch], peer[lo : lo + batch]
        r = ratio(statistics.median(a), statistics.median(b)) if a and b else None
        if r is not None:
            per_round.append(r)
    return statistics.median(per_round) if per_round else None


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def run(url: str, s: Settings) -> dict[str, Any]:
    """Every algorithm in ``s``; the part of the results file that is about the systems."""
    work = Workload(max(s.sizes), queries=s.samples + s.batch, sets=sets_needed(s))
    client = redis.Redis.from_url(url)
    latency: list[dict[str, Any]] = []
    mem: list[dict[str, Any]] = []
    ping: list[dict[str, Any]] = []
    indexes: dict[str, Any] = {}
    per_entry: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    try:
        for algorithm in s.algorithms:
            t0 = time.perf_counter()
            try:
                part = run_algorithm(client, url, algorithm, work, s)
            except Exception as exc:  # keep the other algorithm's results
                log(f"{algorithm}: failed: {type(exc).__name__}: {exc}")
                errors.append({"algorithm": algorithm, "error": f"{type(exc).__name__}: {exc}"})
                client.flushall()
                continue
            latency += part["latency"]
            mem += part["memory"]
            ping += part["ping"]
            indexes[algorithm] = {"ft_info": part["indexes"], "systems": part["systems"]}
            per_entry[algorithm] = part["bytes_per_entry"]
            log(f"{algorithm}: all sizes in {time.perf_counter() - t0:.0f}s")
    finally:
        client.close()
    return {
        "settings": asdict(s),
        "workload": {"dim": work.dim, "semantic_query_similarity": work.similarity},
        "indexes": indexes,
        "errors": errors,
        "ratios": ratios(latency, s.batch),
        "memory": mem,
        "ping": ping,
        "latency": latency,
    }
