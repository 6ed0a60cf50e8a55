"""CLI of the replay producer: ``python -m apps.producer --help``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
from collections.abc import Sequence
from datetime import datetime
from http.server import ThreadingHTTPServer
from typing import Any

from apps.common.cli import HelpFormatter, env_bool_flag, env_flag, non_negative_int, positive_float
from apps.common.errors import ConfigError, DataError
from apps.common.http import QuietHandler, send_json, serve_in_thread
from apps.common.signals import stop_on_signals
from apps.producer import metrics
from apps.producer.parse import CHICAGO, SKIP_REASON_HELP, CrimeEvent, parse_rows, sort_by_event_time
from apps.producer.replay import ReplayConfig, ReplayStats, flush, replay
from apps.producer.source import DEFAULT_DATASET, open_dataset

log = logging.getLogger("apps.producer")

DESCRIPTION = """\
Replay the City of Chicago crime CSV (portal export) onto Kafka as JSON events, in event-time order.

Rows are parsed with a real CSV parser; every row that cannot become an event is skipped and counted
under a reason (below; /metrics), never altered and replayed. Events are keyed by district, sent with an
idempotent producer and acks=all.
"""

EPILOG = """\
examples:
  python -m apps.producer --check                         # parse the sample, print counts, no Kafka
  python -m apps.producer --bootstrap kafka-1:9092 --speedup 1800 --max-eps 200
  python -m apps.producer --once --limit 500 --speedup 100000   # finite run: exits 0 when sent == delivered
  DATA_FILE=https://example.org/crimes-2015.csv.gz python -m apps.producer --start 2015-06-01 --end 2015-12-01

skip reasons (counted, the row is not replayed):
{reasons}

endpoints on --metrics-port: /metrics (Prometheus text format; JSON when the request sends
Accept: application/json), /metrics.json (the same counters as JSON), /healthz (200 while healthy).

exit status:
  0   success (--check: the data set parsed; a finite run: every event sent was confirmed)
  1   some events were not confirmed by Kafka (the summary line says how many)
  2   bad configuration: a flag, an environment variable, --producer-config
  3   the data set is unusable: missing, not a portal CSV, empty, or no row is replayable
  4   the data set is damaged: a truncated or corrupt .gz, a download cut short (nothing replayed)
  70  internal error (a bug; LOG_LEVEL=DEBUG shows the traceback)
  130 interrupted while loading the data set
"""


def chicago_time(text: str) -> datetime:
    """--start/--end: an ISO date or date-time, in Chicago local time unless it carries an offset."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=CHICAGO)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m apps.producer",
        description=DESCRIPTION,
        epilog=EPILOG.format(reasons="\n".join(f"  {r:<22} {h}" for r, h in SKIP_REASON_HELP.items())),
        formatter_class=HelpFormatter,
    )
    data = parser.add_argument_group("data set")
    # DATA_URL is the name docs/reference/demo-reference.md 5.7 uses for a remote export; DATA_FILE wins
    # when both are set.
    env_flag(
        data,
        "--data",
        "DATA_FILE",
        os.environ.get("DATA_URL") or DEFAULT_DATASET,
        "portal CSV export: a path or http(s) URL, optionally gzip-compressed (or env DATA_URL)",
    )
    env_flag(
        data,
        "--start",
        "START",
        None,
        "replay only events at or after this Chicago-local time (ISO, e.g. 2015-06-01 or 2015-06-01T06:00)",
        type=chicago_time,
    )
    env_flag(data, "--end", "END", None, "replay only events before this time (ISO)", type=chicago_time)
    data.add_argument(
        "--check",
        action="store_true",
        help="parse the data set, print the counts per type and skip reason, and exit (no Kafka)",
    )

    pacing = parser.add_argument_group("pacing")
    env_flag(
        pacing,
        "--speedup",
        "SPEEDUP",
        1800.0,
        "simulated seconds per wall-clock second (1800: one simulated hour in 2 s)",
        type=positive_float,
    )
    env_flag(pacing, "--max-eps", "MAX_EPS", 200.0, "cap on events sent per second", type=positive_float)
    env_bool_flag(
        pacing,
        "--loop",
        "LOOP",
        True,
        "start again at the end of the slice, shifting event times forward by the slice length",
    )
    pacing.add_argument(
        "--once", dest="loop", action="store_false", default=argparse.SUPPRESS, help="same as --no-loop"
    )
    env_flag(
        pacing,
        "--limit",
        "LIMIT",
        0,
        "stop after sending this many events (0: no limit)",
        type=non_negative_int,
    )

    kafka = parser.add_argument_group("kafka")
    env_flag(
        kafka, "--bootstrap", "KAFKA_BOOTSTRAP", "localhost:9092", "Kafka bootstrap servers (host:port,...)"
    )
    env_flag(kafka, "--topic", "TOPIC", "crimes.raw", "topic to produce to")
    env_flag(
        kafka,
        "--producer-config",
        "KAFKA_PRODUCER_CONFIG",
        "",
        "extra librdkafka settings as key=value,key=value (e.g. security.protocol=SSL); "
        "acks and enable.idempotence cannot be overridden",
    )
    env_flag(
        kafka,
        "--flush-timeout",
        "FLUSH_TIMEOUT_S",
        120.0,
        "seconds to wait at exit for outstanding deliveries",
        type=positive_float,
    )

    ops = parser.add_argument_group("operations")
    env_flag(
        ops, "--metrics-host", "METRICS_HOST", "0.0.0.0", "address of the /metrics and /healthz endpoint"
    )
    env_flag(
        ops,
        "--metrics-port",
        "METRICS_PORT",
        8080,
        "port of the metrics endpoint (0: disabled)",
        type=non_negative_int,
    )
    return parser


def kafka_config(bootstrap: str, extra: str) -> dict[str, Any]:
    """librdkafka settings: idempotence + acks=all are fixed, they are what makes the count reconcilable."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "client.id": "crime-producer",
        "linger.ms": 20,
        "compression.type": "lz4",
    }
    for item in filter(None, (part.strip() for part in extra.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--producer-config item {item!r} is not key=value")
        config[key.strip()] = value.strip()
    for key in ("enable.idempotence", "acks"):
        if key in config:
            raise ConfigError(
                f"--producer-config must not set {key}: the producer always uses "
                "enable.idempotence=true and acks=all"
            )
    config.update({"enable.idempotence": True, "acks": "all"})
    return config


def load_events(args: argparse.Namespace, stats: ReplayStats) -> list[CrimeEvent]:
    with open_dataset(args.data) as text:
        result = parse_rows(text)
    stats.rows, stats.parsed = result.rows, len(result.events)
    stats.skipped.update(result.skipped)
    stats.first_skipped.update(result.first_skipped)
    for reason, count in sorted(result.skipped.items()):
        log.info(
            "skipped %d row(s) of %s: %s (first: data row %d)",
            count,
            args.data,
            reason,
            result.first_skipped[reason],
        )
    events = result.events
    if args.start or args.end:
        kept = [
            e
            for e in events
            if (not args.start or e.event_time >= args.start) and (not args.end or e.event_time < args.end)
        ]
        stats.outside_slice = len(events) - len(kept)
        events = kept
    if not events:
        raise DataError(
            f"no replayable event in {args.data} (rows {result.rows}, skipped "
            f"{dict(result.skipped)}, outside --start/--end {stats.outside_slice})"
        )
    return sort_by_event_time(events)


def start_metrics_server(host: str, port: int, stats: ReplayStats) -> ThreadingHTTPServer:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            wants_json = "application/json" in (self.headers.get("Accept") or "")
            if path == "/metrics.json" or (path == "/metrics" and wants_json):
                send_json(self, 200, stats.snapshot())
            elif path == "/metrics":
                body = metrics.prometheus_text(stats.snapshot()).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", metrics.CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)
            elif path == "/healthz":
                snap = stats.snapshot()
                healthy = snap["state"] in ("loading", "replaying", "flushing", "done")
                send_json(
                    self,
                    200 if healthy else 503,
                    {
                        "status": "ok" if healthy else snap["state"],
                        "state": snap["state"],
                        "sent": snap["sent"],
                    },
                )
            else:
                send_json(self, 404, {"error": "no such path: try /metrics, /metrics.json or /healthz"})

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise ConfigError(
            f"the metrics endpoint cannot listen on {host}:{port}: {exc.strerror or exc}; pick another "
            "--metrics-port / METRICS_PORT (0 disables it)"
        ) from exc
    serve_in_thread(server, "metrics-http")
    log.info("metrics on http://%s:%d/metrics", host, server.server_address[1])
    return server


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.start and args.end and args.end <= args.start:
        raise ConfigError(f"--end {args.end} must be after --start {args.start}")
    stats = ReplayStats(args.topic)
    serve = args.metrics_port and not args.check
    server = start_metrics_server(args.metrics_host, args.metrics_port, stats) if serve else None
    try:
        events = load_events(args, stats)
        log.info(
            "loaded %d events from %s (%d rows, skipped %s), %s .. %s",
            len(events),
            args.data,
            stats.rows,
            {k: v for k, v in stats.skipped.items() if v},
            events[0].event_time,
            events[-1].event_time,
        )
        if args.check:
            print(json.dumps(check_summary(events, stats), indent=2, sort_keys=True))
            return 0
        return run_replay(args, events, stats)
    finally:
        if server:
            server.shutdown()


def check_summary(events: list[CrimeEvent], stats: ReplayStats) -> dict[str, Any]:
    per_type: dict[str, int] = {}
    for event in events:
        per_type[event.type_slug] = per_type.get(event.type_slug, 0) + 1
    snap = stats.snapshot()
    return {
        "rows_read": snap["rows_read"],
        "events": len(events),
        "skipped": snap["skipped"],
        "first_skipped_row": snap["first_skipped_row"],
        "outside_slice": snap["outside_slice"],
        "per_type": per_type,
        "first_event_time": events[0].event_time.isoformat(),
        "last_event_time": events[-1].event_time.isoformat(),
    }


def run_replay(args: argparse.Namespace, events: list[CrimeEvent], stats: ReplayStats) -> int:
    from confluent_kafka import Producer  # imported here so --check and --help work without librdkafka

    config = ReplayConfig(
        topic=args.topic,
        speedup=args.speedup,
        max_eps=args.max_eps,
        loop=args.loop,
        limit=args.limit,
        slice_length=(args.end - args.start) if args.start and args.end else None,
    )
    from confluent_kafka import KafkaException

    try:
        producer = Producer(kafka_config(args.bootstrap, args.producer_config))
    except KafkaException as exc:  # an unknown or invalid librdkafka property
        raise ConfigError(f"the Kafka client refused its settings (--producer-config?): {exc}") from exc
    stop = threading.Event()
    stop_on_signals(stop, "stopping after outstanding deliveries")
    log.info(
        "replaying to %s on %s: speedup %g, max %g events/s, loop %s, limit %s",
        args.topic,
        args.bootstrap,
        args.speedup,
        args.max_eps,
        args.loop,
        args.limit or "none",
    )
    replay(events, producer, config, stats, stop)
    unconfirmed = flush(producer, stats, args.flush_timeout)
    snap = stats.snapshot()
    print("summary: " + json.dumps(snap, sort_keys=True), flush=True)
    ok = snap["delivered"] == snap["sent"] and snap["delivery_failures"] == 0 and not unconfirmed
    if ok:
        log.info("done: sent %d == delivered %d", snap["sent"], snap["delivered"])
        return 0
    log.error(
        "not every event was confirmed: sent %d, delivered %d, failed %d, unconfirmed %d (last error: %s); "
        "check that %s is reachable and the topic %s exists",
        snap["sent"],
        snap["delivered"],
        snap["delivery_failures"],
        unconfirmed,
        snap["last_delivery_error"] or "-",
        args.bootstrap,
        args.topic,
    )
    return 1
