"""What the client integrations share: the proxy that replaces a few attributes of an SDK
object, their ``options`` check, and streams that replay a hit or record a miss.

A recording passes the API's events through as they arrive and hands them to an
assembler; once the stream ends, the assembler's ``result()`` (the whole answer,
or None when the stream did not end whole) is stored.  Nothing is stored when
the stream breaks or the caller stops early.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from .._errors import InvalidInputError
from ..manager import LLMCachingManager

__all__ = [
    "AsyncRecording",
    "AsyncReplay",
    "Proxy",
    "Recording",
    "Replay",
    "as_json",
    "check_wrapper_args",
    "event_maker",
    "given",
    "plain",
]

OPTIONS = frozenset({"ttl", "tags", "namespace"})


def check_wrapper_args(wrapper: str, cache: Any, options: Mapping[str, Any]) -> None:
    if not isinstance(cache, LLMCachingManager):
        raise InvalidInputError(f"{wrapper} needs an LLMCachingManager, not {type(cache).__name__}")
    unknown = set(options) - OPTIONS
    if unknown:
        raise InvalidInputError(f"unknown options for {wrapper}: {', '.join(sorted(unknown))}")


def given(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments actually given: the SDKs' NOT_GIVEN / omit sentinels and None count as not given."""
    return {k: v for k, v in kwargs.items() if v is not None and type(v).__name__ not in ("NotGiven", "Omit")}


def plain(item: Any) -> dict[str, Any]:
    """A request item as a dict: a TypedDict as given, or an SDK object passed back in (a previous
    reply's content blocks or output items) as its JSON without the fields left unset."""
    if hasattr(item, "model_dump"):
        dumped: dict[str, Any] = item.model_dump(mode="json", exclude_none=True, by_alias=True)
        return dumped
    return dict(item)


def as_json(model: Any) -> dict[str, Any]:
    """An SDK object as the JSON the API sent: fields it did not send stay out (the SDKs
    build objects without validating, so a field absent from the reply would come back as
    a None that the model's own validation refuses)."""
    data: dict[str, Any] = model.model_dump(mode="json", exclude_unset=True, by_alias=True)
    return data


def event_maker(union: Any) -> Callable[[dict[str, Any]], Any]:
    """Build an SDK event (one of ``union``'s classes, chosen by its ``type``) from JSON, as the
    SDK does: ``model_construct``, nested objects built too, no validation."""
    classes: dict[str, Any] = {}
    pending = [union]
    while pending:
        kind = pending.pop()
        args = typing.get_args(kind)
        if args and not hasattr(kind, "model_fields"):
            pending.extend(a for a in args if isinstance(a, type) or typing.get_args(a))
            continue
        if hasattr(kind, "model_fields"):
            for literal in typing.get_args(kind.model_fields["type"].annotation):
                classes[literal] = kind

    def make(data: dict[str, Any]) -> Any:
        return classes[data["type"]].model_construct(**data)

    return make


class Proxy:
    """``target`` with some attributes replaced; everything else passes through."""

    def __init__(self, target: Any, replaced: Mapping[str, Any]) -> None:
        self._target = target
        self._replaced = dict(replaced)

    def __getattr__(self, name: str) -> Any:
        replaced = self.__dict__.get("_replaced", {})
        return replaced[name] if name in replaced else getattr(self._target, name)

    def __repr__(self) -> str:
        return f"cached({self._target!r})"


class Assembler(Protocol):
    def add(self, event: Any) -> None: ...

    def result(self) -> dict[str, Any] | None: ...


class Replay:
    """A cache hit, iterated like the SDK's ``Stream``."""

    response = None  # no HTTP response: the answer came from the cache

    def __init__(self, events: Iterable[Any]) -> None:
        self._events = iter(list(events))

    def __iter__(self) -> Iterator[Any]:
        return self._events

    def __next__(self) -> Any:
        return next(self._events)

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._events = iter(())


class AsyncReplay:
    response = None

    def __init__(self, events: Iterable[Any]) -> None:
        self._events = iter(list(events))

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._events)
        except StopIteration:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> AsyncReplay:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._events = iter(())


class Recording:
    """The API's stream, passed through event by event; stores the answer once it ends whole."""

    def __init__(self, stream: Any, assembler: Assembler, store: Callable[[dict[str, Any]], Any]) -> None:
        self._stream = stream
        self._store: Callable[[dict[str, Any]], Any] | None = store
        self._assembler = assembler
        self._iterator = iter(stream)

    def __getattr__(self, name: str) -> Any:  # response, ... of the SDK's Stream
        return getattr(self._stream, name)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            event = next(self._iterator)
        except StopIteration:
            done, store, self._store = self._assembler.result(), self._store, None  # store once
            if done is not None and store is not None:
                store(done)
            raise
        self._assembler.add(event)
        return event

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stream.close()


class AsyncRecording:
    def __init__(self, stream: Any, assembler: Assembler, store: Callable[[dict[str, Any]], Any]) -> None:
        self._stream = stream
        self._store: Callable[[dict[str, Any]], Any] | None = store
        self._assembler = assembler
        self._iterator = stream.__aiter__()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            event = await self._iterator.__anext__()
        except StopAsyncIteration:
            done, store, self._store = self._assembler.result(), self._store, None  # store once
            if done is not None and store is not None:
                result = store(done)
                if inspect.isawaitable(result):
                    await result
            raise
        self._assembler.add(event)
        return event

    async def __aenter__(self) -> AsyncRecording:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._stream.close()
