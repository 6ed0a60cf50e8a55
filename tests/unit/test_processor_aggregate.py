"""The processor's aggregation on small fixed batches (pyspark local mode: a real JVM, so the integration
tier) and its line protocol (unit)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from apps.common import geohash
from apps.processor import lineproto
from apps.processor.aggregate import AggregationConfig, aggregate, clock_summary, geohash_column, parse_events
from apps.producer.parse import parse_rows, sort_by_event_time
from apps.producer.replay import encode_event
from tests.helpers import local_spark

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "chicago-crimes-2015-10-17_18.csv"
BASE = datetime(2025, 1, 1, tzinfo=UTC)
BASE_MS = int(BASE.timestamp() * 1000)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One small local SparkSession for every processor test (JVM start-up is most of the cost)."""
    session = local_spark("processor-unit-tests", cores=1, shuffle_partitions=1)
    yield session
    session.stop()


def record(
    emit: str, type_slug: str, lat: float | None = 41.9, lon: float | None = -87.7, **extra: Any
) -> str:
    doc = {"id": 1, "event_time": "2015-10-18T23:50:00-05:00", "emit_time": emit, "type_slug": type_slug,
           "lat": lat, "lon": lon, **extra}  # fmt: skip
    return json.dumps(doc)


def batch(spark: Any, values: list[str], tmp_dir: Path) -> Any:
    """A ``value`` column per record, like Kafka's; read from a file so no Python worker starts."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    (tmp_dir / "records.txt").write_text("\n".join(values) + "\n")
    return spark.read.text(str(tmp_dir))


def rows(df: Any) -> list[dict[str, Any]]:
    return sorted((r.asDict() for r in df.collect()), key=lambda r: tuple(str(v) for v in r.values()))


FIXED_BATCH = [
    record("2025-01-01T00:00:00.000Z", "theft"),                      # window [0, 10): first instant
    record("2025-01-01T00:00:09.999Z", "theft", 41.785268355, -87.614452924),  # last ms of [0, 10)
    record("2025-01-01T00:00:10.000Z", "theft"),                      # boundary: belongs to [10, 20)
    record("2025-01-01T00:00:10.500Z", "battery"),
    record("2025-01-01T00:00:59.000Z", "battery"),                    # [50, 60)
    record("2025-01-01T00:01:00.000Z", "battery"),                    # next minute: second cell window
    record("2024-12-31T18:00:05-06:00", "assault"),                   # same instant as 00:00:05Z
    record("2025-01-01T00:00:05Z", "narcotics", None, None),          # counted per type; no cell
    "not json at all",                                                # malformed: not counted
    json.dumps({"id": 9, "type_slug": "theft"}),                      # no emit_time: not counted
]  # fmt: skip


@pytest.fixture(scope="module")
def fixed(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """FIXED_BATCH aggregated once; the tests below check different parts of the result."""
    events = parse_events(batch(spark, FIXED_BATCH, tmp_path_factory.mktemp("fixed")))
    result = aggregate(events, AggregationConfig())
    return {"types": rows(result.type_counts), "cells": rows(result.cell_counts),
            "clock": clock_summary(events).collect()[0]}  # fmt: skip


@pytest.mark.integration
def test_type_counts_per_10s_window(fixed: dict[str, Any]) -> None:
    assert fixed["types"] == rows_of([
        (BASE_MS, "assault", 1), (BASE_MS, "narcotics", 1), (BASE_MS, "theft", 2),
        (BASE_MS + 10_000, "battery", 1), (BASE_MS + 10_000, "theft", 1),
        (BASE_MS + 50_000, "battery", 1), (BASE_MS + 60_000, "battery", 1),
    ], ("window_start_ms", "type", "count"))  # fmt: skip


@pytest.mark.integration
def test_cell_counts_per_minute_and_geohash(fixed: dict[str, Any]) -> None:
    loop_cell, washington_park = geohash.encode(41.9, -87.7), "dp3twq"
    assert loop_cell == "dp3wk7"
    assert fixed["cells"] == rows_of([
        (BASE_MS, washington_park, 1), (BASE_MS, loop_cell, 5), (BASE_MS + 60_000, loop_cell, 1),
    ], ("window_start_ms", "geohash", "count"))  # fmt: skip


def rows_of(tuples: list[tuple[Any, ...]], names: tuple[str, ...]) -> list[dict[str, Any]]:
    return sorted(
        (dict(zip(names, t, strict=True)) for t in tuples), key=lambda r: tuple(str(v) for v in r.values())
    )


@pytest.mark.integration
def test_clock_summary_counts_malformed_records(fixed: dict[str, Any]) -> None:
    summary = fixed["clock"]
    assert (summary["events"], summary["malformed"]) == (8, 2)
    assert summary["sim_ts"] == int(datetime(2015, 10, 19, 4, 50, tzinfo=UTC).timestamp() * 1000)
    assert summary["emit_ts_max"] == BASE_MS + 60_000


@pytest.mark.integration
def test_sample_replay_is_fully_counted(spark: Any, tmp_path: Path) -> None:
    """Producer encoding -> processor aggregation: both sums equal the 897 events sent, type by type.

    The same records also check that the JVM geohash expression agrees with the Python encoder.
    """
    with SAMPLE.open(newline="") as f:
        events = sort_by_event_time(parse_rows(f).events)
    values = [
        encode_event(e, BASE + timedelta(milliseconds=137 * i))[1].decode() for i, e in enumerate(events)
    ]
    parsed = parse_events(batch(spark, values, tmp_path))
    result = aggregate(parsed, AggregationConfig())
    type_rows, cell_rows = result.type_counts.collect(), result.cell_counts.collect()
    assert sum(r["count"] for r in type_rows) == 897 == sum(r["count"] for r in cell_rows)
    per_type: Counter[str] = Counter()
    for r in type_rows:
        per_type[r["type"]] += r["count"]
    assert per_type == Counter(e.type_slug for e in events)
    assert (
        len({r["window_start_ms"] for r in type_rows}) == 13
    )  # 897 * 137 ms = 122.9 s -> 13 windows of 10 s

    from pyspark.sql import functions as F

    hashed = parsed.select(
        "lat", "lon", *(geohash_column(F.col("lat"), F.col("lon"), p).alias(f"g{p}") for p in (6, 9))
    )
    for r in hashed.collect():
        assert (r["g6"], r["g9"]) == (
            geohash.encode(r["lat"], r["lon"], 6),
            geohash.encode(r["lat"], r["lon"], 9),
        )


@pytest.mark.unit
def test_type_count_lines_are_deterministic_and_escaped() -> None:
    rows_in = [
        {"window_start_ms": BASE_MS + 10_000, "type": "theft", "count": 3},
        {"window_start_ms": BASE_MS, "type": "odd type,x=y", "count": 1},
    ]
    expected = [
        f"crime_counts,type=odd\\ type\\,x\\=y count=1i {BASE_MS}",
        f"crime_counts,type=theft count=3i {BASE_MS + 10_000}",
    ]
    assert lineproto.type_count_lines(rows_in) == expected
    assert lineproto.type_count_lines(list(reversed(rows_in))) == expected


@pytest.mark.unit
def test_cell_count_lines_carry_the_cell_centre() -> None:
    lines = lineproto.cell_count_lines([{"window_start_ms": BASE_MS, "geohash": "dp3twq", "count": 2}])
    lat, lon = geohash.centre("dp3twq")
    assert lines == [
        f"crime_cells,geohash=dp3twq count=2i,lat={round(lat, 6)!r},lon={round(lon, 6)!r} {BASE_MS}"
    ]
    assert lines[0] == f"crime_cells,geohash=dp3twq count=2i,lat=41.783752,lon=-87.610474 {BASE_MS}"


@pytest.mark.unit
def test_clock_line() -> None:
    assert lineproto.clock_line(1445230200000, 12.3456, 40, 1, BASE_MS) == (
        f"replay_clock sim_ts=1445230200000i,eps=12.346,events=40i,malformed=1i {BASE_MS}"
    )
    with pytest.raises(ValueError, match="cannot carry"):
        lineproto.clock_line(0, float("nan"), 0, 0, 0)
