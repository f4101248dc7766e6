"""cached_openai(...).responses.create with the real openai package against a local Responses API
server, on any backend.  Subclass :class:`ResponsesContract` in a module providing ``new_cache``."""

from __future__ import annotations

import asyncio

import openai
import pytest
from openai.types.responses import Response

from redis_semcache.integrations.openai import cached_openai

from .responses_server import ResponsesServer

TOOLS = [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}]
JSON_FORMAT = {"format": {"type": "json_object"}}


def ask(question: str, **extra) -> dict:
    return {"model": "gpt-x", "instructions": "Answer briefly.", "input": question, **extra}


def deltas(events) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


class ResponsesContract:
    @pytest.fixture
    def server(self):
        with ResponsesServer() as running:
            yield running

    @pytest.fixture
    def raw(self, server):
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        yield client
        client.close()

    @pytest.fixture
    def client(self, raw, new_cache):
        return cached_openai(raw, new_cache())

    def test_a_repeat_and_a_paraphrase_are_served_as_real_responses(self, server, client):
        first = client.responses.create(**ask("capital of France?"))
        again = client.responses.create(**ask("capital of France?"))
        assert isinstance(again, Response) and again == first and again.output_text == "answer to: capital of France?"
        assert client.responses.create(**ask("France? capital of")).output_text == first.output_text  # paraphrase
        as_list = [{"role": "user", "content": "capital of France?"}]
        assert client.responses.create(**ask("", input=as_list)).output_text == first.output_text  # same request
        assert client.responses.create(**ask("capital of Germany?")).output_text == "answer to: capital of Germany?"
        assert server.calls == 2

    def test_instructions_tools_format_and_parameters_scope_the_entry(self, server, client):
        create = client.responses.create
        create(**ask("q one", temperature=0))
        create(**ask("q one", temperature=0.0, user="u1", metadata={"a": "b"}, store=False, timeout=30))
        assert server.calls == 1  # 0 == 0.0; user, metadata, store and timeout do not change the answer
        create(**ask("q one", temperature=0, instructions="Answer at length."))
        create(**ask("q one", temperature=0.7))
        create(**ask("q one", temperature=0, text=JSON_FORMAT))
        create(**ask("q one", temperature=0, tools=TOOLS))
        create(**ask("q one", temperature=0, max_output_tokens=16))
        create(**ask("q one", temperature=0, model="gpt-y"))
        assert server.calls == 7
        earlier = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
        create(**ask("", temperature=0, input=[*earlier, {"role": "user", "content": "q one"}]))
        assert server.calls == 8

    def test_requests_whose_context_lives_on_the_server_are_not_cached(self, server, client):
        for _ in range(2):
            client.responses.create(**ask("go on", previous_response_id="resp_1"))
        assert server.calls == 2
        image = {"type": "input_image", "image_url": "data:image/png;base64,AA"}
        look = [{"role": "user", "content": [{"type": "input_text", "text": "what is this"}, image]}]
        for _ in range(2):
            client.responses.create(**ask("", input=look))
        assert server.calls == 4

    def test_a_streamed_miss_is_stored_and_a_hit_replays_the_same_text(self, server, client):
        events = list(client.responses.create(**ask("why is the sky blue"), stream=True))
        said = deltas(events)
        assert said == "answer to: why is the sky blue" and events[-1].type == "response.completed"
        assert len([e for e in events if e.type == "response.output_text.delta"]) > 3  # word by word, passed through
        hit = client.responses.create(**ask("why is the sky blue"))
        assert hit.output_text == said and server.calls == 1
        replay = list(client.responses.create(**ask("why is the sky blue"), stream=True))
        assert deltas(replay) == said and replay[0].type == "response.created"
        assert replay[-1].type == "response.completed" and replay[-1].response.output_text == said
        assert [e.sequence_number for e in replay] == list(range(len(replay)))
        assert server.calls == 1

    def test_a_streamed_function_call_is_stored_and_replayed(self, server, client):
        list(client.responses.create(**ask("weather?", tools=TOOLS), stream=True))
        hit = client.responses.create(**ask("weather?", tools=TOOLS))
        call = hit.output[0]
        assert call.type == "function_call" and call.name == "lookup" and call.arguments == '{"q": 1}'
        replay = list(client.responses.create(**ask("weather?", tools=TOOLS), stream=True))
        pieces = [e.delta for e in replay if e.type == "response.function_call_arguments.delta"]
        assert "".join(pieces) == '{"q": 1}' and server.calls == 1

    def test_output_items_passed_back_as_sdk_objects_are_a_cacheable_turn(self, server, client):
        """Without previous_response_id, a conversation re-sends ``reply.output`` (SDK objects) as input."""
        reply = client.responses.create(**ask("capital of France?"))
        turns = [{"role": "user", "content": "capital of France?"}, *reply.output, {"role": "user", "content": "and?"}]
        assert client.responses.create(**ask("", input=turns)).output_text == "answer to: and?"
        said = {"id": reply.output[0].id, "type": "message", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": reply.output_text, "annotations": []}]}  # fmt: skip
        turns[1] = said  # the same turn as the API's JSON: the same entry
        assert client.responses.create(**ask("", input=turns)).output_text == "answer to: and?"
        assert server.calls == 2

    def test_nothing_is_stored_when_the_stream_breaks(self, server, client):
        server.break_next_stream = True
        with pytest.raises(openai.APIConnectionError):
            list(client.responses.create(**ask("broken"), stream=True))
        assert client.responses.create(**ask("broken")).output_text == "answer to: broken" and server.calls == 2
        server.end_next_stream_early = True  # a clean end without response.completed
        events = list(client.responses.create(**ask("truncated"), stream=True))
        assert events[-1].type == "response.output_item.done"
        client.responses.create(**ask("truncated"))
        assert server.calls == 4

    def test_the_async_client_behaves_the_same(self, server, new_cache):
        cache = new_cache()

        async def scenario() -> None:
            raw = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
            client = cached_openai(raw, cache)
            first = await client.responses.create(**ask("capital of France?"))
            again = await client.responses.create(**ask("France? capital of"))
            assert isinstance(again, Response) and again == first and server.calls == 1
            await client.responses.create(**ask("capital of France?", text=JSON_FORMAT))
            assert server.calls == 2
            said = deltas([e async for e in await client.responses.create(**ask("sky blue?"), stream=True)])
            replayed = deltas([e async for e in await client.responses.create(**ask("sky blue?"), stream=True)])
            assert replayed == said == "answer to: sky blue?" and server.calls == 3
            assert (await client.responses.create(**ask("sky blue?"))).output_text == said
            await client.responses.create(**ask("go on", previous_response_id="resp_1"))
            await client.responses.create(**ask("go on", previous_response_id="resp_1"))
            assert server.calls == 5
            answers = await asyncio.gather(*(client.responses.create(**ask("what is Redis?")) for _ in range(8)))
            assert len({a.output_text for a in answers}) == 1 and server.calls == 6  # single flight
            await raw.close()

        asyncio.run(scenario())
