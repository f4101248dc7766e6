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
  character, into an ``FT.AGGREGATE`` FILTER expression (length, anchored
  ``substr`` checks and ``contains``), so the server returns a superset of the
  true matches, which the backend confirms with ``fnmatch.fnmatchcase`` on the
  full prompt.  (A TAG wildcard query ``@pk:{w'...'}`` would be shorter, but
  RediSearch expands at most MAXEXPANSIONS = 200 distinct values per query and
  silently drops the rest: measured, it deleted 178 of 10,000 matches.)

``escape_tag`` is still applied to every value placed in a query, as a
second line of defence.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from . import fields as F

__all__ = [
    "MATCH_ALL",
    "PATTERN_KEY_CHARS",
    "GlobFilter",
    "SweepQuery",
    "VectorSearch",
    "digest",
    "escape_tag",
    "glob_filters",
    "pattern_key",
    "search_texts",
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


@lru_cache(maxsize=4096)  # models, versions and tags repeat on every set and lookup
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


@dataclass(frozen=True)
class GlobFilter:
    """Server-side narrowing for one glob: FILTER expressions over the pattern key.

    ``short`` applies to prompts of at most PATTERN_KEY_CHARS characters (the
    key is the whole mapped prompt), ``long`` to longer ones (the key is their
    head).  None means "no narrowing: every prompt of that length class is a
    candidate"; ``long_possible`` is False when no long prompt can match.
    """

    short: str | None
    long: str | None
    long_possible: bool


def _runs(units: list[str]) -> list[tuple[int, str]]:
    """(offset, text) of each run of literal characters in a star-free part; ONE breaks runs."""
    runs: list[tuple[int, str]] = []
    start, text = 0, ""
    for i, unit in enumerate([*units, ONE]):
        if unit == ONE:
            if text:
                runs.append((start, text))
            start, text = i + 1, ""
        else:
            text += unit
    return runs


def _at(field: str, offset: int, text: str, *, from_end: bool = False) -> str:
    where = f"strlen({field}) - {offset}" if from_end else str(offset)
    return f"substr({field}, {where}, {len(text)}) == '{text}'"


def glob_filters(pattern: str, field: str = f"@{F.PATTERN_KEY}") -> GlobFilter:
    """FILTER expressions whose matches are a superset of the prompts matching ``pattern``."""
    parts: list[list[str]] = [[]]
    for kind, ch in _glob_tokens(pattern):
        if kind == STAR:
            parts.append([])
        else:
            parts[-1].append(ONE if kind == ONE else _map_char(ch))
    starred = len(parts) > 1
    need = sum(len(p) for p in parts)
    short = [f"strlen({field}) >= {need}" if starred else f"strlen({field}) == {need}"]
    short += [_at(field, o, t) for o, t in _runs(parts[0])]
    if starred:
        last = parts[-1]
        short += [_at(field, len(last) - o, t, from_end=True) for o, t in _runs(last)]
        short += [f"contains({field}, '{t}') > 0" for part in parts[1:-1] for _, t in _runs(part)]
    head = [_at(field, o, t[: PATTERN_KEY_CHARS - o]) for o, t in _runs(parts[0]) if o < PATTERN_KEY_CHARS]
    return GlobFilter(
        short=" && ".join(short),
        long=" && ".join(head) or None,
        long_possible=starred or need > PATTERN_KEY_CHARS,
    )


def tag_filter(field: str, values: Sequence[str]) -> str:
    """``@field:{d1 | d2 ...}`` over the digests of ``values``."""
    if not values:
        raise ValueError("tag_filter needs at least one value")
    return f"@{field}:{{{' | '.join(escape_tag(digest(v)) for v in values)}}}"


# The small-scope query (ADHOC_BF) runs when the scope holds less than 1/D of
# the cache's entries.  Measured at 10k entries, 384-d FLOAT16
# (bench/query_crossover.py): ADHOC_BF costs about as much as the range
# query when the scope holds 55-70% on FLAT; on HNSW the filtered graph walk
# (BATCHES) slows down sharply below a quarter.
SMALL_SCOPE_DIVISOR = {"FLAT": 2, "HNSW": 4}


@dataclass(frozen=True)
class VectorSearch:
    """The semantic search of one scope (and optionally version), as lookup.lua runs it.

    ``texts()`` are the query strings the script chooses between by the
    scope's share of the cache: for a large scope, a ``VECTOR_RANGE`` at
    ``max_distance`` on FLAT (exact, and cheaper than KNN there) or a KNN with
    ``EF_RUNTIME $ef`` on HNSW (a range query on HNSW misses near matches); for a
    small scope, a KNN with ``HYBRID_POLICY ADHOC_BF`` (exact: it computes the
    distances of the scope's entries only); and when the scope holds every
    entry and no version is asked for, the large-scope query without the
    filter, which then matches nothing more (measured at 10k entries, 384-d
    FLOAT16: the TAG filter adds 10-13% to a FLAT range query, 8-30% to an
    HNSW walk; bench/query_crossover.py, bench/hnsw_recall.py).  The script
    asks for at most ``k`` results sorted by distance (``dist``) with ``$vec``
    as the only parameter, and keeps only candidates whose id starts with the
    scope id, so a stale count can cost a hit but never serve another scope.

    The model is not part of the pre-filter: the scope id already hashes the
    model (with namespace and parameters), and intersecting a second TAG
    iterator nearly doubled the query's server time (measured: 96 vs 53 us at
    500 candidates, 384-d FLAT).  The lookup script compares each candidate's
    ``model_h`` with the model's digest instead, so another model's entry can
    never be returned even if two scope ids collided.
    """

    scope: str
    algorithm: str
    max_distance: float
    version: str | None = None
    k: int = 4

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k must be a positive int, got {self.k!r}")
        if self.algorithm not in SMALL_SCOPE_DIVISOR:
            raise ValueError(f"algorithm must be FLAT or HNSW, got {self.algorithm!r}")
        if not re.fullmatch(r"[0-9a-f]+", self.scope):
            raise ValueError(f"scope must be a hex scope id, got {self.scope!r}")
        if not 0.0 <= self.max_distance <= 2.0:
            raise ValueError(f"max_distance must be in [0, 2], got {self.max_distance!r}")

    def filter(self) -> str:
        parts = [f"@{F.SCOPE}:{{{escape_tag(self.scope)}}}"]
        if self.version is not None:
            parts.append(tag_filter(F.VERSION_H, [self.version]))
        return " ".join(parts)

    def texts(self) -> tuple[str, str, str]:
        """(query for a large scope, for a small scope, for a scope holding every
        entry: '' when a version filter applies)."""
        where = self.filter()
        small = f"({where})=>[KNN {self.k} @{F.EMBEDDING} $vec HYBRID_POLICY ADHOC_BF AS {F.DIST}]"
        if self.algorithm == "FLAT":
            radius = repr(float(self.max_distance))
            vector = f"@{F.EMBEDDING}:[VECTOR_RANGE {radius} $vec]=>{{$YIELD_DISTANCE_AS: {F.DIST}}}"
            large, whole = f"{where} {vector}", vector
        else:  # $ef: the script passes EF_RUNTIME (the configured one, or scaled with the cache's size)
            knn = f"[KNN {self.k} @{F.EMBEDDING} $vec EF_RUNTIME $ef"
            large = f"({where})=>{knn} HYBRID_POLICY BATCHES AS {F.DIST}]"
            whole = f"*=>{knn} AS {F.DIST}]"
        return large, small, ("" if self.version is not None else whole)

    @property
    def small_scope_divisor(self) -> int:
        return SMALL_SCOPE_DIVISOR[self.algorithm]


@lru_cache(maxsize=4096)
def search_texts(scope: str, algorithm: str, max_distance: float, version: str | None, k: int) -> tuple[str, str, str]:
    """``VectorSearch(...).texts()``, built once per scope, version and threshold (lookups repeat them)."""
    return VectorSearch(scope, algorithm, max_distance, version, k).texts()


@dataclass(frozen=True)
class SweepQuery:
    """One page of an invalidation sweep: an ``FT.AGGREGATE`` over the entries
    matching ``where`` whose ``seq`` lies in ``(after, upto]``, lowest ``seq``
    first, at most ``batch`` rows.

    Rows carry the entry key and its ``seq`` (and the prompt when
    ``with_prompt``); ``filter`` is an optional FILTER expression over the
    pattern key.  The sweep pages by ``seq`` (keyset paging) rather than with
    a server-side cursor: a page query is a pure read that can be re-sent
    after a lost reply, and no cursor is left behind when a sweep is abandoned
    (leaked cursors would exhaust the index's cursor pool).
    """

    where: str = ""
    filter: str | None = None
    with_prompt: bool = False
    batch: int = 500

    def args(self, after: int | None = None, upto: int | None = None) -> list[Any]:
        """``FT.AGGREGATE`` arguments after the index name, for the page after ``seq`` ``after``."""
        low = "-inf" if after is None else f"({after}"
        high = "+inf" if upto is None else str(upto)
        text = f"{self.where} @{F.SEQ}:[{low} {high}]".strip()
        args: list[Any] = [text]
        if self.filter is None:
            args += ["LOAD", 2, "@__key", f"@{F.SEQ}"]
        else:
            # exists(): a hash that expired (or was deleted) after the query matched
            # it loads no fields, and a FILTER over a missing field fails the read.
            where = f"exists(@{F.PATTERN_KEY}) && ({self.filter})"
            args += ["LOAD", 3, "@__key", f"@{F.SEQ}", f"@{F.PATTERN_KEY}", "FILTER", where]
        if self.with_prompt:
            args += ["LOAD", 1, f"@{F.PROMPT}"]
        # TIMEOUT 0: no time limit.  With a limit, RediSearch's default ON_TIMEOUT
        # policy returns the rows found so far without saying so, and a page
        # missing rows would make the sweep step over them.
        return [*args, "SORTBY", 2, f"@{F.SEQ}", "ASC", "MAX", self.batch, "TIMEOUT", 0, "DIALECT", 2]


# A SweepQuery ``where`` that matches every entry.
MATCH_ALL = ""
SHORT_PROMPTS = f"@{F.PROMPT_LEN}:[0 {PATTERN_KEY_CHARS}]"
LONG_PROMPTS = f"@{F.PROMPT_LEN}:[({PATTERN_KEY_CHARS} +inf]"
