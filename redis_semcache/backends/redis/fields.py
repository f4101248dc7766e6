"""Names of the fields of an entry hash, in one place.

An entry hash is written once per ``set`` and never modified afterwards:
RediSearch re-indexes the whole document (vector included) on any change to
an indexed hash, which costs milliseconds on HNSW.  Everything that changes on
a hit (last access, hit count, sliding expiry) lives in the sorted sets
described in :mod:`.layout`.
"""

from __future__ import annotations

__all__ = ["ENTRY_FIELDS", "FORMAT", "LFU_TIME_SCALE"]

# Written by every store; a hash under our prefix without FORMAT in "fmt" is
# foreign (or from an incompatible version) and is skipped with a warning.
FORMAT = "1"

FMT = "fmt"
PROMPT = "prompt"  # the normalised prompt
RESPONSE = "response"  # encoded response text
KIND = "kind"  # "str" or "json", see redis_semcache._entry
MODEL = "model"
NAMESPACE = "namespace"
SCOPE = "scope"  # TAG: the scope id
TAGS = "tags"  # JSON list of the user's tags, for reading back
VERSION = "version"
CREATED_AT = "created_at"  # NUMERIC: seconds, backend clock
TTL = "ttl"  # seconds, "" when the entry never expires
SEQ = "seq"  # NUMERIC: write sequence number, unique per partition

# Indexed derivations of user values (see queries.py for why digests).
MODEL_H = "model_h"  # TAG: digest of MODEL
VERSION_H = "version_h"  # TAG: digest of VERSION
TAG_H = "tag_h"  # TAG: digests of TAGS
PATTERN_KEY = "pk"  # TAG: prompt head mapped to [A-Za-z0-9_] for wildcard queries
PROMPT_LEN = "plen"  # NUMERIC: len(prompt) in characters
EMBEDDING = "embedding"  # VECTOR: little-endian float16 or float32 (the index name says which)

DIST = "dist"  # the KNN distance alias in search replies

# What a lookup reads back, in this order.  scripts/_lib.lua has the same list
# (a unit test checks they agree).
ENTRY_FIELDS = (FMT, PROMPT, RESPONSE, KIND, MODEL, NAMESPACE, SCOPE, TAGS, VERSION, CREATED_AT, TTL, SEQ)

# The LFU zset score is hits + min(last_access / LFU_TIME_SCALE, 0.999999):
# the integer part counts hits exactly, the fraction breaks ties by recency.
LFU_TIME_SCALE = 1e10
