"""The local LLM API servers' own promises (tests/counting_server.py), which the integration tests lean on:
every answered request is counted once, whatever its route and whether it streams; a held answer
goes out as soon as ``release`` is set; a one-shot fault spoils the next stream and no other."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest

from ..llm_api_server import LLMAPIServer
from ..openai_server import OpenAIServer

BODIES = {
    "/v1/chat/completions": {"model": "m", "messages": [{"role": "user", "content": "q"}]},
    "/v1/responses": {"model": "m", "input": "q"},
    "/v1/messages": {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "q"}]},
}


@pytest.mark.parametrize("stream", [False, True])
def test_every_route_counts_each_request_once_and_an_unknown_path_none(stream):
    with LLMAPIServer() as server, httpx.Client(base_url=server.base_url) as http:
        for path, body in BODIES.items():
            reply = http.post(path, json={**body, "stream": stream})
            assert reply.status_code == 200 and "answer" in reply.text
        assert server.calls == 3 and [r["stream"] for r in server.requests] == [stream] * 3
        assert all(server.arrivals.acquire(blocking=False) for _ in BODIES)
        missing = http.post("/v1/nothing", json={})
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
        assert server.calls == 3 and not server.arrivals.acquire(blocking=False)


def test_a_held_answer_goes_out_as_soon_as_it_is_released():
    with OpenAIServer() as server:
        server.hold_limit = 120.0  # an answer that release did not wake would go out only after this
        server.release.clear()
        api = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=120)
        answers: list[str | None] = []
        ask = threading.Thread(
            target=lambda: answers.append(
                api.chat.completions.create(model="m", messages=[{"role": "user", "content": "held"}])
                .choices[0]
                .message.content
            )
        )
        ask.start()
        assert server.arrivals.acquire(timeout=30)  # counted, and now held
        assert answers == []
        server.release.set()
        ask.join(timeout=60)
        assert answers == ["answer to: held"]
        api.close()


def test_each_one_shot_fault_spoils_exactly_the_next_stream():
    question = {"model": "m", "messages": [{"role": "user", "content": "q"}], "stream": True}
    with OpenAIServer() as server, httpx.Client(base_url=server.base_url) as http:

        def stream(n: int = 1) -> str:
            return http.post("/chat/completions", json={**question, "n": n}).text

        server.break_next_stream = True
        with pytest.raises(httpx.RemoteProtocolError):  # cut mid-body
            stream()
        server.end_next_stream_early = True
        short = stream()
        assert "answer" in short and not short.endswith("data: [DONE]\n\n")  # a clean end, without its last event
        server.unfinished_choice = 1
        assert stream(n=2).count('"finish_reason": "stop"') == 1
        whole = stream(n=2)
        assert whole.endswith("data: [DONE]\n\n") and whole.count('"finish_reason": "stop"') == 2
        assert server.calls == 4
