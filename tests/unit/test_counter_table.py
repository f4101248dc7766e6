"""One table of counters (redis_semcache/counters.py): every counter reaches every reader.

A counter added to the table must show up, with its own value, in the backends,
``get_statistics()``, the Prometheus exposition, the OpenTelemetry instruments,
``semcache stats`` and the metrics docs; these tests fail for any that it misses.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from redis_semcache import CacheStatistics, create_in_memory_cache_manager
from redis_semcache.backends import base
from redis_semcache.counters import COUNTER_NAMES, COUNTERS, Counter
from redis_semcache.metrics import PrometheusCollector
from redis_semcache.ops_cli import CACHE_WIDE
from redis_semcache.otel import instrument

from ..exposition import Scrape
from .test_otel import collect

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
BY_NAME = {c.name: c for c in COUNTERS}


@pytest.fixture
def counted():
    """A cache whose counters all differ (7, 8, 9, ...), so a value shown under the wrong name is seen."""
    cache = create_in_memory_cache_manager(embedder=None)
    cache.backend._counters.update({name: 7 + i for i, name in enumerate(COUNTER_NAMES)})
    yield cache
    cache.close()


def value_of(counter: Counter) -> int:
    return 7 + COUNTER_NAMES.index(counter.name)


def test_table_is_well_formed():
    assert len(set(COUNTER_NAMES)) == len(COUNTER_NAMES)
    assert all(c.kind in ("result", "total") and c.help.endswith(".") for c in COUNTERS)
    assert all(bool(c.label) == (c.kind == "result") for c in COUNTERS)
    assert base.COUNTERS == COUNTER_NAMES  # the backends count (and Redis reports) exactly these


@pytest.mark.parametrize("counter", COUNTERS, ids=COUNTER_NAMES)
def test_counter_reaches_statistics_and_cli(counted, counter):
    assert counter.name in {f.name for f in dataclasses.fields(CacheStatistics)}
    assert counted.get_statistics()[counter.name] == value_of(counter)
    assert counter.name in CACHE_WIDE


@pytest.mark.parametrize("counter", COUNTERS, ids=COUNTER_NAMES)
def test_counter_reaches_prometheus(counted, counter):
    scrape = Scrape(PrometheusCollector(counted))
    if counter.kind == "result":
        got = scrape.value("semcache_requests_total", cache="memory", result=counter.label)
    else:
        got = scrape.value(f"semcache_{counter.name}_total", cache="memory")
        assert f"# HELP semcache_{counter.name}_total {counter.help}" in scrape.text
    assert got == value_of(counter)


@pytest.mark.parametrize("counter", COUNTERS, ids=COUNTER_NAMES)
def test_counter_reaches_opentelemetry(counted, counter):
    reader = InMemoryMetricReader()
    instrument(counted, MeterProvider(metric_readers=[reader]).get_meter("test"), name="c")
    points = collect(reader)
    if counter.kind == "result":
        got = points[("semcache.requests", (("cache", "c"), ("result", counter.label)))]
    else:
        got = points[(f"semcache.{counter.name}", (("cache", "c"),))]
    assert got == value_of(counter)


@pytest.mark.parametrize("counter", COUNTERS, ids=COUNTER_NAMES)
def test_counter_is_documented(counter):
    text = DOCS.read_text()
    if counter.kind == "result":
        assert f'"{counter.label}"' in text
    else:
        assert f"`semcache_{counter.name}_total`" in text and f"`semcache.{counter.name}`" in text


def test_every_statistics_field_is_a_counter_or_derived():
    derived = {"total_requests", "hits", "hit_rate", "errors", "cache_size", "max_size", "latency_scope"}
    latencies = {f.name for f in dataclasses.fields(CacheStatistics) if f.name.endswith("_latency_ms")}
    assert {f.name for f in dataclasses.fields(CacheStatistics)} == set(COUNTER_NAMES) | derived | latencies
    assert set(BY_NAME) == set(COUNTER_NAMES)
