"""The processor's pure part: Kafka records -> events -> windowed aggregates, as DataFrame functions.

Nothing here reads or writes anything, so the tests run it on a small static DataFrame in local mode;
on a static DataFrame ``withWatermark`` is a no-op and the same code gives the final counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

from apps.common.geohash import BASE32, bit_split

# Only the fields the aggregation needs; the rest of the event (docs/reference/demo-reference.md 5.2) is
# ignored.
EVENT_SCHEMA = StructType(
    [
        StructField("id", LongType()),
        StructField("event_time", StringType()),
        StructField("emit_time", StringType()),
        StructField("type_slug", StringType()),
        StructField("district", StringType()),
        StructField("lat", DoubleType()),
        StructField("lon", DoubleType()),
    ]
)


@dataclass(frozen=True)
class AggregationConfig:
    type_window: str = "10 seconds"
    cell_window: str = "1 minute"
    watermark: str = "10 minutes"
    geohash_precision: int = 6


@dataclass(frozen=True)
class Aggregates:
    type_counts: DataFrame  # window_start_ms, type, count
    cell_counts: DataFrame  # window_start_ms, geohash, count


def parse_events(raw: DataFrame) -> DataFrame:
    """Kafka records (a ``value`` column) -> emit_ts, event_ts, type_slug, lat, lon, valid.

    A record that is not an event (bad JSON, no emit_time or type) keeps ``valid = false`` rather than
    vanishing, so the clock query can count it.
    """
    event = F.from_json(F.col("value").cast("string"), EVENT_SCHEMA)
    parsed = raw.select(event.alias("e")).select(
        # ISO-8601 with "Z" or "-05:00": Spark's string -> timestamp cast reads both as instants.
        F.col("e.emit_time").cast("timestamp").alias("emit_ts"),
        F.col("e.event_time").cast("timestamp").alias("event_ts"),
        F.col("e.type_slug").alias("type_slug"),
        F.col("e.lat").alias("lat"),
        F.col("e.lon").alias("lon"),
    )
    return parsed.withColumn("valid", F.col("emit_ts").isNotNull() & F.col("type_slug").isNotNull())


def archive_rows(raw: DataFrame) -> DataFrame:
    """What the archive keeps of each record: the record itself (its Kafka partition and offset when the
    source has them, and the raw value), the parsed fields the batch job totals, and ``event_date`` (the
    crime's date, the Parquet partition column). Malformed records are kept too, with ``valid = false``."""
    event = F.from_json(F.col("value").cast("string"), EVENT_SCHEMA)
    has_offsets = "partition" in raw.columns and "offset" in raw.columns
    partition = F.col("partition") if has_offsets else F.lit(None).cast("int")
    offset = F.col("offset") if has_offsets else F.lit(None).cast("long")
    rows = raw.select(
        partition.alias("kafka_partition"),
        offset.alias("kafka_offset"),
        F.col("value").cast("string").alias("value"),
        event.alias("e"),
    ).select(
        "kafka_partition",
        "kafka_offset",
        "value",
        F.col("e.id").alias("id"),
        F.col("e.type_slug").alias("type_slug"),
        F.col("e.district").alias("district"),
        F.col("e.emit_time").cast("timestamp").alias("emit_ts"),
        F.col("e.event_time").cast("timestamp").alias("event_ts"),
        F.col("e.lat").alias("lat"),
        F.col("e.lon").alias("lon"),
    )
    return rows.withColumn("valid", F.col("emit_ts").isNotNull() & F.col("type_slug").isNotNull()).withColumn(
        "event_date", F.to_date(F.col("event_ts"))
    )


def _cell_index(value: Column, lower: float, span: float, bits: int) -> Column:
    """Same arithmetic as apps.common.geohash.cell_index, so JVM and Python agree bit for bit."""
    index = F.floor((value - F.lit(lower)) / F.lit(span) * F.lit(float(1 << bits)))
    return F.least(F.greatest(index, F.lit(0)), F.lit((1 << bits) - 1)).cast("long")


# Magic masks that spread the low 32 bits of a long onto its even bit positions (Morton interleave).
_SPREAD_STEPS = (
    (16, 0x0000FFFF0000FFFF),
    (8, 0x00FF00FF00FF00FF),
    (4, 0x0F0F0F0F0F0F0F0F),
    (2, 0x3333333333333333),
    (1, 0x5555555555555555),
)


def _spread_bits(x: Column) -> Column:
    for shift, mask in _SPREAD_STEPS:
        x = F.shiftleft(x, shift).bitwiseOR(x).bitwiseAND(F.lit(mask))
    return x


def geohash_column(lat: Column, lon: Column, precision: int) -> Column:
    """Geohash as native column expressions (no Python UDF: no Python worker, no per-row serialisation).

    Interleaves with the Morton bit trick - a few dozen operations instead of one per bit, which keeps
    Spark's generated code small. apps.common.geohash encodes bit by bit; the tests check they agree.
    """
    lon_bits, lat_bits = bit_split(precision)
    lon_idx = _spread_bits(_cell_index(lon, -180.0, 360.0, lon_bits))
    lat_idx = _spread_bits(_cell_index(lat, -90.0, 180.0, lat_bits))
    # Longitude takes the most significant bit; with an odd bit count it also takes the least significant.
    if lon_bits == lat_bits:
        code = F.shiftleft(lon_idx, 1).bitwiseOR(lat_idx)
    else:
        code = lon_idx.bitwiseOR(F.shiftleft(lat_idx, 1))
    chars = [
        F.lit(BASE32).substr(
            F.shiftright(code, 5 * (precision - 1 - i)).bitwiseAND(31).cast("int") + 1, F.lit(1)
        )
        for i in range(precision)
    ]
    return F.concat(*chars)


def aggregate(events: DataFrame, config: AggregationConfig) -> Aggregates:
    """Counts per crime type (``type_window``) and per geohash cell (``cell_window``) over emit time.

    Windows over the replay's emit time give a live axis (docs/reference/demo-reference.md 5.3); the
    watermark bounds the
    state kept for late events (see the processor's --watermark help for the trade-off).
    """
    valid = events.where(F.col("valid")).withWatermark("emit_ts", config.watermark)
    type_counts = (
        valid.groupBy(F.window("emit_ts", config.type_window).alias("w"), F.col("type_slug"))
        .agg(F.count(F.lit(1)).alias("count"))
        .select(
            F.unix_millis(F.col("w.start")).alias("window_start_ms"),
            F.col("type_slug").alias("type"),
            F.col("count"),
        )
    )
    cells = valid.where(F.col("lat").isNotNull() & F.col("lon").isNotNull()).withColumn(
        "geohash", geohash_column(F.col("lat"), F.col("lon"), config.geohash_precision)
    )
    cell_counts = (
        cells.groupBy(F.window("emit_ts", config.cell_window).alias("w"), F.col("geohash"))
        .agg(F.count(F.lit(1)).alias("count"))
        .select(F.unix_millis(F.col("w.start")).alias("window_start_ms"), F.col("geohash"), F.col("count"))
    )
    return Aggregates(type_counts=type_counts, cell_counts=cell_counts)


def clock_summary(events: DataFrame) -> DataFrame:
    """One row per micro-batch for ``replay_clock``: events, malformed records, latest event/emit time."""
    return events.agg(
        F.sum(F.col("valid").cast("long")).alias("events"),
        F.sum((~F.col("valid")).cast("long")).alias("malformed"),
        F.max(F.when(F.col("valid"), F.unix_millis(F.col("event_ts")))).alias("sim_ts"),
        F.max(F.when(F.col("valid"), F.unix_millis(F.col("emit_ts")))).alias("emit_ts_max"),
    )
