"""Argument checks shared by every public entry point."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ._errors import InvalidInputError

__all__ = ["check_label", "check_positive", "check_tags", "check_text", "check_ttl"]


# Redis refuses an expiry past 2**63 - 1 ms from the epoch ("invalid expire time"); a TTL
# of at most 2**62 ms (146 million years) is accepted for as long as anyone will run this.
MAX_TTL = 2**62 / 1000


def check_ttl(ttl: Any) -> float:
    """A TTL every backend accepts: positive, finite, at most MAX_TTL seconds (InvalidInputError)."""
    seconds = check_positive(ttl, "ttl")
    if seconds > MAX_TTL:
        raise InvalidInputError(f"ttl must be at most {MAX_TTL:.4g} seconds (what Redis accepts), got {ttl!r}")
    return seconds


def check_positive(value: Any, what: str) -> float:
    """A positive, finite number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInputError(f"{what} must be a finite number of seconds, got {value!r}")
    if value <= 0:
        raise InvalidInputError(f"{what} must be positive, got {value!r}")
    return float(value)


def check_label(value: Any, what: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a str, not {type(value).__name__}")
    if not value and not allow_empty:
        raise InvalidInputError(f"{what} must not be empty")
    return check_text(value, what)


def check_text(value: str, what: str, error: type[InvalidInputError] = InvalidInputError) -> str:
    """``value`` when it can be stored as UTF-8: text with a lone surrogate (e.g.
    bytes decoded with ``surrogateescape``) cannot, on any backend."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise error(f"{what} is not valid Unicode text (it has a lone surrogate)") from None
    return value


def check_tags(tags: Any) -> tuple[str, ...]:
    """Tags as a de-duplicated tuple; a single str is one tag, not its characters."""
    if tags is None:
        return ()
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, Iterable):
        raise InvalidInputError(f"tags must be a list of str, not {type(tags).__name__}")
    return tuple(dict.fromkeys(check_label(t, "tag") for t in tags))
