"""The index schema file, its packaged copy, and FT.CREATE arguments - no server needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redis_semcache import ConfigurationError
from redis_semcache.backends.redis import fields as F
from redis_semcache.backends.redis.schema import VectorConfig, load_schema, parse_schema, schema_text

ROOT = Path(__file__).resolve().parents[2]


def test_packaged_schema_is_the_top_level_file():
    top = (ROOT / "schemas" / "entry_index.json").read_text(encoding="utf-8")
    assert schema_text() == top


def test_schema_fields_are_the_named_constants():
    schema = load_schema()
    indexed = {F.SCOPE, F.VERSION_H, F.TAG_H, F.PROMPT_LEN, F.SEQ, F.EMBEDDING}
    assert {f["name"] for f in schema.fields} == indexed
    assert schema.version >= 1


def test_create_args_without_vector():
    args = load_schema().create_args("idx", "semcache:{c:0}:e:", None)
    assert args[:6] == ["idx", "ON", "HASH", "PREFIX", 1, "semcache:{c:0}:e:"]
    assert "VECTOR" not in args
    i = args.index("tag_h")
    assert args[i : i + 5] == ["tag_h", "TAG", "SEPARATOR", ",", "CASESENSITIVE"]
    i = args.index("seq")
    assert args[i:] == ["seq", "NUMERIC"]  # nothing sorts the index: the sweep's SORTBY sorts LOADed values


def test_create_args_flat_and_hnsw():
    flat = load_schema().create_args("idx", "p:", VectorConfig(dim=384))
    i = flat.index("embedding")
    expected = ["embedding", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 384, "DISTANCE_METRIC", "COSINE"]
    assert flat[i : i + 10] == expected
    hnsw = load_schema().create_args("idx", "p:", VectorConfig(dim=8, algorithm="HNSW", m=24, ef_construction=300))
    i = hnsw.index("embedding")
    assert hnsw[i : i + 4] == ["embedding", "VECTOR", "HNSW", 10]
    tail = hnsw[i + 4 : i + 14]
    assert dict(zip(tail[::2], tail[1::2], strict=True)) == {
        "TYPE": "FLOAT32", "DIM": 8, "DISTANCE_METRIC": "COSINE", "M": 24, "EF_CONSTRUCTION": 300,
    }  # fmt: skip
    half = load_schema().create_args("idx", "p:", VectorConfig(dim=8, dtype="FLOAT16"))
    assert half[half.index("TYPE") + 1] == "FLOAT16"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dim": 0}, {"dim": True}, {"dim": 8, "algorithm": "IVF"}, {"dim": 8, "m": 0},
        {"dim": 8, "ef_construction": -1}, {"dim": 8, "dtype": "FLOAT64"}, {"dim": 8, "dtype": "float16"},
    ],
)  # fmt: skip
def test_vector_config_checks_itself(kwargs):
    with pytest.raises(ConfigurationError):
        VectorConfig(**kwargs)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("schema_version"),
        lambda d: d.update(index_type="JSON"),
        lambda d: d["fields"].append({"name": "scope", "type": "TAG"}),
        lambda d: d["fields"].append({"name": "x", "type": "TEXT"}),
        lambda d: d["fields"].append({"name": "v2", "type": "VECTOR", "data_type": "FLOAT32", "distance_metric": "L2"}),
        lambda d: d.update(fields=[]),
    ],
)
def test_bad_schema_documents_are_rejected(mutate):
    data = json.loads(schema_text())
    mutate(data)
    with pytest.raises(ConfigurationError):
        parse_schema(data)
