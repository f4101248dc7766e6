"""Cache entries and how their responses are encoded.

Responses are strings or JSON values.  They are stored as text with a one-word
kind ("str" or "json") and are never pickled, so reading an entry can never run
code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._errors import SerializationError
from ._validate import check_text

__all__ = ["CacheEntry", "decode_response", "encode_response"]

KIND_STR = "str"
KIND_JSON = "json"


def encode_response(value: Any) -> tuple[str, str]:
    """Return (kind, text) for a response, or raise SerializationError.

    A JSON value must come back equal after a round trip: tuples, non-string
    dict keys, NaN and custom objects are rejected rather than silently changed.
    """
    if isinstance(value, str):
        return KIND_STR, check_text(value, "response", SerializationError)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"response of type {type(value).__name__} is not JSON-serialisable: {exc}") from exc
    if json.loads(text) != value or _has_tuple(value):
        raise SerializationError(
            f"response of type {type(value).__name__} would not come back equal from JSON "
            "(tuples or non-string dict keys?)"
        )
    return KIND_JSON, check_text(text, "response", SerializationError)


def _has_tuple(value: Any) -> bool:
    if isinstance(value, tuple):
        return True
    if isinstance(value, list):
        return any(_has_tuple(v) for v in value)
    if isinstance(value, dict):
        return any(_has_tuple(v) for v in value.values())
    return False


def decode_response(kind: str, text: str) -> Any:
    """Inverse of :func:`encode_response`; raises ValueError on an unknown kind."""
    if kind == KIND_STR:
        return text
    if kind == KIND_JSON:
        return json.loads(text)
    raise ValueError(f"unknown response kind {kind!r}")


@dataclass(frozen=True)
class CacheEntry:
    """One cached response and its metadata.

    ``key`` is the entry id (see :func:`redis_semcache.make_cache_key`).
    ``prompt`` is the normalised prompt.  Times are seconds from the cache's
    clock; ``ttl`` and ``expires_at`` are None for entries that never expire.
    """

    key: str
    prompt: str
    response: Any
    model: str
    scope: str
    namespace: str = ""
    tags: tuple[str, ...] = ()
    version: str = "v1"
    created_at: float = 0.0
    last_access: float = 0.0
    access_count: int = 0
    expires_at: float | None = None
    ttl: float | None = None
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)

    def with_embedding(self, embedding: np.ndarray | None) -> CacheEntry:
        """This entry with ``embedding``: ``dataclasses.replace`` without its per-call
        introspection of the fields (a few microseconds on every ``set``)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.__dict__["embedding"] = embedding  # a fresh object nobody else sees yet
        return new

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view without the embedding, as ``get_top_entries`` reports it."""
        return {
            "key": self.key,
            "prompt": self.prompt,
            "model": self.model,
            "namespace": self.namespace,
            "tags": list(self.tags),
            "version": self.version,
            "created_at": self.created_at,
            "last_access": self.last_access,
            "access_count": self.access_count,
            "expires_at": self.expires_at,
        }
