"""What the Redis backend asks of the server, and the two drivers that do it.

The backend's operations are plans (as in :mod:`redis_semcache._plan`):
generators that yield the effects below and receive their replies.  Every
decision - key names, queries, reply decoding, index handling, NOSCRIPT
re-runs - lives in the plans, written once.  A driver only performs effects:

* :class:`SyncDriver` on a ``redis.Redis`` (or ``RedisCluster``) client;
* :class:`AsyncDriver` on a ``redis.asyncio`` client, one per event loop.

Drivers raise this library's errors (:func:`.errors.classify`), so plans
handle ``IndexMissingError`` and friends, never redis-py exceptions.  The
cluster drivers in cluster.py differ only in routing search commands.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.exceptions import NoScriptError

from ..._plan import run_async, run_sync
from .errors import REDIS_ERRORS, classify
from .scripts import NAMES, ScriptSet, source

__all__ = [
    "AsyncDriver",
    "Command",
    "Exclusive",
    "FanOut",
    "LoadScripts",
    "Pause",
    "Pipeline",
    "Script",
    "SyncDriver",
    "WirePlan",
]

T = TypeVar("T")

# A script is called by SHA and loaded again on NOSCRIPT (a SCRIPT FLUSH, a restart,
# a failover); a SCRIPT FLUSH landing between that reload and the call fails it
# again.  NOSCRIPT means nothing ran, so the drivers simply call again, this many
# times in all.  The drivers send EVALSHA themselves, with the SHA and text of
# redis-py's Script: Script.__call__ costs about 17 µs more per call (redis-py 8.2:
# two imports and two Protocol isinstance checks per call), a tenth of an exact hit's
# client CPU (bench/client_cpu.py).
SCRIPT_ATTEMPTS = 4


@dataclass(frozen=True)
class Command:
    """One command.  ``route``, when set, is a key whose slot's node must run it: on a cluster,
    search commands (FT.*) and keyless ones cannot be routed by their arguments."""

    args: tuple[Any, ...]
    route: str | None = None


@dataclass(frozen=True)
class Script:
    """Run Lua script ``name`` (EVALSHA by the SHA of redis-py's Script, reloaded on NOSCRIPT)."""

    name: str
    keys: tuple[str | bytes, ...]
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Pipeline:
    """Commands sent in one round trip.  The reply is a list holding each command's
    result or its error (a BackendError), in order; nothing is raised."""

    commands: tuple[Command, ...]


@dataclass(frozen=True)
class LoadScripts:
    """Load every script into the server's script cache."""


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Exclusive:
    """Run ``plan`` while no other plan of this backend runs an Exclusive (index setup)."""

    plan: WirePlan[Any]


@dataclass(frozen=True)
class FanOut:
    """Run ``plans`` (one per cluster partition); the reply lists their results in order.
    The async driver runs them concurrently; the first error is raised once all end."""

    plans: tuple[WirePlan[Any], ...]


Effect = Command | Script | Pipeline | LoadScripts | Pause | Exclusive | FanOut
WirePlan = Generator[Effect, Any, T]


class SyncDriver:
    """Performs effects on a blocking redis-py client; shared by every thread."""

    def __init__(self, client: Any, where: str, secrets: Sequence[str]) -> None:
        self.client = client
        self.scripts = ScriptSet(client)
        self._where = where
        self._secrets = tuple(secrets)
        self._exclusive = threading.RLock()

    def run(self, plan: WirePlan[T]) -> T:
        return run_sync(plan, self.perform)

    def perform(self, effect: Effect) -> Any:
        if isinstance(effect, FanOut):
            return [self.run(plan) for plan in effect.plans]
        if isinstance(effect, Exclusive):
            with self._exclusive:
                return self.run(effect.plan)
        if isinstance(effect, Pause):
            time.sleep(effect.seconds)  # a one-off wait for the server's background indexing
            return None
        try:
            if isinstance(effect, Command):
                return self.command(effect)
            if isinstance(effect, Script):
                return self.script(effect)
            if isinstance(effect, Pipeline):
                return [self._error(r) for r in self.pipeline(effect.commands)]
            return self.load_scripts()
        except REDIS_ERRORS as exc:
            raise self._error(exc) from exc

    def command(self, command: Command) -> Any:
        return self.client.execute_command(*command.args)

    def script(self, effect: Script) -> Any:
        script = self.scripts[effect.name]
        command = ("EVALSHA", script.sha, len(effect.keys), *effect.keys, *effect.args)
        for attempt in range(SCRIPT_ATTEMPTS):
            try:
                return self.client.execute_command(*command)
            except NoScriptError:
                if attempt == SCRIPT_ATTEMPTS - 1:
                    raise
                self.client.script_load(script.script)
        raise AssertionError("unreachable")

    def pipeline(self, commands: Sequence[Command]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command.args)
        return list(pipe.execute(raise_on_error=False))

    def load_scripts(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        for name in NAMES:
            pipe.script_load(source(name))
        pipe.execute()

    def _error(self, result: Any) -> Any:
        return classify(result, self._where, self._secrets) if isinstance(result, REDIS_ERRORS) else result


class AsyncDriver:
    """Performs effects on a ``redis.asyncio`` client, on the event loop that made it."""

    def __init__(self, client: Any, where: str, secrets: Sequence[str]) -> None:
        self.client = client
        self.scripts = ScriptSet(client)  # AsyncScript objects over the same script text
        self._where = where
        self._secrets = tuple(secrets)
        self._exclusive = asyncio.Lock()

    async def run(self, plan: WirePlan[T]) -> T:
        return await run_async(plan, self.perform)

    async def perform(self, effect: Effect) -> Any:
        if isinstance(effect, FanOut):
            results = await asyncio.gather(*(self.run(plan) for plan in effect.plans), return_exceptions=True)
            failed = next((r for r in results if isinstance(r, BaseException)), None)
            if failed is not None:
                raise failed
            return results
        if isinstance(effect, Exclusive):
            async with self._exclusive:
                return await self.run(effect.plan)
        if isinstance(effect, Pause):
            await asyncio.sleep(effect.seconds)
            return None
        try:
            if isinstance(effect, Command):
                return await self.command(effect)
            if isinstance(effect, Script):
                return await self.script(effect)
            if isinstance(effect, Pipeline):
                return [self._error(r) for r in await self.pipeline(effect.commands)]
            return await self.load_scripts()
        except REDIS_ERRORS as exc:
            raise self._error(exc) from exc

    async def command(self, command: Command) -> Any:
        return await self.client.execute_command(*command.args)

    async def script(self, effect: Script) -> Any:
        script = self.scripts[effect.name]
        command = ("EVALSHA", script.sha, len(effect.keys), *effect.keys, *effect.args)
        for attempt in range(SCRIPT_ATTEMPTS):
            try:
                return await self.client.execute_command(*command)
            except NoScriptError:
                if attempt == SCRIPT_ATTEMPTS - 1:
                    raise
                await self.client.script_load(script.script)
        raise AssertionError("unreachable")

    async def pipeline(self, commands: Sequence[Command]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command.args)
        return list(await pipe.execute(raise_on_error=False))

    async def load_scripts(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        for name in NAMES:
            pipe.script_load(source(name))
        await pipe.execute()

    async def close(self) -> None:
        await self.client.aclose()

    def _error(self, result: Any) -> Any:
        return classify(result, self._where, self._secrets) if isinstance(result, REDIS_ERRORS) else result
