"""One entry as store.lua reads it: a single MessagePack array of strings.

store.lua takes one argument per entry - ``[id, now, ttl_ms, expires_at,
field, value, ...]`` packed here and unpacked by the server's ``cmsgpack``
(C) - instead of some 30.  redis-py encodes each argument in Python (about
2 µs apiece), so at 30 per entry that was most of a bulk load's client time
(bench/bulk_load.py).  Every value is a MessagePack *str*: Redis's cmsgpack
does not decode the *bin* types, and a Lua string holds any bytes anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..._entry import CacheEntry
from .codec import encode_entry

__all__ = ["pack_strings", "store_record"]

_FIXSTR = [bytes((0xA0 | n,)) for n in range(32)]
_NAMES: dict[str, bytes] = {}  # hash field name -> its packed form (header and name)


def _header(n: int) -> bytes:
    if n < 32:
        return _FIXSTR[n]
    if n < 0x100:
        return b"\xd9" + n.to_bytes(1, "big")
    if n < 0x10000:
        return b"\xda" + n.to_bytes(2, "big")
    return b"\xdb" + n.to_bytes(4, "big")


def _array_header(n: int) -> bytes:
    return bytes((0x90 | n,)) if n < 16 else b"\xdc" + n.to_bytes(2, "big")


def pack_strings(values: Sequence[bytes]) -> bytes:
    """A MessagePack array of str holding ``values`` (fewer than 65,536 of them)."""
    parts = [_array_header(len(values))]
    for value in values:
        parts.append(_header(len(value)))
        parts.append(value)
    return b"".join(parts)


def store_record(entry: CacheEntry, ttl: float | None, now: float, dtype: str) -> bytes:
    """store.lua's argument for ``entry``: id, now, TTL (ms), expires_at, then the hash's field/value pairs."""
    fields = encode_entry(entry, now=now, ttl=ttl, dtype=dtype)
    head = (
        entry.key.encode(),
        repr(float(now)).encode(),
        b"" if ttl is None else str(max(1, round(ttl * 1000))).encode(),
        b"" if ttl is None else repr(now + ttl).encode(),
    )
    parts = [_array_header(len(head) + 2 * len(fields))]
    for value in head:
        parts.append(_header(len(value)))
        parts.append(value)
    names = _NAMES
    for name, value in fields.items():
        packed = names.get(name)
        if packed is None:
            raw = name.encode()
            packed = names[name] = _header(len(raw)) + raw
        parts.append(packed)
        parts.append(_header(len(value)))
        parts.append(value)
    return b"".join(parts)
