"""The exact check, then the semantic search: the one sub-plan behind ``get``
(operations.py) and ``lookup`` (quality_plans.py), which differ only in the
semantic query they ask and in what they make of the match."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._plan import BackendCall, Embed, Plan
from .backends.base import Match, SemanticQuery

__all__ = ["match_plan"]

_UNAVAILABLE: Any = object()  # fallback marking a lookup the backend could not answer


def match_plan(
    key: str,
    prompt: str,
    vector: np.ndarray | None,
    *,
    semantic: bool,
    version: str | None,
    count_miss: bool,
    dimension: Callable[[], int | None],
    query: Callable[[np.ndarray], SemanticQuery],
) -> Plan[Match | None]:
    """The match for entry ``key`` (normalised ``prompt``), or None.

    With ``vector`` known before any I/O, one ``lookup`` does both checks.
    Otherwise ``lookup_exact`` runs first, with no embedding; on a miss (and
    ``semantic``) the prompt is embedded and ``lookup_semantic`` asks
    ``query(vector)``.  An exact hit is the backend's Match with ``exact`` set.
    None also when the exact check just failed (no second timeout on a stalled
    backend) or the prompt is too long to embed whole.
    """
    if semantic and vector is not None:
        found: Match | None = yield BackendCall("lookup", (key, query(vector)))
        return found
    final = count_miss and not semantic
    exact = yield BackendCall("lookup_exact", (key,), {"version": version, "final": final}, fallback=_UNAVAILABLE)
    if exact is _UNAVAILABLE:  # the backend just failed: don't pay a second timeout on it
        return None
    if exact is not None or not semantic:
        return exact
    vector = (yield Embed((prompt,), dimension()))[0]
    if vector is None:  # too long to embed whole: exact match only
        yield BackendCall("count_skipped_long", (key, count_miss))
        return None
    found = yield BackendCall("lookup_semantic", (query(vector),))
    return found
