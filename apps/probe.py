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
import os
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import requests

from apps.producer.parse import CrimeEvent

PROBE_TYPE = "FASTDATA PROBE"
PROBE_SLUG = "fastdata_probe"


def env_default(name: str, default: str) -> str:
    return os.environ.get(name) or default


# The probe's event time lies before any real record: the processor's simulated clock (the latest event
# time seen) must not jump to today because of a probe. Windows use the emit time, which is now.
PROBE_EVENT_TIME = datetime(2001, 1, 1, tzinfo=UTC)


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


def probe_count(influx_url: str, db: str, timeout: float = 5.0) -> int:
    """Probe events counted in InfluxDB over the last hour (0 when none yet)."""
    q = f'SELECT sum("count") FROM crime_counts WHERE "type" = \'{PROBE_SLUG}\' AND time > now() - 1h'
    resp = requests.get(f"{influx_url}/query", params={"db": db, "q": q}, timeout=timeout)
    resp.raise_for_status()
    series = resp.json()["results"][0].get("series") or []
    return int(series[0]["values"][0][1] or 0) if series else 0


def produce(bootstrap: str, topic: str, timeout: float) -> None:
    from confluent_kafka import Producer  # imported here: the rest of the probe needs no Kafka client

    from apps.producer.replay import encode_event

    now = datetime.now(UTC)
    key, value = encode_event(probe_event(), now)
    errors: list[str] = []
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    producer.produce(
        topic, value=value, key=key, on_delivery=lambda err, _msg: errors.append(str(err)) if err else None
    )
    if producer.flush(timeout) != 0 or errors:
        raise RuntimeError(
            f"the probe event was not delivered to {topic} at {bootstrap}: {errors or 'flush timed out'}"
        )


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    before = probe_count(args.influx_url, args.influx_db)
    produce(args.bootstrap, args.topic, timeout=min(30.0, args.timeout))
    report: dict[str, Any] = {"produced": True, "counted_before": before}
    deadline = started + args.timeout
    while probe_count(args.influx_url, args.influx_db) <= before:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the probe event was produced but not counted in InfluxDB within "
                f"{args.timeout:.0f}s: is the processor running and reading {args.topic}?"
            )
        time.sleep(1)
    report["counted_after_s"] = round(time.monotonic() - started, 1)
    if args.dashboard_url:
        while True:
            resp = requests.get(f"{args.dashboard_url}/api/series", params={"minutes": 60}, timeout=5)
            if resp.ok and PROBE_SLUG in json.dumps(resp.json()):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"InfluxDB counted the probe but {args.dashboard_url}/api/series does not "
                    f"show '{PROBE_SLUG}' (HTTP {resp.status_code})"
                )
            time.sleep(1)
        report["dashboard_after_s"] = round(time.monotonic() - started, 1)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apps.probe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--bootstrap",
        default=env_default("KAFKA_BOOTSTRAP", "localhost:9092"),
        help="Kafka bootstrap servers [env KAFKA_BOOTSTRAP]",
    )
    parser.add_argument("--topic", default=env_default("TOPIC", "crimes.raw"), help="[env TOPIC]")
    parser.add_argument(
        "--influx-url", default=env_default("INFLUX_URL", "http://127.0.0.1:8086"), help="[env INFLUX_URL]"
    )
    parser.add_argument("--influx-db", default=env_default("INFLUX_DB", "crimes"), help="[env INFLUX_DB]")
    parser.add_argument(
        "--dashboard-url",
        default=env_default("DASHBOARD_URL", ""),
        help="also require the dashboard API to serve the probe series [env DASHBOARD_URL]",
    )
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds for the whole probe")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(run(args)))
    except (RuntimeError, TimeoutError, requests.RequestException) as exc:
        print(f"probe failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
