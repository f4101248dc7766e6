"""Concurrent identical streamed misses through the gateway on Redis call the upstream once.

The first request leads (its stream is relayed live); the others, on two
gateways sharing one Redis, wait and get the stored answer replayed.  When the
leader's answer is not stored (an error, a broken or unfinished stream), one of
them calls the upstream next; none gets a wrong or partial answer.  The
upstream holds its answer (``release``) until every follower is seen waiting.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from redis_semcache import LLMCachingManager
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.gateway import GatewayConfig
from redis_semcache.gateway.app import create_app
from redis_semcache.singleflight import FlightPolicy

from ..fakes import CountingEmbedder
from ..gateway_servers import RunningGateway, Upstream

KEY = "sk-stream-flight-0123456789"
QUESTION = "why stream the same answer twice"
ANSWER = f"answer to: {QUESTION}"
FOLLOWERS = 5
SECRET = b"one-deployment-secret"
# Waiters outlast the clients' timeout: a lock left held makes a follower fail, not wait it out.
PATIENT = FlightPolicy(lock_ttl=120, wait_timeout=120)


class WatchedBackend(RedisCacheBackend):
    """The real Redis backend; ``waiting`` is released once per request that found the flight taken."""

    def __init__(self, waiting: threading.Semaphore, **options: Any) -> None:
        super().__init__(**options)
        self.waiting = waiting

    async def aacquire_lock(self, key: str, token: str, ttl: float) -> bool:
        acquired = await super().aacquire_lock(key, token, ttl)
        if not acquired:
            self.waiting.release()
        return acquired


def ask(question: str = QUESTION) -> list[dict]:
    return [{"role": "user", "content": question}]


def stream(base_url: str) -> tuple[str, str, list[str]]:
    """What one streaming client got: x-semcache (or "error"), the text, the finish reasons."""
    api = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=20)
    try:
        raw = api.chat.completions.with_raw_response.create(model="m", messages=ask(), stream=True)
        chunks = list(raw.parse())
    except (openai.APIError, ValueError) as error:  # an error status, or a stream cut off
        return "error", type(error).__name__, []
    finally:
        api.close()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    return raw.headers["x-semcache"], text, finishes


@pytest.fixture
def setup(redis_url, cache_names):
    """Two gateways on one Redis (two processes' worth of flight state), their upstream held."""
    name = cache_names.new("streamflight")
    waiting = threading.Semaphore(0)

    def gateway(upstream: Upstream) -> RunningGateway:
        backend = WatchedBackend(waiting, url=redis_url, name=name)
        cache = LLMCachingManager(
            backend, enable_semantic=True, embedder=CountingEmbedder(), semantic_threshold=0.95,
            flight_policy=PATIENT,
        )  # fmt: skip
        settings = GatewayConfig(upstream=upstream.base_url, name=name, tenant_key=SECRET)  # one scope for both
        return RunningGateway(create_app(settings, cache=cache))

    with Upstream() as upstream, gateway(upstream) as one, gateway(upstream) as two:
        upstream.release.clear()
        yield upstream, [one, two], waiting


def follow(pool: ThreadPoolExecutor, gateways: list[RunningGateway], waiting: threading.Semaphore) -> list[Any]:
    """FOLLOWERS identical streamed requests, on both gateways, once each is seen waiting."""
    followers = [pool.submit(stream, gateways[i % 2].base_url) for i in range(FOLLOWERS)]
    for _ in range(FOLLOWERS):
        assert waiting.acquire(timeout=30), "a follower did not wait for the leader"
    return followers


def burst(upstream: Upstream, gateways: list[RunningGateway], waiting: threading.Semaphore) -> list[Any]:
    """1 + FOLLOWERS identical streamed requests: the leader's first, then the followers once the
    leader is at the upstream; the upstream answers once every follower waits.  Leader's result first."""
    with ThreadPoolExecutor(FOLLOWERS + 1) as pool:
        leader = pool.submit(stream, gateways[0].base_url)
        assert upstream.arrived.wait(timeout=30)
        followers = follow(pool, gateways, waiting)
        upstream.release.set()
        return [leader.result(timeout=60)] + [f.result(timeout=60) for f in followers]


def stored_answer(gateway: RunningGateway) -> tuple[str, str]:
    api = openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0, timeout=30)
    raw = api.chat.completions.with_raw_response.create(model="m", messages=ask())
    api.close()
    return raw.headers["x-semcache"], raw.parse().choices[0].message.content or ""


def test_concurrent_identical_streams_call_the_upstream_once(setup):
    upstream, gateways, waiting = setup
    leader, *followers = burst(upstream, gateways, waiting)
    assert leader == ("miss", ANSWER, ["stop"])
    assert followers == [("exact", ANSWER, ["stop"])] * FOLLOWERS
    assert len(upstream.chat_headers) == 1  # every upstream call, failed ones included
    assert stored_answer(gateways[1]) == ("exact", ANSWER)


@pytest.mark.parametrize("failure", ["error_status", "broken_stream"])
def test_a_failed_leader_hands_over_and_nothing_wrong_is_stored(setup, failure):
    upstream, gateways, waiting = setup
    if failure == "error_status":
        upstream.fail_next = 500
    else:
        upstream.break_next_stream = True
    leader, *followers = burst(upstream, gateways, waiting)
    assert leader[0] == "error"
    # one follower called the upstream in its place and relayed it; the others got its stored answer
    assert sorted(followers) == [("exact", ANSWER, ["stop"])] * (FOLLOWERS - 1) + [("miss", ANSWER, ["stop"])]
    assert len(upstream.chat_headers) == 2  # every upstream call, failed ones included
    assert stored_answer(gateways[0]) == ("exact", ANSWER)


def test_an_unfinished_stream_is_not_stored_and_no_follower_is_served_it(setup):
    upstream, gateways, waiting = setup
    upstream.unfinished_choice = 0
    leader, *followers = burst(upstream, gateways, waiting)
    assert leader == ("miss", ANSWER, [])  # relayed as it came: no finish reason
    assert sorted(followers) == [("exact", ANSWER, ["stop"])] * (FOLLOWERS - 1) + [("miss", ANSWER, ["stop"])]
    assert len(upstream.chat_headers) == 2  # every upstream call, failed ones included


def test_the_leader_streams_live_while_the_others_wait_and_a_json_request_joins_too(setup):
    upstream, gateways, waiting = setup
    upstream.release.set()
    upstream.midway.clear()  # the upstream sends two chunks, then holds the rest
    api = openai.OpenAI(base_url=gateways[0].base_url, api_key=KEY, max_retries=0, timeout=20)
    with ThreadPoolExecutor(FOLLOWERS + 1) as pool:
        chunks = iter(api.chat.completions.create(model="m", messages=ask(), stream=True))
        assert [next(chunks).choices[0].delta.content for _ in range(2)] == ["", "answer"]  # before the rest exists
        as_json = pool.submit(stored_answer, gateways[1])
        assert waiting.acquire(timeout=30)
        followers = follow(pool, gateways, waiting)
        upstream.midway.set()
        rest = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert "answer" + rest == ANSWER
        assert [f.result(timeout=60) for f in followers] == [("exact", ANSWER, ["stop"])] * FOLLOWERS
        assert as_json.result(timeout=60) == ("exact", ANSWER)  # a non-streamed request shares the flight
    api.close()
    assert len(upstream.chat_headers) == 1


def test_a_leader_whose_caller_leaves_mid_stream_hands_over(setup):
    upstream, gateways, waiting = setup
    upstream.release.set()
    upstream.midway.clear()
    body = {"model": "m", "messages": ask(), "stream": True}
    auth = {"authorization": f"Bearer {KEY}"}
    with ThreadPoolExecutor(FOLLOWERS) as pool:
        with httpx.stream("POST", gateways[0].base_url + "/chat/completions", json=body, headers=auth) as leader:
            lines = leader.iter_lines()  # kept: a dropped iterator closes the connection at once
            assert next(lines).startswith("data: ")
            followers = follow(pool, gateways, waiting)
        # the leader's caller is gone mid-stream: nothing is stored, and a follower calls the upstream
        for _ in range(2):
            assert upstream.arrivals.acquire(timeout=30), "no follower took over from the leader that left"
        upstream.midway.set()
        results = sorted(f.result(timeout=60) for f in followers)
    assert results == [("exact", ANSWER, ["stop"])] * (FOLLOWERS - 1) + [("miss", ANSWER, ["stop"])]
    assert len(upstream.chat_headers) == 2
