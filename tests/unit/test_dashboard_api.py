"""Dashboard: API shaping from canned InfluxDB answers, and the server's static files, API and health."""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from apps.common.errors import ArtifactMissing, InfluxError
from apps.dashboard import api
from apps.dashboard.server import BUNDLE_FILES, WEB_DIR, DashboardServer, check_static_dir

pytestmark = pytest.mark.unit

T = 1_735_689_600_000  # 2025-01-01T00:00:00Z in ms

# What InfluxDB 1.x returns for api.series_query (epoch=ms, GROUP BY "type").
SERIES_RESPONSE = [{"statement_id": 0, "series": [
    {"name": "crime_counts", "tags": {"type": "battery"}, "columns": ["time", "count"],
     "values": [[T, 4], [T + 10_000, 6]]},
    {"name": "crime_counts", "tags": {"type": "theft"}, "columns": ["time", "count"],
     "values": [[T + 10_000, 3], [T + 20_000, 9]]},
    {"name": "crime_counts", "tags": {"type": "arson"}, "columns": ["time", "count"], "values": [[T, 1]]},
]}]  # fmt: skip

CELLS_RESPONSE = [{"statement_id": 0, "series": [
    {"name": "crime_cells", "tags": {"geohash": "dp3twq"}, "columns": ["time", "count", "lat", "lon"],
     "values": [[0, 3, 41.783752, -87.610474]]},
    {"name": "crime_cells", "tags": {"geohash": "dp3wk7"}, "columns": ["time", "count", "lat", "lon"],
     "values": [[0, 7, 41.899109, -87.703857]]},
]}]  # fmt: skip

CLOCK_RESPONSE = [{"statement_id": 0, "series": [
    {"name": "replay_clock", "columns": ["time", "sim_ts", "eps"],
     "values": [[T + 4_000, 1445230200000, 57.25]]},
]}]  # fmt: skip

EMPTY_RESPONSE: list[dict[str, Any]] = [{"statement_id": 0}]


def test_series_aligned_on_one_axis_largest_first() -> None:
    shaped = api.shape_series(SERIES_RESPONSE, 15)
    assert shaped == {
        "minutes": 15,
        "times": [T, T + 10_000, T + 20_000],
        "series": [
            {"type": "theft", "total": 12, "values": [0, 3, 9]},
            {"type": "battery", "total": 10, "values": [4, 6, 0]},
            {"type": "arson", "total": 1, "values": [1, 0, 0]},
        ],
    }
    assert api.shape_series(EMPTY_RESPONSE, 15) == {"minutes": 15, "times": [], "series": []}


def test_cells_hottest_first_with_max_and_total() -> None:
    shaped = api.shape_cells(CELLS_RESPONSE, 5)
    assert [c["geohash"] for c in shaped["cells"]] == ["dp3wk7", "dp3twq"]
    assert shaped["cells"][0] == {"geohash": "dp3wk7", "count": 7, "lat": 41.899109, "lon": -87.703857}
    assert (shaped["max"], shaped["total"], shaped["minutes"]) == (7, 10, 5)
    assert api.shape_cells(EMPTY_RESPONSE, 5) == {"minutes": 5, "cells": [], "max": 0, "total": 0}


def test_clock_in_chicago_time_with_age() -> None:
    shaped = api.shape_clock(CLOCK_RESPONSE, now_ms=T + 6_500)
    # 1445230200000 ms = 2015-10-19T04:50:00Z = 23:50 CDT on the 18th, the sample's newest crime.
    assert shaped == {"sim_ts": 1445230200000, "sim_clock": "2015-10-18 23:50 CDT", "eps": 57.2,
                      "updated_ms": T + 4_000, "age_s": 2.5}  # fmt: skip
    assert api.shape_clock(EMPTY_RESPONSE, T)["sim_clock"] is None


def test_queries_bound_the_range() -> None:
    assert api.clamp_minutes("30", 15) == 30
    assert api.clamp_minutes("999999", 15) == api.MAX_MINUTES
    assert api.clamp_minutes("1; DROP DATABASE crimes", 15) == 15  # never pasted into InfluxQL
    assert api.clamp_minutes(None, 15) == 15
    assert (
        api.series_query(15) == 'SELECT "count" FROM "crime_counts" WHERE time > now() - 15m GROUP BY "type"'
    )


class CannedInflux:
    """Answers each dashboard query with the canned response of its measurement."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.queries: list[str] = []

    def query(
        self, q: str, db: str | None = None, epoch: str = "ms", write: bool = False
    ) -> list[dict[str, Any]]:
        self.queries.append(q)
        if self.fail:
            raise InfluxError("InfluxDB GET http://influx:8086/query failed: unreachable")
        for name, response in (("crime_counts", SERIES_RESPONSE), ("crime_cells", CELLS_RESPONSE),
                               ("replay_clock", CLOCK_RESPONSE)):  # fmt: skip
            if f'"{name}"' in q:
                return response
        raise AssertionError(f"unexpected query {q}")

    def ping(self) -> str:
        if self.fail:
            raise InfluxError("InfluxDB at http://influx:8086 is unreachable")
        return "1.6.7"


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    """The real index.html plus a stand-in bundle: the unit tier must not need npm."""
    shutil.copy(WEB_DIR / "index.html", tmp_path / "index.html")
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "app.js").write_text("console.log('bundle');\n")
    (tmp_path / "dist" / "app.css").write_text("body{}\n")
    (tmp_path.parent / "secret.txt").write_text("outside the static dir")
    return tmp_path


def serve(static_dir: Path, influx: CannedInflux) -> Iterator[str]:
    dashboard_api = api.DashboardApi(influx, "crimes")
    server = DashboardServer(("127.0.0.1", 0), dashboard_api, static_dir, {"refresh_ms": 3000}, influx.ping)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def base_url(static_dir: Path) -> Iterator[str]:
    yield from serve(static_dir, CannedInflux())


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def test_serves_index_and_bundle(base_url: str) -> None:
    status, ctype, body = get(f"{base_url}/")
    assert status == 200 and ctype.startswith("text/html") and b'id="heatmap"' in body
    status, ctype, body = get(f"{base_url}/dist/app.js")
    assert status == 200 and "javascript" in ctype and body == b"console.log('bundle');\n"
    assert get(f"{base_url}/dist/app.css")[0] == 200


def test_refuses_paths_outside_the_static_dir(base_url: str) -> None:
    assert get(f"{base_url}/../secret.txt")[0] == 404
    assert get(f"{base_url}/dist/%2e%2e/%2e%2e/secret.txt")[0] == 404
    assert get(f"{base_url}/nope.js")[0] == 404


def test_api_endpoints_and_health(base_url: str) -> None:
    status, ctype, body = get(f"{base_url}/api/series?minutes=30")
    assert status == 200 and ctype.startswith("application/json")
    assert [s["type"] for s in json.loads(body)["series"]] == ["theft", "battery", "arson"]
    assert json.loads(get(f"{base_url}/api/cells")[2])["total"] == 10
    assert json.loads(get(f"{base_url}/api/clock")[2])["sim_ts"] == 1445230200000
    assert json.loads(get(f"{base_url}/api/config")[2]) == {"refresh_ms": 3000}
    status, _, body = get(f"{base_url}/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok", "influxdb": "1.6.7"}


def test_influx_down_gives_502_on_api_and_503_on_health(static_dir: Path) -> None:
    for base in serve(static_dir, CannedInflux(fail=True)):
        status, _, body = get(f"{base}/api/series")
        assert status == 502 and "unreachable" in json.loads(body)["error"]
        status, _, body = get(f"{base}/healthz")
        assert status == 503 and json.loads(body)["status"] == "influxdb unreachable"


def test_missing_bundle_is_named(tmp_path: Path) -> None:
    shutil.copy(WEB_DIR / "index.html", tmp_path / "index.html")
    with pytest.raises(ArtifactMissing, match=r"dist/app\.js.*run apps/dashboard/build\.sh"):
        check_static_dir(tmp_path)


def test_index_references_exactly_the_bundle_and_testable_ids() -> None:
    html = (WEB_DIR / "index.html").read_text()
    assert sorted(re.findall(r'(?:src|href)="([^"]+)"', html)) == sorted(BUNDLE_FILES)
    assert "http" not in html.replace('charset="utf-8"', "")  # no CDN
    for marker in ('id="sim-clock"', 'id="eps"', 'id="series-legend"', 'id="heatmap"', "data-heat-points"):
        assert marker in html
    package = json.loads((WEB_DIR / "package.json").read_text())
    assert {"leaflet", "leaflet.heat", "uplot"} <= set(package["dependencies"])
    assert (WEB_DIR / "package-lock.json").is_file()
