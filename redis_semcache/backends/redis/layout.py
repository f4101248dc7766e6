"""Where a cache's data lives in Redis: key names and index names.

Every key of one cache partition shares one hash tag, so a partition's keys
and its search index sit in one cluster slot (one node) and Lua scripts may
touch any of them::

    semcache:{<name>:<p>}:e:<entry id>      hash, one per entry (the index PREFIX)
    semcache:{<name>:<p>}:z:<order>         zset, every entry in the eviction order of the
                                            configured strategy (only this one exists):
                                              z:lru  id -> last_access
                                              z:lfu  id -> hits + recency fraction
                                              z:fifo id -> created_at (strategies fifo and ttl)
    semcache:{<name>:<p>}:z:exp             zset id -> expires_at   (entries with a TTL only)
    semcache:{<name>:<p>}:acc               hash id -> "hits last_access" (entries hit at least once)
    semcache:{<name>:<p>}:stats             hash of shared counters
    semcache:{<name>:<p>}:seq               write sequence number
    semcache:{<name>:<p>}:scopes            hash scope id -> entries (sizes the KNN pre-filter)
    semcache:{<name>:<p>}:lock:<entry id>   single-flight compute lock (token, PX)
    semcache:{<name>:<p>}:sync              marker a removal writes before WAIT (PX, replication.py)
    semcache:{<name>:<p>}:idx:s<schema>:d<dim>[:<algorithm>[:f16|:bf16]]   the search index

The partition ``p`` is derived from the scope id (the first 16 hex digits of
every entry id), so an entry id alone names its partition.  A single Redis
uses one partition (p = 0); the layout is ready for a cluster, where each
partition gets its own slot and index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..._errors import ConfigurationError
from ..._keys import SCOPE_ID_LEN

__all__ = ["ROOT", "IndexName", "KeyLayout", "check_name"]

ROOT = "semcache"
ORDERS = ("fifo", "lru", "lfu")  # the possible order zsets; one exists at a time
ZSETS = (*ORDERS, "exp")
# The order zset each eviction strategy evicts by ("ttl" evicts by z:exp first, then creation order).
ORDER_OF = {"lru": "lru", "lfu": "lfu", "fifo": "fifo", "ttl": "fifo"}
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_DTYPE_TAIL = {"FLOAT16": ":f16", "BFLOAT16": ":bf16"}
_INDEX_TAIL = re.compile(r"s(?P<schema>[0-9]+):d(?P<dim>[0-9]+)(?::(?P<algorithm>[a-z]+)(?::(?P<dtype>b?f16))?)?")


def check_name(name: object) -> str:
    """A cache name goes inside a hash tag and an ACL key pattern: keep it plain."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigurationError(f"cache name must be 1-64 characters from A-Z a-z 0-9 _ . -, got {name!r}")
    return name


@dataclass(frozen=True)
class IndexName:
    """What an index was built for, as carried by its name.

    ``dim`` 0 means "no vector field yet": the cache has stored no embedding.
    ``dtype`` is the vector type, FLOAT32, FLOAT16 or BFLOAT16: a FLOAT32 index keeps the
    name it had before FLOAT16 existed (no type in it), a FLOAT16 one ends in ``:f16``,
    a BFLOAT16 one in ``:bf16``.
    """

    schema: int
    dim: int
    algorithm: str | None = None
    dtype: str = "FLOAT32"

    def suffix(self) -> str:
        tail = f"s{self.schema}:d{self.dim}"
        if self.dim == 0 or self.algorithm is None:
            return tail
        return f"{tail}:{self.algorithm.lower()}" + _DTYPE_TAIL.get(self.dtype, "")

    @classmethod
    def parse(cls, suffix: str) -> IndexName | None:
        m = _INDEX_TAIL.fullmatch(suffix)
        if m is None:
            return None
        algorithm = m["algorithm"]
        dtype = "BFLOAT16" if m["dtype"] == "bf16" else "FLOAT16" if m["dtype"] else "FLOAT32"
        return cls(int(m["schema"]), int(m["dim"]), None if algorithm is None else algorithm.upper(), dtype)


@dataclass(frozen=True)
class KeyLayout:
    """Key names of one cache (``name``) split into ``partitions`` hash-tagged partitions."""

    name: str
    partitions: int = 1

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.partitions < 1:
            raise ConfigurationError(f"partitions must be at least 1, got {self.partitions}")

    def partition_of(self, entry_or_scope_id: str) -> int:
        """The partition of an entry id or scope id (both start with the scope id)."""
        if self.partitions == 1:
            return 0
        return int(entry_or_scope_id[:SCOPE_ID_LEN], 16) % self.partitions

    def base(self, p: int) -> str:
        return f"{ROOT}:{{{self.name}:{p}}}:"

    def entry_prefix(self, p: int) -> str:
        return f"{self.base(p)}e:"

    def zset(self, p: int, which: str) -> str:
        if which not in ZSETS:
            raise ValueError(f"unknown zset {which!r}")
        return f"{self.base(p)}z:{which}"

    def stats(self, p: int) -> str:
        return f"{self.base(p)}stats"

    def seq(self, p: int) -> str:
        return f"{self.base(p)}seq"

    def lock(self, p: int, entry_id: str) -> str:
        return f"{self.base(p)}lock:{entry_id}"

    def receipt(self, p: int, token: str) -> str:
        """Where a delete script leaves its count, so a re-sent call returns it (delete.lua)."""
        return f"{self.base(p)}receipt:{token}"

    def probe(self, p: int) -> str:
        """A short-lived key health checks write, to learn whether the server takes writes."""
        return f"{self.base(p)}probe"

    def sync(self, p: int) -> str:
        """A short-lived key a removal writes, then WAITs for its replicas to acknowledge (replication.py)."""
        return f"{self.base(p)}sync"

    def scopes(self, p: int) -> str:
        return f"{self.base(p)}scopes"

    def access(self, p: int) -> str:
        return f"{self.base(p)}acc"

    def partition_keys(self, p: int, strategy: str) -> list[str]:
        """KEYS[1..7] of every Lua script: the order zset of eviction ``strategy``, acc,
        the order zset again (KEYS[3] is spare: script-specific keys start at KEYS[8]),
        exp, stats, seq, scopes."""
        order = self.zset(p, ORDER_OF[strategy])
        return [order, self.access(p), order, self.zset(p, "exp"), self.stats(p), self.seq(p), self.scopes(p)]

    def index_prefix(self, p: int) -> str:
        return f"{self.base(p)}idx:"

    def index(self, p: int, name: IndexName) -> str:
        return f"{self.index_prefix(p)}{name.suffix()}"

    def parse_index(self, p: int, full_name: str) -> IndexName | None:
        """The IndexName of one of this partition's indexes, or None for any other name."""
        prefix = self.index_prefix(p)
        if not full_name.startswith(prefix):
            return None
        return IndexName.parse(full_name[len(prefix) :])

    def key_pattern(self) -> str:
        """A SCAN/ACL glob covering every key of this cache (all partitions)."""
        return f"{ROOT}:{{{self.name}:*"
