"""The caching gateway (`semcache serve`) against calling the upstream directly.

A local OpenAI-compatible upstream answers every chat request after 200 ms (a
fast model).  The gateway runs as its own process (``python -m redis_semcache
serve``, semantic matching with the built-in model, as deployed), in memory and
on Redis.  One client (an ``httpx.Client`` with keep-alive, the same for both
paths) measures, interleaved in batches of 10 so that machine load hits both
alike:

* an exact hit through the gateway against the same request sent straight to
  the upstream (the 200 ms call): p50/p99 and the ratio of medians;
* a miss through the gateway (a new prompt each time: lookup, embedding, the
  upstream call, the write) against the direct call: the overhead is the
  difference of medians;
* requests per second one gateway process holds: ``--clients`` asyncio clients
  repeating 20 cached prompts (exact hits) for ``--seconds``; errors counted.

    python -m bench.gateway              # about 3 minutes on 2 shared cores
    python -m bench.gateway --quick

Uses ``--redis-url`` or ``$REDIS_URL`` when set (its own cache name, dropped at
the end), otherwise starts a throwaway Redis with RediSearch.  Prints numbers;
asserts nothing about them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import csv
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from tests.gateway_servers import Upstream
from tests.redis_server import LocalRedis, free_port

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-bench"
SYSTEM = {"role": "system", "content": "Answer briefly."}


def body(question: str) -> dict[str, Any]:
    return {"model": "m", "messages": [SYSTEM, {"role": "user", "content": question}]}


class Gateway:
    """``semcache serve`` in a subprocess, logging warnings only (access logs would cost it CPU)."""

    def __init__(self, upstream: str, redis_url: str | None, name: str, *flags: str) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SEMCACHE_UPSTREAM": upstream, "SEMCACHE_PORT": str(self.port),
               "SEMCACHE_NAME": name, "SEMCACHE_TENANT_KEY": "bench", "HF_HUB_OFFLINE": "1"}  # fmt: skip
        env.pop("REDIS_URL", None)
        if redis_url:
            env["REDIS_URL"] = redis_url
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "redis_semcache", "serve", "--log-level", "warning", *flags],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while True:  # ready once /healthz answers (the model loads first)
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the gateway did not start: exit code {self.proc.poll()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        self.url = f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process ``pid`` has used: on a shared machine the figure that
    says what a request costs the gateway, whatever the other jobs take."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(client: httpx.Client, url: str, payload: dict[str, Any]) -> tuple[float, str | None]:
    """Seconds the request took, and the gateway's x-semcache (None from the upstream)."""
    started = time.perf_counter()
    reply = client.post(url, json=payload, headers={"authorization": f"Bearer {KEY}"})
    elapsed = time.perf_counter() - started
    reply.raise_for_status()
    return elapsed, reply.headers.get("x-semcache")


def questions(path: Path) -> Iterator[str]:
    """Distinct real questions (Quora question1), each asked once: misses."""
    with path.open(newline="", encoding="utf-8") as f:
        seen = set()
        for row in csv.DictReader(f):
            if row["question1"] not in seen:
                seen.add(row["question1"])
                yield row["question1"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latencies(gateway: Gateway, upstream_url: str, rounds: int, fresh: Iterator[str]) -> dict[str, list[float]]:
    """Interleaved batches of 10: direct calls, exact hits, misses (a semantic hit among the
    fresh questions is left out of the miss figures and counted)."""
    out: dict[str, list[float]] = {"direct": [], "hit": [], "miss": [], "not a miss": [], "cpu hit": [], "cpu miss": []}
    cached = body("What is the best way to learn Redis?")
    with httpx.Client(timeout=60) as client:
        timed(client, gateway.url, cached)  # stored: every later ask is an exact hit
        for _ in range(rounds):
            for _ in range(10):
                out["direct"].append(timed(client, upstream_url, cached)[0])
            cpu = cpu_seconds(gateway.proc.pid)
            for _ in range(10):
                seconds, outcome = timed(client, gateway.url, cached)
                assert outcome == "exact", outcome
                out["hit"].append(seconds)
            cpu, used = cpu_seconds(gateway.proc.pid), cpu_seconds(gateway.proc.pid) - cpu
            out["cpu hit"].append(used)  # per batch: a clock tick is 10 ms, so totals, not medians
            for _ in range(10):
                seconds, outcome = timed(client, gateway.url, body(next(fresh)))
                out["miss" if outcome == "miss" else "not a miss"].append(seconds)
            out["cpu miss"].append(cpu_seconds(gateway.proc.pid) - cpu)
    return out


async def throughput(
    gateway: Gateway, clients: int, seconds: float, fresh: Iterator[str]
) -> tuple[float, float, dict[str, int]]:
    """Cache hits per second of wall time and per second of the gateway's CPU, and the rest."""
    url, questions = gateway.url, [next(fresh) for _ in range(20)]
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as client:
        for q in questions:
            (await client.post(url, json=body(q), headers={"authorization": f"Bearer {KEY}"})).raise_for_status()
        done, other = 0, collections.Counter[str]()
        deadline = time.perf_counter() + seconds

        async def worker(offset: int) -> None:
            nonlocal done
            i = offset
            while time.perf_counter() < deadline:
                reply = await client.post(url, json=body(questions[i % 20]), headers={"authorization": f"Bearer {KEY}"})
                if reply.status_code == 200 and reply.headers.get("x-semcache") in ("exact", "semantic"):
                    done += 1
                else:  # an HTTP error, or a lookup that failed open (a miss the upstream answered)
                    other[f"{reply.status_code} {reply.headers.get('x-semcache')}"] += 1
                i += 1

        started, cpu = time.perf_counter(), cpu_seconds(gateway.proc.pid)
        await asyncio.gather(*(worker(i) for i in range(clients)))
        wall, cpu = time.perf_counter() - started, cpu_seconds(gateway.proc.pid) - cpu
        return done / wall, done / cpu, dict(other)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter throughput runs")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "qqp_val.csv",
                        help="CSV with a question1 column, asked once each (default: the shared QQP set)")  # fmt: skip
    parser.add_argument("--delay", type=float, default=0.2, help="the upstream's answer time, seconds")
    args = parser.parse_args()
    rounds, seconds = (3, 3.0) if args.quick else (10, 10.0)
    load = os.getloadavg()[0]
    local = None if args.redis_url else LocalRedis().start()
    redis_url = args.redis_url or (local.url if local else None)
    rows = []
    fresh = questions(args.data)
    try:
        with Upstream(delay=args.delay) as upstream:
            upstream_url = upstream.base_url + "/chat/completions"
            runs = [("memory", None, ()), ("redis", redis_url, ()), ("memory, --exact-only", None, ("--exact-only",))]
            for backend, url, flags in runs:
                name = f"bench-gateway-{uuid.uuid4().hex[:8]}"
                gateway = Gateway(upstream.base_url, url, name, *flags)
                try:
                    lat = latencies(gateway, upstream_url, rounds, fresh)
                    rps, per_cpu, errors = asyncio.run(throughput(gateway, args.clients, seconds, fresh))
                finally:
                    gateway.stop()
                    if url:
                        from redis_semcache.backends.redis import RedisCacheBackend

                        dropped = RedisCacheBackend(url=url, name=name)
                        dropped.drop()
                        dropped.close()
                direct, hit, miss = (statistics.median(lat[k]) for k in ("direct", "hit", "miss"))
                if lat["not a miss"]:
                    errors = {**errors, "semantic among the misses": len(lat["not a miss"])}
                rows.append((backend, lat, direct, hit, miss, rps, per_cpu, errors))
    finally:
        if local is not None:
            local.stop()
    print(f"upstream answers after {args.delay * 1000:.0f} ms; {rounds * 10} requests of each kind, interleaved;"
          f" {args.clients} clients for {seconds:.0f} s of exact hits; load average {load:.1f} before,"
          f" {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores\n")  # fmt: skip
    print("| backend | direct p50 ms | hit p50 ms | hit p99 ms | hit / direct | miss p50 ms | miss overhead ms "
          "| miss p99 ms | gateway CPU ms per hit / miss | hits/s | hits per CPU-second | not a hit |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for backend, lat, direct, hit, miss, rps, per_cpu, errors in rows:
        asked = len(lat["hit"])
        cpu = f"{ms(sum(lat['cpu hit']) / asked)} / {ms(sum(lat['cpu miss']) / asked)}"
        hit_p99, miss_p99 = ms(percentile(lat["hit"], 0.99)), ms(percentile(lat["miss"], 0.99))
        print(f"| {backend} | {ms(direct)} | {ms(hit)} | {hit_p99} | {hit / direct:.4f}x | {ms(miss)} "
              f"| {ms(miss - direct)} | {miss_p99} | {cpu} | {rps:.0f} | {per_cpu:.0f} | {errors or 0} |")  # fmt: skip


if __name__ == "__main__":
    main()
