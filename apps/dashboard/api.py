"""The dashboard's JSON API: InfluxQL queries and the pure shaping of their answers for the front end.

The ``shape_*`` functions take InfluxDB's ``/query`` JSON (``results``) and return what the browser
draws; they are tested on canned responses, the queries on a real server.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from apps.common.errors import InfluxAnswerError

CHICAGO = ZoneInfo("America/Chicago")
MAX_MINUTES = 24 * 60


class QueryClient(Protocol):
    def query(
        self, q: str, db: str | None = None, epoch: str = "ms", write: bool = False
    ) -> list[dict[str, Any]]: ...


def clamp_minutes(raw: str | None, default: int) -> int:
    """``?minutes=`` from the browser: an integer 1..1440, the default when absent or garbled."""
    try:
        value = int(raw) if raw else default
    except ValueError:
        return default
    return min(max(value, 1), MAX_MINUTES)


def series_query(minutes: int) -> str:
    return f'SELECT "count" FROM "crime_counts" WHERE time > now() - {int(minutes)}m GROUP BY "type"'


def cells_query(minutes: int) -> str:
    return (
        f'SELECT sum("count") AS "count", last("lat") AS "lat", last("lon") AS "lon" FROM "crime_cells" '
        f'WHERE time > now() - {int(minutes)}m GROUP BY "geohash"'
    )


def clock_query(minutes: int) -> str:
    return (
        f'SELECT "sim_ts", "eps" FROM "replay_clock" WHERE time > now() - {int(minutes)}m '
        "ORDER BY time DESC LIMIT 1"
    )


def _series(results: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [s for r in results for s in r.get("series", [])]


def _records(series: Mapping[str, Any]) -> list[dict[str, Any]]:
    columns = list(series.get("columns", []))
    return [dict(zip(columns, row, strict=False)) for row in series.get("values", [])]


def shape_series(results: Sequence[Mapping[str, Any]], minutes: int) -> dict[str, Any]:
    """Per-type counts aligned on one time axis (what uPlot wants), types ordered by total, largest first.

    A window without a point for a type had no event of that type (the processor writes every window
    that counted one), so the gap is a real 0, not missing data.
    """
    per_type: dict[str, dict[int, int]] = {}
    for s in _series(results):
        name = str(s.get("tags", {}).get("type", ""))
        points = per_type.setdefault(name, {})
        for rec in _records(s):
            if rec.get("count") is not None:
                points[int(rec["time"])] = points.get(int(rec["time"]), 0) + int(rec["count"])
    times = sorted({t for points in per_type.values() for t in points})
    ordered = sorted(per_type.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    return {
        "minutes": minutes,
        "times": times,
        "series": [
            {"type": name, "total": sum(points.values()), "values": [points.get(t, 0) for t in times]}
            for name, points in ordered
        ],
    }


def shape_cells(results: Sequence[Mapping[str, Any]], minutes: int) -> dict[str, Any]:
    """Geohash cells with their summed count and centre, hottest first; ``max`` scales the heat map."""
    cells: list[dict[str, Any]] = []
    for s in _series(results):
        geohash = str(s.get("tags", {}).get("geohash", ""))
        for rec in _records(s):
            if rec.get("count") is None or rec.get("lat") is None or rec.get("lon") is None:
                continue
            cells.append(
                {
                    "geohash": geohash,
                    "count": int(rec["count"]),
                    "lat": _finite(rec["lat"]),
                    "lon": _finite(rec["lon"]),
                }
            )
    cells.sort(key=lambda c: (-c["count"], c["geohash"]))
    return {
        "minutes": minutes,
        "cells": cells,
        "max": max((c["count"] for c in cells), default=0),
        "total": sum(c["count"] for c in cells),
    }


def shape_clock(results: Sequence[Mapping[str, Any]], now_ms: int) -> dict[str, Any]:
    """Latest simulated time (shown in Chicago time, where the crimes happened) and events/s."""
    records = [rec for s in _series(results) for rec in _records(s)]
    if not records:
        return {"sim_ts": None, "sim_clock": None, "eps": 0.0, "updated_ms": None, "age_s": None}
    latest = max(records, key=lambda r: int(r["time"]))
    sim_ts = latest.get("sim_ts")
    sim_clock = (
        datetime.fromtimestamp(int(sim_ts) / 1000, UTC).astimezone(CHICAGO).strftime("%Y-%m-%d %H:%M %Z")
        if sim_ts is not None
        else None
    )
    return {
        "sim_ts": int(sim_ts) if sim_ts is not None else None,
        "sim_clock": sim_clock,
        "eps": round(_finite(latest.get("eps") or 0.0), 1),
        "updated_ms": int(latest["time"]),
        "age_s": round(max(0, now_ms - int(latest["time"])) / 1000, 1),
    }


def _finite(value: Any) -> float:
    """A float the browser can get as JSON: NaN and infinities are not JSON, so they are garbage here."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


Shaper = Callable[[Sequence[Mapping[str, Any]], int], dict[str, Any]]


def shape_checked(measurement: str, shape: Shaper, results: Sequence[Mapping[str, Any]], arg: int) -> Any:
    """``shape(results, arg)``, with an answer of the wrong shape turned into InfluxAnswerError.

    The shapers index and convert InfluxDB's JSON directly (a missing column is a KeyError, a string
    count a ValueError); which of those it was matters to the log, not to the caller.
    """
    try:
        return shape(results, arg)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise InfluxAnswerError(
            f"InfluxDB's answer to the {measurement} query has an unexpected shape "
            f"({type(exc).__name__}: {exc}); answer starts {str(results)[:120]}"
        ) from exc


class DashboardApi:
    """Runs the queries against one database and shapes the answers."""

    def __init__(
        self, client: QueryClient, db: str, series_minutes: int = 15, cells_minutes: int = 5
    ) -> None:
        self.client, self.db = client, db
        self.series_minutes, self.cells_minutes = series_minutes, cells_minutes

    def series(self, minutes: str | None = None) -> dict[str, Any]:
        m = clamp_minutes(minutes, self.series_minutes)
        return shape_checked("crime_counts", shape_series, self.client.query(series_query(m), db=self.db), m)

    def cells(self, minutes: str | None = None) -> dict[str, Any]:
        m = clamp_minutes(minutes, self.cells_minutes)
        return shape_checked("crime_cells", shape_cells, self.client.query(cells_query(m), db=self.db), m)

    def clock(self) -> dict[str, Any]:
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        return shape_checked(
            "replay_clock", shape_clock, self.client.query(clock_query(5), db=self.db), now_ms
        )
