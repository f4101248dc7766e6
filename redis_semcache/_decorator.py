"""``@cache.cached(...)``: a function whose first argument is the request, cached with ``get_or_compute``.

The decorator's keywords are those of ``get_or_compute`` that make sense once
for every call: ``ttl``, ``tags``, ``namespace`` and ``version`` as given, and
``embedding`` / ``embed_text`` as callables of the first argument (a vector,
or the part of the prompt to compare, for each call).  Every other keyword is
a scope parameter, as for ``get``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Protocol

from ._errors import InvalidInputError
from ._plan import Plan
from .request import RequestText, build_request, request_of

__all__ = ["cached_decorator"]

# Keywords of get/get_or_compute that are not scope parameters; given to the decorator as values.
_PER_DECORATOR = ("ttl", "tags", "namespace", "version")
# ... and those that differ per call: the decorator takes them as callables of the first argument.
_PER_CALL = ("embedding", "embed_text")
_NOT_HERE = ("prompt", "messages", "compute")  # the decorated function's first argument and body


class _Runner(Protocol):
    def _run(self, plan: Plan[Any]) -> Any: ...

    async def _arun(self, plan: Plan[Any]) -> Any: ...

    def _get_or_compute_plan(
        self, prompt: Any, compute: Callable[[], Any] | None, model: Any, ttl: Any, tags: Any,
        namespace: str | None, params: Any, embedding: Any = None, version: str | None = None,
    ) -> Plan[Any]: ...  # fmt: skip


def cached_decorator(cache: _Runner, model: str, options: dict[str, Any]) -> Callable[[Callable[..., Any]], Any]:
    params = dict(options)
    for name in _NOT_HERE:
        if name in params:
            raise InvalidInputError(f"cached() does not take {name}=: the decorated function's first argument is it")
    fixed = {name: params.pop(name, None) for name in _PER_DECORATOR}
    per_call = {name: params.pop(name, None) for name in _PER_CALL}
    for name, fn in per_call.items():
        if fn is not None and not callable(fn):
            raise InvalidInputError(
                f"cached({name}=...) must be a callable of the first argument (one value per call), "
                f"not {type(fn).__name__}"
            )

    def plan(prompt: Any, compute: Callable[[], Any]) -> Plan[Any]:
        embed_text, embedding = per_call["embed_text"], per_call["embedding"]
        request = _request(prompt, None if embed_text is None else embed_text(prompt))
        return cache._get_or_compute_plan(
            request, compute, model, fixed["ttl"], fixed["tags"], fixed["namespace"], params,
            embedding=None if embedding is None else embedding(prompt), version=fixed["version"],
        )  # fmt: skip

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(prompt: Any, *args: Any, **kwargs: Any) -> Any:
                return await cache._arun(plan(prompt, functools.partial(fn, prompt, *args, **kwargs)))

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(prompt: Any, *args: Any, **kwargs: Any) -> Any:
            return cache._run(plan(prompt, functools.partial(fn, prompt, *args, **kwargs)))

        return wrapper

    return decorate


def _request(prompt: Any, embed_text: Any) -> RequestText:
    if embed_text is None:
        return request_of(prompt)
    return build_request(prompt, embed_text=embed_text)
