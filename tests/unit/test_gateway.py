"""The caching gateway (`semcache serve`) on the in-memory cache, with the real `openai`
client pointed at it and a local upstream that counts calls."""

from __future__ import annotations

import asyncio
import random

import httpx
import openai
import pytest

from redis_semcache import LLMCachingManager
from redis_semcache.gateway import GatewayConfig
from redis_semcache.gateway.app import create_app

from ..fakes import CountingEmbedder
from ..gateway_servers import RunningGateway, Upstream

SYSTEM = {"role": "system", "content": "Answer briefly."}
KEY = "sk-test-alice-0123456789abcdef"


def ask(question: str) -> list[dict]:
    return [SYSTEM, {"role": "user", "content": question}]


def memory_cache() -> LLMCachingManager:
    return LLMCachingManager(enable_semantic=True, embedder=CountingEmbedder(), semantic_threshold=0.95)


@pytest.fixture
def upstream():
    with Upstream() as running:
        yield running


def start(upstream: Upstream, cache: LLMCachingManager | None = None, **config) -> RunningGateway:
    settings = GatewayConfig(upstream=upstream.base_url, **config)
    return RunningGateway(create_app(settings, cache=cache if cache is not None else memory_cache()))


@pytest.fixture
def gateway(upstream):
    with start(upstream) as running:
        yield running


def client(gateway: RunningGateway, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=30)


def create(api: openai.OpenAI, question: str, **kwargs):
    """The completion and the gateway's response headers."""
    raw = api.chat.completions.with_raw_response.create(model="m", messages=ask(question), **kwargs)
    return raw.parse(), raw.headers


def test_repeats_and_paraphrases_are_served_without_an_upstream_call(upstream, gateway):
    api = client(gateway)
    first, headers = create(api, "capital of France?")
    assert headers["x-semcache"] == "miss" and first.choices[0].message.content == "answer to: capital of France?"
    again, headers = create(api, "capital of France?")
    assert headers["x-semcache"] == "exact" and again == first
    reordered, headers = create(api, "France? capital of")  # same words: a semantic hit with the fake embedder
    assert headers["x-semcache"] == "semantic" and float(headers["x-semcache-similarity"]) >= 0.95
    assert reordered.choices[0].message.content == "answer to: capital of France?"
    other, headers = create(api, "capital of Germany?")
    assert headers["x-semcache"] == "miss" and other.choices[0].message.content == "answer to: capital of Germany?"
    assert upstream.calls == 2


def test_the_scope_is_the_request_model_of_cached_openai(upstream, gateway):
    api = client(gateway)
    create(api, "q one", temperature=0)
    _, headers = create(api, "q one", temperature=0.0, user="someone", metadata={"a": "b"})
    assert headers["x-semcache"] == "exact"
    for changed in ({"temperature": 0.7}, {"seed": 7}, {"response_format": {"type": "json_object"}}):
        _, headers = create(api, "q one", **changed)
        assert headers["x-semcache"] == "miss"
    assert upstream.calls == 4


def text_of(stream) -> str:
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_streams_both_ways(upstream, gateway):
    api = client(gateway)
    usage = {"include_usage": True}
    with api.chat.completions.with_streaming_response.create(
        model="m", messages=ask("why"), stream=True, stream_options=usage
    ) as raw:
        assert raw.headers["x-semcache"] == "miss"
        assert text_of(raw.parse()) == "answer to: why"
    with api.chat.completions.with_streaming_response.create(
        model="m", messages=ask("why"), stream=True, stream_options=usage
    ) as raw:
        assert raw.headers["x-semcache"] == "exact"
        chunks = list(raw.parse())
    assert text_of(chunks) == "answer to: why" and chunks[-1].usage.total_tokens == 8
    json_hit, headers = create(api, "why")  # a stored stream serves a JSON request too
    assert headers["x-semcache"] == "exact" and json_hit.choices[0].message.content == "answer to: why"
    create(api, "how")  # and a JSON answer serves a stream
    assert text_of(api.chat.completions.create(model="m", messages=ask("how"), stream=True)) == "answer to: how"
    assert upstream.calls == 2


def test_a_broken_stream_is_not_stored(upstream, gateway):
    api = client(gateway)
    upstream.break_next_stream = True
    with pytest.raises(openai.APIError):
        text_of(api.chat.completions.create(model="m", messages=ask("broken"), stream=True))
    assert text_of(api.chat.completions.create(model="m", messages=ask("broken"), stream=True)) == "answer to: broken"
    assert upstream.calls == 2


def test_another_api_key_reaches_the_upstream_unless_pooled(upstream):
    with start(upstream) as gateway:
        create(client(gateway, "sk-alice"), "secret plans")
        _, headers = create(client(gateway, "sk-bob"), "secret plans")
        assert headers["x-semcache"] == "miss" and upstream.calls == 2
        assert [h["authorization"] for h in upstream.chat_headers] == ["Bearer sk-alice", "Bearer sk-bob"]
    with start(upstream, pool_tenants=True) as pooled:
        create(client(pooled, "sk-alice"), "shared plans")
        _, headers = create(client(pooled, "sk-bob"), "shared plans")
        assert headers["x-semcache"] == "exact" and upstream.calls == 3


def test_gateways_with_one_tenant_key_compute_the_same_scope(upstream):
    cache = memory_cache()  # one store, like two gateway processes on one Redis
    secret = b"deployment-secret"
    with start(upstream, cache, tenant_key=secret) as one, start(upstream, cache, tenant_key=secret) as two:
        create(client(one), "shared between processes")
        assert create(client(two), "shared between processes")[1]["x-semcache"] == "exact"
    with start(upstream, cache) as unkeyed:  # a random key of its own: sees nothing of theirs
        assert create(client(unkeyed), "shared between processes")[1]["x-semcache"] == "miss"


def test_no_store_and_the_bypass_header_neither_read_nor_write(upstream, gateway):
    api = client(gateway)
    create(api, "fresh please")
    for headers in ({"Cache-Control": "no-store"}, {"x-semcache-bypass": "1"}):
        _, got = create(api, "fresh please", extra_headers=headers)
        assert got["x-semcache"] == "bypass"
    _, got = create(api, "never stored", extra_headers={"Cache-Control": "no-cache, no-store"})
    assert got["x-semcache"] == "bypass"
    assert create(api, "never stored")[1]["x-semcache"] == "miss"
    assert "x-semcache-bypass" not in upstream.chat_headers[1]  # the gateway's own header stays with it
    assert upstream.calls == 5


def test_the_query_string_reaches_the_upstream_on_every_path(upstream, gateway):
    api = openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0, default_query={"api-version": "7"})
    api.chat.completions.create(model="m", messages=ask("versioned"))
    text_of(api.chat.completions.create(model="m", messages=ask("versioned stream"), stream=True))
    api.chat.completions.create(model="m", messages=ask("versioned"), n=2)
    assert upstream.chat_paths == ["/v1/chat/completions?api-version=7"] * 3


def test_requests_the_cache_cannot_compare_pass_through(upstream, gateway):
    api = client(gateway)
    for _ in range(2):
        _, headers = create(api, "two samples", n=2)
        assert headers["x-semcache"] == "bypass"
    assert upstream.calls == 2


def test_an_upstream_error_passes_through_and_is_not_cached(upstream, gateway):
    api = client(gateway)
    upstream.fail_next = 500
    with pytest.raises(openai.InternalServerError) as caught:
        create(api, "flaky")
    assert caught.value.status_code == 500 and caught.value.body["message"] == "upstream broke"
    upstream.fail_next = 429
    with pytest.raises(openai.RateLimitError):
        api.chat.completions.create(model="m", messages=ask("flaky"), stream=True)
    _, headers = create(api, "flaky")
    assert headers["x-semcache"] == "miss" and upstream.calls == 1 and len(upstream.chat_headers) == 3


def test_a_200_that_is_not_json_is_a_502_and_not_cached(upstream, gateway):
    api = client(gateway)
    upstream.html_next = True
    with pytest.raises(openai.APIStatusError) as caught:
        create(api, "misrouted")
    assert caught.value.status_code == 502 and caught.value.body["type"] == "upstream_error"
    assert create(api, "misrouted")[1]["x-semcache"] == "miss" and upstream.calls == 1


def test_an_unreachable_upstream_is_a_502_and_a_slow_one_a_504(upstream):
    dead = GatewayConfig(upstream="http://127.0.0.1:9/v1")
    with RunningGateway(create_app(dead, cache=memory_cache())) as gateway:
        with pytest.raises(openai.APIStatusError) as caught:
            create(client(gateway), "anyone there?")
        assert caught.value.status_code == 502
    upstream.release.clear()  # the upstream holds its answer past the gateway's timeout
    with start(upstream, upstream_timeout=0.2) as gateway:
        with pytest.raises(openai.APIStatusError) as caught:
            create(client(gateway), "slow")
        assert caught.value.status_code == 504 and caught.value.body["code"] == "timeout"
        upstream.release.set()
        assert create(client(gateway), "slow")[1]["x-semcache"] == "miss"  # the timeout was not stored


def test_other_paths_are_forwarded_with_the_authorization_header(upstream, gateway):
    api = client(gateway)
    assert [m.id for m in api.models.list()] == ["m"]
    for _ in range(2):
        assert api.embeddings.create(model="e", input=["a", "b"]).data[1].embedding == [0.5, 0.25]
    methods = [(method, path) for method, path, _, _ in upstream.other]
    assert methods == [("GET", "/v1/models"), ("POST", "/v1/embeddings"), ("POST", "/v1/embeddings")]  # uncached
    assert all(headers["authorization"] == f"Bearer {KEY}" for _, _, headers, _ in upstream.other)
    get_headers = upstream.other[0][2]
    assert "transfer-encoding" not in get_headers and get_headers.get("content-length", "0") == "0"  # no body
    assert upstream.other[1][2]["content-length"] == str(len(upstream.other[1][3]))  # the body as sent
    missing = httpx.get(gateway.url + "/v1/nothing-here")
    assert missing.status_code == 404 and "error" in missing.json()  # the upstream's 404


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"model=m", "application/x-www-form-urlencoded"),
        (b"[1, 2]", "application/json"),
        (b'{"model": "m"}', "application/json"),
        (b'{"model": "m", "messages": "hello"}', "application/json"),
        (b'{"model": 7, "messages": [{"role": "user", "content": "hi"}]}', "application/json"),
        (b'{"model": "m", "messages": [1]}', "application/json"),
        (b"\xff\xfe", "application/json"),
    ],
)
def test_a_malformed_body_is_a_400_with_an_openai_error_and_no_cache_write(upstream, content, content_type):
    cache = memory_cache()
    with start(upstream, cache) as gateway:
        reply = httpx.post(gateway.base_url + "/chat/completions", content=content,
                           headers={"content-type": content_type, "authorization": f"Bearer {KEY}"})  # fmt: skip
        assert reply.status_code == 400
        assert reply.json()["error"]["type"] == "invalid_request_error" and reply.json()["error"]["message"]
    assert upstream.calls == 0 and cache.get_statistics()["cache_size"] == 0


def test_32_concurrent_clients_cost_one_upstream_call_per_distinct_question(upstream, gateway):
    # no word shared between two questions: the fake embedder sees 20 unrelated prompts
    questions = [" ".join(f"word{i}x{j}" for j in range(4)) for i in range(20)]
    asks = [q for q in questions for _ in range(10)]
    random.Random(7).shuffle(asks)

    async def run() -> list[str]:
        api = openai.AsyncOpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0, timeout=60)
        queue: asyncio.Queue[str] = asyncio.Queue()
        for question in asks:
            queue.put_nowait(question)
        answers: list[str] = []

        async def worker() -> None:
            while not queue.empty():
                question = queue.get_nowait()
                reply = await api.chat.completions.create(model="m", messages=ask(question))
                assert reply.choices[0].message.content == f"answer to: {question}"
                answers.append(question)

        await asyncio.gather(*(worker() for _ in range(32)))
        await api.close()
        return answers

    assert sorted(asyncio.run(run())) == sorted(asks)
    assert upstream.calls == 20


def test_metrics_and_health(upstream, gateway):
    api = client(gateway)
    create(api, "counted")
    create(api, "counted")
    health = httpx.get(gateway.url + "/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok" and "cache" in health.json()
    metrics = httpx.get(gateway.url + "/metrics").text
    assert 'semcache_gateway_request_seconds_count{outcome="exact"} 1.0' in metrics
    assert 'semcache_gateway_request_seconds_count{outcome="miss"} 1.0' in metrics
    assert 'semcache_requests_total{cache="memory",result="exact_hit"} 1.0' in metrics
    assert KEY not in metrics


@pytest.mark.model
def test_paraphrases_hit_with_the_builtin_model(upstream, builtin_embedder):
    with start(upstream, LLMCachingManager(enable_semantic=True)) as gateway:
        api = client(gateway)
        create(api, "What is the capital of France?")
        paraphrase, headers = create(api, "What's the capital city of France?")
        assert headers["x-semcache"] == "semantic" and 0.8 < float(headers["x-semcache-similarity"]) < 1.0
        assert paraphrase.choices[0].message.content == "answer to: What is the capital of France?"
        assert create(api, "What is the capital of Germany?")[1]["x-semcache"] == "miss"
    assert upstream.calls == 2


def test_streams_are_scoped_by_api_key_too(upstream, gateway):
    def stream(key: str) -> str:
        with client(gateway, key).chat.completions.with_streaming_response.create(
            model="m", messages=ask("streamed secret"), stream=True
        ) as raw:
            text = text_of(raw.parse())
            return f"{raw.headers['x-semcache']}:{text}"

    assert stream("sk-alice") == "miss:answer to: streamed secret"
    assert stream("sk-bob") == "miss:answer to: streamed secret"
    assert stream("sk-alice").startswith("exact:")
    assert [h["authorization"] for h in upstream.chat_headers] == ["Bearer sk-alice", "Bearer sk-bob"]


def test_no_log_line_names_the_api_key_on_any_path(upstream, caplog):
    caplog.set_level("DEBUG")
    with start(upstream, upstream_timeout=0.5) as gateway:
        api = client(gateway)
        create(api, "logged?")
        create(api, "logged?", extra_headers={"x-semcache-bypass": "1"})
        upstream.fail_next = 500
        with pytest.raises(openai.InternalServerError):
            create(api, "failing")
        upstream.release.clear()
        with pytest.raises(openai.APIStatusError):
            create(api, "timing out")
        upstream.release.set()
        api.models.list()
        httpx.post(gateway.base_url + "/chat/completions", content=b"{", headers={"authorization": f"Bearer {KEY}"})
    dead = GatewayConfig(upstream="http://127.0.0.1:9/v1")
    with RunningGateway(create_app(dead, cache=memory_cache())) as gateway, pytest.raises(openai.APIStatusError):
        create(client(gateway), "unreachable")
    assert "upstream answered 500" in caplog.text and "timed out" in caplog.text  # the lines exist
    assert KEY not in caplog.text and KEY[3:] not in caplog.text


def test_a_pooled_gateway_and_cached_openai_share_entries(upstream):
    from redis_semcache.integrations.openai import cached_openai

    cache = memory_cache()
    raw = openai.OpenAI(base_url=upstream.base_url, api_key=KEY, max_retries=0)
    library = cached_openai(raw, cache)
    library.chat.completions.create(model="m", messages=ask("asked in Python"), temperature=0)
    with start(upstream, cache, pool_tenants=True) as gateway:
        reply, headers = create(client(gateway), "asked in Python", temperature=0)
        assert headers["x-semcache"] == "exact" and reply.choices[0].message.content == "answer to: asked in Python"
        create(client(gateway), "asked through the gateway", seed=3)
    again = library.chat.completions.create(model="m", messages=ask("asked through the gateway"), seed=3)
    assert again.choices[0].message.content == "answer to: asked through the gateway" and upstream.calls == 2
    raw.close()
