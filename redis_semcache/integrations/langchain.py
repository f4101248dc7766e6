"""LangChain's ``BaseCache`` over an :class:`~redis_semcache.LLMCachingManager`::

    from langchain_core.globals import set_llm_cache
    from redis_semcache.integrations.langchain import LangChainCache

    set_llm_cache(LangChainCache(cache))

LangChain hands a cache two strings.  ``prompt`` is the prompt of a plain LLM,
or a chat model's messages serialised as one JSON string; embedding that JSON
would make every question look alike (the wrapping dominates), so it is parsed
back into messages and cached as a chat request: the last user message is
compared, the rest scopes the entry.  ``llm_string`` (the model and its
parameters) is parsed into the model name and scope parameters.  Generations
are stored with LangChain's own serialisation (``dumps``/``loads`` restricted
to generation and message classes), never pickle.

A chat prompt with content the cache cannot compare (images, audio ...) is not
cached: lookups miss and updates store nothing.
"""

from __future__ import annotations

import ast
import json
import logging
import warnings
from collections.abc import Sequence
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.load import dumps, loads
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_openai_messages,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk

from .._errors import InvalidInputError
from .._errors import Uncacheable as _Uncacheable
from ..manager import LLMCachingManager

__all__ = ["LangChainCache"]

log = logging.getLogger("redis_semcache")

TAG = "langchain"  # every entry this adapter writes; clear() deletes only these
# What a stored response may revive into.
_GENERATION_CLASSES: list[Any] = [
    Generation,
    GenerationChunk,
    ChatGeneration,
    ChatGenerationChunk,
    AIMessage,
    AIMessageChunk,
    ToolMessage,
    FunctionMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
]
_MODEL_KEYS = ("model", "model_name", "model_id", "deployment_name", "_type")


class LangChainCache(BaseCache):
    """A LangChain LLM cache backed by ``cache`` (memory or Redis, sync and async)."""

    def __init__(self, cache: LLMCachingManager) -> None:
        if not isinstance(cache, LLMCachingManager):
            raise InvalidInputError(f"LangChainCache needs an LLMCachingManager, not {type(cache).__name__}")
        self.cache = cache

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        try:
            request = _request(prompt, llm_string)
        except _Uncacheable:
            return None
        return self._revive(self.cache.get(**request))

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        try:
            request = _request(prompt, llm_string)
        except _Uncacheable:
            return None
        return self._revive(await self.cache.aget(**request))

    def _revive(self, stored: Any) -> list[Generation] | None:
        """The generations of a stored value; a value that is not one (foreign, malformed) is a
        miss, logged and counted in the cache's ``errors`` (anyone who can write the cache's keys
        could otherwise break every LangChain call for that prompt)."""
        try:
            return _revive(stored)
        except Exception as exc:
            log.warning("redis_semcache: LangChainCache treats an unreadable cached value as a miss: %r", exc)
            self.cache.failures.record_error()
            return None

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        try:
            request = _request(prompt, llm_string)
        except _Uncacheable:
            return
        self.cache.set(response=dumps(list(return_val)), tags=[TAG], **request)

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        try:
            request = _request(prompt, llm_string)
        except _Uncacheable:
            return
        await self.cache.aset(response=dumps(list(return_val)), tags=[TAG], **request)

    def clear(self, **kwargs: Any) -> None:
        """Delete the entries this adapter wrote (other entries of the cache stay)."""
        self.cache.invalidate(tags=[TAG])

    async def aclear(self, **kwargs: Any) -> None:
        await self.cache.ainvalidate(tags=[TAG])


def _request(prompt: str, llm_string: str) -> dict[str, Any]:
    """Keyword arguments for the manager's get/set: the request, its model and scope."""
    model, params = parse_llm_string(llm_string)
    request: dict[str, Any] = {"model": model, **params}
    messages = chat_messages(prompt)
    if messages is None:
        request["prompt"] = prompt
    else:
        request["messages"] = messages
    return request


def chat_messages(prompt: str) -> list[dict[str, Any]] | None:
    """The OpenAI-style messages of a serialised chat prompt, or None for a plain prompt."""
    if not prompt.startswith("[{"):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # loads() is marked beta
            revived = loads(prompt, allowed_objects="messages")
    except Exception:  # any string that is not a serialised message list is a plain prompt
        return None
    if not isinstance(revived, list) or not all(isinstance(m, BaseMessage) for m in revived):
        return None
    messages = convert_to_openai_messages(revived)
    for message in messages:
        content = message.get("content")
        if isinstance(content, list) and any(part.get("type") != "text" for part in content):
            raise _Uncacheable
    return messages


def parse_llm_string(llm_string: str) -> tuple[str, dict[str, Any]]:
    """(model name, scope parameters) from LangChain's description of the model.

    Chat models send ``<model as JSON>---<sorted params>``; LLMs and
    non-serialisable chat models send ``str(sorted(params.items()))``.  Whatever
    cannot be parsed is kept whole as the ``llm_string`` parameter, so the scope
    still changes with every change of the model or its parameters.
    """
    head, sep, tail = llm_string.rpartition("---")
    serialized: Any = None
    if sep:
        try:
            serialized = json.loads(head)
        except ValueError:
            serialized = None
    params = _literal_params(tail if serialized is not None else llm_string)
    if params is None:
        return "langchain", {"llm_string": llm_string}
    if serialized is not None:
        params["llm"] = serialized
    kwargs = serialized.get("kwargs", {}) if isinstance(serialized, dict) else {}
    for source, prefix in ((params, "lc_"), (kwargs, "")):
        for key in _MODEL_KEYS:
            name = source.get(prefix + key)
            if isinstance(name, str) and name.strip():
                return name, params
    return "langchain", params


def _literal_params(text: str) -> dict[str, Any] | None:
    try:
        items = ast.literal_eval(text)  # a literal only: never evaluates code
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(items, Sequence) or not all(isinstance(i, tuple) and len(i) == 2 for i in items):
        return None
    params = {}
    for key, value in items:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            value = repr(value)
        params[f"lc_{key}"] = value  # prefixed: a parameter named like a get() keyword stays a parameter
    return params


def _revive(stored: Any) -> list[Generation] | None:
    """Generations from what ``update`` stored; ValueError for anything else."""
    if stored is None:
        return None
    if not isinstance(stored, str):
        raise ValueError(f"a {type(stored).__name__}, not a serialised list of generations")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generations = loads(stored, allowed_objects=_GENERATION_CLASSES)
    if not isinstance(generations, list) or not all(isinstance(g, Generation) for g in generations):
        raise ValueError(f"{type(generations).__name__} is not a list of generations")
    return generations
