"""CachedLLM with llama-index-core, wrapping a real LlamaIndex LLM (tests/llamaindex_llm.py) that talks
to a local OpenAI-compatible server counting calls, on any backend.  Subclass
:class:`LlamaIndexContract` in a module providing ``new_cache``."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse, ImageBlock, TextBlock
from llama_index.core.prompts import PromptTemplate

from redis_semcache import InvalidInputError
from redis_semcache.integrations.llamaindex import CachedLLM

from .llamaindex_llm import LocalChatLLM
from .openai_server import OpenAIServer

BRIEF = ChatMessage(role="system", content="Answer briefly.")


def ask(question: str, system: ChatMessage | None = BRIEF) -> list[ChatMessage]:
    return [m for m in (system, ChatMessage(role="user", content=question)) if m is not None]


class LlamaIndexContract:
    @pytest.fixture
    def server(self):
        with OpenAIServer() as running:
            yield running

    @pytest.fixture
    def llm(self, server):
        return LocalChatLLM(base_url=server.base_url)

    @pytest.fixture
    def cache(self, new_cache):
        return new_cache()

    def test_chat_repeat_and_paraphrase_are_served_from_the_cache(self, server, llm, cache):
        cached = CachedLLM(llm, cache)
        first = cached.chat(ask("capital of France?"))
        again = cached.chat(ask("capital of France?"))
        assert isinstance(again, ChatResponse) and str(again.message.content) == "answer to: capital of France?"
        assert again.message.content == first.message.content and again.message.role.value == "assistant"
        assert cached.chat(ask("France? capital of")).message.content == first.message.content  # paraphrase
        assert cached.chat(ask("capital of Germany?")).message.content == "answer to: capital of Germany?"
        assert server.calls == 2

    def test_system_messages_the_models_parameters_and_call_arguments_scope_the_entry(self, server, llm, cache):
        CachedLLM(llm, cache).chat(ask("q one"))
        CachedLLM(LocalChatLLM(base_url=server.base_url, api_key="another-key"), cache).chat(ask("q one"))
        assert server.calls == 1  # same model and settings; the key is not part of the scope
        CachedLLM(llm, cache).chat(ask("q one", ChatMessage(role="system", content="Answer at length.")))
        CachedLLM(llm, cache).chat(ask("q one", None))
        CachedLLM(LocalChatLLM(base_url=server.base_url, temperature=0.7), cache).chat(ask("q one"))
        CachedLLM(LocalChatLLM(base_url=server.base_url, model="other-model"), cache).chat(ask("q one"))
        CachedLLM(LocalChatLLM(base_url=server.base_url, max_tokens=16), cache).chat(ask("q one"))
        CachedLLM(llm, cache).chat(ask("q one"), top_p=0.5)
        assert server.calls == 7
        assert server.requests[3]["temperature"] == 0.7 and server.requests[6]["top_p"] == 0.5

    def test_complete_and_predict_are_cached_with_the_wrapped_models_system_prompt(self, server, cache):
        llm = LocalChatLLM(base_url=server.base_url, system_prompt="Reply in French.")
        cached = CachedLLM(llm, cache)
        done = cached.complete("why is the sky blue")
        assert isinstance(done, CompletionResponse) and done.text == "answer to: why is the sky blue"
        assert cached.complete("why is the sky blue").text == done.text and server.calls == 1
        cached.complete("why is the sky blue", formatted=True)
        assert server.calls == 2
        template = PromptTemplate("what is {thing}?")
        assert cached.predict(template, thing="Redis") == "answer to: what is Redis?"
        assert cached.predict(template, thing="Redis") == "answer to: what is Redis?" and server.calls == 3
        assert server.requests[-1]["messages"][0] == {"role": "system", "content": "Reply in French."}
        other = CachedLLM(LocalChatLLM(base_url=server.base_url, system_prompt="Reply in German."), cache)
        other.predict(template, thing="Redis")
        assert server.calls == 4

    def test_streaming_and_images_pass_through(self, server, llm, cache):
        cached = CachedLLM(llm, cache)
        for _ in range(2):
            pieces = list(cached.stream_complete("why is the sky blue"))
            assert pieces[-1].text == "answer to: why is the sky blue" and len(pieces) > 3
        assert server.calls == 2
        image = ChatMessage(role="user", blocks=[TextBlock(text="what is this"), ImageBlock(url="http://x/a.png")])
        assert CachedLLM(llm, cache)._chat_key([image], {}) is None  # not comparable: not cached
        with pytest.raises(InvalidInputError, match="LlamaIndex LLM"):
            CachedLLM(object(), cache)  # type: ignore[arg-type]
        assert CachedLLM(llm, cache).metadata == llm.metadata

    def test_async_twins_behave_the_same(self, server, llm, cache):
        cached = CachedLLM(llm, cache)

        async def scenario() -> None:
            first = await cached.achat(ask("capital of France?"))
            again = await cached.achat(ask("France? capital of"))
            assert again.message.content == first.message.content == "answer to: capital of France?"
            assert server.calls == 1
            await cached.achat(ask("capital of France?", ChatMessage(role="system", content="Answer at length.")))
            assert server.calls == 2
            done = await cached.acomplete("why is the sky blue")
            assert (await cached.acomplete("why is the sky blue")).text == done.text and server.calls == 3
            answers = await asyncio.gather(*(cached.achat(ask("what is Redis?")) for _ in range(8)))
            assert len({a.message.content for a in answers}) == 1 and server.calls == 4  # single flight

        asyncio.run(scenario())
        assert cached.chat(ask("capital of France?")).message.content == "answer to: capital of France?"
        assert server.calls == 4  # the sync API sees what the async one stored
