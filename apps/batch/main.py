"""CLI of the batch job: ``python -m apps.batch --help``."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from apps.common.cli import HelpFormatter, env_flag, positive_float
from apps.common.errors import ConfigError
from apps.common.influx import InfluxClient

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger("apps.batch")

DESCRIPTION = """\
Batch job of the crime demo ("from batch to pipelines"): reads the Parquet archive the streaming
processor appends to (--archive-dir, on HDFS on a cluster) and prints its totals as one JSON object:
records, valid events, malformed records, distinct Kafka offsets (equal to records: nothing archived
twice), and events per crime type and per police district.

With --influx-url it also reads the streaming counts (the sum of crime_counts per type in InfluxDB) and
reconciles them with the archive's per-type totals; exit status 1 when they differ.
"""

EPILOG = """\
Submit it to the cluster like the processor (spark-submit --master spark://..., or PYSPARK_SUBMIT_ARGS):
  python -m apps.batch --archive-dir hdfs://10.98.0.10:8020/fastdata/archive/crimes \\
      --influx-url http://10.98.0.80:8086
`fab batch --stack S` runs it on the cluster with the deployed settings.
"""

EXCLUDED_TYPES_HELP = "crime types left out of the reconciliation (the data probe's marked events)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m apps.batch", description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter
    )
    env_flag(parser, "--master", "SPARK_MASTER", "", "Spark master URL; empty: the one spark-submit set")
    env_flag(parser, "--archive-dir", "ARCHIVE_DIR", "", "the processor's Parquet archive (required)")
    influx = parser.add_argument_group("reconciliation with the streaming counts (optional)")
    env_flag(influx, "--influx-url", "INFLUX_URL", "", "InfluxDB base URL; empty: no reconciliation")
    env_flag(influx, "--influx-db", "INFLUX_DB", "crimes", "database the processor writes into")
    env_flag(influx, "--influx-rp", "INFLUX_RP", "demo", "retention policy the processor writes into")
    env_flag(influx, "--influx-timeout", "INFLUX_TIMEOUT_S", 10.0, "seconds per request", type=positive_float)
    env_flag(influx, "--exclude-type", "EXCLUDE_TYPES", "fastdata_probe", EXCLUDED_TYPES_HELP)
    return parser


def totals(archive: DataFrame) -> dict[str, Any]:
    """Totals of an archive DataFrame (apps.processor.aggregate.archive_rows' columns)."""
    from pyspark.sql import functions as F

    head = archive.agg(
        F.count(F.lit(1)).alias("records"),
        F.sum(F.col("valid").cast("long")).alias("events"),
        F.countDistinct("kafka_partition", "kafka_offset").alias("distinct_offsets"),
    ).collect()[0]
    valid = archive.where(F.col("valid"))
    by_type = {
        r["type_slug"]: int(r["n"])
        for r in valid.groupBy("type_slug").agg(F.count(F.lit(1)).alias("n")).collect()
    }
    by_district = {
        str(r["district"]): int(r["n"])
        for r in valid.groupBy("district").agg(F.count(F.lit(1)).alias("n")).collect()
    }
    records, events = int(head["records"] or 0), int(head["events"] or 0)
    return {
        "records": records,
        "events": events,
        "malformed": records - events,
        "distinct_offsets": int(head["distinct_offsets"] or 0),
        "by_type": dict(sorted(by_type.items())),
        "by_district": dict(sorted(by_district.items())),
    }


def streaming_counts(client: InfluxClient, db: str, rp: str) -> dict[str, int]:
    """The processor's per-type counts: the sum of every crime_counts window, per type."""
    results = client.query(f'SELECT sum("count") FROM "{rp}"."crime_counts" GROUP BY "type"', db=db)
    out: dict[str, int] = {}
    for result in results:
        for series in result.get("series") or []:
            out[series["tags"]["type"]] = int(series["values"][0][1])
    return out


def reconcile(
    archive: Mapping[str, int], streaming: Mapping[str, int], excluded: Sequence[str] = ()
) -> dict[str, tuple[int, int]]:
    """Types whose totals differ: type -> (archive, streaming)."""
    types = (set(archive) | set(streaming)) - set(excluded)
    return {
        t: (archive.get(t, 0), streaming.get(t, 0))
        for t in sorted(types)
        if archive.get(t, 0) != streaming.get(t, 0)
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.archive_dir:
        raise ConfigError("--archive-dir (env ARCHIVE_DIR) is required: the processor's Parquet archive")
    client = InfluxClient(args.influx_url, timeout_s=args.influx_timeout) if args.influx_url else None
    if client is not None:
        client.ping()  # fail before Spark starts when InfluxDB is not there

    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("crime-batch")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.config("spark.sql.session.timeZone", "UTC").getOrCreate()
    try:
        result = totals(spark.read.parquet(args.archive_dir))
    finally:
        spark.stop()
    code = 0
    if client is not None:
        excluded = [t.strip() for t in args.exclude_type.split(",") if t.strip()]
        streaming = streaming_counts(client, args.influx_db, args.influx_rp)
        diff = reconcile(result["by_type"], streaming, excluded)
        result["reconciliation"] = {
            "streaming_events": sum(v for t, v in streaming.items() if t not in excluded),
            "archive_events": sum(v for t, v in result["by_type"].items() if t not in excluded),
            "differences": {t: {"archive": a, "streaming": s} for t, (a, s) in diff.items()},
        }
        if diff:
            log.error("the archive and the streaming counts differ for %d type(s): %s", len(diff), diff)
            code = 1
    print(json.dumps(result, sort_keys=True))
    return code
