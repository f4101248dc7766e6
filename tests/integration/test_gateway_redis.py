"""The caching gateway on Redis: gateways sharing one Redis, no API key at rest, fail open."""

from __future__ import annotations

import asyncio
import random

import httpx
import openai

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.gateway import GatewayConfig
from redis_semcache.gateway.app import create_app

from ..fakes import CountingEmbedder
from ..fault_proxy import FaultProxy
from ..gateway_servers import RunningGateway, Upstream

SYSTEM = {"role": "system", "content": "Answer briefly."}
KEY = "sk-live-secret-4f1c9a77e2b04d3c"
SECRET = b"one-deployment-secret"


def ask(question: str) -> list[dict]:
    return [SYSTEM, {"role": "user", "content": question}]


def redis_cache(url: str, name: str, **backend) -> LLMCachingManager:
    return LLMCachingManager(
        RedisCacheBackend(url=url, name=name, **backend),
        enable_semantic=True, embedder=CountingEmbedder(), semantic_threshold=0.95,
    )  # fmt: skip


def gateway(upstream: Upstream, cache: LLMCachingManager, **config) -> RunningGateway:
    settings = GatewayConfig(upstream=upstream.base_url, name=cache.backend.name, tenant_key=SECRET, **config)
    return RunningGateway(create_app(settings, cache=cache))


def create(base_url: str, question: str, key: str = KEY, **kwargs):
    api = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)
    raw = api.chat.completions.with_raw_response.create(model="m", messages=ask(question), **kwargs)
    api.close()
    return raw.parse(), raw.headers


def test_two_gateways_on_one_redis_share_answers_and_store_no_api_key(redis_url, cache_names, redis_client):
    name = cache_names.new("gateway")
    with Upstream() as upstream:
        with (
            gateway(upstream, redis_cache(redis_url, name)) as one,
            gateway(upstream, redis_cache(redis_url, name)) as two,
        ):
            first, headers = create(one.base_url, "capital of France?")
            assert headers["x-semcache"] == "miss"
            again, headers = create(two.base_url, "capital of France?")
            assert headers["x-semcache"] == "exact" and again == first
            _, headers = create(two.base_url, "France? capital of")
            assert headers["x-semcache"] == "semantic"
            api = openai.OpenAI(base_url=one.base_url, api_key=KEY, max_retries=0)
            streamed = api.chat.completions.create(model="m", messages=ask("what is Redis"), stream=True)
            assert (
                "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "answer to: what is Redis"
            )
            _, headers = create(two.base_url, "what is Redis")
            assert headers["x-semcache"] == "exact"
            _, headers = create(two.base_url, "what is Redis", key="sk-another-tenant")
            assert headers["x-semcache"] == "miss"
            metrics = httpx.get(one.url + "/metrics").text
            assert f'semcache_requests_total{{cache="{name}",result="exact_hit"}} 2.0' in metrics  # cache-wide
            api.close()
        assert upstream.calls == 3
    # Every key and every value on the server, not just this cache's: the API keys are nowhere.
    stored = []
    for key in redis_client.scan_iter(count=1000):
        stored.append(key)
        kind = redis_client.type(key)
        if kind == b"hash":
            for field, value in redis_client.hgetall(key).items():
                stored += [field, value]
        elif kind == b"string":
            stored.append(redis_client.get(key) or b"")
        else:
            stored.append(redis_client.dump(key) or b"")
    assert len(stored) > 10
    dump = b"\n".join(stored)
    assert b"answer to: capital of France?" in dump  # the scan does see the entries
    for secret in (KEY.encode(), b"sk-another-tenant", SECRET):
        assert secret not in dump


def test_32_concurrent_clients_on_redis_cost_one_upstream_call_per_question(redis_url, cache_names):
    questions = [" ".join(f"word{i}x{j}" for j in range(4)) for i in range(20)]
    asks = [q for q in questions for _ in range(10)]
    random.Random(11).shuffle(asks)

    async def run(base_url: str) -> int:
        api = openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=60)
        queue: asyncio.Queue[str] = asyncio.Queue()
        for question in asks:
            queue.put_nowait(question)
        answered = 0

        async def worker() -> None:
            nonlocal answered
            while not queue.empty():
                question = queue.get_nowait()
                reply = await api.chat.completions.create(model="m", messages=ask(question))
                assert reply.choices[0].message.content == f"answer to: {question}"
                answered += 1

        await asyncio.gather(*(worker() for _ in range(32)))
        await api.close()
        return answered

    with Upstream() as upstream, gateway(upstream, redis_cache(redis_url, cache_names.new("flight"))) as running:
        assert asyncio.run(run(running.base_url)) == 200
        assert upstream.calls == 20


def test_redis_down_fails_open_and_health_stays_200(server, cache_names):
    name = cache_names.new("down")
    with FaultProxy(server.port) as proxy, Upstream() as upstream:
        cache = redis_cache(proxy.url, name, socket_timeout=2, socket_connect_timeout=2)
        with gateway(upstream, cache) as running:
            create(running.base_url, "cached before the outage")
            assert create(running.base_url, "cached before the outage")[1]["x-semcache"] == "exact"
            with proxy.outage():
                for _ in range(2):
                    reply, headers = create(running.base_url, "cached before the outage")
                    assert headers["x-semcache"] == "miss"
                    assert reply.choices[0].message.content == "answer to: cached before the outage"
                health = httpx.get(running.url + "/healthz", timeout=30)
                assert health.status_code == 200 and health.json()["cache"]["status"] != "healthy"
                assert "semcache_backend_up" in httpx.get(running.url + "/metrics", timeout=30).text
        assert upstream.calls == 3
