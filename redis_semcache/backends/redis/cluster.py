"""Redis Cluster drivers: a partition's search commands go to the node owning its slot.

Open-source RediSearch has no cluster coordinator, so FT.* commands (and
keyless ones such as PING) are sent to the node that owns the partition's
hash tag (``Command.route``); everything else is routed by key by redis-py.
An index missing after a failover or a reshard is recreated on the new owner
by the partition's plans ("no such index" -> resolve again).  How a cache is
split into partitions is :mod:`.routing`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from redis import exceptions as rx

from .errors import REDIS_ERRORS
from .scripts import NAMES, source
from .wire import AsyncDriver, Command, SyncDriver

__all__ = ["DEFAULT_PARTITIONS", "ClusterAsyncDriver", "ClusterSyncDriver"]

DEFAULT_PARTITIONS = 16
# Slot moves (failover, reshard) seen by an FT command: refresh the slot map and retry.
_ROUTING_RETRIES = 3
_ROUTING_ERRORS = (
    rx.MovedError, rx.AskError, rx.TryAgainError, rx.ClusterDownError, rx.ConnectionError, rx.SlotNotCoveredError,
)  # fmt: skip


class ClusterSyncDriver(SyncDriver):
    """Search commands go to their partition's node; SCRIPT LOAD to every primary."""

    def command(self, command: Command) -> Any:
        if command.route is None:
            return self.client.execute_command(*command.args)  # redis-py routes by key
        for attempt in range(_ROUTING_RETRIES + 1):
            try:
                node = self.client.get_node_from_key(command.route)
                return self.client.execute_command(*command.args, target_nodes=node)
            except _ROUTING_ERRORS:
                if attempt == _ROUTING_RETRIES:
                    raise
                self.client.nodes_manager.initialize()  # learn the new slot owner
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def pipeline(self, commands: Sequence[Command]) -> list[Any]:
        if not _pipelinable(commands):  # a cluster pipeline cannot route FT commands
            return [_outcome(self.command, c) for c in commands]
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command.args, **_target(self.client, command))
        return list(pipe.execute(raise_on_error=False))

    def load_scripts(self) -> None:
        for name in NAMES:
            self.client.script_load(source(name))


# Keyless commands a cluster pipeline may carry to their route's node: WAIT must share
# the connection of the write it waits for (replication.py), so it cannot go alone.
_PIPELINED_ROUTES = frozenset({"WAIT", "WAITAOF"})


def _pipelinable(commands: Sequence[Command]) -> bool:
    return all(c.route is None or str(c.args[0]).upper() in _PIPELINED_ROUTES for c in commands)


def _target(client: Any, command: Command) -> dict[str, Any]:
    """``target_nodes`` for a script call in a cluster pipeline: its first key's node
    (and for a routed WAIT, its route's node).

    Told nothing, redis-py 8's cluster pipeline asks the server for the keys of
    every EVALSHA (COMMAND GETKEYS): one extra round trip per pipelined script.
    """
    if command.route is not None:
        return {"target_nodes": client.get_node_from_key(command.route)}
    args = command.args
    if str(args[0]).upper() in ("EVAL", "EVALSHA") and int(args[2]) > 0:
        return {"target_nodes": client.get_node_from_key(args[3])}
    return {}


class ClusterAsyncDriver(AsyncDriver):
    """The async twin of :class:`ClusterSyncDriver`."""

    async def command(self, command: Command) -> Any:
        if command.route is None:
            return await self.client.execute_command(*command.args)
        await self.client.initialize()  # the slot map (a no-op once the client is set up)
        for attempt in range(_ROUTING_RETRIES + 1):
            try:
                node = self.client.get_node_from_key(command.route)
                return await self.client.execute_command(*command.args, target_nodes=node)
            except _ROUTING_ERRORS:
                if attempt == _ROUTING_RETRIES:
                    raise
                await self.client.nodes_manager.initialize()
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    async def pipeline(self, commands: Sequence[Command]) -> list[Any]:
        if not _pipelinable(commands):
            results = []
            for c in commands:
                try:
                    results.append(await self.command(c))
                except REDIS_ERRORS as exc:
                    results.append(exc)
            return results
        if all(c.route is None for c in commands):
            return await super().pipeline(commands)
        await self.client.initialize()
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            target = {} if command.route is None else {"target_nodes": self.client.get_node_from_key(command.route)}
            pipe.execute_command(*command.args, **target)
        return list(await pipe.execute(raise_on_error=False))

    async def load_scripts(self) -> None:
        for name in NAMES:
            await self.client.script_load(source(name))


def _outcome(run: Any, command: Command) -> Any:
    """A command's result or its redis-py error, as a pipeline reports them."""
    try:
        return run(command)
    except REDIS_ERRORS as exc:
        return exc
