"""The producer's counters in the Prometheus text exposition format (version 0.0.4), written by hand.

Pure: :func:`prometheus_text` takes :meth:`ReplayStats.snapshot` and returns the page; the JSON form of
the same snapshot stays available (``/metrics.json``). Names are ``fastdata_producer_*``; counters end
in ``_total``; every skip reason is always present (0 included) so a rate() over a reason never starts
from a missing series.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "fastdata_producer_"
STATES = ("loading", "replaying", "flushing", "done")


def escape_label(value: str) -> str:
    """A label value as the format wants it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


def _family(
    name: str, kind: str, help_text: str, samples: Iterable[tuple[Mapping[str, str], float]]
) -> list[str]:
    full = PREFIX + name
    lines = [f"# HELP {full} {help_text}", f"# TYPE {full} {kind}"]
    for labels, value in samples:
        rendered = ",".join(f'{k}="{escape_label(v)}"' for k, v in sorted(labels.items()))
        lines.append(f"{full}{{{rendered}}} {_number(value)}" if rendered else f"{full} {_number(value)}")
    return lines


def prometheus_text(snap: Mapping[str, Any]) -> str:
    """The exposition page of one snapshot (ends with a newline, as the format requires)."""

    def one(value: float) -> list[tuple[Mapping[str, str], float]]:
        return [({}, value)]

    lines = [
        *_family(
            "info",
            "gauge",
            "Constant 1, labelled with the topic produced to.",
            [({"topic": snap["topic"]}, 1)],
        ),
        *_family(
            "state",
            "gauge",
            "1 for the producer's current state, 0 for the others.",
            [({"state": state}, 1 if snap["state"] == state else 0) for state in STATES],
        ),
        *_family("rows_read_total", "counter", "Data rows read from the data set.", one(snap["rows_read"])),
        *_family("parsed_events", "gauge", "Events parsed from the data set.", one(snap["parsed_events"])),
        *_family(
            "outside_slice_events",
            "gauge",
            "Parsed events outside --start/--end.",
            one(snap["outside_slice"]),
        ),
        *_family(
            "skipped_rows_total",
            "counter",
            "Rows skipped, per reason (see python -m apps.producer --help).",
            [({"reason": reason}, count) for reason, count in sorted(snap["skipped"].items())],
        ),
        *_family("sent_total", "counter", "Events handed to the Kafka client.", one(snap["sent"])),
        *_family("delivered_total", "counter", "Events Kafka confirmed (acks=all).", one(snap["delivered"])),
        *_family(
            "delivery_failures_total",
            "counter",
            "Events Kafka reported as failed.",
            one(snap["delivery_failures"]),
        ),
        *_family(
            "in_flight_events",
            "gauge",
            "Events sent but not yet confirmed or failed.",
            one(snap["in_flight"]),
        ),
        *_family(
            "events_per_second",
            "gauge",
            "Events sent per second over the last 10 s.",
            one(snap["events_per_second"]),
        ),
        *_family(
            "loop",
            "gauge",
            "How many times the replay started again (0 on the first pass).",
            one(snap["loop"]),
        ),
        *_family("uptime_seconds", "gauge", "Seconds since the producer started.", one(snap["uptime_s"])),
    ]
    if snap.get("sim_ts") is not None:  # no sample until the first event: not a misleading 0 (1970)
        lines += _family(
            "sim_time_seconds",
            "gauge",
            "Simulated time of the last event sent (Unix seconds).",
            one(snap["sim_ts"] / 1000),
        )
    return "\n".join(lines) + "\n"
