"""RediSearch queries, built and checked without a server.

User values never reach the query parser as typed.  Measured on RediSearch
2.10: even with every punctuation character backslash-escaped, TAG matching
fails for values with leading or trailing spaces (the index trims them, so
" x" and "x" would collide), values over 4096 bytes (truncated), NUL and
other control characters (syntax errors), and escaped non-ASCII characters.
So:

* tags, model and version are indexed as **digests** (32 hex digits of
  BLAKE2b), and a query names the digest: ``a|b``, ``*`` or ``user:1}`` can
  only ever match themselves;
* glob patterns run against a **pattern key**: the prompt's first
  ``PATTERN_KEY_CHARS`` characters with every character outside [A-Za-z0-9]
  mapped to ``_``.  The glob is mapped the same way, character for
  character, so the server returns a superset of the true matches, which the
  backend then confirms with ``fnmatch.fnmatchcase`` on the full prompt.

``escape_tag`` is still applied to every value placed in a query, as a
second line of defence.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.commands.search.query import Query

from . import fields as F

__all__ = [
    "MATCH_ALL",
    "PATTERN_KEY_CHARS",
    "KnnQuery",
    "PageQuery",
    "digest",
    "escape_tag",
    "glob_filters",
    "pattern_key",
    "tag_filter",
]

# Longer prompts keep only this head in the pattern key (RediSearch truncates
# TAG values at 4096 bytes; the head is all a prefix glob needs).
PATTERN_KEY_CHARS = 1024

_TAG_SAFE = re.compile(r"[A-Za-z0-9_]")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def escape_tag(value: str) -> str:
    """Backslash-escape every character of ``value`` that is not [A-Za-z0-9_].

    Enough for ASCII values (digests, scope ids); see the module docstring for
    why arbitrary user text is digested instead.
    """
    return "".join(ch if _TAG_SAFE.fullmatch(ch) else "\\" + ch for ch in value)


def digest(value: str) -> str:
    """The TAG form of a user value: 32 hex digits, equal only for equal strings."""
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def pattern_key(prompt: str) -> str:
    """The indexed pattern key of a normalised prompt."""
    return _NOT_ALNUM.sub("_", prompt[:PATTERN_KEY_CHARS])


# Glob tokens: STAR ("*"), ONE ("?" or a [...] class: exactly one character), or a literal character.
STAR = "*"
ONE = "?"


def _glob_tokens(pattern: str) -> list[tuple[str, str]]:
    """Split a glob exactly as ``fnmatch.translate`` does, into (kind, literal char) pairs."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            tokens.append((STAR, ""))
        elif c == "?":
            tokens.append((ONE, ""))
        elif c == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal "["
                tokens.append(("", "["))
            else:
                tokens.append((ONE, ""))
                i = j + 1
        else:
            tokens.append(("", c))
    return tokens


def _map_char(ch: str) -> str:
    return ch if ch.isascii() and ch.isalnum() else "_"


def glob_filters(pattern: str) -> tuple[str, str]:
    """Two queries whose matches together are a superset of the prompts matching ``pattern``.

    The first covers short prompts (the whole prompt is in the pattern key)
    with the mapped glob; the second covers long prompts with the mapped
    literal prefix of the glob.  They are separate so the backend can fetch
    long prompts in smaller pages.
    """
    tokens = _glob_tokens(pattern)
    mapped: list[str] = []
    for kind, ch in tokens:
        if kind == STAR:
            if not mapped or mapped[-1] != STAR:
                mapped.append(STAR)
        else:
            mapped.append(ONE if kind == ONE else _map_char(ch))
    head: list[str] = []
    for kind, ch in tokens:
        if kind:
            break
        head.append(_map_char(ch))
    prefix = "".join(head)[:PATTERN_KEY_CHARS]
    short = f"@{F.PROMPT_LEN}:[0 {PATTERN_KEY_CHARS}] @{F.PATTERN_KEY}:{{w'{''.join(mapped)}'}}"
    long = f"@{F.PROMPT_LEN}:[({PATTERN_KEY_CHARS} +inf] @{F.PATTERN_KEY}:{{w'{prefix}*'}}"
    return short, long


def tag_filter(field: str, values: Sequence[str]) -> str:
    """``@field:{d1 | d2 ...}`` over the digests of ``values``."""
    if not values:
        raise ValueError("tag_filter needs at least one value")
    return f"@{field}:{{{' | '.join(escape_tag(digest(v)) for v in values)}}}"


def _params_args(params: dict[str, Any]) -> list[Any]:
    out: list[Any] = ["PARAMS", 2 * len(params)]
    for name, value in params.items():
        out.extend((name, value))
    return out


@dataclass(frozen=True)
class KnnQuery:
    """A KNN query restricted to one scope, model and (optionally) version.

    ``args()`` are the ``FT.SEARCH`` arguments after the index name; results
    come sorted by cosine distance, nearest first, with ``return_fields``.
    """

    vector: bytes
    scope: str
    model: str
    version: str | None = None
    k: int = 4
    ef_runtime: int | None = None  # HNSW only
    return_fields: tuple[str, ...] = (F.DIST, F.FMT, F.SEQ)

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k must be a positive int, got {self.k!r}")
        if not re.fullmatch(r"[0-9a-f]+", self.scope):
            raise ValueError(f"scope must be a hex scope id, got {self.scope!r}")

    def filter(self) -> str:
        parts = [f"@{F.SCOPE}:{{{escape_tag(self.scope)}}}", tag_filter(F.MODEL_H, [self.model])]
        if self.version is not None:
            parts.append(tag_filter(F.VERSION_H, [self.version]))
        return " ".join(parts)

    def query(self) -> Query:
        ef = "" if self.ef_runtime is None else " EF_RUNTIME $ef"
        text = f"({self.filter()})=>[KNN $k @{F.EMBEDDING} $vec{ef} AS {F.DIST}]"
        return Query(text).return_fields(*self.return_fields).sort_by(F.DIST).paging(0, self.k).dialect(2)

    def args(self) -> list[Any]:
        params: dict[str, Any] = {"vec": self.vector, "k": self.k}
        if self.ef_runtime is not None:
            params["ef"] = self.ef_runtime
        return [*self.query().get_args(), *_params_args(params)]


@dataclass(frozen=True)
class PageQuery:
    """One page of an invalidation sweep: entries matching ``where`` with after < seq <= upto.

    Pages are keyset-paginated on ``seq`` (unique per partition, ascending),
    so deleting between pages never shifts or skips results.
    """

    where: str
    after: int | None = None
    upto: int | None = None
    batch: int = 500
    with_prompt: bool = False

    def query(self) -> Query:
        low = "-inf" if self.after is None else f"({self.after}"
        high = "+inf" if self.upto is None else str(self.upto)
        text = f"{self.where} @{F.SEQ}:[{low} {high}]".strip()
        fields = (F.SEQ, F.PROMPT) if self.with_prompt else (F.SEQ,)
        return Query(text).return_fields(*fields).sort_by(F.SEQ, asc=True).paging(0, self.batch).dialect(2)

    def args(self) -> list[Any]:
        return self.query().get_args()


# A PageQuery ``where`` that matches every entry (only the seq range applies).
MATCH_ALL = ""
