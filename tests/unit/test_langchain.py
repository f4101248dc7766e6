"""LangChainCache: LangChain's standard cache suites on the in-memory backend, the
parsing of LangChain's strings, and set_llm_cache end to end with the real model."""

from __future__ import annotations

import json

import pytest
import pytest_asyncio
from langchain_core.globals import set_llm_cache
from langchain_core.language_models import FakeListChatModel, FakeListLLM
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_tests.integration_tests import AsyncCacheTestSuite, SyncCacheTestSuite

from redis_semcache import InvalidInputError, LLMCachingManager
from redis_semcache.integrations.langchain import LangChainCache, chat_messages, parse_llm_string

from ..fakes import CountingEmbedder


def memory_cache(**kwargs) -> LangChainCache:
    options = {"enable_semantic": True, "embedder": CountingEmbedder(), "semantic_threshold": 0.95, **kwargs}
    return LangChainCache(LLMCachingManager(**options))


class TestMemorySyncCacheSuite(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self) -> LangChainCache:
        return memory_cache()


@pytest.mark.asyncio
class TestMemoryAsyncCacheSuite(AsyncCacheTestSuite):
    @pytest_asyncio.fixture
    async def cache(self) -> LangChainCache:
        return memory_cache()


def test_llm_string_of_a_serialisable_chat_model_becomes_model_and_scope():
    model = {"lc": 1, "type": "constructor", "id": ["langchain", "chat_models", "openai", "ChatOpenAI"]}
    head = json.dumps({**model, "kwargs": {"model_name": "gpt-4o", "temperature": 0.0}}, sort_keys=True)
    name, params = parse_llm_string(head + "---" + str(sorted({"stop": None, "temperature": 0.0}.items())))
    assert name == "gpt-4o"
    assert params["lc_temperature"] == 0.0 and params["lc_stop"] is None
    assert params["llm"]["kwargs"]["temperature"] == 0.0
    # an unparseable string scopes by its whole text
    assert parse_llm_string("anything at all") == ("langchain", {"llm_string": "anything at all"})


def test_parameters_scope_entries_and_get_keywords_cannot_be_hijacked():
    cache = memory_cache()
    generation = FakeListLLM(responses=["x"]).generate(["q"]).generations[0]
    # a parameter named like a get() keyword ('model', 'ttl') is only a parameter
    cool = str(sorted({"model": "m", "temperature": 0, "ttl": 5}.items()))
    hot = str(sorted({"model": "m", "temperature": 0.7, "ttl": 5}.items()))
    cache.update("q", cool, generation)
    assert cache.lookup("q", cool) == generation
    assert cache.lookup("q", cool.replace("0)", "0.0)")) == generation  # 0 and 0.0: one scope
    assert cache.lookup("q", hot) is None


def test_serialised_chat_prompts_become_messages():
    from langchain_core.load import dumps

    prompt = dumps([SystemMessage("Be brief."), HumanMessage([{"type": "text", "text": "Capital of France?"}])])
    assert chat_messages(prompt) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert chat_messages("[{not json") is None
    image = dumps([HumanMessage([{"type": "image_url", "image_url": {"url": "data:x"}}])])
    cache = memory_cache()
    cache.update(image, "llm", FakeListLLM(responses=["x"]).generate(["q"]).generations[0])
    assert cache.lookup(image, "llm") is None  # not comparable as text: not cached
    assert cache.cache.get_statistics()["sets"] == 0


def test_only_a_manager_is_accepted():
    with pytest.raises(InvalidInputError, match="LLMCachingManager"):
        LangChainCache(object())  # type: ignore[arg-type]


def test_clear_leaves_other_entries_alone():
    cache = memory_cache()
    cache.cache.set("not from langchain", "kept")
    cache.update("q", "llm", FakeListLLM(responses=["x"]).generate(["q"]).generations[0])
    cache.clear()
    assert cache.lookup("q", "llm") is None
    assert cache.cache.get("not from langchain") == "kept"


@pytest.fixture
def llm_cache():
    yield
    set_llm_cache(None)


@pytest.mark.model
def test_set_llm_cache_with_a_chat_model_end_to_end(builtin_embedder, llm_cache):
    cache = LLMCachingManager(enable_semantic=True)
    set_llm_cache(LangChainCache(cache))
    model = FakeListChatModel(responses=["Paris", "Berlin", "Madrid", "unused"])
    system = SystemMessage("You are a geography tutor. Answer with one word.")

    def ask(question: str) -> str:
        return str(model.invoke([system, HumanMessage(question)]).content)

    assert ask("What is the capital of France?") == "Paris"
    assert ask("What is the capital of Germany?") == "Berlin"  # not France's answer
    assert ask("What is the capital of Spain?") == "Madrid"
    assert model.i == 3  # three model calls so far
    assert ask("What's the capital city of France?") == "Paris"  # paraphrase: served from the cache
    assert ask("What is the capital of Germany?") == "Berlin"  # exact
    assert model.i == 3
    stats = cache.get_statistics()
    assert (stats["semantic_hits"], stats["exact_hits"], stats["misses"]) == (1, 1, 3)
    # another system prompt is another conversation: no answer crosses over
    other = SystemMessage("You are a travel agent.")
    assert str(model.invoke([other, HumanMessage("What is the capital of France?")]).content) == "unused"


def test_set_llm_cache_with_a_plain_llm(llm_cache):
    cache = memory_cache()
    set_llm_cache(cache)
    llm = FakeListLLM(responses=["first", "second", "third"])
    assert llm.invoke("tell me a joke") == "first"
    assert llm.invoke("tell me a joke") == "first"  # exact hit
    assert llm.invoke("joke tell me a") == "first"  # same words: a semantic hit (fake embedder)
    assert llm.invoke("tell me a story") == "second"
    assert llm.invoke("tell me a joke", stop=["\n"]) == "third"  # other parameters: another scope
    assert cache.cache.get_statistics()["sets"] == 3


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_message_with_text_and_an_image_is_a_miss_and_stores_nothing(api):
    """Only text can be compared: a text part beside an image part does not make it comparable."""
    import asyncio

    from langchain_core.load import dumps

    parts = [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "data:x"}}]
    prompt = dumps([SystemMessage("Be brief."), HumanMessage(parts)])
    cache = memory_cache()
    generation = FakeListLLM(responses=["a cat"]).generate(["q"]).generations[0]

    def lookup(prompt: str):
        return cache.lookup(prompt, "llm") if api == "sync" else asyncio.run(cache.alookup(prompt, "llm"))

    def update(prompt: str) -> None:
        cache.update(prompt, "llm", generation) if api == "sync" else asyncio.run(
            cache.aupdate(prompt, "llm", generation)
        )

    update(prompt)
    assert lookup(prompt) is None
    assert cache.cache.get_statistics()["sets"] == 0
    text_only = dumps([SystemMessage("Be brief."), HumanMessage([parts[0]])])
    update(text_only)
    assert lookup(text_only) == generation  # the text alone is cached


def test_entries_are_stored_under_the_model_named_in_the_llm_string():
    cache = memory_cache()
    generation = FakeListLLM(responses=["x"]).generate(["q"]).generations[0]
    cache.update("q", str(sorted({"model": "gpt-x", "temperature": 0.0}.items())), generation)
    assert [(e["prompt"], e["model"]) for e in cache.cache.get_top_entries()] == [("q", "gpt-x")]
