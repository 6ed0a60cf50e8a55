"""Dashboard: API shaping from canned InfluxDB answers, and the real server (waitress on 127.0.0.1, the real
InfluxClient against a stand-in InfluxDB): the files it serves and refuses, its API, health, error policy
and read timeout."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest

from apps.common.errors import ArtifactMissing, ConfigError
from apps.common.influx import InfluxClient
from apps.dashboard import api
from apps.dashboard.server import (
    BUNDLE_FILES,
    WEB_DIR,
    DashboardApp,
    DashboardServer,
    build_parser,
    check_static_dir,
)
from roles.demo import common as demo
from tests.unit.apps_http import (
    Answer,
    FakeInflux,
    closed_port_url,
    dashboard,
    free_port,
    make_static_dir,
    request,
)

ROOT = Path(__file__).resolve().parents[2]

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


CANNED = {
    "crime_counts": Answer.results(SERIES_RESPONSE),
    "crime_cells": Answer.results(CELLS_RESPONSE),
    "replay_clock": Answer.results(CLOCK_RESPONSE),
}


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    return make_static_dir(tmp_path)


@pytest.fixture
def influx() -> Iterator[FakeInflux]:
    fake = FakeInflux(CANNED)
    yield fake
    fake.close()


@pytest.fixture
def port(static_dir: Path, influx: FakeInflux) -> Iterator[int]:
    with dashboard(static_dir, influx.url) as server:
        yield server.port


def test_serves_index_and_bundle(port: int) -> None:
    status, headers, body = request(port, "/")
    assert status == 200 and headers["content-type"].startswith("text/html") and b'id="heatmap"' in body
    assert request(port, "/index.html")[2] == body
    status, headers, body = request(port, "/dist/app.js")
    assert status == 200 and "javascript" in headers["content-type"] and body.startswith(b"console.log")
    assert request(port, "/dist/app.css")[0] == 200
    status, headers, body = request(port, "/dist/app.js", method="HEAD")
    assert (status, body, headers["content-length"]) == (200, b"", str(len(request(port, "/dist/app.js")[2])))


@pytest.mark.parametrize(
    "path",
    [
        "/package.json", "/src/main.js", "/node_modules/leaflet/package.json",  # the source tree beside
        "/dist/app.js.map",  # source maps give the sources away
        "/dist/.hidden", "/dist/link.js",  # dot files, and a symlink out of dist/
        "/../secret.txt", "/dist/../package.json", "/%2e%2e/package.json", "/dist/%2e%2e/package.json",
        "/dist/..%2fpackage.json", "/dist/%2e%2e/%2e%2e/secret.txt", "/dist//app.js", "/dist/",
        "/dist", "/DIST/app.js", "/dist/app.js%00.map", "/nope.js", "/index.html/",
    ],
)  # fmt: skip
def test_only_the_built_bundle_is_served(port: int, path: str) -> None:
    status, headers, body = request(port, path)
    assert (status, headers["content-type"]) == (404, "application/json; charset=utf-8")
    assert json.loads(body) == {"error": "not found"}


def test_api_endpoints_and_health(port: int) -> None:
    status, headers, body = request(port, "/api/series?minutes=30")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert [s["type"] for s in json.loads(body)["series"]] == ["theft", "battery", "arson"]
    assert json.loads(request(port, "/api/cells")[2])["total"] == 10
    assert json.loads(request(port, "/api/clock")[2])["sim_ts"] == 1445230200000
    assert json.loads(request(port, "/api/config")[2]) == {"refresh_ms": 3000}
    status, _, body = request(port, "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok", "influxdb": "1.6.7"}
    assert request(port, "/api/series", method="POST")[0] == 405


def assert_short_error(body: bytes, influx_url: str) -> dict[str, str]:
    """A small JSON object that names no internal detail: no InfluxDB address, no query, no traceback."""
    text = body.decode()
    doc = json.loads(text)
    assert len(text) < 200 and re.fullmatch(r"[0-9a-f]{8}", doc["ref"])
    for secret in (influx_url, urlsplit(influx_url).netloc, "127.0.0.1", "SELECT", "crime_", "Traceback"):
        assert secret not in text
    return dict(doc)


def test_influx_down_gives_502_on_api_and_503_on_health(
    static_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    influx_url = closed_port_url()
    with dashboard(static_dir, influx_url) as server:
        status, _, body = request(server.port, "/api/series")
        assert status == 502 and assert_short_error(body, influx_url)["error"].startswith("InfluxDB failed")
        status, _, body = request(server.port, "/healthz")
        assert status == 503 and assert_short_error(body, influx_url)["status"] == "influxdb unreachable"
    # The details are not lost: the log has the address and the query, under the reference given out.
    ref = json.loads(body)["ref"]
    assert any(ref in r.getMessage() and influx_url in r.getMessage() for r in caplog.records)
    assert any('FROM "crime_counts"' in r.getMessage() for r in caplog.records)


GARBAGE = {
    "html error page": Answer(200, b"<html><body>502 Bad Gateway</body></html>", "text/html"),
    "truncated json": Answer(200, b'{"results": [{"statement_id": 0, "ser'),
    "empty body": Answer(200, b""),
    "json list": Answer(200, b"[1, 2, 3]"),
    "results not a list": Answer(200, b'{"results": "all good"}'),
    "series not a list": Answer.results([{"series": 5}]),
    "string count": Answer.results(
        [{"series": [{"tags": {"type": "x"}, "columns": ["time", "count"], "values": [[1, "many"]]}]}]
    ),
    "row not a list": Answer.results([{"series": [{"columns": ["time", "count"], "values": [7]}]}]),
    "missing time column": Answer.results([{"series": [{"columns": ["count"], "values": [[3]]}]}]),
    "500 with html": Answer(500, b"<h1>oops</h1>", "text/html"),
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_influx_garbage_gives_a_short_502(
    static_dir: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    influx = FakeInflux({"crime_counts": GARBAGE[name]})
    try:
        with dashboard(static_dir, influx.url) as server:
            status, headers, body = request(server.port, "/api/series")
    finally:
        influx.close()
    assert (status, headers["content-type"]) == (502, "application/json; charset=utf-8")
    assert_short_error(body, influx.url)
    assert not [r for r in caplog.records if r.exc_info], "garbage from InfluxDB is not a crash"


def test_nan_coordinates_are_garbage_not_invalid_json(static_dir: Path) -> None:
    nan_cell = b'{"results":[{"series":[{"tags":{"geohash":"dp3"},"columns":["time","count","lat","lon"],' \
        b'"values":[[0,3,NaN,-87.6]]}]}]}'  # fmt: skip
    influx = FakeInflux({"crime_cells": Answer(200, nan_cell)})
    try:
        with dashboard(static_dir, influx.url) as server:
            status, _, body = request(server.port, "/api/cells")
    finally:
        influx.close()
    assert status == 502 and "cannot read" in assert_short_error(body, influx.url)["error"]


def test_shutdown_stops_the_server_even_when_its_wake_up_pipe_is_gone(
    static_dir: Path, influx: FakeInflux, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI once saw EBADF from waitress's trigger pipe at shutdown; the loop must stop (and close its
    listening socket) without it. dashboard() asserts the serving thread ends within 10 s."""
    with dashboard(static_dir, influx.url) as server:
        assert request(server.port, "/healthz")[0] == 200

        def broken_pipe() -> None:
            raise OSError(9, "Bad file descriptor")

        monkeypatch.setattr(server._server.trigger, "_physical_pull", broken_pipe)
        port = server.port
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_half_finished_request_is_dropped_within_the_read_timeout(
    static_dir: Path, influx: FakeInflux
) -> None:
    with dashboard(static_dir, influx.url, read_timeout_s=1) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /api/config HTTP/1.1\r\nHost: dashboard\r\nX-Slow: ")  # headers unfinished
            started = time.monotonic()
            # Meanwhile the server still serves others.
            assert request(server.port, "/api/config")[0] == 200
            sock.settimeout(8)
            assert sock.recv(1024) == b"", "the server answered a request that never finished"
            elapsed = time.monotonic() - started
        assert 0.5 <= elapsed <= 4.0, f"closed after {elapsed:.1f}s, expected ~1 s (timeout + check interval)"


def test_port_in_use_is_a_config_error(static_dir: Path, influx: FakeInflux) -> None:
    with dashboard(static_dir, influx.url) as server:
        app = DashboardApp(api.DashboardApi(InfluxClient(influx.url), "crimes"), static_dir, {}, str)
        with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1:\d+: .*--port"):
            DashboardServer(app, "127.0.0.1", server.port)


def test_systemd_command_and_environment_still_start_it(static_dir: Path, influx: FakeInflux) -> None:
    """roles/demo runs `python -m apps.dashboard` with dashboard_env(); that still serves, via waitress."""
    env = demo.dashboard_env(cast(Any, None))  # the inventory is not used for the environment
    assert set(env) <= set(re.findall(r"\[env\s+(\w+)\]", build_parser().format_help()))
    port = free_port()
    env.update(
        {"INFLUX_URL": influx.url, "DASHBOARD_PORT": str(port), "DASHBOARD_STATIC_DIR": str(static_dir)}
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "apps.dashboard"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, headers, body = request(port, "/healthz")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.1)
        assert (status, json.loads(body)["status"]) == (200, "ok")
        assert headers["server"] == "waitress"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "waitress, 4 threads, read timeout 10 s" in err and "Traceback" not in err


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
