"""Chat requests through ``@cache.cached`` and the request builder's canonical form."""

from __future__ import annotations

import asyncio

import pytest

from redis_semcache import InvalidMessagesError, LLMCachingManager
from redis_semcache.request import build_request

from ..chat_contract import SYSTEM, chat


def test_cached_takes_a_prompt_or_a_messages_list_sync_and_async():
    cache = LLMCachingManager()
    calls: list[object] = []

    @cache.cached(model="m", temperature=0, ttl=60)
    def answer(request, style="short"):
        calls.append(request)
        return f"{style} answer #{len(calls)}"

    @cache.cached(model="m")
    async def aanswer(request):
        calls.append(request)
        return f"async answer #{len(calls)}"

    assert answer(chat("Capital of Peru?")) == "short answer #1"
    assert answer(chat("  Capital of   Peru? ")) == "short answer #1"  # canonical: the same request
    assert answer("Capital of Peru?") == "short answer #2"  # a bare prompt is another request
    assert answer(chat("Capital of Peru?", {"role": "system", "content": "Be verbose."})) == "short answer #3"
    assert asyncio.run(aanswer(chat("Capital of Chile?"))) == "async answer #4"
    assert asyncio.run(aanswer(chat("Capital of Chile?"))) == "async answer #4"
    assert len(calls) == 4
    with pytest.raises(InvalidMessagesError, match="no user message"):
        answer([SYSTEM])


def test_the_compared_text_is_the_last_user_message_and_the_rest_is_context():
    req = build_request(
        messages=[
            SYSTEM,
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function"}]},
            {"role": "tool", "tool_call_id": "1", "content": "42"},
            {"role": "user", "content": "  second\n\tquestion "},
            {"role": "assistant", "content": "prefill"},
        ]
    )
    assert req.text == "second question"  # whitespace normalised like a prompt
    assert "first question" in req.context and "prefill" in req.context and "second" not in req.context
    reordered = build_request(
        messages=[
            {"content": SYSTEM["content"], "role": "system"},
            {"content": "first question", "role": "user"},
            {"tool_calls": [{"type": "function", "id": "1"}], "role": "assistant", "content": None},
            {"tool_call_id": "1", "role": "tool", "content": "42"},
            {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "question"}]},
            {"role": "assistant", "content": "prefill"},
        ]
    )
    assert reordered == req
    assert build_request("What is Redis?", embed_text="What is Redis?") == build_request("What is Redis?")


def test_a_function_message_without_content_is_a_chat_turn_like_an_assistant_tool_call():
    """The older function-calling messages: the assistant's call and the ``function``
    role's reply may both carry ``content: None``; neither is bad input."""
    cache = LLMCachingManager()
    call = {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}}
    messages = [
        SYSTEM,
        {"role": "user", "content": "weather?"},
        call,
        {"role": "function", "name": "f", "content": None},
    ]
    messages.append({"role": "user", "content": "and tomorrow?"})
    assert cache.set(response="rain", messages=messages) is True
    assert cache.get(messages=messages) == "rain"
    replied = [*messages[:3], {"role": "function", "name": "f", "content": "sunny"}, messages[-1]]
    assert cache.get(messages=replied) is None  # the function's reply is context: another request
    with pytest.raises(InvalidMessagesError, match=r"messages\[1\]"):
        cache.get(messages=[SYSTEM, {"role": "user", "content": None}, messages[-1]])  # a user's content is not
