"""Which search index a cache partition should use: a pure decision.

The index name carries the schema version, the vector dimension and the
algorithm (see :mod:`.layout`).  Given the indexes that exist under this
cache's prefix and the backend's settings, :func:`plan_index` says which one
to use, whether to create it, and which superseded index to drop - or raises
a clear error instead of ever mixing incompatible data:

* an index of a newer schema version      -> ConfigurationError (an older one is upgraded, below)
* a vector index of another dimension      -> ConfigurationError (``dimension=``);
                                              a vector of another length is refused by
                                              the caller (DimensionMismatchError)
* a vector index of another algorithm      -> ConfigurationError
* a vector index of another vector type    -> ConfigurationError when ``vector_dtype=``
                                              was given; otherwise the cache keeps its type
* two vector indexes that disagree         -> ConfigurationError

A cache that has stored no embedding yet has an index without a vector field
(``d0``).  The first vector upgrades it: the ``d<dim>`` index is created over
the same prefix, and once it has indexed every existing entry the ``d0`` index
is dropped (without its documents).  An index of an older schema version is
upgraded the same way: its successor (same dimension and algorithm, this
schema) is created over the same prefix, and the old index dropped once the
new one has indexed every entry.  The entries stay where they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..._errors import ConfigurationError
from .layout import IndexName

__all__ = ["DEFAULT_DTYPE", "IndexPlan", "Settings", "plan_index"]

# Half the memory of FLOAT32 and half the FLAT scan time; the largest cosine
# distance error it adds is documented in docs/quality.md (bench/fp16_error.py).
DEFAULT_DTYPE = "FLOAT16"


@dataclass(kw_only=True)
class Settings:
    """The index settings every partition of a cache shares (validated by the backend).

    Mutable: ``hnsw_ef_runtime`` is a query argument, changeable at any time
    (None: lookup.lua scales it with the partition's entry count).
    """

    algorithm: str
    hnsw_m: int
    hnsw_ef_construction: int
    hnsw_ef_runtime: int | None
    dimension: int | None
    vector_dtype: str | None = None  # None: FLOAT16 for a new index, an existing one keeps its type


@dataclass(frozen=True)
class IndexPlan:
    use: IndexName
    create: bool
    drop: tuple[IndexName, ...] = ()

    @property
    def wait(self) -> bool:
        """Wait for background indexing before use: a new index over existing keys starts empty."""
        return self.create or bool(self.drop)


def plan_index(
    existing: Sequence[IndexName],
    *,
    cache: str,
    schema: int,
    algorithm: str,
    dimension: int | None,
    vector_dim: int | None = None,
    dtype: str | None = None,
) -> IndexPlan:
    """Decide the index for a cache.

    ``dimension`` is the backend's configured dimension; ``vector_dim`` the
    length of a vector about to be stored, or the dimension this backend saw
    before the index vanished (it fixes the dimension when nothing else has).
    ``dtype`` is the configured vector type; None adopts an existing index's
    and creates FLOAT16.
    """
    newer = sorted({n.schema for n in existing if n.schema > schema})
    if newer:
        raise ConfigurationError(
            f"cache {cache!r} has a search index built for schema version {newer[0]}, and this library uses "
            f"version {schema}: drop the old cache (RedisCacheBackend.drop()) or use another name="
        )
    older = tuple(n for n in existing if n.schema < schema)
    present = [n for n in existing if n.schema == schema]
    successors = [m for m in dict.fromkeys(replace(n, schema=schema) for n in older) if m not in present]
    plan = _plan(present + successors, cache=cache, schema=schema, algorithm=algorithm, dimension=dimension,
                 vector_dim=vector_dim, dtype=dtype)  # fmt: skip
    return IndexPlan(
        use=plan.use,
        create=plan.create or plan.use not in present,
        drop=tuple(n for n in plan.drop if n in present) + older,
    )


def _plan(
    existing: Sequence[IndexName],
    *,
    cache: str,
    schema: int,
    algorithm: str,
    dimension: int | None,
    vector_dim: int | None,
    dtype: str | None,
) -> IndexPlan:
    """The decision among indexes of this schema version."""
    vector_indexes = sorted({n for n in existing if n.dim > 0}, key=lambda n: (n.dim, n.algorithm or ""))
    plain = tuple(n for n in existing if n.dim == 0)
    if len(vector_indexes) > 1:
        found = ", ".join(n.suffix() for n in vector_indexes)
        raise ConfigurationError(
            f"cache {cache!r} has conflicting vector indexes ({found}); drop the cache or use another name="
        )
    if vector_indexes:
        current = vector_indexes[0]
        if dimension is not None and dimension != current.dim:
            raise ConfigurationError(
                f"cache {cache!r} stores {current.dim}-dimensional vectors, but this backend is configured with "
                f"dimension={dimension}: use another name= for the new embedder, or drop the old cache"
            )
        if current.algorithm != algorithm:
            raise ConfigurationError(
                f"cache {cache!r} has a {current.algorithm} vector index, but this backend is configured with "
                f"index_algorithm={algorithm!r}: use the same algorithm everywhere, or another name="
            )
        if dtype is not None and current.dtype != dtype:
            raise ConfigurationError(
                f"cache {cache!r} stores {current.dtype} vectors, but this backend is configured with "
                f"vector_dtype={dtype!r}: leave vector_dtype unset to use the cache's type, or use another name="
            )
        return IndexPlan(use=current, create=False, drop=plain)
    dim = dimension if dimension is not None else vector_dim
    if dim is not None:
        return IndexPlan(use=IndexName(schema, dim, algorithm, dtype or DEFAULT_DTYPE), create=True, drop=plain)
    target = IndexName(schema, 0)
    return IndexPlan(use=target, create=target not in plain)
