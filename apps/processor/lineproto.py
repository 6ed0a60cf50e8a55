"""Rendering aggregates as InfluxDB line protocol (precision ms). Pure and deterministic.

Each point's timestamp is its window start and its tag set is bounded (a type slug, a geohash cell), so
re-writing a window - the next update-mode emission, a replayed batch after a restart - replaces the
point instead of adding a second one: the sum of ``count`` stays equal to the events produced.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from apps.common import geohash

TYPE_MEASUREMENT = "crime_counts"
CELL_MEASUREMENT = "crime_cells"
CLOCK_MEASUREMENT = "replay_clock"


def escape_tag(value: str) -> str:
    """Escape commas, spaces and equals signs, which delimit line-protocol tags."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"line protocol cannot carry {value}")
    return repr(float(value))


def type_count_lines(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Rows with window_start_ms, type, count -> ``crime_counts,type=<slug> count=<n>i <ms>``, sorted."""
    lines = [
        f"{TYPE_MEASUREMENT},type={escape_tag(str(r['type']))} count={int(r['count'])}i "
        f"{int(r['window_start_ms'])}"
        for r in rows
    ]
    return sorted(lines)


def cell_count_lines(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Rows with window_start_ms, geohash, count -> ``crime_cells`` points carrying the cell centre."""
    lines = []
    for r in rows:
        lat, lon = geohash.centre(str(r["geohash"]))
        lines.append(
            f"{CELL_MEASUREMENT},geohash={escape_tag(str(r['geohash']))} "
            f"count={int(r['count'])}i,lat={_float(round(lat, 6))},lon={_float(round(lon, 6))} "
            f"{int(r['window_start_ms'])}"
        )
    return sorted(lines)


def clock_line(sim_ts: int, eps: float, events: int, malformed: int, ts_ms: int) -> str:
    return (
        f"{CLOCK_MEASUREMENT} sim_ts={int(sim_ts)}i,eps={_float(round(eps, 3))},"
        f"events={int(events)}i,malformed={int(malformed)}i {int(ts_ms)}"
    )
