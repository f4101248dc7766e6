"""A burst of identical streamed requests through the gateway: single flight against none.

Each round sends ``--clients`` identical ``"stream": true`` requests for a new
question at once, twice: through the gateway's cache (one relays the upstream,
the others wait for its stored answer) and through the same gateway with
``x-semcache-bypass: 1`` (each request relayed from its own upstream call: what
every streamed miss did before streams were single-flighted).  Rounds
interleave the two so that machine load hits both alike.  The upstream
(``tests/gateway_servers.py``) answers after ``--delay`` seconds.  The gateway
runs in this process (uvicorn in a thread) on a throwaway Redis with RediSearch,
exact matching only (the question is repeated word for word; no model to load).

Per burst: upstream calls, seconds until the first client has its first byte
and until the last client has its whole stream (medians over rounds).

    python -m bench.gateway_stream_burst            # 20 rounds of 16 clients
    python -m bench.gateway_stream_burst --rounds 5

Prints numbers; asserts nothing about them.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.gateway import GatewayConfig
from redis_semcache.gateway.app import create_app
from tests.gateway_servers import RunningGateway, Upstream
from tests.redis_server import LocalRedis

KEY = "sk-bench"


async def one(client: httpx.AsyncClient, url: str, question: str, bypass: bool, started: float) -> tuple[float, float]:
    """Seconds from the burst's start to this client's first byte and to its stream's end."""
    payload = {"model": "m", "messages": [{"role": "user", "content": question}], "stream": True}
    headers = {"authorization": f"Bearer {KEY}", **({"x-semcache-bypass": "1"} if bypass else {})}
    first = None
    async with client.stream("POST", url, json=payload, headers=headers) as reply:
        reply.raise_for_status()
        async for piece in reply.aiter_bytes():
            first = first or time.perf_counter() - started
            text = piece
        assert text.endswith(b"data: [DONE]\n\n")
    return first or 0.0, time.perf_counter() - started


async def burst(url: str, clients: int, bypass: bool) -> tuple[float, float]:
    question = f"burst {uuid.uuid4().hex}"
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=clients)) as client:
        started = time.perf_counter()
        times = await asyncio.gather(*(one(client, url, question, bypass, started) for _ in range(clients)))
    return min(t[0] for t in times), max(t[1] for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.2, help="the upstream's seconds per answer")
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {m: {"calls": [], "first": [], "last": []} for m in ("flight", "none")}
    with LocalRedis() as redis, Upstream(delay=args.delay) as upstream:
        backend = RedisCacheBackend(url=redis.url, name=f"bench-burst-{uuid.uuid4().hex[:8]}")
        cache = LLMCachingManager(backend, enable_semantic=False)
        settings = GatewayConfig(upstream=upstream.base_url, name=backend.name, tenant_key=b"bench")
        with RunningGateway(create_app(settings, cache=cache), log_level="error") as gateway:
            url = gateway.base_url + "/chat/completions"
            for _ in range(args.rounds):
                for mode in ("flight", "none"):
                    before = len(upstream.chat_headers)
                    first, last = asyncio.run(burst(url, args.clients, bypass=mode == "none"))
                    results[mode]["calls"].append(len(upstream.chat_headers) - before)
                    results[mode]["first"].append(first)
                    results[mode]["last"].append(last)
    median: dict[str, Any] = {m: {k: statistics.median(v) for k, v in r.items()} for m, r in results.items()}
    print(f"{args.rounds} rounds of {args.clients} identical streamed requests, upstream delay {args.delay} s")
    print("mode                          upstream calls/burst  first byte p50 (s)  last stream done p50 (s)")
    for mode, label in (("flight", "single flight (this gateway)"), ("none", "no single flight (bypass)")):
        m = median[mode]
        print(f"{label:<30}{m['calls']:>20.1f}{m['first']:>20.3f}{m['last']:>26.3f}")
    flight, none = median["flight"], median["none"]
    ratios = {k: flight[k] / none[k] for k in ("calls", "first", "last")}
    print(f"ratios flight/none: calls {ratios['calls']:.3f}, first byte {ratios['first']:.2f}, "
          f"last done {ratios['last']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
