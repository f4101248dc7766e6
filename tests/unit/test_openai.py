"""cached_openai with the real openai package against a local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import threading

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from redis_semcache import InMemoryCacheBackend, InvalidInputError, LLMCachingManager
from redis_semcache.integrations.openai import cached_openai

from ..fakes import CountingEmbedder
from ..openai_server import OpenAIServer

SYSTEM = {"role": "system", "content": "Answer briefly."}
SKY = "why is the sky blue"
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]


def ask(question: str, system: dict = SYSTEM) -> list[dict]:
    return [system, {"role": "user", "content": question}]


@pytest.fixture
def server():
    with OpenAIServer() as running:
        yield running


def manager(**kwargs) -> LLMCachingManager:
    options = {"enable_semantic": True, "embedder": CountingEmbedder(), "semantic_threshold": 0.95, **kwargs}
    return LLMCachingManager(**options)


@pytest.fixture
def client(server):
    raw = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    yield cached_openai(raw, manager())
    raw.close()


def text(completion: ChatCompletion) -> str | None:
    return completion.choices[0].message.content


def test_a_miss_calls_the_api_and_a_hit_returns_a_real_completion(server, client):
    first = client.chat.completions.create(model="gpt-4o-mini", messages=ask("capital of France?"))
    again = client.chat.completions.create(model="gpt-4o-mini", messages=ask("capital of France?"))
    assert isinstance(again, ChatCompletion)
    assert again == first and text(again) == "answer to: capital of France?"
    other = client.chat.completions.create(model="gpt-4o-mini", messages=ask("capital of Germany?"))
    assert text(other) == "answer to: capital of Germany?"
    reordered = client.chat.completions.create(model="gpt-4o-mini", messages=ask("France? capital of"))
    assert text(reordered) == "answer to: capital of France?"  # semantic hit (same words, fake embedder)
    assert server.calls == 2


def test_the_parameters_that_change_the_answer_are_the_key(server, client):
    create = client.chat.completions.create
    create(model="m", messages=ask("q one"), temperature=0)
    create(model="m", messages=ask("q one"), temperature=0.0, user="someone", metadata={"a": "b"}, timeout=30)
    assert server.calls == 1  # 0 == 0.0; user, metadata and timeout do not change the answer
    create(model="m", messages=ask("q one"), temperature=0.7)
    create(model="m", messages=ask("q one"), temperature=0, seed=7)
    create(model="m", messages=ask("q one"), temperature=0, response_format={"type": "json_object"})
    create(model="m2", messages=ask("q one"), temperature=0)
    create(model="m", messages=ask("q one", {"role": "system", "content": "Answer at length."}), temperature=0)
    assert server.calls == 6


def test_n_above_one_and_images_are_not_cached_unless_asked(server):
    raw = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    plain, multiple = cached_openai(raw, manager()), cached_openai(raw, manager(), cache_multiple=True)
    for _ in range(2):
        plain.chat.completions.create(model="m", messages=ask("q"), n=2)
    assert server.calls == 2
    for _ in range(2):
        multiple.chat.completions.create(model="m", messages=ask("q"), n=2)
    assert server.calls == 3
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}]
    image[0]["content"].insert(0, {"type": "text", "text": "what is this"})
    for _ in range(2):
        plain.chat.completions.create(model="m", messages=image)
    assert server.calls == 5
    raw.close()


def test_everything_else_passes_through(server, client):
    assert str(client.base_url) == server.base_url + "/"
    raw = client.chat.completions.with_raw_response.create(model="m", messages=ask("q"))
    assert raw.http_response.status_code == 200
    with pytest.raises(openai.NotFoundError):  # the server has no /models: the call reached it
        client.models.list()
    with pytest.raises(InvalidInputError, match="LLMCachingManager"):
        cached_openai(client, object())  # type: ignore[arg-type]


def collect(stream) -> tuple[list[ChatCompletionChunk], str]:
    chunks = list(stream)
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    return chunks, "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_stream_miss_passes_chunks_through_and_stores_the_answer(server, client):
    options = {"include_usage": True}
    chunks, said = collect(
        client.chat.completions.create(model="m", messages=ask(SKY), stream=True, stream_options=options)
    )
    assert said == "answer to: why is the sky blue" and len(chunks) > 3  # word by word, as the server sent it
    assert server.calls == 1
    hit = client.chat.completions.create(model="m", messages=ask(SKY))
    assert text(hit) == said and hit.choices[0].finish_reason == "stop" and server.calls == 1
    assert hit.usage is not None and hit.usage.total_tokens == 8
    replay, replayed = collect(
        client.chat.completions.create(model="m", messages=ask(SKY), stream=True, stream_options=options)
    )
    assert replayed == said and server.calls == 1
    assert replay[-1].usage is not None and replay[-1].usage.total_tokens == 8
    assert [c.choices[0].finish_reason for c in replay if c.choices][-1] == "stop"


def test_streamed_tool_calls_are_assembled(server, client):
    direct = openai.OpenAI(base_url=server.base_url, api_key="t").chat.completions.create(
        model="m", messages=ask("weather?"), tools=TOOLS
    )
    list(client.chat.completions.create(model="m", messages=ask("weather?"), tools=TOOLS, stream=True))
    hit = client.chat.completions.create(model="m", messages=ask("weather?"), tools=TOOLS)
    assert server.calls == 2
    calls = hit.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "lookup" and calls[0].function.arguments == '{"q": 1}'
    assert hit.choices[0].finish_reason == direct.choices[0].finish_reason == "tool_calls"
    replayed = list(client.chat.completions.create(model="m", messages=ask("weather?"), tools=TOOLS, stream=True))
    assert replayed[0].choices[0].delta.tool_calls[0].function.arguments == '{"q": 1}'


def test_nothing_is_stored_when_the_stream_breaks_or_is_abandoned(server, client):
    server.break_next_stream = True
    stream = client.chat.completions.create(model="m", messages=ask("broken"), stream=True)
    with pytest.raises(openai.APIConnectionError):  # the connection was cut mid-body
        list(stream)
    text_after = text(client.chat.completions.create(model="m", messages=ask("broken")))
    assert text_after == "answer to: broken" and server.calls == 2  # the broken stream stored nothing
    with client.chat.completions.create(model="m", messages=ask("abandoned"), stream=True) as stream:
        next(iter(stream))
    client.chat.completions.create(model="m", messages=ask("abandoned"))
    assert server.calls == 4


class _Spy(InMemoryCacheBackend):
    """Signals once a second caller is polling the entry another caller is computing."""

    def __init__(self) -> None:
        super().__init__()
        self.polls = 0
        self.waiting = threading.Event()

    def flight_status(self, key, version):
        self.polls += 1  # the holder's check, then the waiter's polls
        if self.polls >= 2:
            self.waiting.set()
        return super().flight_status(key, version)


def test_concurrent_identical_requests_call_the_api_once(server):
    backend = _Spy()
    raw = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    client = cached_openai(raw, manager(backend=backend))
    server.release.clear()  # hold the first answer until the second caller waits
    results: list[ChatCompletion] = []
    threads = [
        threading.Thread(target=lambda: results.append(client.chat.completions.create(model="m", messages=ask("hot"))))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    assert backend.waiting.wait(timeout=10)
    server.release.set()
    for t in threads:
        t.join()
    assert server.calls == 1 and len(results) == 2 and results[0] == results[1]
    raw.close()


def test_async_client(server):
    async def main() -> None:
        raw = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        client = cached_openai(raw, manager())
        first, second = await asyncio.gather(
            client.chat.completions.create(model="m", messages=ask("async q")),
            client.chat.completions.create(model="m", messages=ask("async q")),
        )
        assert isinstance(first, ChatCompletion) and first == second and server.calls == 1
        stream = await client.chat.completions.create(model="m", messages=ask("async stream"), stream=True)
        said = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert said == "answer to: async stream" and server.calls == 2
        replay = await client.chat.completions.create(model="m", messages=ask("async stream"), stream=True)
        chunks = [c async for c in replay]
        assert all(isinstance(c, ChatCompletionChunk) for c in chunks) and server.calls == 2
        server.break_next_stream = True
        broken = await client.chat.completions.create(model="m", messages=ask("async broken"), stream=True)
        with pytest.raises(openai.APIConnectionError):
            _ = [c async for c in broken]
        await client.chat.completions.create(model="m", messages=ask("async broken"))
        assert server.calls == 4
        await raw.close()

    asyncio.run(main())


@pytest.mark.parametrize("options", [None, {"include_usage": False}])
def test_a_replayed_stream_without_include_usage_has_a_choice_in_every_chunk(server, client, options):
    """The loop everyone writes, ``chunk.choices[0].delta.content``, must work on a hit as on a
    miss: only ``include_usage`` adds the usage-only chunk (its ``choices`` is empty), even when
    the stored answer has usage (stored from a plain call, or a stream that asked for it)."""
    stored = client.chat.completions.create(model="m", messages=ask(SKY))
    assert stored.usage is not None and stored.usage.total_tokens == 8
    kwargs = {"model": "m", "messages": ask(SKY), "stream": True, "stream_options": options}
    replay = list(client.chat.completions.create(**kwargs))
    said = "".join(chunk.choices[0].delta.content or "" for chunk in replay)
    assert said == "answer to: why is the sky blue" and server.calls == 1
    assert all(chunk.choices and chunk.usage is None for chunk in replay)
    assert replay[-1].choices[0].finish_reason == "stop"
    streamed = dict(kwargs, messages=ask("why is grass green"), stream_options={"include_usage": True})
    list(client.chat.completions.create(**streamed))  # a miss that asked for usage stores it
    replay = list(client.chat.completions.create(**dict(streamed, stream_options=options)))
    assert server.calls == 2 and all(chunk.choices and chunk.usage is None for chunk in replay)


def test_a_stream_of_several_choices_is_stored_only_when_every_choice_finished(server):
    raw = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    client = cached_openai(raw, manager(), cache_multiple=True)
    server.unfinished_choice = 1  # choice 1 never gets its finish chunk; the stream still ends cleanly
    chunks = list(client.chat.completions.create(model="m", messages=ask("two?"), n=2, stream=True))
    assert {c.choices[0].index for c in chunks} == {0, 1}
    whole = client.chat.completions.create(model="m", messages=ask("two?"), n=2)  # not a hit on a half answer
    assert server.calls == 2
    assert [c.finish_reason for c in whole.choices] == ["stop", "stop"]
    list(client.chat.completions.create(model="m", messages=ask("both?"), n=2, stream=True))
    hit = client.chat.completions.create(model="m", messages=ask("both?"), n=2)
    assert server.calls == 3 and [c.finish_reason for c in hit.choices] == ["stop", "stop"]  # a whole one is
    raw.close()


def test_the_wrappers_options_go_to_every_write_sync_and_async(server):
    """``ttl``, ``tags`` and ``namespace`` given to cached_openai apply to what a plain call, a
    stream and an async stream store."""
    cache = manager()
    raw = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    client = cached_openai(raw, cache, ttl=60, tags=["bot"], namespace="team")
    client.chat.completions.create(model="m", messages=ask("plain"))
    list(client.chat.completions.create(model="m", messages=ask("streamed"), stream=True))

    async def streamed_async() -> None:
        araw = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        stream = await cached_openai(araw, cache, ttl=60, tags=["bot"], namespace="team").chat.completions.create(
            model="m", messages=ask("async streamed"), stream=True
        )
        [c async for c in stream]
        await araw.close()

    asyncio.run(streamed_async())
    entries = cache.get_top_entries()
    assert sorted(e["prompt"] for e in entries) == ["async streamed", "plain", "streamed"]
    assert {(e["namespace"], tuple(e["tags"])) for e in entries} == {("team", ("bot",))}
    assert all(e["expires_at"] - e["created_at"] == pytest.approx(60) for e in entries)
    assert cache.invalidate(tags=["bot"]) == 3
    raw.close()
