"""One plan, two drivers: how the sync and async APIs share every decision.

A manager operation is written once, as a generator (a *plan*) that yields the
effects it needs - a backend call, an embedding, a pause, the user's compute
function - and receives their results.  ``run_sync`` and ``run_async`` drive a
plan; they differ only in how they perform an effect.  This is the shape of
httpx's ``auth_flow``: no decision is written twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .backends.base import BackendMethod

__all__ = ["RESULT", "BackendCall", "Compute", "Embed", "Plan", "Sleep", "run_async", "run_sync"]

T = TypeVar("T")
E = TypeVar("E")  # the effect type: the manager's below, or the Redis backend's (backends/redis/wire.py)


class _Result:
    def __repr__(self) -> str:
        return "RESULT"


RESULT: Any = _Result()  # BackendCall.on_success default: hand back the method's own result


@dataclass(frozen=True)
class BackendCall:
    """Call ``backend.<method>(*args, **kwargs)`` (its ``a`` twin on an async backend).

    The plan receives the method's result, or ``on_success`` when one is given
    (for methods that return nothing); on a backend failure the driver's error
    policy gives ``fallback`` (fail open) or raises (strict).
    """

    method: BackendMethod
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    fallback: Any = None
    on_success: Any = RESULT


@dataclass(frozen=True)
class Embed:
    """Embed already-normalised prompts; CPU-bound, so async drivers use a thread.

    ``embedder``: embed with this callable (texts -> vectors) as it is, instead of the
    cache's embedder fitted to the index (how answers are compared: the built-in model).
    """

    texts: tuple[str, ...]
    dim: int | None = None
    progress: bool = False
    embedder: Callable[[list[str]], Any] | None = None


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Compute:
    """Call the user's function; async drivers await it when it returns an awaitable."""

    fn: Callable[[], Any]


Effect = BackendCall | Embed | Sleep | Compute
Plan = Generator[Effect, Any, T]


def run_sync(plan: Generator[E, Any, T], perform: Callable[[E], Any]) -> T:
    """Drive ``plan``, performing each effect with ``perform``; errors are thrown into the plan."""
    outcome: Any = None
    failure: BaseException | None = None
    while True:
        try:
            effect = plan.throw(failure) if failure is not None else plan.send(outcome)
        except StopIteration as done:
            return done.value
        failure = None
        try:
            outcome = perform(effect)
        except BaseException as exc:  # handed to the plan, which may clean up (release a lock) and re-raise
            failure = exc


async def run_async(plan: Generator[E, Any, T], perform: Callable[[E], Awaitable[Any]]) -> T:
    """The async twin of :func:`run_sync`: the same plan, effects awaited."""
    outcome: Any = None
    failure: BaseException | None = None
    while True:
        try:
            effect = plan.throw(failure) if failure is not None else plan.send(outcome)
        except StopIteration as done:
            return done.value
        failure = None
        try:
            outcome = await perform(effect)
        except BaseException as exc:
            failure = exc
