"""Cache ``chat.completions.create`` of an OpenAI client::

    client = cached_openai(openai.OpenAI(), cache)        # or openai.AsyncOpenAI()
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[...])

``create`` takes the same arguments and returns a real ``ChatCompletion`` (or a
stream of ``ChatCompletionChunk``), from the cache or from the API.  The key is
the model, the messages as a chat request (the last user message is compared,
the rest scopes the entry; see :mod:`redis_semcache.request`) and every
parameter except those in ``UNKEYED`` (which do not change the answer); a
parameter given as None counts as not given.

Not cached, passed straight to the API: ``n > 1`` (the caller wants distinct
samples; ``cache_multiple=True`` opts in), requests whose messages the cache
cannot compare (images, audio ...), and everything on the client other than
``chat.completions.create`` and ``responses.create`` (see
:mod:`redis_semcache.integrations.openai_responses`).  Any temperature is cached (it is part of the
key); for a fresh sample, call the wrapped client itself.  Concurrent identical non-streaming requests call
the API once (``get_or_compute``).  With ``stream=True`` a miss passes chunks
through as they arrive and stores the assembled answer once the stream ends
with a finish reason for every choice (nothing is stored if it breaks or the
caller stops early); a hit is replayed as chunks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from .._errors import InvalidInputError
from ..manager import LLMCachingManager
from ._streams import AsyncRecording, AsyncReplay, Proxy, Recording, Replay
from .chat_wire import UNKEYED, chat_cache_key, replay_chunks
from .chat_wire import ChunkAssembler as _Assembler
from .openai_responses import Responses

__all__ = ["UNKEYED", "cached_openai"]


def cached_openai(client: Any, cache: LLMCachingManager, *, cache_multiple: bool = False, **options: Any) -> Any:
    """Wrap an ``openai.OpenAI`` or ``openai.AsyncOpenAI`` client.

    ``options`` (``ttl``, ``tags``, ``namespace``) go to every write.
    """
    if not isinstance(cache, LLMCachingManager):
        raise InvalidInputError(f"cached_openai needs an LLMCachingManager, not {type(cache).__name__}")
    unknown = set(options) - {"ttl", "tags", "namespace"}
    if unknown:
        raise InvalidInputError(f"unknown options for cached_openai: {', '.join(sorted(unknown))}")
    is_async = isinstance(client, AsyncOpenAI)
    completions = _Completions(client.chat.completions, cache, cache_multiple, options, is_async)
    responses = Responses(client.responses, cache, options, is_async)  # the Responses API: openai_responses.py
    return Proxy(client, {"chat": Proxy(client.chat, {"completions": completions}), "responses": responses})


class _Completions(Proxy):
    def __init__(
        self, target: Any, cache: LLMCachingManager, cache_multiple: bool, options: dict[str, Any], is_async: bool
    ) -> None:
        super().__init__(target, {"create": self._acreate if is_async else self._create})
        self._cache = cache
        self._cache_multiple = cache_multiple
        self._options = options

    def _key(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """The manager's keywords for this request, or None when it is not cached."""
        given = {k: v for k, v in kwargs.items() if type(v).__name__ not in ("NotGiven", "Omit")}
        return chat_cache_key(given, self._cache_multiple)

    def _create(self, **kwargs: Any) -> Any:
        key = self._key(kwargs)
        if key is None:
            return self._target.create(**kwargs)
        if kwargs.get("stream"):
            stored = self._cache.get(**key)
            if stored is not None:
                return Replay(_replay_chunks(stored, kwargs))
            stream = self._target.create(**kwargs)
            return Recording(stream, _Assembler(), lambda done: self._cache.set(response=done, **key, **self._options))
        stored = self._cache.get_or_compute(
            compute=lambda: self._target.create(**kwargs).model_dump(mode="json"), **key, **self._options
        )
        return ChatCompletion.model_validate(stored)

    async def _acreate(self, **kwargs: Any) -> Any:
        key = self._key(kwargs)
        if key is None:
            return await self._target.create(**kwargs)
        if kwargs.get("stream"):
            stored = await self._cache.aget(**key)
            if stored is not None:
                return AsyncReplay(_replay_chunks(stored, kwargs))

            async def store(done: dict[str, Any]) -> None:
                await self._cache.aset(response=done, **key, **self._options)

            return AsyncRecording(await self._target.create(**kwargs), _Assembler(), store)

        async def compute() -> dict[str, Any]:
            return (await self._target.create(**kwargs)).model_dump(mode="json")

        return ChatCompletion.model_validate(await self._cache.aget_or_compute(compute=compute, **key, **self._options))


# -- streams -------------------------------------------------------------------


def _replay_chunks(stored: dict[str, Any], kwargs: Mapping[str, Any]) -> list[ChatCompletionChunk]:
    """A stored completion as chunks (see :func:`.chat_wire.replay_chunks`)."""
    return [ChatCompletionChunk.model_validate(c) for c in replay_chunks(stored, kwargs)]
