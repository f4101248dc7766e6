"""Checks on the server made once: when the backend is built, and before a single-node backend first uses it."""

from __future__ import annotations

from typing import Any

from ..._errors import BackendError, ConfigurationError, SearchModuleMissingError
from .codec import text
from .wire import Command, WirePlan

__all__ = ["refuse_cluster_node", "require_search"]


def require_search(list_indexes: Command) -> WirePlan[None]:
    """Raise SearchModuleMissingError when the server answers ``FT._LIST`` with "unknown command".

    Said when the cache is built rather than by every later call failing open.
    Any other failure (unreachable server, no permission) is left to the
    operations, which fail open as usual: a server that is down now may be up
    by the first call.
    """
    try:
        yield list_indexes
    except SearchModuleMissingError:
        raise
    except BackendError:
        return


def refuse_cluster_node(where: str) -> WirePlan[None]:
    """Raise ConfigurationError when the server is a Redis Cluster node.

    A single-node client there works only for the cache names whose hash slot
    that node happens to serve, and fails with MOVED for the others; say so
    up front, for every name.
    """
    try:
        info = yield Command(("INFO", "cluster"))
    except BackendError:  # e.g. an ACL user without INFO: nothing to learn here
        return
    if _cluster_enabled(info):
        raise ConfigurationError(
            f"Redis at {where} is a Redis Cluster node: use cluster_mode=True (or REDIS_CLUSTER=1)"
        )


def _cluster_enabled(info: Any) -> bool:
    if isinstance(info, dict):
        return str(info.get("cluster_enabled", "0")) == "1"
    return "cluster_enabled:1" in text(info)
