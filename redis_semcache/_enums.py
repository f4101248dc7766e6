"""The eviction and invalidation strategies a manager is configured with."""

from __future__ import annotations

from enum import Enum
from typing import Any

from ._errors import InvalidInputError

__all__ = ["CacheStrategy", "InvalidationStrategy"]


class _Choice(str, Enum):
    """A str enum read in any case ("LFU" is "lfu"); unknown values raise InvalidInputError (still a ValueError)."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            folded = value.strip().lower()
            for member in cls:
                if member.value == folded:
                    return member
        choices = ", ".join(repr(m.value) for m in cls)
        raise InvalidInputError(f"{cls.__name__} must be one of {choices}; got {value!r}")


class CacheStrategy(_Choice):
    """Which entry to evict when the cache is full."""

    LRU = "lru"  # least recently read or written
    LFU = "lfu"  # fewest hits; ties go to the least recently used
    FIFO = "fifo"  # oldest write
    TTL = "ttl"  # soonest expiry; entries without TTL go last


class InvalidationStrategy(_Choice):
    """How entries leave the cache apart from eviction.

    TTL_BASED   entries expire after ``ttl`` (or the manager's ``default_ttl``).
    MANUAL      ``default_ttl`` is not applied; entries stay until invalidated or
                evicted (an explicit per-call ``ttl`` still applies).
    VERSIONED   like TTL_BASED, and lookups only return entries whose version is
                the manager's ``cache_version``: bump it and old entries vanish.
    PATTERN_BASED  the same as TTL_BASED: ``invalidate(pattern=...)`` works under
                every strategy, so this one adds nothing to it.
    """

    MANUAL = "manual"
    TTL_BASED = "ttl_based"
    PATTERN_BASED = "pattern_based"
    VERSIONED = "versioned"
