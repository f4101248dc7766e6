"""The Redis Stack backend: RediSearch vector index, Lua bookkeeping, shared stats.

Where to look:

============  ==========================================================
backend.py    RedisCacheBackend: connects, and runs each operation's plan sync or async
partition.py  one partition's operations, written once as plans of wire effects
lookups.py    a partition's lookups: exact check, semantic search, hit bookkeeping (lookup.lua)
sweep.py      a partition's invalidation sweeps (ids, tags, version, pattern, clear)
health.py     a partition's health report (server, index, memory, writes accepted)
wire.py       the effects a plan yields; SyncDriver (redis.Redis), AsyncDriver (redis.asyncio)
layout.py     key names and index names (hash tags for cluster partitions)
fields.py     entry hash field names
schema.py     the index schema, loaded from schemas/entry_index.json
index.py      which index to use / create / drop (dimension, schema checks); index settings
queries.py    semantic search and invalidation queries, digests, glob mapping
codec.py      entry hash <-> CacheEntry, reply parsing (RESP2 and RESP3)
errors.py     redis-py exceptions -> this library's
client.py     building the redis-py client (single node or cluster); naming it without secrets
routing.py    which partition runs each operation: one on a single node, P hash-tagged on a cluster
cluster.py    Redis Cluster drivers: a partition's FT.* commands go to its slot's node
scripts/      the Lua scripts (lookup, store, evict, invalidate, report)
============  ==========================================================
"""

from .backend import RedisCacheBackend

__all__ = ["RedisCacheBackend"]
