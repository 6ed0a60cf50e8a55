"""The producer's Prometheus text page: valid exposition format (checked line by line against the 0.0.4
grammar, not with a client library), every counter present, label values escaped."""

from __future__ import annotations

import re

import pytest

from apps.producer.metrics import CONTENT_TYPE, escape_label, prometheus_text
from apps.producer.parse import SKIP_REASONS
from apps.producer.replay import ReplayStats

pytestmark = pytest.mark.unit

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
_SAMPLE = re.compile(rf"^({_NAME})(\{{{_LABEL}(?:,{_LABEL})*\}})? (\S+)$")
_META = re.compile(rf"^# (HELP|TYPE) ({_NAME}) (.+)$")


def parse_exposition(text: str) -> dict[str, float]:
    """``name{labels}`` -> value; fails on anything the text format (version 0.0.4) does not allow:
    a sample before its family's TYPE, a counter not ending in _total, a duplicate, a bad line."""
    assert text.endswith("\n"), "the page must end with a newline"
    samples: dict[str, float] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        meta = _META.match(line)
        if meta:
            if meta.group(1) == "TYPE":
                assert meta.group(3) in ("counter", "gauge"), line
                assert meta.group(2) not in types, f"TYPE twice for {meta.group(2)}"
                types[meta.group(2)] = meta.group(3)
            continue
        sample = _SAMPLE.match(line)
        assert sample, f"not a valid sample line: {line!r}"
        name = sample.group(1)
        assert name in types, f"{name}: sample before its TYPE line"
        assert (types[name] == "counter") == name.endswith("_total"), f"{name}: counter naming"
        key = name + (sample.group(2) or "")
        assert key not in samples, f"duplicate sample {key}"
        samples[key] = float(sample.group(3))
    return samples


def test_page_is_valid_and_has_every_counter() -> None:
    stats = ReplayStats("crimes.raw")
    stats.skipped["nul_byte"] += 2
    stats.state = "replaying"
    samples = parse_exposition(prometheus_text(stats.snapshot()))
    for reason in SKIP_REASONS:  # zero or not, every reason has its series
        assert f'fastdata_producer_skipped_rows_total{{reason="{reason}"}}' in samples
    assert samples['fastdata_producer_skipped_rows_total{reason="nul_byte"}'] == 2
    assert samples['fastdata_producer_state{state="replaying"}'] == 1
    assert samples['fastdata_producer_state{state="done"}'] == 0
    assert samples['fastdata_producer_info{topic="crimes.raw"}'] == 1
    for name in ("sent_total", "delivered_total", "delivery_failures_total", "in_flight_events",
                 "rows_read_total", "events_per_second", "uptime_seconds"):  # fmt: skip
        assert f"fastdata_producer_{name}" in samples
    # No simulated time before the first event (a 0 would read as 1970).
    assert "fastdata_producer_sim_time_seconds" not in samples
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


def test_label_values_are_escaped() -> None:
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    stats = ReplayStats('odd"topic\\\nname')
    samples = parse_exposition(prometheus_text(stats.snapshot()))
    assert 'fastdata_producer_info{topic="odd\\"topic\\\\\\nname"}' in samples
