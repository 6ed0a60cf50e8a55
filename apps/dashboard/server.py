"""The dashboard's HTTP server (stdlib ThreadingHTTPServer): static front end + JSON API + /healthz.

``python -m apps.dashboard --help``. The front-end bundle is built once by apps/dashboard/build.sh (npm +
esbuild, no CDN at run time); the server refuses to start without it rather than serve a blank page.
"""

from __future__ import annotations

import argparse
import logging
import mimetypes
from collections.abc import Callable, Sequence
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from apps.common.cli import HelpFormatter, env_flag, non_negative_int
from apps.common.errors import ArtifactMissing, InfluxError
from apps.common.http import QuietHandler, send_json
from apps.common.influx import InfluxClient, add_connection_flags
from apps.dashboard.api import DashboardApi

log = logging.getLogger("apps.dashboard")

WEB_DIR = Path(__file__).resolve().parent / "web"
# What build.sh produces; index.html references exactly these (a unit test keeps the two in step).
BUNDLE_FILES = ("dist/app.js", "dist/app.css")
DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"

DESCRIPTION = """\
Live dashboard of the crime demo: per-type time series, a heat map of recent events over Chicago, the
events/s and the simulated clock, refreshed every few seconds from InfluxDB.

API: /api/series?minutes=N, /api/cells?minutes=N, /api/clock, /api/config, /healthz (200 when InfluxDB
answers, 503 with the reason otherwise).
"""


def check_static_dir(static_dir: Path) -> None:
    missing = [name for name in ("index.html", *BUNDLE_FILES) if not (static_dir / name).is_file()]
    if missing:
        raise ArtifactMissing(
            f"front-end files {missing} are missing under {static_dir}: run apps/dashboard/build.sh "
            "(or point --static-dir / DASHBOARD_STATIC_DIR at the bundle from the artifact cache)"
        )


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        api: DashboardApi,
        static_dir: Path,
        config: dict[str, Any],
        ping: Callable[[], str],
    ) -> None:
        check_static_dir(static_dir)
        self.api, self.static_dir, self.client_config, self.ping = api, static_dir.resolve(), config, ping
        super().__init__(address, DashboardHandler)


class DashboardHandler(QuietHandler):
    server: DashboardServer

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        minutes = query.get("minutes", [None])[0]
        routes: dict[str, Callable[[], Any]] = {
            "/api/series": lambda: self.server.api.series(minutes),
            "/api/cells": lambda: self.server.api.cells(minutes),
            "/api/clock": self.server.api.clock,
            "/api/config": lambda: self.server.client_config,
        }
        if url.path in routes:
            try:
                send_json(self, 200, routes[url.path]())
            except InfluxError as exc:
                send_json(self, 502, {"error": str(exc)})
        elif url.path == "/healthz":
            try:
                send_json(self, 200, {"status": "ok", "influxdb": self.server.ping()})
            except InfluxError as exc:
                send_json(self, 503, {"status": "influxdb unreachable", "error": str(exc)})
        else:
            self.send_static(url.path)

    def send_static(self, path: str) -> None:
        relative = "index.html" if path in ("", "/") else path.lstrip("/")
        target = (self.server.static_dir / relative).resolve()
        # Refuse anything that resolves outside the static directory (../ tricks, symlinks out).
        if not target.is_relative_to(self.server.static_dir) or not target.is_file():
            send_json(self, 404, {"error": f"not found: {path}"})
            return
        body = target.read_bytes()
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype == "application/javascript":
            ctype += "; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m apps.dashboard", description=DESCRIPTION, formatter_class=HelpFormatter
    )
    env_flag(parser, "--host", "DASHBOARD_HOST", "0.0.0.0", "address to listen on")
    env_flag(parser, "--port", "DASHBOARD_PORT", 8000, "port to listen on", type=non_negative_int)
    add_connection_flags(parser)
    env_flag(
        parser,
        "--static-dir",
        "DASHBOARD_STATIC_DIR",
        str(WEB_DIR),
        "directory with index.html and the built dist/ bundle",
    )
    env_flag(
        parser,
        "--tile-url",
        "DASHBOARD_TILE_URL",
        DEFAULT_TILE_URL,
        "map tile URL template, used only when the browser can reach it ('' for no tiles)",
    )
    env_flag(
        parser,
        "--refresh-ms",
        "DASHBOARD_REFRESH_MS",
        3000,
        "browser refresh interval",
        type=non_negative_int,
    )
    env_flag(
        parser,
        "--series-minutes",
        "DASHBOARD_SERIES_MINUTES",
        15,
        "time range of the series chart",
        type=non_negative_int,
    )
    env_flag(
        parser,
        "--cells-minutes",
        "DASHBOARD_CELLS_MINUTES",
        5,
        "time range of the heat map",
        type=non_negative_int,
    )
    return parser


def make_server(args: argparse.Namespace) -> DashboardServer:
    client = InfluxClient(args.influx_url, timeout_s=5.0, retries=1)
    api = DashboardApi(client, args.influx_db, args.series_minutes, args.cells_minutes)
    config = {
        "tile_url": args.tile_url,
        "refresh_ms": max(args.refresh_ms, 500),
        "series_minutes": args.series_minutes,
        "cells_minutes": args.cells_minutes,
        "center": [41.84, -87.68],
        "zoom": 10,
    }
    return DashboardServer((args.host, args.port), api, Path(args.static_dir), config, client.ping)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    server = make_server(args)
    log.info(
        "dashboard on http://%s:%d/ (InfluxDB %s, database %s)",
        args.host,
        server.server_address[1],
        args.influx_url,
        args.influx_db,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
