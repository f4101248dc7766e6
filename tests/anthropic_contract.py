"""cached_anthropic with the real anthropic package against a local Messages API server, on any backend.

Subclass :class:`AnthropicContract` in a module providing the ``new_cache``
fixture (a function returning a new semantic LLMCachingManager).
"""

from __future__ import annotations

import asyncio

import anthropic
import pytest
from anthropic.types import Message

from redis_semcache import InvalidInputError
from redis_semcache.integrations.anthropic import cached_anthropic

from .anthropic_server import AnthropicServer

BRIEF = "Answer briefly."
TOOLS = [{"name": "lookup", "description": "look it up", "input_schema": {"type": "object", "properties": {}}}]


def ask(question: str, **extra) -> dict:
    return {"model": "claude-x", "max_tokens": 64, "system": BRIEF, "messages": [{"role": "user", "content": question}],
            **extra}  # fmt: skip


def text(message: Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


class AnthropicContract:
    @pytest.fixture
    def server(self):
        with AnthropicServer() as running:
            yield running

    @pytest.fixture
    def raw(self, server):
        client = anthropic.Anthropic(base_url=server.base_url, api_key="test", max_retries=0)
        yield client
        client.close()

    @pytest.fixture
    def client(self, raw, new_cache):
        return cached_anthropic(raw, new_cache())

    def test_a_repeat_and_a_paraphrase_are_served_as_real_messages(self, server, client):
        first = client.messages.create(**ask("capital of France?"))
        again = client.messages.create(**ask("capital of France?"))
        assert isinstance(again, Message) and again == first and text(again) == "answer to: capital of France?"
        reordered = client.messages.create(**ask("France? capital of"))  # same words: a semantic hit
        assert text(reordered) == "answer to: capital of France?"
        assert text(client.messages.create(**ask("capital of Germany?"))) == "answer to: capital of Germany?"
        assert server.calls == 2

    def test_the_system_prompt_tools_and_parameters_scope_the_entry(self, server, client):
        create = client.messages.create
        create(**ask("q one", extra_body={"temperature": 0}))
        create(**ask("q one", extra_body={"temperature": 0.0}, metadata={"user_id": "u1"}, timeout=30))
        # 0 == 0.0; metadata and timeout do not change the answer.  (This SDK has no temperature= of its
        # own: sampling parameters go in extra_body, which scopes the entry like any parameter.)
        assert server.calls == 1
        create(**{**ask("q one", extra_body={"temperature": 0}), "system": "Answer at length."})
        listed = [{"type": "text", "text": "Answer at length!"}]
        create(**{**ask("q one", extra_body={"temperature": 0}), "system": listed})
        create(**ask("q one", extra_body={"temperature": 0.7}))
        create(**ask("q one", extra_body={"temperature": 0}, max_tokens=8))
        create(**ask("q one", extra_body={"temperature": 0}, stop_sequences=["\n"]))
        create(**ask("q one", extra_body={"temperature": 0}, tools=TOOLS))
        create(**ask("q one", extra_body={"temperature": 0}, tools=TOOLS, tool_choice={"type": "any"}))
        create(**{**ask("q one", extra_body={"temperature": 0}), "model": "claude-y"})
        assert server.calls == 9
        earlier = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
        turns = [*earlier, {"role": "user", "content": "q one"}]
        create(**{**ask("q one", extra_body={"temperature": 0}), "messages": turns})
        assert server.calls == 10  # earlier turns scope the entry too

    def test_stream_miss_passes_text_through_and_a_hit_replays_it(self, server, client):
        with client.messages.stream(**ask("why is the sky blue")) as stream:
            pieces = list(stream.text_stream)
            final = stream.get_final_message()
        assert pieces == ["answer", " to:", " why", " is", " the", " sky", " blue"]  # as the server sent them
        assert server.calls == 1
        hit = client.messages.create(**ask("why is the sky blue"))
        assert text(hit) == "".join(pieces) == text(final) and hit.stop_reason == "end_turn"
        assert hit.usage.output_tokens == 3 and server.calls == 1
        with client.messages.stream(**ask("why is the sky blue")) as stream:
            replayed = "".join(stream.text_stream)
            message = stream.get_final_message()
        assert replayed == "".join(pieces) and text(message) == replayed and message.stop_reason == "end_turn"
        events = list(client.messages.create(**ask("why is the sky blue"), stream=True))
        assert events[0].type == "message_start" and events[-1].type == "message_stop"
        assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == replayed
        assert server.calls == 1

    def test_create_stream_true_records_and_streamed_tool_use_is_assembled(self, server, client):
        events = list(client.messages.create(**ask("weather?", tools=TOOLS), stream=True))
        assert any(e.type == "content_block_delta" and e.delta.type == "input_json_delta" for e in events)
        hit = client.messages.create(**ask("weather?", tools=TOOLS))
        assert server.calls == 1 and hit.stop_reason == "tool_use"
        assert hit.content[0].type == "tool_use" and hit.content[0].input == {"q": 1}
        with client.messages.stream(**ask("weather?", tools=TOOLS)) as stream:
            final = stream.get_final_message()
        assert final.content[0].input == {"q": 1} and final.content[0].name == "lookup" and server.calls == 1

    def test_nothing_is_stored_when_the_stream_breaks_or_is_abandoned(self, server, client):
        server.break_next_stream = True
        with pytest.raises(anthropic.APIConnectionError), client.messages.stream(**ask("broken")) as stream:
            list(stream.text_stream)
        assert text(client.messages.create(**ask("broken"))) == "answer to: broken" and server.calls == 2
        with client.messages.stream(**ask("abandoned")) as stream:
            next(iter(stream.text_stream))
        client.messages.create(**ask("abandoned"))
        assert server.calls == 4
        server.end_next_stream_early = True  # a clean end without message_stop: the message may be cut
        events = list(client.messages.create(**ask("truncated"), stream=True))
        assert events[-1].type == "message_delta"
        client.messages.create(**ask("truncated"))
        assert server.calls == 6

    def test_what_cannot_be_compared_passes_through(self, server, client):
        image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}}
        look = ask("x")
        look["messages"] = [{"role": "user", "content": [{"type": "text", "text": "what is this"}, image]}]
        result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}
        loop = ask("x")
        loop["messages"] = [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}]},
            {"role": "user", "content": [result, {"type": "text", "text": "and so?"}]},
        ]
        for _ in range(2):
            client.messages.create(**look)
        assert server.calls == 2  # an image is not cached
        for _ in range(2):
            client.messages.create(**loop)
        assert server.calls == 3  # a tool loop with text to compare is (its blocks scope the entry)
        loop["messages"][-1]["content"] = [{**result, "content": "rainy"}, {"type": "text", "text": "and so?"}]
        client.messages.create(**loop)
        assert server.calls == 4

    def test_a_reply_passed_back_as_sdk_objects_is_a_cacheable_turn(self, server, client):
        """The usual loop appends ``reply.content`` (SDK objects, not dicts) as the assistant's turn."""
        reply = client.messages.create(**ask("weather?", tools=TOOLS))
        result = {"type": "tool_result", "tool_use_id": reply.content[0].id, "content": "sunny"}
        turns = [{"role": "user", "content": "weather?"}, {"role": "assistant", "content": reply.content},
                 {"role": "user", "content": [result, {"type": "text", "text": "so, an umbrella?"}]}]  # fmt: skip
        assert text(client.messages.create(**{**ask("x"), "messages": turns})) == "answer to: so, an umbrella?"
        # the same turn as the API's JSON (as an app that saved the conversation sends it): the same entry
        call = {"type": "tool_use", "id": reply.content[0].id, "name": "lookup", "input": {"q": 1}}
        turns[1] = {"role": "assistant", "content": [call]}
        assert text(client.messages.create(**{**ask("x"), "messages": turns})) == "answer to: so, an umbrella?"
        assert server.calls == 2

    def test_everything_else_passes_through(self, server, raw, client):
        assert str(client.base_url) == str(raw.base_url)
        response = client.messages.with_raw_response.create(**ask("q"))
        assert response.http_response.status_code == 200
        with pytest.raises(anthropic.NotFoundError):  # no /v1/models on the server: the call reached it
            client.models.list()
        with pytest.raises(InvalidInputError, match="LLMCachingManager"):
            cached_anthropic(raw, object())  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="unknown options"):
            cached_anthropic(raw, client.messages._cache, ttl_seconds=3)

    def test_the_async_client_behaves_the_same(self, server, new_cache):
        cache = new_cache()

        async def scenario() -> None:
            raw = anthropic.AsyncAnthropic(base_url=server.base_url, api_key="test", max_retries=0)
            client = cached_anthropic(raw, cache)
            first = await client.messages.create(**ask("capital of France?"))
            again = await client.messages.create(**ask("France? capital of"))
            assert isinstance(again, Message) and again == first and server.calls == 1
            await client.messages.create(**{**ask("capital of France?"), "system": "Answer at length."})
            assert server.calls == 2
            async with client.messages.stream(**ask("why is the sky blue")) as stream:
                said = "".join([piece async for piece in stream.text_stream])
            async with client.messages.stream(**ask("why is the sky blue")) as stream:
                replayed = "".join([piece async for piece in stream.text_stream])
                final = await stream.get_final_message()
            assert replayed == said == text(final) == "answer to: why is the sky blue" and server.calls == 3
            events = [e async for e in await client.messages.create(**ask("why is the sky blue"), stream=True)]
            assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == said
            assert text(await client.messages.create(**ask("why is the sky blue"))) == said
            assert server.calls == 3
            # concurrent identical requests: one call (single flight)
            answers = await asyncio.gather(*(client.messages.create(**ask("what is Redis?")) for _ in range(8)))
            assert len({text(a) for a in answers}) == 1 and server.calls == 4
            await raw.close()

        asyncio.run(scenario())
