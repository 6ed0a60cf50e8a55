"""CLI of the Spark processor: ``python -m apps.processor --help``."""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.common.cli import HelpFormatter, env_flag, positive_float
from apps.common.errors import ArtifactMissing, ConfigError
from apps.common.influx import DEFAULT_RP, InfluxClient, add_connection_flags
from apps.common.signals import stop_on_signals
from apps.processor.aggregate import AggregationConfig, aggregate, archive_rows, parse_events
from apps.processor.sink import InfluxWriter

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger("apps.processor")

KAFKA_CONNECTOR = "spark-sql-kafka-0-10_2.12"

DESCRIPTION = """\
Spark Structured Streaming job of the crime demo: reads JSON crime events from Kafka, counts them per
crime type (10 s windows) and per geohash cell (1 min windows) over the events' emit time, and writes
the counts to InfluxDB (crime_counts, crime_cells, replay_clock) with the window start as timestamp, so
a restart or a replay overwrites points instead of counting twice. With --archive-dir it also appends
every record to Parquet there, partitioned by the crime's date (exactly once: Spark's file sink commits
each batch in its _spark_metadata log); `python -m apps.batch` totals that archive.

It is a Spark driver: submit it to the cluster (spark-submit --master spark://... or mesos://..., or
PYSPARK_SUBMIT_ARGS), keep --checkpoint-dir and --archive-dir on HDFS (hdfs://namenode:8020/...) so the
executors on the agents and a restarted driver see the same state.
"""

EPILOG = """\
The Kafka connector is not downloaded at run time: pass the jars of
org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.7 and its dependencies (kafka-clients,
spark-token-provider-kafka-0-10, commons-pool2) with --jars or SPARK_KAFKA_JARS: comma-separated paths,
or a directory whose *.jar files are all used.

Watermark trade-off: output is in update mode, so every trigger writes the windows it changed - the
watermark adds no display latency. It only decides how late an event (by emit time, behind the newest
emit time already seen) may arrive and still be counted, and how long window state is kept. The default
of 10 minutes is far above the producer's delivery timeout (120 s), so a replay - including a processor
restart from its checkpoint, which resumes at the committed offsets - is counted in full; the cost is
about 60 type windows and 10 cell windows of state, a few thousand rows.

examples:
  SPARK_KAFKA_JARS=/opt/fastdata/jars python -m apps.processor --bootstrap kafka-1:9092 \\
      --influx-url http://influx:8086 --checkpoint-dir /var/lib/crime-processor/checkpoints
  python -m apps.processor --trigger available-now ...   # process what is in the topic, then exit
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m apps.processor", description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter
    )
    spark = parser.add_argument_group("spark")
    env_flag(
        spark,
        "--master",
        "SPARK_MASTER",
        "",
        "Spark master URL (spark://..., mesos://..., local[2] on a laptop); empty: the one spark-submit set",
    )
    env_flag(
        spark,
        "--jars",
        "SPARK_KAFKA_JARS",
        "",
        "Spark Kafka connector jars: comma-separated paths or a directory of *.jar",
    )
    env_flag(
        spark,
        "--checkpoint-dir",
        "CHECKPOINT_DIR",
        "/var/lib/crime-processor/checkpoints",
        "checkpoint root; each query uses <dir>/<query>; on a cluster an hdfs:// URL",
    )
    env_flag(
        spark,
        "--archive-dir",
        "ARCHIVE_DIR",
        "",
        "append every record to Parquet here (partitioned by event_date); empty: no archive",
    )
    env_flag(
        spark,
        "--trigger",
        "TRIGGER",
        "5 seconds",
        "micro-batch interval ('5 seconds'), or 'available-now' to process the backlog and exit",
    )
    env_flag(
        spark,
        "--shuffle-partitions",
        "SHUFFLE_PARTITIONS",
        4,
        "spark.sql.shuffle.partitions (also the state-store partitions: fixed once checkpointed)",
        type=int,
    )

    kafka = parser.add_argument_group("kafka")
    env_flag(kafka, "--bootstrap", "KAFKA_BOOTSTRAP", "localhost:9092", "Kafka bootstrap servers")
    env_flag(kafka, "--topic", "TOPIC", "crimes.raw", "topic to read")
    env_flag(
        kafka,
        "--starting-offsets",
        "STARTING_OFFSETS",
        "earliest",
        "where a query without checkpoint starts: earliest (count everything retained) or latest",
    )
    env_flag(
        kafka,
        "--max-offsets-per-trigger",
        "MAX_OFFSETS_PER_TRIGGER",
        100000,
        "cap on records per micro-batch (a backlog is split over several batches)",
        type=int,
    )
    env_flag(
        kafka,
        "--fail-on-data-loss",
        "FAIL_ON_DATA_LOSS",
        "true",
        "stop when offsets were deleted by retention before being read (true) or skip them (false)",
        choices=["true", "false"],
    )
    env_flag(
        kafka,
        "--kafka-option",
        "KAFKA_CONSUMER_OPTIONS",
        "",
        "extra consumer settings key=value,... (passed as kafka.<key>, e.g. security.protocol=SSL)",
    )

    agg = parser.add_argument_group("aggregation")
    env_flag(agg, "--type-window", "TYPE_WINDOW", "10 seconds", "window of the per-type counts")
    env_flag(agg, "--geo-window", "GEO_WINDOW", "1 minute", "window of the per-cell counts")
    env_flag(
        agg, "--watermark", "WATERMARK", "10 minutes", "how late an event may be and still count (see below)"
    )
    env_flag(
        agg,
        "--geohash-precision",
        "GEOHASH_PRECISION",
        6,
        "geohash characters per cell (6: ~1.2 x 0.6 km)",
        type=int,
        choices=range(1, 13),
        metavar="1..12",
    )

    influx = parser.add_argument_group("influxdb")
    add_connection_flags(influx)
    env_flag(
        influx,
        "--influx-rp",
        "INFLUX_RP",
        DEFAULT_RP,
        "retention policy to write into (created by `python -m apps.common.influx ensure-db`)",
    )
    env_flag(
        influx,
        "--influx-timeout",
        "INFLUX_TIMEOUT_S",
        10.0,
        "seconds per InfluxDB request",
        type=positive_float,
    )
    return parser


def resolve_jars(spec: str) -> list[str]:
    """Comma-separated jar paths and/or directories -> absolute jar paths; every one must exist."""
    jars: list[str] = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        path = Path(item)
        if path.is_dir():
            found = sorted(str(p.resolve()) for p in path.glob("*.jar"))
            if not found:
                raise ArtifactMissing(
                    f"--jars directory {path} holds no *.jar: fill the artifact cache first"
                )
            jars.extend(found)
        elif path.is_file():
            jars.append(str(path.resolve()))
        else:
            raise ArtifactMissing(f"--jars entry {item} does not exist (env SPARK_KAFKA_JARS)")
    return jars


def trigger_options(trigger: str) -> dict[str, Any]:
    if trigger.strip().lower() in ("available-now", "availablenow", "once"):
        return {"availableNow": True}
    return {"processingTime": trigger}


def trigger_seconds(trigger: str) -> float:
    number, _, unit = trigger.strip().partition(" ")
    try:
        value = float(number)
    except ValueError:
        return 5.0
    return value * {"minute": 60.0, "minutes": 60.0, "hour": 3600.0, "hours": 3600.0}.get(unit.strip(), 1.0)


def kafka_options(args: argparse.Namespace) -> dict[str, str]:
    options = {
        "kafka.bootstrap.servers": args.bootstrap,
        "subscribe": args.topic,
        "startingOffsets": args.starting_offsets,
        "maxOffsetsPerTrigger": str(args.max_offsets_per_trigger),
        "failOnDataLoss": args.fail_on_data_loss,
    }
    for item in filter(None, (part.strip() for part in args.kafka_option.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--kafka-option item {item!r} is not key=value")
        options[f"kafka.{key.strip()}"] = value.strip()
    return options


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    jars = resolve_jars(args.jars)
    client = InfluxClient(args.influx_url, timeout_s=args.influx_timeout)
    version = client.ping()  # fail before Spark starts when InfluxDB is not there
    log.info("InfluxDB %s at %s, database %s", version, args.influx_url, args.influx_db)

    from pyspark.sql import SparkSession  # heavy import, after the cheap checks

    builder = SparkSession.builder.appName("crime-processor")
    if args.master:
        builder = builder.master(args.master)
    builder = (
        builder.config("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.streaming.stopGracefullyOnShutdown", "true")
    )
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    spark = builder.getOrCreate()
    configured = spark.sparkContext.getConf().get("spark.jars", "") or ""
    if KAFKA_CONNECTOR not in configured:
        spark.stop()
        raise ArtifactMissing(
            f"the Spark Kafka connector ({KAFKA_CONNECTOR}-3.5.7.jar and its dependencies) is not on the "
            "classpath: pass --jars or SPARK_KAFKA_JARS with the jars from the artifact cache"
        )

    raw = spark.readStream.format("kafka").options(**kafka_options(args)).load()
    config = AggregationConfig(args.type_window, args.geo_window, args.watermark, args.geohash_precision)
    writer = InfluxWriter(client, args.influx_db, args.influx_rp)
    queries = start_queries(raw, config, writer, args.trigger, args.checkpoint_dir, args.archive_dir)
    return supervise(spark, queries)


def start_queries(
    raw: DataFrame,
    config: AggregationConfig,
    writer: InfluxWriter,
    trigger: str,
    checkpoint_dir: str,
    archive_dir: str = "",
) -> list[StreamingQuery]:
    """Start the queries on a stream of records with a ``value`` column (Kafka in production): the three
    InfluxDB ones, and the Parquet archive when ``archive_dir`` is set.

    Each query has its own checkpoint under ``checkpoint_dir/<query>``: offsets and window state, so a
    restart resumes exactly where the last committed batch ended.
    """
    events = parse_events(raw)
    aggregates = aggregate(events, config)
    options = trigger_options(trigger)
    root = checkpoint_dir.rstrip("/")

    def start(
        df: DataFrame, name: str, batch_fn: Callable[[DataFrame, int], None], mode: str
    ) -> StreamingQuery:
        return (
            df.writeStream.queryName(name)
            .outputMode(mode)
            .trigger(**options)
            .option("checkpointLocation", f"{root}/{name}")
            .foreachBatch(batch_fn)
            .start()
        )

    queries = [
        start(aggregates.type_counts, "crime_counts", writer.type_counts_batch(), "update"),
        start(aggregates.cell_counts, "crime_cells", writer.cell_counts_batch(), "update"),
        start(events, "replay_clock", writer.clock_batch(trigger_seconds(trigger)), "append"),
    ]
    if archive_dir:
        queries.append(
            archive_rows(raw)
            .writeStream.queryName("archive")
            .format("parquet")
            .partitionBy("event_date")
            .outputMode("append")
            .trigger(**options)
            .option("checkpointLocation", f"{root}/archive")
            .option("path", archive_dir.rstrip("/"))
            .start()
        )
    return queries


def supervise(spark: Any, queries: list[StreamingQuery]) -> int:
    """Wait for the queries, logging late-dropped rows; stop all on SIGTERM or when one fails."""
    stop = threading.Event()
    stop_on_signals(stop, "stopping the queries")
    code = 0
    try:
        while not stop.is_set() and any(q.isActive for q in queries):
            stop.wait(2.0)
            for query in queries:
                dropped = sum(
                    op.get("numRowsDroppedByWatermark", 0)
                    for op in (query.lastProgress or {}).get("stateOperators", [])
                )
                if dropped:
                    log.warning(
                        "%s: %d late rows dropped by the watermark in the last batch: they are "
                        "missing from the counts (raise --watermark)",
                        query.name,
                        dropped,
                    )
                if query.exception() is not None:
                    log.error("query %s failed: %s", query.name, query.exception())
                    code = 1
                    stop.set()
    finally:
        for query in queries:
            if query.isActive:
                query.stop()
        spark.stop()
    return code
