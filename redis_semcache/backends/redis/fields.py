"""Names of the fields of an entry hash, in one place.

An entry hash is written once per ``set`` and never modified afterwards:
RediSearch re-indexes the whole document (vector included) on any change to
an indexed hash, which costs milliseconds on HNSW.  Everything that changes on
a hit (last access, hit count, sliding expiry) lives in the order zset and the
acc hash described in :mod:`.layout`, and in the key's TTL.
"""

from __future__ import annotations

__all__ = ["DEFAULTS", "ENTRY_FIELDS", "FORMAT", "LFU_TIME_SCALE"]

# Written by every store; a hash under our prefix without FORMAT in "fmt" is
# foreign (or from an incompatible version) and is skipped with a warning.
FORMAT = "1"

FMT = "fmt"
PROMPT = "prompt"  # the normalised prompt
RESPONSE = "response"  # encoded response text
KIND = "kind"  # "str" or "json", see redis_semcache._entry
MODEL = "model"
NAMESPACE = "namespace"
SCOPE = "scope"  # indexed TAG: the scope id
TAGS = "tags"  # JSON list of the user's tags, for reading back
VERSION = "version"
CREATED_AT = "created_at"  # seconds, backend clock
TTL = "ttl"  # seconds, "" when the entry never expires
SEQ = "seq"  # indexed NUMERIC: write sequence number, unique per partition

# Derivations of user values (see queries.py for why digests).  Only the fields
# queries filter by are indexed (schemas/entry_index.json); the others are read
# from the hash by FT.SEARCH RETURN and FT.AGGREGATE LOAD.
MODEL_H = "model_h"  # digest of MODEL, checked by lookup.lua
VERSION_H = "version_h"  # indexed TAG: digest of VERSION
TAG_H = "tag_h"  # indexed TAG: digests of TAGS (absent without tags)
PATTERN_KEY = "pk"  # prompt head mapped to [A-Za-z0-9_], for the FILTER of wildcard sweeps
PROMPT_LEN = "plen"  # indexed NUMERIC: len(prompt) in characters
EMBEDDING = "embedding"  # indexed VECTOR: little-endian float16, bfloat16 or float32 (the index name says which)

DIST = "dist"  # the KNN distance alias in search replies

# Optional fields: a store leaves them out when they hold this default, and a
# reader takes the default when they are absent.  scripts/_lib.lua's
# OPTIONAL_FIELDS lists them (with tag_h and embedding) for replacing an entry.
DEFAULTS = {KIND: "str", MODEL: "default", NAMESPACE: "", TAGS: "[]", TTL: ""}

# What a lookup reads back, in this order.  scripts/_lib.lua has the same list
# (a unit test checks they agree).
ENTRY_FIELDS = (FMT, PROMPT, RESPONSE, KIND, MODEL, NAMESPACE, SCOPE, TAGS, VERSION, CREATED_AT, TTL, SEQ)

# The LFU zset score is hits + min(last_access / LFU_TIME_SCALE, 0.999999):
# the integer part counts hits exactly, the fraction breaks ties by recency.
LFU_TIME_SCALE = 1e10
