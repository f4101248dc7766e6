"""A LlamaIndex ``LLM`` that answers from the cache before asking the LLM it wraps::

    from llama_index.core import Settings
    from redis_semcache.integrations.llamaindex import CachedLLM

    Settings.llm = CachedLLM(OpenAI(model="gpt-4o-mini"), cache)    # any LlamaIndex LLM

``chat``, ``complete`` and their async twins (and so ``predict``, query engines,
agents ...) are looked up first: ``chat`` as a chat request (the last user
message is compared, system messages and earlier turns scope the entry),
``complete`` as a prompt.  The scope also holds the wrapped model: its class,
its ``metadata`` (model name, context window ...) and its JSON settings
(temperature, max tokens, system prompt ...; a setting whose name says it is a
secret - ``api_key``, ``token`` ... - is left out, and a value that is not JSON
counts by its type), plus the call's keyword arguments.  Concurrent identical
calls run the wrapped model once (``get_or_compute``).

Streaming (``stream_chat``, ``stream_complete`` and async twins) passes
through to the wrapped model, uncached.  So do messages with images, audio or
documents.  What is stored is the answer's text, role and JSON
``additional_kwargs``; a hit's ``raw`` is None (the wrapped model's reply
object stays in the process that called it).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    TextBlock,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.llm import LLM

from .._errors import InvalidInputError
from .._errors import Uncacheable as _Uncacheable
from .._keys import canonical_param
from ..manager import LLMCachingManager
from ..request import build_request
from ._streams import check_wrapper_args

__all__ = ["CachedLLM"]

_SECRET_WORDS = ("key", "secret", "token", "password", "credential", "auth")
# What the wrapped model brings to prompts built by LLM.predict and friends: copied onto the wrapper.
_PROMPTING = ("system_prompt", "messages_to_prompt", "completion_to_prompt", "output_parser",
              "pydantic_program_mode", "query_wrapper_prompt")  # fmt: skip
_ROLES = {"chatbot": "assistant", "model": "assistant"}


class CachedLLM(LLM):
    """Wrap ``llm`` (any LlamaIndex LLM) with ``cache`` (an LLMCachingManager).

    ``options`` (``ttl``, ``tags``, ``namespace``) go to every write.
    """

    llm: Any = Field(description="The wrapped LlamaIndex LLM.", exclude=True)
    _cache: LLMCachingManager = PrivateAttr()
    _options: dict[str, Any] = PrivateAttr()

    def __init__(self, llm: Any, cache: LLMCachingManager, **options: Any) -> None:
        check_wrapper_args("CachedLLM", cache, options)
        if not isinstance(llm, LLM):
            raise InvalidInputError(f"CachedLLM wraps a LlamaIndex LLM, not {type(llm).__name__}")
        prompting = {name: getattr(llm, name) for name in _PROMPTING if hasattr(llm, name)}
        super().__init__(llm=llm, callback_manager=llm.callback_manager, **prompting)  # type: ignore[call-arg]
        self._cache = cache
        self._options = dict(options)

    @classmethod
    def class_name(cls) -> str:
        return "CachedLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return self.llm.metadata

    # -- cached ----------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        key = self._chat_key(messages, kwargs)
        if key is None:
            return self.llm.chat(messages, **kwargs)
        fresh: list[ChatResponse] = []

        def compute() -> dict[str, Any]:
            fresh.append(self.llm.chat(messages, **kwargs))
            return _stored_chat(fresh[-1])

        stored = self._cache.get_or_compute(compute=compute, **key, **self._options)
        return fresh[0] if fresh else _revive_chat(stored)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        key = self._chat_key(messages, kwargs)
        if key is None:
            return await self.llm.achat(messages, **kwargs)
        fresh: list[ChatResponse] = []

        async def compute() -> dict[str, Any]:
            fresh.append(await self.llm.achat(messages, **kwargs))
            return _stored_chat(fresh[-1])

        stored = await self._cache.aget_or_compute(compute=compute, **key, **self._options)
        return fresh[0] if fresh else _revive_chat(stored)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        key = self._complete_key(prompt, formatted, kwargs)
        if key is None:
            return self.llm.complete(prompt, formatted=formatted, **kwargs)
        fresh: list[CompletionResponse] = []

        def compute() -> dict[str, Any]:
            fresh.append(self.llm.complete(prompt, formatted=formatted, **kwargs))
            return _stored_completion(fresh[-1])

        stored = self._cache.get_or_compute(compute=compute, **key, **self._options)
        return fresh[0] if fresh else _revive_completion(stored)

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        key = self._complete_key(prompt, formatted, kwargs)
        if key is None:
            return await self.llm.acomplete(prompt, formatted=formatted, **kwargs)
        fresh: list[CompletionResponse] = []
        ask: Callable[[], Awaitable[CompletionResponse]] = lambda: self.llm.acomplete(  # noqa: E731
            prompt, formatted=formatted, **kwargs
        )

        async def compute() -> dict[str, Any]:
            fresh.append(await ask())
            return _stored_completion(fresh[-1])

        stored = await self._cache.aget_or_compute(compute=compute, **key, **self._options)
        return fresh[0] if fresh else _revive_completion(stored)

    # -- passed through ------------------------------------------------------------

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self.llm.stream_chat(messages, **kwargs)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        return self.llm.stream_complete(prompt, formatted=formatted, **kwargs)

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        return await self.llm.astream_chat(messages, **kwargs)

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        return await self.llm.astream_complete(prompt, formatted=formatted, **kwargs)

    # -- keys ------------------------------------------------------------------

    def _scope(self, call: dict[str, Any]) -> dict[str, Any]:
        """The wrapped model and this call's arguments, as scope parameters."""
        params = {"class": type(self.llm).__qualname__, "metadata": self.llm.metadata.model_dump(mode="json"),
                  "settings": model_settings(self.llm), "call": call}  # fmt: skip
        return {"llamaindex": params}

    def _chat_key(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> dict[str, Any] | None:
        try:
            chat = [_message(m) for m in messages]
            build_request(messages=chat)
            scope = self._scope(dict(kwargs))
            canonical_param(scope, "llamaindex")
        except (_Uncacheable, InvalidInputError):
            return None
        return {"model": _model_name(self.llm), "messages": chat, **scope}

    def _complete_key(self, prompt: str, formatted: bool, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        try:
            build_request(prompt)
            scope = self._scope({**kwargs, "formatted": formatted})
            canonical_param(scope, "llamaindex")
        except InvalidInputError:
            return None
        return {"model": _model_name(self.llm), "prompt": prompt, **scope}


def model_settings(llm: Any) -> dict[str, Any]:
    """The wrapped model's settings that can change an answer, as JSON (no secrets, no callbacks)."""
    settings: dict[str, Any] = {}
    for name in type(llm).model_fields:
        if name in ("callback_manager", "rate_limiter", "llm") or any(w in name.lower() for w in _SECRET_WORDS):
            continue
        value = getattr(llm, name, None)
        try:
            settings[name] = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError):
            settings[name] = f"<{type(value).__qualname__}>"  # not JSON: counted by its type
    return settings


def _model_name(llm: Any) -> str:
    name = getattr(llm.metadata, "model_name", None)
    return name if isinstance(name, str) and name.strip() else type(llm).__name__


def _message(message: ChatMessage) -> dict[str, Any]:
    if any(not isinstance(block, TextBlock) for block in message.blocks):
        raise _Uncacheable
    role = str(getattr(message.role, "value", message.role))
    out: dict[str, Any] = {"role": _ROLES.get(role, role), "content": message.content}
    if message.additional_kwargs:
        try:
            out["additional_kwargs"] = json.loads(json.dumps(message.additional_kwargs, allow_nan=False))
        except (TypeError, ValueError):
            raise _Uncacheable from None
    return out


def _json_or_empty(value: dict[str, Any]) -> dict[str, Any]:
    try:
        out: dict[str, Any] = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return {}
    return out


def _stored_chat(response: ChatResponse) -> dict[str, Any]:
    message = response.message
    return {
        "role": str(getattr(message.role, "value", message.role)),
        "content": message.content,
        "message_kwargs": _json_or_empty(message.additional_kwargs),
        "additional_kwargs": _json_or_empty(response.additional_kwargs),
    }


def _revive_chat(stored: dict[str, Any]) -> ChatResponse:
    message = ChatMessage(role=stored["role"], content=stored["content"], additional_kwargs=stored["message_kwargs"])
    return ChatResponse(message=message, additional_kwargs=stored["additional_kwargs"])


def _stored_completion(response: CompletionResponse) -> dict[str, Any]:
    return {"text": response.text, "additional_kwargs": _json_or_empty(response.additional_kwargs)}


def _revive_completion(stored: dict[str, Any]) -> CompletionResponse:
    return CompletionResponse(text=stored["text"], additional_kwargs=stored["additional_kwargs"])
