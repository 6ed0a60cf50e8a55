"""End-to-end data probe (DESIGN.md section 6): "healthy" means data flows.

Produces one marked event now (type `FASTDATA PROBE`, a unique id, a point in the Loop), then waits
until InfluxDB's per-type counts for the probe type grow and the dashboard's API serves that series.
Exits 0 with a one-line JSON report on success, 1 with the stage that did not complete.

    python -m apps.probe --bootstrap agent:9092 --influx-url http://pub:8086 --dashboard-url http://pub:80

Probe events are counted under their own type (`fastdata_probe`), so they never change the counts of
real crime types; reconciliations exclude that type.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import requests

from apps.common.cli import HelpFormatter, env_flag, one_line, positive_float, run_main
from apps.common.errors import AppError, InfluxError
from apps.common.influx import InfluxClient, add_connection_flags
from apps.producer.parse import CrimeEvent

PROBE_TYPE = "FASTDATA PROBE"
PROBE_SLUG = "fastdata_probe"

# The probe's event time lies before any real record: the processor's simulated clock (the latest event
# time seen) must not jump to today because of a probe. Windows use the emit time, which is now.
PROBE_EVENT_TIME = datetime(2001, 1, 1, tzinfo=UTC)


class ProbeFailed(AppError):
    """A stage of the probe did not complete: the pipeline is not healthy (the probe itself ran fine)."""

    exit_code = 1


def probe_event() -> CrimeEvent:
    return CrimeEvent(
        id=int(uuid.uuid4().int % 2**53),
        case_number=f"PROBE-{uuid.uuid4().hex[:8]}",
        event_time=PROBE_EVENT_TIME,
        primary_type=PROBE_TYPE,
        type_slug=PROBE_SLUG,
        description="end-to-end data probe",
        location_description="",
        arrest=False,
        domestic=False,
        beat="",
        district="probe",
        ward=None,
        community_area=None,
        fbi_code="",
        lat=41.8781,
        lon=-87.6298,
    )


def count_query() -> str:
    return f'SELECT sum("count") FROM "crime_counts" WHERE "type" = \'{PROBE_SLUG}\' AND time > now() - 1h'


def probe_count(influx: InfluxClient | str, db: str) -> int:
    """Probe events counted in InfluxDB over the last hour (0 when none yet).

    ``influx`` is a client, or the server's URL (scripts/bench_pipeline.py passes one).
    """
    client = InfluxClient(influx, timeout_s=5.0, retries=2) if isinstance(influx, str) else influx
    results = client.query(count_query(), db=db)
    series = results[0].get("series") if results else None
    if not series:
        return 0
    try:
        return int(series[0]["values"][0][1] or 0)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ProbeFailed(
            f"InfluxDB's answer to the probe count has an unexpected shape: {series!r:.120}"
        ) from exc


def produce(bootstrap: str, topic: str, timeout: float) -> None:
    # Imported here: the rest of the probe needs no Kafka client (and --help works without librdkafka).
    from confluent_kafka import KafkaException, Producer

    from apps.producer.main import kafka_config
    from apps.producer.replay import encode_event

    key, value = encode_event(probe_event(), datetime.now(UTC))
    errors: list[str] = []
    try:
        # The producer's own settings (idempotent, acks=all), under a client id of its own.
        producer = Producer(kafka_config(bootstrap, "client.id=fastdata-probe"))
        producer.produce(
            topic,
            value=value,
            key=key,
            on_delivery=lambda err, _msg: errors.append(str(err)) if err else None,
        )
        unconfirmed = producer.flush(timeout)
    except (KafkaException, BufferError) as exc:
        raise ProbeFailed(f"the probe event could not be produced to {topic} at {bootstrap}: {exc}") from exc
    if unconfirmed or errors:
        raise ProbeFailed(
            f"the probe event was not delivered to {topic} at {bootstrap}: {errors or 'flush timed out'}"
        )


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    client = InfluxClient(args.influx_url, timeout_s=5.0, retries=2)
    before = probe_count(client, args.influx_db)
    produce(args.bootstrap, args.topic, timeout=min(30.0, args.timeout))
    report: dict[str, Any] = {"produced": True, "counted_before": before}
    deadline = started + args.timeout
    while probe_count(client, args.influx_db) <= before:
        if time.monotonic() > deadline:
            raise ProbeFailed(
                f"the probe event was produced but not counted in InfluxDB within "
                f"{args.timeout:.0f}s: is the processor running and reading {args.topic}?"
            )
        time.sleep(1)
    report["counted_after_s"] = round(time.monotonic() - started, 1)
    if args.dashboard_url:
        wait_for_dashboard(args.dashboard_url, deadline)
        report["dashboard_after_s"] = round(time.monotonic() - started, 1)
    return report


def wait_for_dashboard(dashboard_url: str, deadline: float) -> None:
    """Until the dashboard's /api/series shows the probe type (the dashboard is not InfluxDB: plain HTTP)."""
    while True:
        try:
            resp = requests.get(f"{dashboard_url}/api/series", params={"minutes": 60}, timeout=5)
            seen, status = resp.ok and PROBE_SLUG in resp.text, f"HTTP {resp.status_code}"
        except requests.RequestException as exc:
            seen, status = False, f"unreachable: {exc}"
        if seen:
            return
        if time.monotonic() > deadline:
            raise ProbeFailed(
                f"InfluxDB counted the probe but {dashboard_url}/api/series does not show "
                f"'{PROBE_SLUG}' ({status})"
            )
        time.sleep(1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m apps.probe",
        description=__doc__,
        formatter_class=HelpFormatter,
        epilog="exit status: 0 the probe was counted (and served); 1 a stage did not complete; 2 bad "
        "configuration; 70 internal error.",
    )
    env_flag(
        parser, "--bootstrap", "KAFKA_BOOTSTRAP", "localhost:9092", "Kafka bootstrap servers (host:port,...)"
    )
    env_flag(parser, "--topic", "TOPIC", "crimes.raw", "topic the processor reads")
    add_connection_flags(parser)
    env_flag(
        parser,
        "--dashboard-url",
        "DASHBOARD_URL",
        "",
        "also require the dashboard API to serve the probe series ('' to skip)",
    )
    env_flag(parser, "--timeout", "PROBE_TIMEOUT_S", 90.0, "seconds for the whole probe", type=positive_float)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        print(json.dumps(run(args)))
    except (ProbeFailed, InfluxError) as exc:
        # InfluxDB unreachable or answering garbage is a stage that did not complete too: status 1. A
        # ConfigError (a bad flag) goes on to run_main: status 2.
        print(f"probe failed: {one_line(str(exc))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    run_main(main)
