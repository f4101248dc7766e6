"""The entry index schema, loaded from ``schemas/entry_index.json``.

That file is the single source of truth: it ships inside the package as
``redis_semcache/schemas/`` (a symlink to the top-level ``schemas/`` directory,
which wheel builds copy as real files).  This module turns it into
``FT.CREATE`` arguments with redis-py's field objects, without a server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from redis.commands.search.field import Field, NumericField, TagField, VectorField
from redis.commands.search.index_definition import IndexDefinition, IndexType

from ..._errors import ConfigurationError
from ..._vectors import VECTOR_DTYPES

__all__ = ["ALGORITHMS", "IndexSchema", "VectorConfig", "load_schema"]

ALGORITHMS = ("FLAT", "HNSW")
SCHEMA_FILE = "entry_index.json"


@dataclass(frozen=True)
class VectorConfig:
    """How the vector field is built: algorithm, dimension and HNSW parameters."""

    dim: int
    algorithm: str = "FLAT"
    m: int = 16
    ef_construction: int = 200
    dtype: str = "FLOAT32"

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ConfigurationError(f"index_algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        if self.dtype not in VECTOR_DTYPES:
            raise ConfigurationError(f"vector_dtype must be one of {tuple(VECTOR_DTYPES)}, got {self.dtype!r}")
        for what, value in (
            ("dimension", self.dim),
            ("hnsw_m", self.m),
            ("hnsw_ef_construction", self.ef_construction),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{what} must be a positive int, got {value!r}")


@dataclass(frozen=True)
class IndexSchema:
    """The declared fields; ``create_args`` adds the vector settings of one index."""

    version: int
    fields: tuple[dict[str, Any], ...] = field(repr=False)

    def redis_fields(self, vector: VectorConfig | None) -> list[Field]:
        """redis-py field objects; the vector field only when ``vector`` is given."""
        out: list[Field] = []
        for spec in self.fields:
            kind = spec["type"]
            if kind == "TAG":
                out.append(
                    TagField(
                        spec["name"],
                        separator=spec.get("separator", ","),
                        case_sensitive=bool(spec.get("case_sensitive", False)),
                        sortable=bool(spec.get("sortable", False)),
                    )
                )
            elif kind == "NUMERIC":
                out.append(NumericField(spec["name"], sortable=bool(spec.get("sortable", False))))
            elif kind == "VECTOR":
                if vector is not None:
                    attributes: dict[str, Any] = {
                        "TYPE": vector.dtype,
                        "DIM": vector.dim,
                        "DISTANCE_METRIC": spec["distance_metric"],
                    }
                    if vector.algorithm == "HNSW":
                        attributes.update(M=vector.m, EF_CONSTRUCTION=vector.ef_construction)
                    out.append(VectorField(spec["name"], vector.algorithm, attributes))
            else:  # pragma: no cover - load_schema rejects other types
                raise ConfigurationError(f"unsupported field type {kind!r}")
        return out

    def create_args(self, index_name: str, prefix: str, vector: VectorConfig | None) -> list[Any]:
        """Arguments of ``FT.CREATE`` (command name excluded)."""
        definition = IndexDefinition(prefix=[prefix], index_type=IndexType.HASH)
        args: list[Any] = [index_name, *definition.args, "STOPWORDS", 0, "SCHEMA"]
        for f in self.redis_fields(vector):
            args.extend(f.redis_args())
        return args


def parse_schema(data: Any) -> IndexSchema:
    """Validate the JSON document and build an IndexSchema."""
    if not isinstance(data, dict) or not isinstance(data.get("schema_version"), int):
        raise ConfigurationError("index schema must be an object with an int schema_version")
    if data.get("index_type", "HASH") != "HASH":
        raise ConfigurationError("index schema: only HASH indexes are supported")
    fields = data.get("fields")
    if not isinstance(fields, list) or not fields:
        raise ConfigurationError("index schema needs a non-empty fields list")
    seen: set[str] = set()
    for spec in fields:
        name = spec.get("name") if isinstance(spec, dict) else None
        if not isinstance(name, str) or not name or name in seen:
            raise ConfigurationError(f"index schema: bad or duplicate field name in {spec!r}")
        seen.add(name)
        if spec.get("type") not in ("TAG", "NUMERIC", "VECTOR"):
            raise ConfigurationError(f"index schema: field {name!r} has unsupported type {spec.get('type')!r}")
        if spec["type"] == "VECTOR" and not spec.get("distance_metric"):
            raise ConfigurationError(f"index schema: vector field {name!r} needs a distance_metric")
    if sum(spec["type"] == "VECTOR" for spec in fields) != 1:
        raise ConfigurationError("index schema needs exactly one VECTOR field")
    return IndexSchema(version=data["schema_version"], fields=tuple(dict(spec) for spec in fields))


def schema_text() -> str:
    """The packaged schema file's text."""
    return resources.files("redis_semcache").joinpath("schemas").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def load_schema() -> IndexSchema:
    return parse_schema(json.loads(schema_text()))
