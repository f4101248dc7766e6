"""Entry hashes <-> CacheEntry, and parsing of server replies.  No I/O.

Responses are stored as (kind, text) through ``redis_semcache._entry``; no
value is ever unpickled or evaluated.  Replies may come from a RESP2 or a
RESP3 connection, with or without ``decode_responses``: every parser here
accepts bytes and str alike.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from ..._entry import CacheEntry, decode_response, encode_response
from ..._errors import InvalidInputError, MalformedEntryError
from ..._vectors import to_bytes
from . import fields as F
from .queries import digest, pattern_key

__all__ = [
    "MalformedEntryError",
    "Record",
    "decode_record",
    "encode_entry",
    "lfu_hits",
    "parse_info",
    "parse_rows",
    "text",
]

# A record, as the Lua scripts return it: [id, *ENTRY_FIELDS, last access, hits, exp score].
RECORD_LEN = 1 + len(F.ENTRY_FIELDS) + 3
Record = Sequence[Any]


def text(value: Any) -> str:
    """A reply value as str (replies are bytes unless decode_responses is on)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    raise TypeError(f"expected a string reply, got {type(value).__name__}")


def _utf8(value: str, what: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{what} is not valid Unicode text (lone surrogate?): {exc}") from exc


_FORMAT = F.FORMAT.encode()


@lru_cache(maxsize=256)
def _label_digest(label: str) -> bytes:
    """digest() of a model or version label as bytes: a few labels recur in every write."""
    return digest(label).encode()


def encode_entry(entry: CacheEntry, *, now: float, ttl: float | None, dtype: str = "FLOAT32") -> dict[str, bytes]:
    """The hash fields of a new entry, except ``seq`` (the store script assigns it);
    the embedding in the index's vector type ``dtype``.

    Optional fields holding their default (``F.DEFAULTS``: no tags, no TTL, ...)
    are left out: each hash field costs about 64 bytes of Redis memory.
    """
    kind, body = encode_response(entry.response)
    prompt = entry.prompt
    out: dict[str, bytes] = {
        F.FMT: _FORMAT,
        F.PROMPT: _utf8(prompt, "prompt"),
        F.RESPONSE: _utf8(body, "response"),
        F.SCOPE: entry.scope.encode(),
        F.VERSION: _utf8(entry.version, "version"),
        F.CREATED_AT: repr(float(now)).encode(),
        F.MODEL_H: _label_digest(entry.model),
        F.VERSION_H: _label_digest(entry.version),
        F.PATTERN_KEY: pattern_key(prompt).encode(),
        F.PROMPT_LEN: str(len(prompt)).encode(),
    }
    # The optional fields, in F.DEFAULTS order, each only when it is not its default.
    if kind != F.DEFAULTS[F.KIND]:
        out[F.KIND] = kind.encode()
    if entry.model != F.DEFAULTS[F.MODEL]:
        out[F.MODEL] = _utf8(entry.model, "model")
    if entry.namespace != F.DEFAULTS[F.NAMESPACE]:
        out[F.NAMESPACE] = _utf8(entry.namespace, "namespace")
    if entry.tags:  # no tags is the default, "[]"
        out[F.TAGS] = _utf8(json.dumps(list(entry.tags), ensure_ascii=False), "tag")
    if ttl is not None:  # no TTL is the default, ""
        out[F.TTL] = repr(float(ttl)).encode()
    if entry.tags:
        out[F.TAG_H] = ",".join(digest(t) for t in entry.tags).encode()
    if entry.embedding is not None:
        out[F.EMBEDDING] = to_bytes(entry.embedding, dtype)
    return out


def lfu_hits(score: float) -> int:
    """The hit count carried by an LFU zset score (hits + a recency fraction)."""
    return math.floor(score)


def _str(value: Any) -> str:
    """:func:`text`, quicker for the usual bytes reply."""
    return value.decode("utf-8") if type(value) is bytes else text(value)


def _float(value: Any, what: str) -> float:
    try:
        out = float(_str(value))
    except (TypeError, ValueError, UnicodeDecodeError) as exc:
        raise MalformedEntryError(f"{what} is not a number: {value!r:.40}") from exc
    if not math.isfinite(out) and not (what == "expires_at" and out == math.inf):
        raise MalformedEntryError(f"{what} is not finite")
    return out


def _tags(value: str) -> tuple[str, ...]:
    if value == F.DEFAULTS[F.TAGS]:  # most entries have no tags: no JSON to parse
        return ()
    tags = json.loads(value)
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise MalformedEntryError("tags is not a list of strings")
    return tuple(tags)


# Where each entry field sits in a record.
_AT = {name: 1 + i for i, name in enumerate(F.ENTRY_FIELDS)}
_END = 1 + len(F.ENTRY_FIELDS)
_REQUIRED = tuple(name for name in F.ENTRY_FIELDS if name not in F.DEFAULTS)
_required = operator.itemgetter(*(_AT[name] for name in _REQUIRED))
_FMT, _PROMPT, _RESPONSE, _SCOPE = _AT[F.FMT], _AT[F.PROMPT], _AT[F.RESPONSE], _AT[F.SCOPE]
_VERSION, _CREATED_AT = _AT[F.VERSION], _AT[F.CREATED_AT]


def _optional(record: Record, name: str) -> str:
    """An optional field's value, or its default when the store left it out."""
    value = record[_AT[name]]
    return F.DEFAULTS[name] if value is None else _str(value)


def decode_record(record: Record) -> CacheEntry:
    """Build a CacheEntry (without its embedding) from a script's record."""
    if len(record) != RECORD_LEN:
        raise MalformedEntryError(f"record has {len(record)} items, expected {RECORD_LEN}")
    if None in _required(record):
        missing = [name for name in _REQUIRED if record[_AT[name]] is None]
        raise MalformedEntryError(f"missing fields {missing}")
    try:
        if _str(record[_FMT]) != F.FORMAT:
            raise MalformedEntryError("unknown format marker")
        ttl_text = _optional(record, F.TTL)
        lru, hits, exp = record[_END:]
        return CacheEntry(
            key=_str(record[0]),
            prompt=_str(record[_PROMPT]),
            response=decode_response(_optional(record, F.KIND), _str(record[_RESPONSE])),
            model=_optional(record, F.MODEL),
            scope=_str(record[_SCOPE]),
            namespace=_optional(record, F.NAMESPACE),
            tags=_tags(_optional(record, F.TAGS)),
            version=_str(record[_VERSION]),
            created_at=_float(record[_CREATED_AT], "created_at"),
            last_access=_float(lru, "last_access") if lru is not None else 0.0,
            access_count=lfu_hits(_float(hits, "access_count")) if hits is not None else 0,
            expires_at=None if exp is None else _float(exp, "expires_at"),
            ttl=_float(ttl_text, "ttl") if ttl_text else None,
        )
    except MalformedEntryError:
        raise
    except (ValueError, TypeError, UnicodeDecodeError) as exc:  # bad JSON, bad kind, bad UTF-8
        raise MalformedEntryError(f"{type(exc).__name__}: {exc}") from exc


def _pairs(flat: Sequence[Any]) -> dict[str, Any]:
    return {text(flat[i]): flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def parse_info(reply: Any) -> dict[str, Any]:
    """FT.INFO (or any flat key/value reply) as a dict with str keys, RESP2 or RESP3."""
    if isinstance(reply, Mapping):
        return {text(k): v for k, v in reply.items()}
    if isinstance(reply, (list, tuple)):
        return _pairs(reply)
    raise TypeError(f"unexpected reply of type {type(reply).__name__}")


def parse_rows(reply: Any) -> list[dict[str, Any]]:
    """The rows of an FT.AGGREGATE reply (without a cursor), RESP2 or RESP3."""
    if isinstance(reply, Mapping):  # RESP3: {results: [{extra_attributes: {...}}]}
        results = {text(k): v for k, v in reply.items()}.get("results") or []
        rows = []
        for item in results:
            item = {text(k): v for k, v in item.items()}
            rows.append({text(k): v for k, v in (item.get("extra_attributes") or {}).items()})
        return rows
    if isinstance(reply, (list, tuple)) and reply:  # RESP2: [count, [f, v, ...], ...]
        return [_pairs(row) for row in reply[1:]]
    raise TypeError(f"unexpected FT.AGGREGATE reply of type {type(reply).__name__}")
